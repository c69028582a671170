import type { AppContext } from '../context.js';
import { unreachableNote } from '../storage/data-dir-owner.js';
import { caseByNumber } from '../db/repos/cases.js';
import { CaseCommandError, cliActor } from './case-command-error.js';
import { mergeCases, type MergeOutcome } from './case-merge.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { assignCase, type AssignOutcome } from './assignment.js';
import type { Transaction } from 'kysely';
import type { AgentConfig } from '../config/schema.js';
import { insertAttachments, insertMessage } from '../db/repos/messages.js';
import type { CaseRow, Database } from '../db/schema.js';
import { storeAttachmentFile } from '../mail-out/attachment-files.js';
import type { OutgoingAttachment } from '../mail-out/compose.js';
import { parseAgentMail, savedLines } from './agent-commands.js';
import { expandSavedReplies } from './saved-replies.js';
import { checkCommands, workCase, WorkError, type WorkOutcome } from './agent-work.js';
import { escalateCase, lastCustomerMessage, MAX_LEVEL, type EscalationOutcome } from './escalation.js';
import { priorityScheme } from './priority.js';
import { moveCase, moveRefusal, type MoveOutcome } from './queue-move.js';
import { agentsOf, findAgent } from './staff.js';

/**
 * What `casegate cases escalate | assign | priority` do: the same operations as the email
 * commands, in one transaction each, with the actor cli:<user>. The outbox rows they write are
 * sent by the running daemon (its outbox sweep picks them up within outgoing.sweepSeconds).
 */

export { CaseCommandError, cliActor } from './case-command-error.js';

async function mustCase(ctx: AppContext, number: number) {
  const c = await caseByNumber(ctx.db, number);
  if (c === undefined) throw new CaseCommandError(`no case ${number}`);
  if (c.kind === 'feedback') throw new CaseCommandError(`case ${number} is feedback (queue ${c.queue}): feedback is not escalated or assigned`);
  return c;
}

export async function escalateFromCli(ctx: AppContext, number: number, opts: { level?: number; reason?: string; actor?: string }): Promise<EscalationOutcome> {
  if (opts.level !== undefined && (!Number.isInteger(opts.level) || opts.level < 0 || opts.level > MAX_LEVEL)) {
    throw new CaseCommandError(`--level must be 0–${MAX_LEVEL} (0 removes the escalation)`);
  }
  const c = await mustCase(ctx, number);
  const actor = opts.actor ?? cliActor();
  const out = await ctx.db.transaction().execute(async (trx) =>
    escalateCase(trx, ctx, c.id, {
      target: opts.level !== undefined ? { level: opts.level } : 'raise',
      trigger: 'cli',
      actor,
      by: actor.replace(/^cli:/, ''),
      reason: opts.reason ?? '',
      ack: { to: { address: c.requester_address, name: c.requester_name }, autoReply: false, refusal: () => recipientRefusal(ctx, trx, c.requester_address) },
      lastMessage: await lastCustomerMessage(trx, ctx, c.id),
      inReplyTo: null,
      references: [],
    }),
  );
  ctx.outboxSignal.wake();
  return out;
}

export async function assignFromCli(ctx: AppContext, number: number, who: string, opts: { note?: string; actor?: string } = {}): Promise<AssignOutcome> {
  const c = await mustCase(ctx, number);
  const agents = agentsOf(ctx.config, c.queue);
  const agent = findAgent(agents, who);
  if (agent === null) throw new CaseCommandError(`"${who}" is not an agent of queue ${c.queue} (agents: ${agents.map((a) => `${a.name} <${a.address}>`).join(', ') || 'none configured'})`);
  const actor = opts.actor ?? cliActor();
  const out = await ctx.db.transaction().execute((trx) =>
    assignCase(trx, ctx, c.id, agent, { actor, by: actor.replace(/^cli:/, ''), reason: `casegate cases assign by ${actor}`, ...(opts.note !== undefined ? { note: opts.note } : {}) }),
  );
  ctx.outboxSignal.wake();
  return out;
}

/** `casegate cases merge M N`: case M's content goes to case N, M is closed (cases/case-merge.ts). */
export async function mergeFromCli(ctx: AppContext, number: number, into: number, opts: { reason?: string; actor?: string } = {}): Promise<MergeOutcome> {
  const source = await caseByNumber(ctx.db, number);
  if (source === undefined) throw new CaseCommandError(`no case ${number}`);
  const target = await caseByNumber(ctx.db, into);
  if (target === undefined) throw new CaseCommandError(`no case ${into}`);
  const actor = opts.actor ?? cliActor();
  return ctx.db.transaction().execute((trx) => mergeCases(trx, ctx, source.id, target.id, { actor, reason: opts.reason ?? '' }));
}

/** `casegate cases move N QUEUE`: the case goes to another queue (cases/queue-move.ts). */
export async function moveFromCli(ctx: AppContext, number: number, queue: string, opts: { reason?: string; actor?: string; quiet?: boolean } = {}): Promise<MoveOutcome> {
  const c = await caseByNumber(ctx.db, number);
  if (c === undefined) throw new CaseCommandError(`no case ${number}`);
  const refusal = moveRefusal(ctx, c, queue);
  if (refusal !== null) throw new CaseCommandError(refusal);
  const actor = opts.actor ?? cliActor();
  const out = await ctx.db.transaction().execute((trx) => moveCase(trx, ctx, c.id, queue, { actor, reason: opts.reason ?? '', quiet: opts.quiet === true }));
  ctx.outboxSignal.wake();
  return out;
}

export async function priorityFromCli(ctx: AppContext, number: number, level: string, opts: { reason?: string; actor?: string; agent?: string } = {}) {
  const scheme = priorityScheme(ctx.config);
  const name = scheme.resolve(level);
  if (name === null) throw new CaseCommandError(`"${level}" is not a priority level (${scheme.levels.map((l) => l.name).join(', ')})`);
  const c = await caseByNumber(ctx.db, number);
  if (c === undefined) throw new CaseCommandError(`no case ${number}`);
  // The same operation as #priority (a raise is told to the customer, cases.customerUpdates).
  const out = await workFromCli(ctx, number, { commands: `#priority ${name}`, ...(opts.reason !== undefined ? { reason: opts.reason } : {}), ...(opts.actor !== undefined ? { actor: opts.actor } : {}), ...(opts.agent !== undefined ? { agent: opts.agent } : {}) });
  return { caseRow: out.caseRow, changed: out.caseRow.priority !== c.priority, customerTold: out.statusEmail };
}

export interface CliWork {
  /** Command lines as an agent writes them by email ("#resolve", "#hold 3 days"): the one command parser reads them. */
  readonly commands?: string;
  /** Text for the customer (a reply), or the note with `note`; "#saved <name>" lines get their saved replies (cases/saved-replies.ts). */
  readonly text?: string;
  readonly note?: boolean;
  /** Files to attach (reply) or keep with the note. */
  readonly files?: readonly string[];
  /** The agent who works (name or address of an agent of the case's queue): the reply's From name, "#assign me". */
  readonly agent?: string;
  readonly actor?: string;
  /** Why (recorded in the events). */
  readonly reason?: string;
}

export interface CliWorkOutcome extends WorkOutcome {
  readonly caseNumber: number;
}

/**
 * What `casegate cases reply | note | resolve | close | reopen | pending | hold | tag | bug | call`
 * do: the same work as an agent's email (cases/agent-work.ts), in one transaction. Problems are
 * CaseCommandErrors (one line for the terminal); nothing is changed then.
 */
export async function workFromCli(ctx: AppContext, number: number, o: CliWork): Promise<CliWorkOutcome> {
  const c = await mustCase(ctx, number);
  let agent: AgentConfig | null = null;
  if (o.agent !== undefined && o.agent.trim() !== '') {
    const agents = agentsOf(ctx.config, c.queue);
    agent = findAgent(agents, o.agent);
    if (agent === null) throw new CaseCommandError(`--agent "${o.agent}" is not an agent of queue ${c.queue} (agents: ${agents.map((a) => `${a.name} <${a.address}>`).join(', ') || 'none configured'})`);
  }
  const parsed = parseAgentMail(o.commands ?? '');
  if (agent === null && parsed.commands.some((x) => x.kind === 'assign' && x.agent.toLowerCase() === 'me')) throw new CaseCommandError('who is "me"? give --agent or set CASEGATE_AGENT');
  const { commands, errors } = checkCommands(ctx, c, agent?.address ?? '', parsed.commands);
  if (parsed.text !== '') errors.push({ line: parsed.text.split('\n')[0]!, why: 'not a command' });
  if (errors.length > 0) throw new CaseCommandError(errors.map((e) => `${e.line}: ${e.why}`).join('; '));
  // "#saved <name>" lines of the text get their saved replies (the text holds no commands: a
  // "#resolve" in it is text, as ever), written for the queue the reply goes out from.
  const saved = savedLines(o.text ?? '');
  const moved = commands.findLast((x) => x.kind === 'queue');
  const expanded = expandSavedReplies(ctx, { caseRow: c, queue: moved?.kind === 'queue' ? moved.queue : c.queue, agentName: agent?.name ?? '' }, saved.lines);
  const textErrors = [...saved.errors, ...expanded.errors];
  if (textErrors.length > 0) throw new CaseCommandError(textErrors.map((e) => `${e.line}: ${e.why}`).join('; '));
  const text = expanded.text;
  const attachments: OutgoingAttachment[] = [];
  for (const f of o.files ?? []) {
    try {
      attachments.push(await storeAttachmentFile(ctx, f));
    } catch (err) {
      throw new CaseCommandError(`cannot attach ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}${unreachableNote(err)}`);
    }
  }
  if (attachments.length > 0 && text === '') throw new CaseCommandError('attachments need a text (--message, --file or $EDITOR)');
  const actor = o.actor ?? cliActor();
  const by = agent?.name ?? actor.replace(/^cli:/, '');
  const out = await ctx.db.transaction().execute(async (trx) => {
    let messageRowId: number | null = null;
    if (o.note === true && text !== '') messageRowId = await insertCliNote(trx, ctx, c, { text, author: agent?.address ?? null, name: by, attachments });
    try {
      return await workCase(trx, ctx, c.id, { actor, by, address: agent?.address ?? null, replyName: agent?.name ?? '' }, { commands, text, note: o.note === true, attachments: o.note === true ? [] : attachments, messageRowId, ...(o.reason !== undefined ? { reason: o.reason } : {}) });
    } catch (err) {
      if (err instanceof WorkError) throw new CaseCommandError(err.message);
      throw err;
    }
  });
  ctx.outboxSignal.wake();
  return { ...out, caseNumber: c.number };
}

/** A note written with the CLI: an internal message of the case (its attachments kept with it). */
async function insertCliNote(trx: Transaction<Database>, ctx: AppContext, c: CaseRow, n: { text: string; author: string | null; name: string; attachments: readonly OutgoingAttachment[] }): Promise<number> {
  const now = ctx.clock.now().toISOString();
  const id = await insertMessage(trx, {
    case_id: c.id,
    direction: 'in',
    message_id: null,
    in_reply_to: null,
    references_json: '[]',
    from_address: n.author ?? '',
    from_name: n.name,
    to_json: '[]',
    cc_json: '[]',
    subject: `Note on case ${c.number}`,
    sent_at: null,
    text: n.text,
    html: null,
    visible_text: n.text,
    body_truncated: 0,
    raw_sha256: null,
    raw_size: null,
    automated: null,
    thread_rule: 'cli',
    receipt_id: null,
    outbox_id: null,
    created_at: now,
    internal: 1,
    author: n.author,
  });
  await insertAttachments(trx, id, n.attachments);
  return id;
}
