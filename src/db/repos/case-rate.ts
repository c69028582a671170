import { sql, type Kysely } from 'kysely';
import { lockKey } from '../dialect.js';
import type { Database } from '../schema.js';

type Q = Kysely<Database>;

/** The event type of the new-case rate alert (pipeline/case-rate-alert.ts). */
export const CASE_RATE_ALERT = 'mailbox.case-rate-alert';

/** New cases of a mailbox since a time, counted up to `upTo` (on cases_mailbox_created, 0028). */
export async function newCasesOfMailboxSince(db: Q, mailbox: string, since: string, upTo: number): Promise<number> {
  const row = await db
    .selectFrom((eb) => eb.selectFrom('cases').select(sql.lit(1).as('one')).where('mailbox', '=', mailbox).where('created_at', '>', since).limit(upTo).as('hour'))
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The newest new cases of a mailbox since a time, and how many different requesters the hour's cases have. */
export async function newCasesSummary(db: Q, mailbox: string, since: string, newest: number): Promise<{ readonly newest: { number: number; requester_address: string; subject: string }[]; readonly senders: number }> {
  const rows = await db.selectFrom('cases').select(['number', 'requester_address', 'subject']).where('mailbox', '=', mailbox).where('created_at', '>', since).orderBy('created_at', 'desc').orderBy('number', 'desc').limit(newest).execute();
  const senders = await db
    .selectFrom('cases')
    .select((eb) => eb.fn.count<number>('requester_address').distinct().as('n'))
    .where('mailbox', '=', mailbox)
    .where('created_at', '>', since)
    .executeTakeFirst();
  return { newest: rows, senders: Number(senders?.n ?? 0) };
}

/** The mailboxes a new-case rate alert was raised for since a time, each with its latest alert's time (on events_type_time). */
export async function caseRateAlertedSince(db: Q, since: string): Promise<Map<string, string>> {
  const rows = await db.selectFrom('events').select(['data_json', 'created_at']).where('type', '=', CASE_RATE_ALERT).where('created_at', '>', since).execute();
  const out = new Map<string, string>();
  for (const r of rows) {
    const mailbox = (JSON.parse(r.data_json) as { mailbox?: unknown }).mailbox;
    if (typeof mailbox === 'string' && (out.get(mailbox) ?? '') < r.created_at) out.set(mailbox, r.created_at);
  }
  return out;
}

/** Serialises the raising of a mailbox's alert across daemons (PostgreSQL; SQLite's write transaction already is). */
export async function lockCaseRateAlert(db: Q, mailbox: string): Promise<void> {
  await lockKey(db, `case-rate-alert:${mailbox}`);
}
