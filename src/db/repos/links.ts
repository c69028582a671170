import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

export async function revokeLink(db: Q, caseId: number, sig: string, reason: string, actor: string, at: string): Promise<void> {
  await db.insertInto('link_revocations').values({ case_id: caseId, link_sig: sig, revoked_before: null, reason, actor, created_at: at }).execute();
}

export async function revokeAllLinks(db: Q, caseId: number, before: string, reason: string, actor: string, at: string): Promise<void> {
  await db.insertInto('link_revocations').values({ case_id: caseId, link_sig: null, revoked_before: before, reason, actor, created_at: at }).execute();
}

/** Whether a link of the case, issued at `issuedAt` with signature `sig`, was revoked (revoked_before: links issued before it). */
export async function isLinkRevoked(db: Q, caseId: number, sig: string, issuedAt: string): Promise<boolean> {
  const row = await db
    .selectFrom('link_revocations')
    .select('id')
    .where('case_id', '=', caseId)
    .where((eb) => eb.or([eb('link_sig', '=', sig), eb('revoked_before', '>', issuedAt)]))
    .executeTakeFirst();
  return row !== undefined;
}
