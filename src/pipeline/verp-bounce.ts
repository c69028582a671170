import { envelopeIdRow, verifyEnvelopeId, verifyVerp, verpParts } from '../cases/thread-token.js';
import { addressKey } from '../address-form.js';
import { continuedAs } from '../db/repos/case-merge.js';
import { caseById } from '../db/repos/cases.js';
import { outboxRow } from '../db/repos/outbox.js';
import { everyReaderOf } from '../mail-out/outbox-mail.js';
import type { AppContext } from '../context.js';
import { noticeVerdict, type BounceRecipient, type BounceReport } from '../mail-in/automated.js';
import type { ParsedMail } from '../mail-in/parsed-mail.js';
import type { CaseRow, OutboxRow } from '../db/schema.js';
import type { Inbound } from './types.js';

/**
 * A bounce sent to a signed bounce address (mailboxes[].verp, cases/thread-token.ts verpAddress):
 * the address names the email (its outbox row) and, by its signature, the one recipient that copy
 * went to. So it is mapped whatever the report carries — no returned headers, no recipient we can
 * read, a forwarding chain's address we never wrote to — and it is the only kind of bounce that
 * proves an MTA is reporting on that delivery (docs/deliverability.md). A token that does not
 * verify (forged, altered, another installation's) is no such bounce: the caller goes on as for
 * any unsigned one.
 */
export interface SignedBounce {
  readonly report: BounceReport;
  readonly caseRow: CaseRow;
  readonly signed: { readonly address: string; readonly outboxId: number };
}

/** Where a bounce names the address it was sent to: the envelope, then the delivery headers, then To. */
function addressesSentTo(msg: Inbound, parsed: ParsedMail): string[] {
  return [...msg.arrival.envelopeTo, ...(parsed.headers.get('delivered-to') ?? []), ...(parsed.headers.get('x-original-to') ?? []), ...parsed.to.map((a) => a.address)];
}

/** The email (outbox row), reader and case a signed bounce address names, or null: not one, or it does not verify. */
export async function bounceAddressOwner(ctx: AppContext, address: string): Promise<{ readonly row: OutboxRow; readonly recipient: string; readonly caseRow: CaseRow } | null> {
  const parts = verpParts(address);
  if (parts === null) return null;
  const row = await outboxRow(ctx.db, parts.rowId);
  if (row === undefined || row.case_id === null) return null;
  const recipient = verifyVerp(parts, ctx.secret, everyReaderOf(row));
  if (recipient === null) {
    ctx.log.warn({ address, outboxId: parts.rowId }, 'mail to a signed bounce address whose signature does not verify: treated as unsigned');
    return null;
  }
  const named = await caseById(ctx.db, row.case_id);
  return named === undefined ? null : { row, recipient, caseRow: await continuedAs(ctx.db, named) };
}

export async function signedBounce(msg: Inbound, ctx: AppContext, parsed: ParsedMail, report: BounceReport): Promise<SignedBounce | null> {
  for (const address of addressesSentTo(msg, parsed)) {
    const owner = await bounceAddressOwner(ctx, address);
    if (owner === null) continue;
    const { row, recipient, caseRow } = owner;
    return { report: { originalMessageIds: [row.message_id], recipients: [{ ...whatItSays(parsed, report.recipients, recipient), address: recipient }] }, caseRow, signed: { address, outboxId: row.id } };
  }
  return null;
}

/**
 * What the report says of the recipient: its own entry; else the report's only one (a forward
 * renamed the address); else its one failed entry; else the notice as a whole.
 */
function whatItSays(parsed: ParsedMail, listed: readonly BounceRecipient[], recipient: string): Omit<BounceRecipient, 'address'> {
  const key = addressKey(recipient);
  const failed = listed.filter((r) => r.action === null || r.action === 'failed');
  const entry = listed.find((r) => addressKey(r.address) === key) ?? (listed.length === 1 ? listed[0] : undefined) ?? (failed.length === 1 ? failed[0] : undefined);
  if (entry === undefined) return noticeVerdict(parsed);
  const { address: _reported, ...rest } = entry;
  return rest;
}

/**
 * The email (outbox row), its case and the readers our signed envelope id (RFC 3461 ENVID,
 * thread-token.ts envelopeId) speaks for, of the first of `ids` that verifies; else null.
 */
export async function envelopeOf(ctx: AppContext, ids: readonly string[]): Promise<{ readonly row: OutboxRow; readonly caseRow: CaseRow; readonly readers: readonly string[] } | null> {
  for (const id of ids) {
    const rowId = envelopeIdRow(id);
    if (rowId === null) continue;
    const row = await outboxRow(ctx.db, rowId);
    if (row === undefined || row.case_id === null) continue;
    const readers = everyReaderOf(row);
    const speaks = verifyEnvelopeId(id, ctx.secret, readers);
    if (speaks === null) {
      ctx.log.warn({ envelopeId: id, outboxId: rowId }, 'bounce with an envelope id of ours whose signature does not verify: treated as without one');
      continue;
    }
    const named = await caseById(ctx.db, row.case_id);
    if (named === undefined) continue;
    return { row, caseRow: await continuedAs(ctx.db, named), readers: speaks === 'all' ? readers : [speaks] };
  }
  return null;
}
