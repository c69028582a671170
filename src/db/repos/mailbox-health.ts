import type { Kysely, Selectable } from 'kysely';
import type { Database, Flag, MailboxHealthTable } from '../schema.js';

type Q = Kysely<Database>;

export type MailboxHealthRow = Selectable<MailboxHealthTable>;

/**
 * States a watched mailbox reports (`casegate status` prints them):
 *   connecting   opening the connection, logging in, opening the folder
 *   processing   working through unprocessed messages (backlog > 0)
 *   idling       up to date, waiting for new mail with IDLE
 *   polling      up to date, the server has no IDLE: checking every pollSeconds
 *   backing-off  the last attempt failed (network, server, folder, …); waiting before the next
 *   auth-failed  the server rejected the credentials / token; waiting before the next attempt
 *   stopped      the daemon stopped watching it
 */
export type MailboxHealthState = 'connecting' | 'processing' | 'idling' | 'polling' | 'backing-off' | 'auth-failed' | 'stopped';

export interface MailboxHealthPatch {
  readonly state?: MailboxHealthState;
  readonly detail?: string | null;
  readonly last_success_at?: string | null;
  readonly failing_since?: string | null;
  readonly backlog?: number;
  readonly alerted?: Flag;
}

export async function mailboxHealth(db: Q, mailbox: string): Promise<MailboxHealthRow | undefined> {
  return db.selectFrom('mailbox_health').selectAll().where('mailbox', '=', mailbox).executeTakeFirst();
}

export async function allMailboxHealth(db: Q): Promise<MailboxHealthRow[]> {
  return db.selectFrom('mailbox_health').selectAll().orderBy('mailbox').execute();
}

/** Insert or update the health row of one mailbox; only the given columns change on update. */
export async function upsertMailboxHealth(db: Q, mailbox: string, patch: MailboxHealthPatch, at: string): Promise<void> {
  const set = { ...patch, updated_at: at };
  await db
    .insertInto('mailbox_health')
    .values({
      mailbox,
      state: patch.state ?? 'connecting',
      detail: patch.detail ?? null,
      last_success_at: patch.last_success_at ?? null,
      failing_since: patch.failing_since ?? null,
      backlog: patch.backlog ?? 0,
      alerted: patch.alerted ?? 0,
      updated_at: at,
    })
    .onConflict((oc) => oc.column('mailbox').doUpdateSet(set))
    .execute();
}
