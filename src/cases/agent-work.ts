import type { Kysely, Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { caseGoingOnAs } from '../db/repos/case-merge.js';
import { addParticipant, caseById, isParticipant, participants, removeParticipant } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { addTags } from '../db/repos/tags.js';
import type { CaseRow, Database } from '../db/schema.js';
import { requesterOf, type OutgoingAttachment, type Recipient } from '../mail-out/compose.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { withdrawReader } from '../mail-out/reader-withdrawal.js';
import type { AgentCommand, BugTimeline, ValidCommand } from './agent-commands.js';
import { assignCase } from './assignment.js';
import { mergeCases } from './case-merge.js';
import { staffAskedToAnswer, tellColleagues } from './colleague-answered.js';
import { customerRecipients, onHoldExpected, sendAgentReply, sendStatusUpdate, tellsCustomer, tellsPriority } from './customer-mail.js';
import { escalateCase, lastCustomerMessage } from './escalation.js';
import { NO_FILES } from './customer-files.js';
import { isEnded, recordAgentResponse, recordTeamUpdate, setPriority, setStatus, type StatusChange } from './lifecycle.js';
import { priorityScheme } from './priority.js';
import { moveCase, moveRefusal } from './queue-move.js';
import { mailCaseFiles, notifyAgents } from './staff-mail.js';
import { agentsOf, findAgent, isStaff } from './staff.js';
import { addressKey } from '../address-form.js';

/**
 * What an agent does to a case — by email (the agent flow) or by the CLI — in the caller's
 * transaction: the commands in order, then the reply to the customer (or the internal note), then
 * what the customer hears. One operation for both ways in, so mail and CLI behave alike.
 *
 *  - A reply (text, not a note) goes to the customer and every external participant; a status
 *    change made with it is told in the same email. The first reply is the case's first response
 *    (a new case becomes open) and, with agentMail.takeUnownedOnReply, an unowned case becomes the
 *    replying agent's.
 *  - Without a reply, a status change listed in cases.customerUpdates (or a raised priority, or a
 *    #bug) sends the status-changed email.
 *  - A note never reaches the customer.
 */

export interface WorkActor {
  /** Event actor: agent:<address> or cli:<user>. */
  readonly actor: string;
  /** Who did it, as staff read it (an agent's display name, a CLI user). */
  readonly by: string;
  /** The agent's address: "#assign me", authorship, taking an unowned case; null when unknown (CLI without --agent). */
  readonly address: string | null;
  /** Display name on the reply's From ("" = the mailbox's). */
  readonly replyName: string;
}

export interface WorkRequest {
  readonly commands: readonly ValidCommand[];
  /** The agent's text ("" for none): the reply, or the note. */
  readonly text: string;
  readonly note: boolean;
  readonly attachments: readonly OutgoingAttachment[];
  /** The message that carries the work (the agent's mail, a CLI note), for the events. */
  readonly messageRowId: number | null;
  /** Why (CLI --reason), added to the events. */
  readonly reason?: string;
  /**
   * The addresses the agent's own mail went to (its To and Cc): an agent who answered the customer
   * from their mail client (reply-all, support in Cc). The reply is the case's reply all the same,
   * but those of its readers have it already and get no second copy (compose.ts `reached`).
   */
  readonly reached?: readonly string[];
}

export interface WorkOutcome {
  readonly caseRow: CaseRow;
  /** What was done, one entry per effect (CLI output, logs). */
  readonly done: readonly string[];
  /** Addresses the reply went to ([] when there was no reply). */
  readonly repliedTo: readonly string[];
  /** Whether a status-changed email was queued. */
  readonly statusEmail: boolean;
}

/** A problem found while working (an agent who is no agent of the queue): nothing is committed. */
export class WorkError extends Error {
  override readonly name = 'WorkError';
}

/**
 * Why the reply of this request cannot reach anyone, or null: text for the customer, and no
 * address of the case may get mail (the requester writes from a postmaster or no-reply address,
 * matches autoReply.neverTo …) — counting an address the same request copies in (#cc) that may. Then nothing
 * of the request is done: the agent must not believe the customer has their answer (nor the case
 * wait, pending, for a reply to mail that was never sent). `also`: the addresses the agent's mail
 * copies in, not enrolled yet (agent-request asks before agent-persist enrols them).
 */
export async function replyRefusal(trx: Kysely<Database>, ctx: AppContext, caseRow: CaseRow, req: Pick<WorkRequest, 'commands' | 'text' | 'note'>, also: readonly Recipient[] = []): Promise<string | null> {
  if (req.text === '' || req.note) return null;
  const rcpt = await customerRecipients(trx, ctx, caseRow, { human: true, also: [...also, ...copiedByCommand(req.commands)] });
  if (rcpt.to !== null) return null;
  return `your reply cannot be sent: no customer address of case ${caseRow.number} may get mail (${rcpt.refused.join('; ') || 'none known'}); copy in one that can (#cc) or answer another way`;
}

/**
 * The customers of a case about to be merged into another (its requester and copied participants):
 * they join the case that goes on, so they count for a reply made with the merge, checked before it.
 */
export async function mergedReaders(db: Kysely<Database>, merged: CaseRow): Promise<Recipient[]> {
  return [requesterOf(merged), ...(await participants(db, merged.id)).filter((p) => p.role !== 'agent').map((p) => ({ address: p.address, name: p.name }))];
}

/** The addresses a request copies in (#cc), as recipients: they count for its reply although the command runs after. */
function copiedByCommand(commands: readonly ValidCommand[]): Recipient[] {
  return commands.flatMap((c) => (c.kind === 'cc' && c.add ? c.addresses.map((address) => ({ address, name: '' })) : []));
}

export async function workCase(trx: Transaction<Database>, ctx: AppContext, workedId: number, actor: WorkActor, req: WorkRequest): Promise<WorkOutcome> {
  const worked = await caseById(trx, workedId);
  if (worked === undefined) throw new WorkError(`no case with id ${workedId}`);
  const merge = req.commands.find((c) => c.kind === 'merge');
  const into = merge !== undefined ? await caseGoingOnAs(trx, merge.into) : undefined;
  if (merge !== undefined && into === undefined) throw new WorkError(`there is no case ${merge.into}`);
  // Before anything is written: a reply that can reach nobody is refused whole (after a merge it
  // goes to the case that goes on, whose customers then include the merged case's).
  const refusal = await replyRefusal(trx, ctx, into ?? worked, req, into !== undefined ? await mergedReaders(trx, worked) : []);
  if (refusal !== null) throw new WorkError(refusal);
  const at = (): string => ctx.clock.now().toISOString();
  const why = req.reason !== undefined && req.reason !== '' ? `: ${req.reason}` : '';
  const who = (line: string) => ({ actor: actor.actor, reason: `${line} by ${actor.by}${why}`, messageRowId: req.messageRowId });
  const done: string[] = [];
  // #merge stands alone (checkCommands): the case is merged first, and the text (the reply, or the
  // note) belongs to the case that goes on — the agent's mail moved there with the rest.
  const merged = merge !== undefined && into !== undefined ? await mergeCases(trx, ctx, worked.id, into.id, { actor: actor.actor, reason: `${merge.line} by ${actor.by}${why}` }) : null;
  if (merged !== null) done.push(merged.summary);
  const start = merged?.target ?? worked;
  const caseId = start.id;
  let change: StatusChange | null = null;
  let holdExpected = '';
  let bug: BugTimeline | null = null;
  let priority: { from: string; to: string } | null = null;
  // A reply is the case's first response (a new case becomes open), recorded before the commands
  // it carries: "#resolve" with an answer is answered, then resolved.
  // (An address the same request copies in (#cc) is a recipient too.)
  const replying = req.text !== '' && !req.note && (await customerRecipients(trx, ctx, start, { human: true, also: copiedByCommand(req.commands) })).to !== null;
  if (replying) await recordAgentResponse(trx, ctx, caseId, { actor: actor.actor, reason: `reply by ${actor.by}`, messageRowId: req.messageRowId });

  for (const cmd of req.commands) {
    switch (cmd.kind) {
      case 'status': {
        if (cmd.to === 'on_hold') holdExpected = cmd.text !== '' ? cmd.text : onHoldExpected(ctx, start.queue, start.language);
        const ch = await setStatus(trx, ctx, caseId, cmd.to, who(cmd.line));
        change = ch ?? change;
        done.push(ch !== null ? `status ${ch.from} → ${ch.to}` : `status already ${cmd.to}`);
        break;
      }
      case 'bug': {
        const ch = await setStatus(trx, ctx, caseId, 'resolved', who(cmd.line));
        change = ch ?? change;
        bug = cmd.timeline;
        await addTags(trx, caseId, ['bug'], at());
        await addEvent(trx, { caseId, messageRowId: req.messageRowId, type: 'case.bug', actor: actor.actor, reason: `bug, fix expected: ${cmd.timeline}`, data: { timeline: cmd.timeline }, at: at() });
        done.push(`bug (${cmd.timeline}): resolved, tagged bug`);
        break;
      }
      case 'priority': {
        const before = (await caseById(trx, caseId))!.priority;
        const r = await setPriority(trx, ctx, caseId, cmd.level, who(cmd.line));
        if (r.changed && tellsPriority(ctx, before, r.caseRow.priority)) priority = { from: before, to: r.caseRow.priority };
        done.push(r.changed ? `priority ${before} → ${r.caseRow.priority}` : `priority already ${r.caseRow.priority}`);
        break;
      }
      case 'queue': {
        const r = await moveCase(trx, ctx, caseId, cmd.queue, { actor: actor.actor, reason: `${cmd.line} by ${actor.by}${why}`, quiet: cmd.quiet });
        done.push(r.summary.replace(/^case \d+: /, ''));
        break;
      }
      case 'assign': {
        const c = (await caseById(trx, caseId))!;
        const target = cmd.agent.toLowerCase() === 'me' ? (actor.address ?? '') : cmd.agent;
        const agent = findAgent(agentsOf(ctx.config, c.queue), target);
        if (agent === null) throw new WorkError(`"${target}" is not an agent of queue ${c.queue}`);
        // An agent taking the case ("#assign me") needs no "Assigned to you" mail about it.
        const r = await assignCase(trx, ctx, caseId, agent, { actor: actor.actor, by: actor.by, reason: `${cmd.line} by ${actor.by}`, messageRowId: req.messageRowId, notifyOwner: agent.address !== actor.address });
        done.push(r.summary);
        break;
      }
      case 'escalate': {
        const c = (await caseById(trx, caseId))!;
        const r = await escalateCase(trx, ctx, caseId, {
          target: cmd.level !== null ? { level: cmd.level } : 'raise',
          trigger: actor.actor.startsWith('cli:') ? 'cli' : 'command',
          actor: actor.actor,
          by: actor.by,
          reason: cmd.reason !== '' ? cmd.reason : cmd.line,
          lastMessage: await lastCustomerMessage(trx, ctx, caseId),
          inReplyTo: null,
          references: [],
          messageRowId: req.messageRowId,
          ack: { to: { address: c.requester_address, name: c.requester_name }, autoReply: false, refusal: () => recipientRefusal(ctx, trx, c.requester_address) },
        });
        done.push(r.summary);
        break;
      }
      case 'tag': {
        await addTags(trx, caseId, [cmd.tag], at());
        await addEvent(trx, { caseId, messageRowId: req.messageRowId, type: 'case.tagged', actor: actor.actor, reason: cmd.tag, data: { tag: cmd.tag }, at: at() });
        done.push(`tagged ${cmd.tag}`);
        break;
      }
      case 'call': {
        await addTags(trx, caseId, ['call'], at());
        await addEvent(trx, { caseId, messageRowId: req.messageRowId, type: 'call.requested', actor: actor.actor, reason: `the customer asks for a phone call${cmd.when !== '' ? `: ${cmd.when}` : ''}`, data: { when: cmd.when }, at: at() });
        const c = (await caseById(trx, caseId))!;
        const last = await lastCustomerMessage(trx, ctx, caseId);
        const told = await notifyAgents(trx, ctx, c, {
          event: 'call-request',
          call: { when: cmd.when, by: actor.by },
          // The call is the news, not the customer's files again.
          message: { from: last?.from ?? '', at: last?.at ?? '', visibleText: last?.visibleText ?? '', forged: last?.forged ?? false, ...NO_FILES },
          skip: actor.address !== null ? [actor.address] : [],
        });
        done.push(`call requested${cmd.when !== '' ? ` (${cmd.when})` : ''}, tagged call${told.length > 0 ? `; ${told.join(', ')} notified` : ''}`);
        break;
      }
      case 'cc': {
        for (const address of cmd.addresses) {
          if (cmd.add) {
            const known = await isParticipant(trx, caseId, address);
            if (!known) await addParticipant(trx, caseId, address, '', 'cc', at());
            if (!known) await addEvent(trx, { caseId, messageRowId: req.messageRowId, type: 'participant.added', actor: actor.actor, reason: `${address} is copied on the case's mail from now on (${cmd.line} by ${actor.by})`, data: { address }, at: at() });
            done.push(known ? `${address} already a participant` : `${address} now copied`);
          } else {
            const removed = await removeParticipant(trx, caseId, address);
            // Nor do they get the case's emails still waiting to go (mail-out/reader-withdrawal.ts).
            const withdrawn = removed ? await withdrawReader(trx, caseId, address, at()) : 0;
            const unsent = withdrawn > 0 ? `; ${withdrawn} email${withdrawn === 1 ? '' : 's'} not yet sent no longer go${withdrawn === 1 ? 'es' : ''} to them` : '';
            if (removed) await addEvent(trx, { caseId, messageRowId: req.messageRowId, type: 'participant.removed', actor: actor.actor, reason: `${address} is no longer copied (${cmd.line} by ${actor.by})${unsent}`, data: { address, withdrawn }, at: at() });
            done.push(removed ? `${address} no longer copied${unsent}` : `${address} was not copied`);
          }
        }
        break;
      }
      case 'files': {
        if (actor.address === null) {
          done.push(`${cmd.line}: no agent address to mail them to (casegate cases files saves them)`);
          break;
        }
        const c = (await caseById(trx, caseId))!;
        done.push(await mailCaseFiles(trx, ctx, c, { to: { address: actor.address, name: actor.replyName }, actor: actor.actor, line: cmd.line, ids: cmd.ids, messageRowId: req.messageRowId }));
        break;
      }
      case 'note':
      case 'merge':
        break;
    }
  }

  let caseRow = (await caseById(trx, caseId))!;
  let repliedTo: string[] = [];
  if (req.text !== '' && !req.note) {
    const asked = await staffAskedToAnswer(trx, ctx, caseId);
    const rcpt = await sendAgentReply(trx, ctx, caseRow, { agentName: actor.replyName, author: actor.address, text: req.text, attachments: req.attachments, change, holdExpected, bug, ...(req.reached !== undefined ? { reached: req.reached } : {}) });
    if (rcpt !== null && rcpt.to !== null) {
      repliedTo = [rcpt.to.address, ...rcpt.cc.map((r) => r.address)];
      const had = new Set((req.reached ?? []).map(addressKey));
      const sentTo = repliedTo.filter((a) => !had.has(addressKey(a)));
      const direct = repliedTo.filter((a) => had.has(addressKey(a)));
      const directly = direct.length > 0 ? `${direct.join(', ')} had your own mail (not sent to them again)` : '';
      const what = sentTo.length === 0 ? `reply recorded: ${directly}` : `reply sent to ${sentTo.join(', ')}${directly !== '' ? `; ${directly}` : ''}`;
      await addEvent(trx, { caseId, messageRowId: req.messageRowId, type: 'agent.replied', actor: actor.actor, reason: `${sentTo.length === 0 ? 'reply recorded, not relayed' : `reply to ${sentTo.join(', ')}`}${direct.length > 0 ? ` (${direct.join(', ')} had the agent's own mail)` : ''}${req.attachments.length > 0 ? ` with ${req.attachments.length} attachment(s)` : ''}`, at: at() });
      done.push(`${what}${rcpt.bouncing.length > 0 ? ` (marked as bouncing, sent all the same: ${rcpt.bouncing.join(', ')} — see casegate cases show)` : ''}`);
      if (ctx.config.agentMail.takeUnownedOnReply && caseRow.owner === null && actor.address !== null) {
        const me = findAgent(agentsOf(ctx.config, caseRow.queue), actor.address);
        if (me !== null) {
          caseRow = (await assignCase(trx, ctx, caseId, me, { actor: actor.actor, by: actor.by, reason: 'answered the unowned case', messageRowId: req.messageRowId, notifyOwner: false })).caseRow;
          done.push(`owner is now ${me.name}`);
        }
      }
      const told = await tellColleagues(trx, ctx, caseRow, asked, { by: actor.by, address: actor.address, text: req.text, actor: actor.actor, messageRowId: req.messageRowId });
      if (told.length > 0) done.push(`told ${told.join(', ')} that you answered`);
    } else {
      done.push('reply NOT sent: no customer address may get mail');
    }
  } else if (req.note) {
    caseRow = await recordTeamUpdate(trx, ctx, caseId, { actor: actor.actor, reason: `internal note by ${actor.by}`, messageRowId: req.messageRowId });
    await addEvent(trx, { caseId, messageRowId: req.messageRowId, type: 'note.added', actor: actor.actor, reason: `internal note by ${actor.by}${req.attachments.length > 0 ? ` with ${req.attachments.length} attachment(s)` : ''}`, at: at() });
    done.push('internal note stored');
  }

  let statusEmail = false;
  const tellChange = change !== null && (bug !== null || tellsCustomer(ctx, change));
  if (repliedTo.length === 0 && (tellChange || priority !== null)) {
    const rcpt = await sendStatusUpdate(trx, ctx, caseRow, { change: tellChange ? change : null, priority, holdExpected, bug, note: '' });
    statusEmail = rcpt !== null;
    if (statusEmail) done.push('customer told (status update)');
  }
  ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, actor: actor.actor, done }, 'agent work on case');
  return { caseRow, done, repliedTo, statusEmail };
}

/** Commands that can run on this case as the given agent, and the problems of the others. */
export function checkCommands(
  ctx: Pick<AppContext, 'config' | 'mailboxes'>,
  caseRow: CaseRow,
  sender: string,
  commands: readonly AgentCommand[],
): { commands: ValidCommand[]; errors: { line: string; why: string }[] } {
  const valid: ValidCommand[] = [];
  const errors: { line: string; why: string }[] = [];
  const scheme = priorityScheme(ctx.config);
  // A #queue line moves the case first: an #assign after it names an agent of the new queue.
  let agents = agentsOf(ctx.config, caseRow.queue);
  let queue = caseRow.queue;
  let statusLine: string | null = null;
  // A merge moves the case's content to another case: a command beside it would have to mean one
  // of the two, and neither guess is safe (a #resolve of the wrong one): #merge stands alone.
  const mergeLine = commands.find((c) => c.kind === 'merge')?.line ?? null;
  for (const c of commands) {
    if (c.kind === 'invalid') {
      errors.push({ line: c.line, why: c.why });
      continue;
    }
    if (mergeLine !== null && c.kind !== 'note' && c.line !== mergeLine) {
      errors.push({ line: c.line, why: `${mergeLine} stands alone (with #note at most): send other commands in another email, to the case this one goes on in` });
      continue;
    }
    if (c.kind === 'status' || c.kind === 'bug') {
      if (statusLine !== null) {
        errors.push({ line: c.line, why: `one status change per mail (already ${statusLine})` });
        continue;
      }
      statusLine = c.line;
      if (c.kind === 'status' && c.command === 'reopen' && !isEnded(caseRow.status)) {
        errors.push({ line: c.line, why: `case ${caseRow.number} is ${caseRow.status}, not resolved or closed: nothing to reopen` });
        continue;
      }
    }
    if (c.kind === 'priority' && scheme.resolve(c.level) === null) {
      errors.push({ line: c.line, why: `"${c.level}" is not a priority level (${scheme.levels.map((l) => l.name).join(', ')})` });
      continue;
    }
    if (c.kind === 'cc') {
      const refused = c.addresses
        .map((a) => (c.add && ctx.mailboxes.isOwnAddress(a) ? `${a} is one of our own addresses` : c.add && isStaff(ctx.config, a) ? `${a} is staff: staff take part by being staff, not as a copied address` : !c.add && a === caseRow.requester_address ? `${a} is the requester of case ${caseRow.number}: the requester stays` : null))
        .find((why) => why !== null);
      if (refused !== undefined) {
        errors.push({ line: c.line, why: refused });
        continue;
      }
    }
    if (c.kind === 'queue') {
      const refusal = moveRefusal(ctx, caseRow, c.queue);
      if (refusal !== null) {
        errors.push({ line: c.line, why: refusal });
        continue;
      }
      agents = agentsOf(ctx.config, c.queue);
      queue = c.queue;
    }
    if (c.kind === 'assign') {
      const who = c.agent.toLowerCase() === 'me' ? sender : c.agent;
      if (findAgent(agents, who) === null) {
        errors.push({ line: c.line, why: `"${who}" is not an agent of queue ${queue} (agents: ${agents.map((a) => a.name).join(', ') || 'none'})` });
        continue;
      }
    }
    valid.push(c);
  }
  return { commands: valid, errors };
}
