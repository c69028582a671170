import type { Kysely } from 'kysely';
import { cancelUnsent, readersOfRow, rewriteReaders, unsentNaming, unsentOfCase, type ReaderSet } from '../db/repos/outbox.js';
import type { Database, OutboxRow } from '../db/schema.js';
import { readersTakenOffSince } from '../db/repos/events.js';
import type { Logger } from '../log.js';
import { TAKEN_OFF } from './copies-attempt.js';
import { copiesOf, pendingRecipientsOf } from './outbox-mail.js';
import type { Outcome } from './outbox-outcome.js';

/**
 * A reader taken off a case (`#uncc`, `casegate cases uncc`) before an email of the case reached
 * them: what becomes of that email. The email is written to the people of the case when it is
 * queued; whoever is taken off before their copy goes no longer gets it — a colleague copied in
 * by mistake, someone who left the customer's company — and the others still get theirs, with a
 * To/Cc that names who gets it. The same Message-ID, the same outbox row (one email), as
 * every copy already sent named.
 *
 * - A Cc nobody has sent to yet: out of the Cc (headers, envelope) with their copy.
 * - The To, nobody sent to yet: the first Cc left takes their place (with that reader's copy);
 *   nobody left: the email is cancelled.
 * - Some have theirs already (pending_rcpt_json): the reader is no longer waited for — out of the
 *   pending list and the Cc; nobody else waits → the email is sent.
 * - They have theirs already, or the email never named them: unchanged.
 *
 * A participant added after the email was queued does not get it: the email went to whom it was
 * written to (the To/Cc it shows), as a mail client sends; they get the case's mail from then on.
 */
export type Withdrawal =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'cancel'; readonly reason: string }
  /** `sentAt`: everyone else has it, the email is sent (at that time). */
  | { readonly kind: 'rewrite'; readonly set: ReaderSet; readonly sentAt?: string | null };

interface Named {
  readonly address: string;
  readonly name: string;
}

/**
 * `erase`: the reader's address is erased (`casegate purge --requester`): it leaves the email
 * altogether, even where they have their copy already — an email the others still wait for then
 * shows the next reader as its To (the To cannot stay). Nobody else waits: cancelled (the erasure
 * deletes what is sent to them).
 */
export function withoutReader(row: OutboxRow, address: string, o: { readonly erase?: boolean } = {}): Withdrawal {
  const key = address.toLowerCase();
  const same = (a: string): boolean => a.toLowerCase() === key;
  const cc = JSON.parse(row.cc_json) as Named[];
  const isTo = same(row.to_address);
  if (!isTo && !cc.some((r) => same(r.address))) return { kind: 'unchanged' };
  const pending = pendingRecipientsOf(row);
  const copies = copiesOf(row);
  const restCc = cc.filter((r) => !same(r.address));
  const restCopies = copies?.filter((c) => !same(c.address)) ?? null;
  const copiesJson = (list: typeof copies): string | null => (list === null || list.length === 0 ? null : JSON.stringify(list));
  const base = { to_address: row.to_address, to_name: row.to_name, text: row.text, html: row.html, pending_rcpt_json: row.pending_rcpt_json };
  if (pending !== null && isTo && o.erase === true) {
    // Erased, the To: the email goes on to those who still wait, showing the next reader as its To.
    const rest = pending.filter((a) => !same(a));
    const next = restCc[0];
    if (rest.length === 0 || next === undefined) return { kind: 'cancel', reason: erasedReason };
    return { kind: 'rewrite', set: { ...promoted(next), pending_rcpt_json: JSON.stringify(rest) } };
  }
  if (pending !== null) {
    // Some readers have it: the headers they saw stay (the To cannot change); this one is not waited for.
    if (!pending.some(same)) return { kind: 'unchanged' };
    const rest = pending.filter((a) => !same(a));
    // Nobody left to wait for: it is sent (to everyone it still goes to), when it last went.
    const sentAt = rest.length === 0 ? (row.last_attempt_at ?? row.created_at) : null;
    return { kind: 'rewrite', set: { ...base, cc_json: JSON.stringify(isTo ? cc : restCc), copies_json: copiesJson(restCopies), pending_rcpt_json: JSON.stringify(rest) }, sentAt };
  }
  if (!isTo) return { kind: 'rewrite', set: { ...base, cc_json: JSON.stringify(restCc), copies_json: copiesJson(restCopies) } };
  const next = restCc[0];
  if (next === undefined) return { kind: 'cancel', reason: o.erase === true ? erasedReason : `${row.to_address}, the only reader, was taken off the case before it was sent` };
  return { kind: 'rewrite', set: promoted(next) };

  /** The next reader becomes the To, with their own copy (their link) when the email has copies. */
  function promoted(next: Named): ReaderSet {
    const isNext = (a: string): boolean => a.toLowerCase() === next.address.toLowerCase();
    const theirs = restCopies?.find((c) => isNext(c.address));
    return {
      ...base,
      to_address: next.address,
      to_name: next.name,
      text: theirs?.text ?? row.text,
      html: theirs?.html ?? row.html,
      cc_json: JSON.stringify(restCc.slice(1)),
      copies_json: copiesJson(restCopies?.filter((c) => !isNext(c.address)) ?? null),
    };
  }
}

const erasedReason = 'the only reader it was still to go to was erased';

/**
 * Take `address` off the case's unsent emails (called as they are taken off the case, in the same
 * transaction): how many emails they will no longer get. An email being sent this very moment
 * (claimed) is on its way and left as it is.
 */
export async function withdrawReader(db: Kysely<Database>, caseId: number, address: string, now: string): Promise<number> {
  let withdrawn = 0;
  for (const row of await unsentOfCase(db, caseId, now)) {
    const w = withoutReader(row, address);
    if (w.kind === 'unchanged') continue;
    const done = w.kind === 'cancel' ? await cancelUnsent(db, row.id, w.reason, now) : await rewriteReaders(db, row.id, w.set, now, w.sentAt ?? null);
    if (done) withdrawn += 1;
  }
  return withdrawn;
}

/**
 * An erasure (`casegate purge --requester`, in its transaction, before the address's traces go):
 * the unsent emails of other people's cases that name the address go on to the others — the
 * next reader becomes the To where it was theirs — instead of going with it; an email that was to
 * go to nobody else is cancelled. An email a sender holds this very moment (claimed, waiting its
 * turn, its other copies going) is changed all the same: right before each send the sender reads
 * whom the row names now (`goneNow`), so it never goes to her once the erasure committed, and the
 * others still get it. Returns how many emails changed.
 */
export async function eraseReader(db: Kysely<Database>, address: string): Promise<number> {
  let changed = 0;
  for (const row of await unsentNaming(db, address)) {
    const w = withoutReader(row, address, { erase: true });
    if (w.kind === 'unchanged') continue;
    const done = w.kind === 'cancel' ? await cancelUnsent(db, row.id, w.reason, null) : await rewriteReaders(db, row.id, w.set, null, w.sentAt ?? null);
    if (done) changed += 1;
  }
  return changed;
}

/**
 * At send time (mail-out/outbox-worker.ts): an email claimed by a sender is left alone by
 * `withdrawReader` (the sender holds it as it was), and may wait its turn behind a slow relay for
 * a while. Right before it goes — the whole email, or each reader's copy — the sender asks which
 * of its readers were erased since it claimed the row (the row no longer names them, or it is
 * gone: `goneNow`) or taken off the case since it was written (and are not copied in again): they
 * do not get it, the others do. Two queries per email (a primary key, events_case). A reader taken
 * off or erased after that moment gets it: it is on its way, as an email already sent.
 */
export async function takenOffNow(db: Kysely<Database>, row: OutboxRow, addresses: readonly string[], log: Logger): Promise<Set<string>> {
  const gone = await goneNow(db, row, addresses, log);
  const rest = addresses.filter((a) => !gone.has(a.toLowerCase()));
  if (row.case_id === null || rest.length === 0) return gone;
  const off = await readersTakenOffSince(db, row.case_id, rest, row.created_at);
  if (off.size > 0) log.info({ outboxId: row.id, caseId: row.case_id, messageId: row.message_id, takenOff: [...off] }, 'taken off the case since the email was written: it does not go to them');
  return new Set([...gone, ...off]);
}

/**
 * A copies round that ends partly sent (cut by a pause or a stop, a copy refused for now) would
 * write the readers still waiting back into the row: those erased while the sender held it are
 * left out — their address does not come back into a row the erasure cleaned, and the next attempt
 * does not wait for them. Nobody left to wait for: sent (the others had theirs).
 */
export async function withoutErased(db: Kysely<Database>, row: OutboxRow, outcome: Outcome, log: Logger): Promise<Outcome> {
  if (outcome.kind !== 'partly-sent') return outcome;
  let gone: Set<string>;
  try {
    gone = await goneNow(db, row, outcome.deferred.map((r) => r.address), log);
  } catch (err) {
    // The copies went and are recorded: the outcome as it is (the next attempt checks again before each copy).
    log.warn({ err, outboxId: row.id }, 'could not read whom the email names now (database busy?); recorded as the round ended');
    return outcome;
  }
  if (gone.size === 0) return outcome;
  const kept = (r: { readonly address: string }): boolean => !gone.has(r.address.toLowerCase());
  const deferred = outcome.deferred.filter(kept);
  const refused = outcome.refused.filter(kept);
  if (deferred.length > 0) return { ...outcome, deferred, refused };
  return { kind: 'sent', attempts: outcome.attempts, at: outcome.at, response: '', signedBy: null, ...(refused.length > 0 ? { refused } : {}) };
}

/**
 * Those of `addresses` (lower-cased) the row no longer names — an erasure took them out of it
 * while a sender held it (eraseReader: claimed rows too) — or all of them when the row is no
 * longer to be sent (cancelled, or deleted with the erased requester's cases). One primary-key
 * read: a sender never writes the To and Cc, so what it reads is what the erasure left.
 */
async function goneNow(db: Kysely<Database>, row: OutboxRow, addresses: readonly string[], log: Logger): Promise<Set<string>> {
  const now = await readersOfRow(db, row.id);
  const all = new Set(addresses.map((a) => a.toLowerCase()));
  if (now === undefined || now.status !== 'queued') {
    log.info({ outboxId: row.id, caseId: row.case_id, messageId: row.message_id, status: now?.status ?? 'deleted' }, 'the email was cancelled or erased while a sender held it: it goes to nobody more');
    return all;
  }
  const named = new Set([now.to_address, ...(JSON.parse(now.cc_json) as Named[]).map((r) => r.address)].map((a) => a.toLowerCase()));
  const gone = new Set([...all].filter((a) => !named.has(a)));
  // Not logged by address: they were erased.
  if (gone.size > 0) log.info({ outboxId: row.id, caseId: row.case_id, messageId: row.message_id, readers: gone.size }, 'readers erased while a sender held the email: it does not go to them');
  return gone;
}

/**
 * The row as it goes now, one email to all its readers: without those taken off the case (out of
 * its envelope; its headers stay as written) — or its outcome when nobody is left: sent (the
 * others had it already) or suppressed (it went to nobody).
 */
export async function readersNow(db: Kysely<Database>, row: OutboxRow, now: string, log: Logger): Promise<{ readonly row: OutboxRow } | { readonly outcome: Outcome }> {
  const everyone = pendingRecipientsOf(row) ?? [row.to_address, ...(JSON.parse(row.cc_json) as Named[]).map((r) => r.address)];
  const off = await takenOffNow(db, row, everyone, log);
  if (off.size === 0) return { row };
  const envelope = everyone.filter((a) => !off.has(a.toLowerCase()));
  if (envelope.length > 0) return { row: { ...row, pending_rcpt_json: JSON.stringify(envelope) } };
  if (row.pending_rcpt_json !== null) return { outcome: { kind: 'sent', attempts: row.attempts, at: now, response: '', signedBy: null } };
  return { outcome: { kind: 'suppressed', reason: TAKEN_OFF } };
}
