import { sql, type Kysely } from 'kysely';
import { containsText, isPostgres, unindexed } from '../dialect.js';
import type { Database } from '../schema.js';
import { escapeRegex } from '../../escape-regex.js';
import { reindexMessages } from './search.js';

type Q = Kysely<Database>;

/**
 * Deletion for retention (`casegate purge`): whole cases with everything hanging off them, and
 * the traces of one address (GDPR erasure). Run inside a transaction (ops/purge.ts); children
 * before parents (foreign keys are on). Returns what went and the blobs the deleted rows named,
 * so the caller can delete the files nobody else names.
 */

export interface Removed {
  cases: number;
  messages: number;
  attachments: number;
  receipts: number;
  outbox: number;
  events: number;
  participants: number;
  /** sha256 of blobs named by deleted rows (may still be named by others). */
  readonly blobs: Set<string>;
}

/** What an erased address becomes in the history that stays (other cases' events and mail). */
const ERASED = '(erased)';

export function nothingRemoved(): Removed {
  return { cases: 0, messages: 0, attachments: 0, receipts: 0, outbox: 0, events: 0, participants: 0, blobs: new Set() };
}

/**
 * Closed cases closed before `before`, oldest first (index cases_closed_at, in order: a batch reads
 * its rows and stops). The status check picks no index: by cases_resolved (status=?) SQLite read
 * every closed case and sorted them for each batch (570 ms a batch at 1 M messages).
 */
export async function closedCasesBefore(db: Q, before: string, limit: number): Promise<{ id: number; number: number }[]> {
  return db.selectFrom('cases').select(['id', 'number']).where('closed_at', '<', before).where(unindexed(db, 'status'), '=', 'closed').orderBy('closed_at').limit(limit).execute();
}

/** Those of `ids` that are still closed, closed before `before` (read again inside the deleting transaction). */
export async function closedCasesAmong(db: Q, ids: readonly number[], before: string): Promise<{ id: number; number: number }[]> {
  if (ids.length === 0) return [];
  const q = db.selectFrom('cases').select(['id', 'number']).where('id', 'in', [...ids]).where('closed_at', '<', before).where('status', '=', 'closed').orderBy('closed_at');
  // PostgreSQL: locked until the deletion commits (a reopening reply waits, then finds no case); SQLite's write lock serialises.
  return (isPostgres(db) ? q.forUpdate() : q).execute();
}

/** Every case whose requester is this address (index cases_requester). */
export async function casesOfRequester(db: Q, address: string): Promise<{ id: number; number: number }[]> {
  return db.selectFrom('cases').select(['id', 'number']).where('requester_address', '=', address).orderBy('id').execute();
}

function n(res: { numDeletedRows: bigint } | undefined): number {
  return Number(res?.numDeletedRows ?? 0n);
}

/** Receipts by id, plus receipts that are duplicates or retries of them (they name the same mail). */
async function deleteReceipts(db: Q, ids: number[], removed: Removed): Promise<void> {
  let batch = ids;
  while (batch.length > 0) {
    const rows = await db.selectFrom('receipts').select(['id', 'raw_sha256']).where('id', 'in', batch).execute();
    for (const r of rows) removed.blobs.add(r.raw_sha256);
    const linked = await db
      .selectFrom('receipts')
      .select('id')
      .where((eb) => eb.or([eb('duplicate_of', 'in', batch), eb('retried_as', 'in', batch)]))
      .where('id', 'not in', batch)
      .execute();
    // Break the links first (they point both ways), then delete.
    await db.updateTable('receipts').set({ duplicate_of: null, retried_as: null }).where('id', 'in', batch).execute();
    await db.updateTable('receipts').set({ duplicate_of: null }).where('duplicate_of', 'in', batch).execute();
    await db.updateTable('receipts').set({ retried_as: null }).where('retried_as', 'in', batch).execute();
    removed.receipts += n(await db.deleteFrom('receipts').where('id', 'in', batch).executeTakeFirst());
    batch = linked.map((r) => r.id);
  }
}

/** Messages by id with their attachments and the receipts that delivered them. */
async function deleteMessages(db: Q, ids: number[], removed: Removed): Promise<void> {
  if (ids.length === 0) return;
  const msgs = await db.selectFrom('messages').select(['id', 'raw_sha256', 'receipt_id']).where('id', 'in', ids).execute();
  for (const m of msgs) if (m.raw_sha256 !== null) removed.blobs.add(m.raw_sha256);
  const atts = await db.selectFrom('attachments').select('sha256').where('message_row_id', 'in', ids).execute();
  for (const a of atts) removed.blobs.add(a.sha256);
  removed.attachments += n(await db.deleteFrom('attachments').where('message_row_id', 'in', ids).executeTakeFirst());
  removed.events += n(await db.deleteFrom('events').where('message_row_id', 'in', ids).executeTakeFirst());
  removed.messages += n(await db.deleteFrom('messages').where('id', 'in', ids).executeTakeFirst());
  const receipts = msgs.map((m) => m.receipt_id).filter((r): r is number => r !== null);
  const byMessage = await db.selectFrom('receipts').select('id').where('message_row_id', 'in', ids).execute();
  await deleteReceipts(db, [...new Set([...receipts, ...byMessage.map((r) => r.id)])], removed);
}

/** Whole cases: messages, attachments, receipts, outbox rows, events, participants, tags, SLA, surveys, claims, link revocations. */
export async function deleteCases(db: Q, caseIds: number[], removed: Removed): Promise<void> {
  if (caseIds.length === 0) return;
  const msgIds = (await db.selectFrom('messages').select('id').where('case_id', 'in', caseIds).execute()).map((m) => m.id);
  await deleteMessages(db, msgIds, removed);
  await deleteReceipts(db, (await db.selectFrom('receipts').select('id').where('case_id', 'in', caseIds).execute()).map((r) => r.id), removed);
  removed.outbox += n(await db.deleteFrom('outbox').where('case_id', 'in', caseIds).executeTakeFirst());
  removed.events += n(await db.deleteFrom('events').where('case_id', 'in', caseIds).executeTakeFirst());
  removed.participants += n(await db.deleteFrom('case_participants').where('case_id', 'in', caseIds).executeTakeFirst());
  await db.deleteFrom('case_tags').where('case_id', 'in', caseIds).execute();
  await db.deleteFrom('case_sla').where('case_id', 'in', caseIds).execute();
  await db.deleteFrom('survey_responses').where('case_id', 'in', caseIds).execute();
  await db.deleteFrom('job_claims').where('case_id', 'in', caseIds).execute();
  await db.deleteFrom('link_revocations').where('case_id', 'in', caseIds).execute();
  // Cases opened from these (a stranger's tagged mail, a reply after the window) lose the link.
  await db.updateTable('cases').set({ linked_case_id: null }).where('linked_case_id', 'in', caseIds).execute();
  // Cases merged into these: closed shells (their content moved here and goes with them).
  await db.updateTable('cases').set({ merged_into: null }).where('merged_into', 'in', caseIds).execute();
  removed.cases += n(await db.deleteFrom('cases').where('id', 'in', caseIds).executeTakeFirst());
}

/**
 * The traces of one address outside its own cases: its participation in other cases, the
 * messages it wrote there, receipts of mail it sent (ignored, quarantined), emails we sent it, its
 * place in the To/Cc lists of other messages and emails, its bounce state, case-less events that
 * name it. (The raw mail other people sent stays as they sent it: their record, in the blob store.) Returns the ids of the (remaining) cases it wrote into.
 * (receipts.from_address has no index: an erasure reads the receipts once.)
 */
export async function eraseAddress(db: Q, address: string, removed: Removed): Promise<number[]> {
  const msgs = await db.selectFrom('messages').select(['id', 'case_id']).where('from_address', '=', address).execute();
  await deleteMessages(db, msgs.map((m) => m.id), removed);
  removed.participants += n(await db.deleteFrom('case_participants').where('address', '=', address).executeTakeFirst());
  const receipts = await db
    .selectFrom('receipts')
    .select('id')
    .where((eb) => eb.or([eb('from_address', '=', address), eb('envelope_from', '=', address)]))
    .execute();
  await deleteReceipts(db, receipts.map((r) => r.id), removed);
  // Emails to it: sent, or cancelled (those still to go to others too were handed on to them first: mail-out/reader-withdrawal.ts eraseReader).
  removed.outbox += n(await db.deleteFrom('outbox').where('to_address', '=', address).executeTakeFirst());
  // Other people's mail keeps its place in their case, without this address among its recipients.
  const without = (json: string): string => JSON.stringify((JSON.parse(json) as { address?: string }[]).filter((r) => r.address?.toLowerCase() !== address));
  const listed = await db
    .selectFrom('messages')
    .select(['id', 'to_json', 'cc_json'])
    .where((eb) => eb.or([containsText(db, 'to_json', address), containsText(db, 'cc_json', address)]))
    .execute();
  for (const m of listed) await db.updateTable('messages').set({ to_json: without(m.to_json), cc_json: without(m.cc_json) }).where('id', '=', m.id).execute();
  const ccd = await db.selectFrom('outbox').select(['id', 'cc_json']).where(containsText(db, 'cc_json', address)).execute();
  for (const o of ccd) await db.updateTable('outbox').set({ cc_json: without(o.cc_json) }).where('id', '=', o.id).execute();
  // Their own copy of an email written to several readers (0021): gone, so it is never sent.
  const copied = await db.selectFrom('outbox').select(['id', 'copies_json']).where(containsText(db, 'copies_json', address)).execute();
  for (const o of copied) {
    const rest = (JSON.parse(o.copies_json ?? '[]') as { address: string }[]).filter((c) => c.address.toLowerCase() !== address);
    await db.updateTable('outbox').set({ copies_json: JSON.stringify(rest) }).where('id', '=', o.id).execute();
  }
  // An email the others have, still to be sent to this address: never sent to it now.
  const pending = await db.selectFrom('outbox').select(['id', 'pending_rcpt_json']).where(containsText(db, 'pending_rcpt_json', address)).execute();
  for (const o of pending) {
    const rest = (JSON.parse(o.pending_rcpt_json ?? '[]') as string[]).filter((a) => a.toLowerCase() !== address);
    await db.updateTable('outbox').set({ pending_rcpt_json: JSON.stringify(rest) }).where('id', '=', o.id).execute();
    if (rest.length === 0) {
      await db.updateTable('outbox').set({ status: 'cancelled', last_error: 'the only address it was still to go to was erased', claimed_by: null, claim_expires_at: null }).where('id', '=', o.id).where('status', 'in', ['queued', 'failed']).execute();
    }
  }
  await db.deleteFrom('address_status').where('address', '=', address).execute();
  // Found by substring, acted on only where the address stands alone (erasing ann@x must not touch joann@x).
  const alone = new RegExp(`(^|[^a-z0-9.!#$%&'*+/=?^_\`{|}~-])${escapeRegex(address)}($|[^a-z0-9.-]|\\.($|[^a-z0-9-]))`);
  const namesIt = (texts: readonly (string | null)[]): boolean => texts.some((t) => t !== null && alone.test(t.toLowerCase()));
  // Staff mail we wrote about other cases that names the address: a "customer replied"
  // notification, an alert — copies of what she wrote (her words, her name), gone with the original.
  const copies = (
    await db
      .selectFrom('messages')
      .select(['id', 'outbox_id', 'text', 'visible_text'])
      .where('direction', '=', 'out')
      .where('internal', '=', 1)
      .where('author', 'is', null)
      .where((eb) => eb.or([containsText(db, 'text', address), containsText(db, 'visible_text', address)]))
      .execute()
  ).filter((m) => namesIt([m.text, m.visible_text]));
  await deleteMessages(db, copies.map((m) => m.id), removed);
  const copyOutbox = copies.map((m) => m.outbox_id).filter((id): id is number => id !== null);
  if (copyOutbox.length > 0) removed.outbox += n(await db.deleteFrom('outbox').where('id', 'in', copyOutbox).executeTakeFirst());
  // Other cases' history keeps its events and the mail sent to others, with the address erased from them.
  const erase = (text: string): string => text.replace(new RegExp(`(?<![a-z0-9.!#$%&'*+/=?^_\`{|}~-])${escapeRegex(address)}(?![a-z0-9-]|\\.[a-z0-9-])`, 'gi'), ERASED);
  const caseEvents = await db
    .selectFrom('events')
    .select(['id', 'reason', 'data_json'])
    .where('case_id', 'is not', null)
    .where((eb) => eb.or([containsText(db, 'reason', address), containsText(db, 'data_json', address)]))
    .execute();
  for (const e of caseEvents) if (namesIt([e.reason, e.data_json])) await db.updateTable('events').set({ reason: erase(e.reason), data_json: erase(e.data_json) }).where('id', '=', e.id).execute();
  const outMail = await db
    .selectFrom('messages')
    .select(['id', 'subject', 'text', 'html', 'visible_text'])
    .where('direction', '=', 'out')
    .where((eb) => eb.or([containsText(db, 'text', address), containsText(db, 'html', address), containsText(db, 'visible_text', address)]))
    .execute();
  for (const m of outMail) {
    if (!namesIt([m.text, m.html, m.visible_text])) continue;
    await db.updateTable('messages').set({ text: m.text === null ? null : erase(m.text), html: m.html === null ? null : erase(m.html), visible_text: erase(m.visible_text) }).where('id', '=', m.id).execute();
    // An agent's reply is searched: by its words as they are now, never the erased address.
    await reindexMessages(db, [m.id]);
  }
  const sentMail = await db
    .selectFrom('outbox')
    .select(['id', 'text', 'html'])
    .where((eb) => eb.or([containsText(db, 'text', address), containsText(db, 'html', address)]))
    .execute();
  for (const o of sentMail) if (namesIt([o.text, o.html])) await db.updateTable('outbox').set({ text: erase(o.text), html: erase(o.html) }).where('id', '=', o.id).execute();
  // Case-less events that name the address.
  const names = (col: 'reason' | 'data_json' | 'actor') => containsText(db, col, address);
  const candidates = await db
    .selectFrom('events')
    .select(['id', 'reason', 'data_json', 'actor'])
    .where('case_id', 'is', null)
    .where((eb) => eb.or([names('reason'), names('data_json'), names('actor')]))
    .execute();
  const naming = candidates.filter((e) => [e.reason, e.data_json, e.actor].some((t) => t !== null && alone.test(t.toLowerCase()))).map((e) => e.id);
  for (let i = 0; i < naming.length; i += 500) removed.events += n(await db.deleteFrom('events').where('id', 'in', naming.slice(i, i + 500)).executeTakeFirst());
  // Other people's cases keep their history, without the name of who did it.
  await db.updateTable('events').set({ actor: 'customer:(erased)' }).where('actor', '=', `customer:${address}`).execute();
  const touched = [...new Set(msgs.map((m) => m.case_id))];
  if (touched.length === 0) return [];
  return (await db.selectFrom('cases').select('id').where('id', 'in', touched).execute()).map((c) => c.id);
}

/** Whether any row still names this blob (indexes messages_raw_sha256, receipts_raw_sha256, attachments_sha256). */
export async function blobInUse(db: Q, sha256: string): Promise<boolean> {
  const m = await db.selectFrom('messages').select('id').where('raw_sha256', '=', sha256).limit(1).executeTakeFirst();
  if (m !== undefined) return true;
  const r = await db.selectFrom('receipts').select('id').where('raw_sha256', '=', sha256).limit(1).executeTakeFirst();
  if (r !== undefined) return true;
  const a = await db.selectFrom('attachments').select('id').where('sha256', '=', sha256).limit(1).executeTakeFirst();
  return a !== undefined;
}

/**
 * SQLite, for an erasure: what is deleted from now on is overwritten with zeros (secure_delete;
 * else the freed pages keep the erased text until reused). The write-ahead log, which holds pages
 * as they were, is emptied into the file and removed when the last connection closes.
 * PostgreSQL: nothing here (its dead rows go with VACUUM).
 */
export async function zeroDeletedContent(db: Q): Promise<void> {
  if (!isPostgres(db)) await sql`pragma secure_delete = on`.execute(db);
}
