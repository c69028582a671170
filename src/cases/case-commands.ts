import { userInfo } from 'node:os';
import type { AppContext } from '../context.js';
import { caseByNumber } from '../db/repos/cases.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { assignCase, type AssignOutcome } from './assignment.js';
import { escalateCase, lastCustomerMessage, MAX_LEVEL, setPriority, type EscalationOutcome } from './escalation.js';
import { priorityScheme } from './priority.js';
import { agentsOf, findAgent } from './staff.js';

/**
 * What `casegate cases escalate | assign | priority` do: the same operations as the email
 * commands, in one transaction each, with the actor cli:<user>. The outbox rows they write are
 * sent by the running daemon (its outbox sweep picks them up within outgoing.sweepSeconds).
 */

/** A usage problem (no such case, agent or level): the CLI prints it and exits 1. */
export class CaseCommandError extends Error {
  override readonly name = 'CaseCommandError';
}

export function cliActor(): string {
  let user = process.env['USER'] ?? '';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (containers): fall back to $USER.
  }
  return `cli:${user !== '' ? user : 'unknown'}`;
}

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

export async function priorityFromCli(ctx: AppContext, number: number, level: string, opts: { reason?: string; actor?: string } = {}) {
  const scheme = priorityScheme(ctx.config);
  const name = scheme.resolve(level);
  if (name === null) throw new CaseCommandError(`"${level}" is not a priority level (${scheme.levels.map((l) => l.name).join(', ')})`);
  const c = await caseByNumber(ctx.db, number);
  if (c === undefined) throw new CaseCommandError(`no case ${number}`);
  const actor = opts.actor ?? cliActor();
  return ctx.db.transaction().execute((trx) => setPriority(trx, ctx, c.id, name, { actor, reason: opts.reason ?? '' }));
}
