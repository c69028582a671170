import type { Kysely, Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { addEvent } from '../db/repos/events.js';
import { queuedSince } from '../db/repos/agent-work.js';
import { caseById } from '../db/repos/cases.js';
import type { CaseRow, Database } from '../db/schema.js';
import { caseCommand, queueStaffEmail, type Recipient } from '../mail-out/compose.js';
import { COMMAND_SYNTAX } from './agent-commands.js';
import { filesForAgent, withoutFiles, type MessageFiles } from './customer-files.js';
import { attentionAddresses, isStaffOf, ownerName } from './staff.js';

/**
 * Mail to agents about a case: notifications that can be answered (a reply to one answers the
 * case: its Message-ID is signed for the case), command errors, forged-sender notices.
 */

export type AgentEvent = 'new-case' | 'customer-reply' | 'call-request' | 'sender-flood';

/** For sender-flood: whose mail, the hourly limit, how many messages went unnotified since the previous flood notice. */
export interface FloodNote {
  readonly sender: string;
  readonly limit: number;
  readonly suppressed: number;
}

export interface NotifiedMessage extends MessageFiles {
  readonly from: string;
  readonly at: string;
  readonly visibleText: string;
  /** Its From failed the sender check (DMARC fail): it may not come from that address. */
  readonly forged: boolean;
  /** Addresses it copied that the case's mail does not reach (participation.ts enrolRecipients); none when unset. */
  readonly notCopied?: readonly string[];
}

/**
 * agent-notification to the owner (unowned: the queue's available agents) or `to`, except `skip`
 * (who already heard about it, or who caused it). Returns who was notified.
 */
export async function notifyAgents(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  o: { readonly event: AgentEvent; readonly message: NotifiedMessage; readonly call?: { readonly when: string; readonly by: string }; readonly flood?: FloodNote; readonly skip?: readonly string[]; readonly to?: readonly Recipient[] },
): Promise<string[]> {
  const to = (o.to ?? attentionAddresses(ctx.config, caseRow.queue, caseRow.owner)).filter((r) => !(o.skip ?? []).includes(r.address));
  const [message, files] = withoutFiles(o.message);
  const related = to.length > 0 ? await relatedCase(trx, caseRow) : NO_RELATED;
  for (const r of to) {
    await queueStaffEmail(trx, ctx, caseRow, 'agent-notification', r, {
      event: o.event,
      owner: { name: ownerName(ctx.config, caseRow.queue, caseRow.owner) },
      related,
      call: o.call ?? { when: '', by: '' },
      flood: o.flood ?? { sender: '', limit: 0, suppressed: 0 },
      message: { ...message, notCopied: message.notCopied ?? [] },
    }, files);
  }
  if (to.length === 0) ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, event: o.event }, 'no agent to notify (no owner, no available agent in the queue)');
  return to.map((r) => r.address);
}

const NO_RELATED = { number: 0, subject: '', command: '' } as const;

/** The case `caseRow` is linked to (cases.linked_case_id: possibly related), for the agents; number 0 when none. */
export async function relatedCase(db: Kysely<Database>, caseRow: CaseRow): Promise<{ number: number; subject: string; command: string }> {
  if (caseRow.linked_case_id === null) return NO_RELATED;
  const linked = await caseById(db, caseRow.linked_case_id);
  return linked === undefined ? NO_RELATED : { number: linked.number, subject: linked.subject, command: caseCommand(linked.number) };
}

/**
 * The command-error email: what could not be done and the syntax; nothing of the mail was done.
 * Each error is a command.rejected event unless `event: false` (the caller records its own). Returns the outbox id.
 */
export async function sendCommandError(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  o: { readonly to: { readonly address: string; readonly name: string }; readonly errors: readonly { line: string; why: string }[]; readonly subject: string; readonly text: string; readonly messageRowId: number; readonly event?: boolean },
): Promise<number> {
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const now = ctx.clock.now().toISOString();
  for (const e of o.event === false ? [] : o.errors) {
    await addEvent(trx, { caseId: caseRow.id, messageRowId: o.messageRowId, type: 'command.rejected', actor: `agent:${o.to.address}`, reason: `${e.line}: ${e.why}`, at: now });
  }
  return queueStaffEmail(trx, ctx, caseRow, 'command-error', o.to, {
    errors: o.errors,
    syntax: COMMAND_SYNTAX,
    notesAddress: ctx.mailboxes.notesAddressOf(mailbox) ?? '',
    original: { subject: o.subject, text: o.text },
  });
}

/** At most this many forged-sender notices per staff address per hour (a forger cannot flood an agent). */
const FORGED_NOTICES_PER_HOUR = 3;

/** Tell a staff address that mail claiming it failed the sender check. */
export async function sendForgedNotice(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  o: { readonly address: string; readonly subject: string; readonly why: string; readonly messageRowId: number },
): Promise<boolean> {
  const now = ctx.clock.now();
  const at = now.toISOString();
  await addEvent(trx, { caseId: caseRow.id, messageRowId: o.messageRowId, type: 'sender.forged-staff', actor: 'system', reason: `mail claiming staff address ${o.address} failed the sender check (${o.why}): stored as a customer message, no command done`, at });
  const since = new Date(now.getTime() - 3_600_000).toISOString();
  if ((await queuedSince(trx, 'forged-sender', o.address, since)) >= FORGED_NOTICES_PER_HOUR) return false;
  await queueStaffEmail(trx, ctx, caseRow, 'forged-sender', { address: o.address, name: '' }, { forged: { address: o.address, subject: o.subject, why: o.why, at } });
  ctx.log.warn({ caseId: caseRow.id, caseNumber: caseRow.number, address: o.address, why: o.why }, 'mail claiming a staff address failed the sender check; the address was told');
  return true;
}

/**
 * Tell a staff address that its mail about a case of its queue was not proven to come from it
 * (security.senderAuth proved nothing, and it answered no staff mail we sent to that address about
 * the case: a colleague's notification, a client that kept only the subject tag), so it was stored
 * as a customer message and nothing in it was done — otherwise the agent believes the customer got
 * the answer. When the mail itself went to customers (`reached`: a reply-all from the agent's client)
 * it says so: they have the text, and a reply to the notice sends it to them once more. To the real address only, with the agent's text so nothing is lost, at most
 * FORGED_NOTICES_PER_HOUR an hour (a stranger writing in the agent's name cannot flood them). The
 * notice is staff mail signed for the case and that address: a reply to it works the case.
 */
export async function sendUnprovenNotice(
  trx: Transaction<Database>,
  ctx: AppContext,
  about: CaseRow,
  o: { readonly address: string; readonly subject: string; readonly why: string; readonly text: string; readonly storedIn: number; readonly otherQueue: boolean; readonly reached: readonly string[] },
): Promise<boolean> {
  const now = ctx.clock.now();
  const since = new Date(now.getTime() - 3_600_000).toISOString();
  if ((await queuedSince(trx, 'unproven-staff', o.address, since)) >= FORGED_NOTICES_PER_HOUR) return false;
  const name = ownerName(ctx.config, about.queue, o.address);
  await queueStaffEmail(trx, ctx, about, 'unproven-staff', { address: o.address, name }, {
    unproven: { address: o.address, subject: o.subject, why: o.why, at: now.toISOString(), text: o.text, storedIn: o.storedIn, otherQueue: o.otherQueue, reached: [...o.reached] },
  });
  ctx.log.info({ caseId: about.id, caseNumber: about.number, address: o.address, storedIn: o.storedIn }, 'mail from a staff address not proven for the case: the address was told');
  return true;
}

/**
 * `#files`: mail the case's files (all of them, or the ids asked for) to the agent who asked — a
 * proven agent of the case's queue (the agent flow decides that), never anyone else — within
 * agentMail.attachFilesMaxBytes; the rest named with the command that saves them. Returns what was done.
 */
export async function mailCaseFiles(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, o: { readonly to: Recipient; readonly actor: string; readonly line: string; readonly ids: readonly number[]; readonly messageRowId: number | null }): Promise<string> {
  if (!isStaffOf(ctx.config, caseRow.queue, o.to.address)) return `${o.line}: not mailed, ${o.to.address} is no staff of queue ${caseRow.queue}`;
  const asked = await filesForAgent(trx, ctx, caseRow.id, o.ids);
  await queueStaffEmail(trx, ctx, caseRow, 'case-files', o.to, { requested: o.line, attached: asked.attached, notAttached: asked.notAttached, unknown: asked.unknown }, asked.files);
  const summary = `${asked.files.length} file(s) mailed to ${o.to.address}${asked.notAttached.length > 0 ? `, ${asked.notAttached.length} named with their command` : ''}${asked.unknown.length > 0 ? `; no file ${asked.unknown.join(', ')}` : ''}`;
  await addEvent(trx, { caseId: caseRow.id, messageRowId: o.messageRowId, type: 'files.mailed', actor: o.actor, reason: `${o.line}: ${summary}`, at: ctx.clock.now().toISOString() });
  return summary;
}
