import { sql, type Kysely } from 'kysely';

/**
 * A forward of a customer's earlier message (stages/thread.ts, forwarded-copy) is matched to the
 * cases its writer opened with that subject. Until now only her 20 newest cases were read and
 * their subjects compared in code: a sender with hundreds of cases (an automated sender, a big
 * account) had the case she forwarded missed, or a newer one of the same subject taken instead.
 * This index finds her cases of one subject (compared in lower case, the same expression in the
 * query) at any history size: the newest ones, and those opened around the forwarded message's
 * Date (created_at; id orders cases opened at the same instant). One entry per case, none per message.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index cases_requester_subject on cases (requester_address, lower(subject), created_at, id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_requester_subject').execute();
}
