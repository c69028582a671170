import type Mail from 'nodemailer/lib/mailer/index.js';
import type { AppContext } from '../context.js';
import { envelopeId, verpAddress } from '../cases/thread-token.js';
import { bouncingAmong } from '../db/repos/addresses.js';
import { attachmentsOfOutboxRows } from '../db/repos/agent-work.js';
import { markCopySent } from '../db/repos/outbox.js';
import type { Db } from '../db/database.js';
import type { AttachmentRow, OutboxRow } from '../db/schema.js';
import type { Logger } from '../log.js';
import { sendCopies, type Attempt } from './copies-attempt.js';
import { copiesOf, everyReaderOf, outgoingAttachments, pendingRecipientsOf, toMailOptions } from './outbox-mail.js';
import { nextAttemptAt } from './outbox-outcome.js';
import { readersNow, takenOffNow, withoutErased } from './reader-withdrawal.js';
import { sendSingle } from './single-attempt.js';
import { staffTemplateNames } from './template-data.js';
import type { SentMessage } from './transport.js';

/**
 * One claimed outbox row's attempt, before its outcome is recorded (the worker, outbox-worker.ts,
 * claims, records and keeps the relay's health): a bouncing recipient, a paused transport or a
 * held sender decide without sending; otherwise the row goes as per-reader copies
 * (copies-attempt.ts) or as one email (single-attempt.ts), to whom it names right now (readers
 * taken off the case or erased while it waited are left out: reader-withdrawal.ts).
 */

/** What a claimed batch needs besides its rows, read in one query each: bouncing recipients, stored files. */
export interface BatchFacts {
  readonly bouncing: ReadonlySet<string>;
  readonly files: ReadonlyMap<number, AttachmentRow[]>;
}

/**
 * Which recipients of a claimed batch are bouncing and which rows carry stored files: two
 * queries per batch instead of two per email. Checked right after the claim, so an address that
 * started bouncing after its mail was queued still gets nothing.
 */
export async function batchFacts(db: Db, rows: readonly OutboxRow[]): Promise<BatchFacts> {
  const bouncing = await bouncingAmong(db, rows.flatMap(addressedNow));
  const files = await attachmentsOfOutboxRows(db, rows.map((r) => r.id));
  return { bouncing: new Set(bouncing.map((b) => b.address)), files };
}

/** What an attempt needs from the worker that claimed the row. */
export interface RowAttemptDeps {
  readonly ctx: AppContext;
  readonly db: Db;
  readonly log: Logger;
  /** Who holds the claim (the worker's claim owner). */
  readonly owner: string;
  /** Sending paused (a broken transport) or the worker stopping: the row goes back untried. */
  stopping(): boolean;
  /** The relay refuses this sender (lower case) for now (sender-holds.ts). */
  senderHeld(sender: string): boolean;
  send(options: Mail.Options): Promise<SentMessage>;
  /** Whether the relay offers DSN (transport.ts offersDsn): false: it does not, or there is no relay; null: not known yet. */
  relayOffersDsn(): boolean | null;
  /**
   * Room for `n` more recipients within the relay's maxPerMinute (relay-rate.ts take): waits for
   * it; false when sending stops meanwhile (the transaction must not go).
   */
  rate(n: number): Promise<boolean>;
  /** What a send that threw means for the row (send-failure.ts). */
  failure(err: unknown, row: OutboxRow, attempts: number, sender: string, probe: boolean): Attempt;
}

/** Attempt one claimed row (`probe`: the one email that tries a held sender). */
export async function attemptRow(row: OutboxRow, facts: BatchFacts, probe: boolean, d: RowAttemptDeps): Promise<Attempt> {
  const attempts = row.attempts + 1;
  // An agent's reply goes all the same (recipient-refusal.ts: `human`).
  // (Nobody left to send to — every copy went before a restart — is no bounce: the round below marks it sent.)
  const addressed = addressedNow(row);
  if (row.kind !== 'agent-reply' && addressed.length > 0 && addressed.every((a) => facts.bouncing.has(a.toLowerCase()))) return { outcome: { kind: 'suppressed', reason: 'address is bouncing' }, transport: null };
  if (d.stopping()) return { outcome: { kind: 'released', attempts: row.attempts, error: null }, transport: null };
  // Claimed with others just before the relay refused its sender: it waits with them, untried.
  const sender = row.from_address.toLowerCase();
  if (!probe && d.senderHeld(sender)) return { outcome: { kind: 'held', attempts: row.attempts, error: null, sender }, transport: null };
  // A customer's files in staff mail are extras; an agent's files in their reply are its content.
  const optional = (staffTemplateNames as readonly string[]).includes(row.kind);
  const files = async () => outgoingAttachments({ blobs: d.ctx.blobs, log: d.log }, facts.files.get(row.id) ?? [], { optional });
  const nextAt = (): string | null => nextAttemptAt(d.ctx.config.outgoing.retry, row, attempts, d.ctx.clock.now());
  // The relay's maxPerMinute counts recipients (relay-rate.ts): the claim counted one for the row;
  // every further recipient of this attempt, in this transaction or the next, waits for its room.
  let counted = 1;
  const turn = (recipients: number): Promise<boolean> => {
    const more = recipients - counted;
    counted = Math.max(0, counted - recipients);
    return d.rate(more);
  };
  // Signed bounce addresses (mailboxes[].verp): one envelope sender per reader, so one SMTP
  // transaction per reader — a bounce then names the reader by its address alone.
  const verp = verpOf(d.ctx, row);
  const returnPath = (address: string): string | undefined => (verp === null ? undefined : verpAddress(row.from_address, row.id, address, d.ctx.secret, verp));
  // One copy per reader, each with the case-page link that names them (copies-attempt.ts). Also
  // one transaction per reader of an email to several (To and Cc) when the relay takes our envelope
  // id (it offers DSN, or it is not known yet): each reader's MX then gets an id signed for that
  // reader alone, and whoever runs it cannot report another reader of the email as bouncing
  // (bounce-standing.ts). The cost is what verp pays: one MAIL/RCPT/DATA per reader.
  const perReader = verp !== null || d.relayOffersDsn() !== false;
  if (copiesOf(row) !== null || (perReader && (pendingRecipientsOf(row) ?? everyReaderOf(row)).length > 1)) {
    const round = await sendCopies(row, {
      attempts,
      build: async (address) => toMailOptions(row, await files(), d.ctx.clock.now(), address, returnPath(address), envelopeId(row.id, address, d.ctx.secret)),
      turn: () => turn(1),
      send: (options) => d.send(options),
      failure: (err) => d.failure(err, row, attempts, sender, probe),
      progress: async (pending, at) => {
        try {
          return await markCopySent(d.db, row.id, d.owner, pending, at);
        } catch (err) {
          // Not recorded: a crash now would send the copies taken so far once more (same Message-ID).
          d.log.warn({ err, outboxId: row.id }, 'could not record a copy as sent (database busy?); going on');
          return true;
        }
      },
      takenOff: async (address) => (await takenOffNow(d.db, row, [address], d.log)).size > 0,
      stopping: () => d.stopping(),
      nextAt,
      now: () => d.ctx.clock.now().toISOString(),
    });
    return { ...round, outcome: await withoutErased(d.db, row, round.outcome, d.log) };
  }
  // Readers taken off the case while it waited its turn (claimed, so #uncc left it as it was): not sent to them.
  const now = await readersNow(d.db, row, d.ctx.clock.now().toISOString(), d.log);
  if ('outcome' in now) return { outcome: now.outcome, transport: null };
  const sending = now.row;
  return sendSingle({
    attempts,
    build: async () => {
      const readers = pendingRecipientsOf(sending) ?? everyReaderOf(sending);
      // One reader: the envelope id speaks for them alone; several in one transaction (a relay
      // without DSN, which never writes it back): for each.
      const envid = envelopeId(row.id, readers.length === 1 ? readers[0]! : null, d.ctx.secret);
      return toMailOptions(sending, await files(), d.ctx.clock.now(), undefined, returnPath(readers[0] ?? sending.to_address), envid);
    },
    turn: () => turn((pendingRecipientsOf(sending) ?? everyReaderOf(sending)).length),
    send: (options) => d.send(options),
    failure: (err) => d.failure(err, row, attempts, sender, probe),
    nextAt,
    now: () => d.ctx.clock.now().toISOString(),
  });
}

/** The separator of the signed bounce address of the row's mailbox (its From address), or null: VERP is off. */
function verpOf(ctx: AppContext, row: OutboxRow): '+' | '-' | null {
  const mb = ctx.mailboxes.byAddress(row.from_address);
  return mb?.verp === true ? mb.verpSeparator : null;
}

/** Whom this attempt is for, as far as bouncing goes: the To — or, when the others have it, the ones it still goes to. */
function addressedNow(row: OutboxRow): string[] {
  return pendingRecipientsOf(row) ?? [row.to_address];
}
