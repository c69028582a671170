import type { Kysely } from 'kysely';
import type { AppContext } from '../../context.js';
import { lockKey } from '../../db/dialect.js';
import { caseById } from '../../db/repos/cases.js';
import type { CaseRow, Database } from '../../db/schema.js';
import { resendCandidates, type ResendCandidate } from '../../db/repos/receipts.js';
import { resendKey } from '../../mail-in/content-digest.js';
import type { ParsedMail } from '../../mail-in/parsed-mail.js';
import { need, NEXT, type DecideStage, type Inbound, type ThreadDecision } from '../types.js';

/** A copy with the very Date of an earlier message is that message for this long (a laptop's outbox stuck over a long weekend). */
export const SAME_DATE_DAYS = 7;
const MINUTE_MS = 60_000;

export interface ResendVerdict {
  /** The receipt of the message this one is a copy of, and its case. */
  readonly of: ResendCandidate;
  readonly why: string;
}

/**
 * Is this message a copy of one we already took, re-sent under a new Message-ID (dedupe catches the
 * same Message-ID)? A copy says the same (content-digest.ts resendKey: sender, recipients,
 * subject, text, attachments) as a message we stored (or a copy we ignored), and
 * - carries the very same Date header, to the second, within SAME_DATE_DAYS: one message written
 *   once (a mail client's outbox, a script or a relay sending it again); whether it opens a case or
 *   answers one. Nobody writes the same text to the same people twice in one second.
 * - or, a sender that stamps a new Date on every attempt (a script's retry loop, a form submitted
 *   twice): it would open a new case, and it arrived within `pipeline.resendWindowMinutes` of the
 *   previous one (arrival time, and the Date headers as well when both have one, so a backlog read
 *   at once after an outage is not mistaken for copies). The window counts from the latest copy,
 *   so a loop re-sending every few minutes stays one case.
 * Anything else is a new message: the same words an hour later ("Still broken", on purpose); a
 * reply into a case repeating an earlier reply's text with its own Date; the same form text from
 * another person (another sender); the same text to another of our addresses (other recipients).
 */
export function judgeResend(parsed: ParsedMail, thread: ThreadDecision, receivedAt: Date, windowMinutes: number, rows: readonly ResendCandidate[], digest: string): ResendVerdict | null {
  const head = digest.split('.')[0];
  const date = parsed.date;
  for (const row of rows) {
    if (date !== null && row.content_digest?.split('.')[0] === head && receivedAt.getTime() - Date.parse(row.received_at) <= SAME_DATE_DAYS * 86_400_000) {
      return { of: row, why: 'the same sender, recipients, subject, text, attachments and Date header' };
    }
  }
  const latest = rows[0];
  if (latest === undefined || windowMinutes <= 0 || thread.kind !== 'new') return null;
  const gap = receivedAt.getTime() - Date.parse(latest.received_at);
  if (gap > windowMinutes * MINUTE_MS) return null;
  if (date !== null && latest.sent_at !== null && Math.abs(date.getTime() - Date.parse(latest.sent_at)) > windowMinutes * MINUTE_MS) return null;
  return { of: latest, why: `the same sender, recipients, subject, text and attachments, ${Math.max(0, Math.round(gap / 1000))} s after it (pipeline.resendWindowMinutes ${windowMinutes})` };
}

/** A copy found: the ending of the message (ignored, naming the original and its case). */
export interface ResendEnding {
  readonly reason: string;
  readonly caseRow: CaseRow | null;
}

/** Look the message's resend key up in `db` (the pool, or the commit's transaction) and judge it; sets notes.resendOf for a copy. */
async function findResend(db: Kysely<Database>, msg: Inbound, ctx: AppContext): Promise<ResendEnding | null> {
  const parsed = need(msg.notes.parsed, 'parsed');
  const thread = need(msg.notes.thread, 'thread');
  const key = need(msg.notes.resendKey, 'resendKey');
  const receivedAt = msg.arrival.receivedAt;
  const since = new Date(receivedAt.getTime() - SAME_DATE_DAYS * 86_400_000).toISOString();
  const rows = await resendCandidates(db, key, since, msg.arrival.retryOf);
  const verdict = judgeResend(parsed, thread, receivedAt, ctx.config.pipeline.resendWindowMinutes, rows, msg.notes.contentDigest ?? '');
  if (verdict === null) return null;
  const caseRow = (await caseById(db, verdict.of.case_id)) ?? null;
  const original = verdict.of.stage === 'resend' ? (verdict.of.duplicate_of ?? verdict.of.id) : verdict.of.id;
  msg.notes.resendOf = original;
  return {
    reason: `re-sent copy of receipt ${original}${caseRow !== null ? ` (case #${caseRow.number})` : ''} under a new Message-ID: ${verdict.why}; not a new message, nothing sent`,
    caseRow,
  };
}

/**
 * Re-sent copies (after thread: it needs the sender and whether the message opens a case). A copy
 * ends `ignored`, naming the original receipt and its case; nothing is stored in the case and
 * nothing is sent. Every message that passes gets its resend key on its receipt (0027 index).
 * This look-up sees only what is committed: copies whose pipelines run side by side (parallel SMTP
 * sessions, two daemons) are told apart again inside the commit (claimResend).
 */
export const resendStage: DecideStage = {
  name: 'resend',
  async run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const sender = need(msg.notes.sender, 'sender');
    msg.notes.resendKey = resendKey(parsed, sender.address);
    const copy = await findResend(ctx.db, msg, ctx);
    return copy === null ? NEXT : { end: 'ignored', ...copy };
  },
};

/**
 * Inside the commit transaction, first: the resend key is claimed — one commit at a time per key
 * (SQLite: the transaction holds the write lock already; PostgreSQL: an advisory transaction lock
 * on the key, held until this commit or rollback, so a second daemon's copy waits for it) — and
 * looked up again, now seeing every copy committed before. A copy whose twin committed while it was
 * on its way (the same message over two SMTP sessions at once) ends here as a copy of it instead of
 * opening a second case; the caller rolls back and records it `ignored`.
 */
export async function claimResend(trx: Kysely<Database>, msg: Inbound, ctx: AppContext): Promise<ResendEnding | null> {
  const key = msg.notes.resendKey;
  if (key === undefined) return null;
  await lockKey(trx, `resend:${key}`);
  return findResend(trx, msg, ctx);
}
