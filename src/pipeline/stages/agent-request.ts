import { parseAgentMail, type AgentCommand, type ValidCommand } from '../../cases/agent-commands.js';
import { isEnded } from '../../cases/lifecycle.js';
import { priorityScheme } from '../../cases/priority.js';
import { agentsOf, findAgent } from '../../cases/staff.js';
import type { AppContext } from '../../context.js';
import type { CaseRow } from '../../db/schema.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * What does the agent's mail ask for? Its commands (checked against the case: levels, agents,
 * one status change per mail) and its text; an internal note when it went to a notes address or
 * says #note. Any problem is an error: the mail will change nothing and the agent gets the syntax.
 */
export const agentRequestStage: DecideStage = {
  name: 'agent-request',
  run(msg, ctx) {
    const agent = need(msg.notes.agent ?? undefined, 'agent');
    const visible = need(msg.notes.visible, 'visible');
    const { commands, text } = parseAgentMail(visible.text);
    const checked = checkCommands(ctx, agent.caseRow, agent.staff.address, commands);
    msg.notes.agentWork = { ...checked, text, note: agent.toNotesAddress || commands.some((c) => c.kind === 'note') };
    return NEXT;
  },
};

/** Commands that can run on this case as the given agent, and the problems of the others. */
export function checkCommands(
  ctx: Pick<AppContext, 'config'>,
  caseRow: CaseRow,
  sender: string,
  commands: readonly AgentCommand[],
): { commands: ValidCommand[]; errors: { line: string; why: string }[] } {
  const valid: ValidCommand[] = [];
  const errors: { line: string; why: string }[] = [];
  const scheme = priorityScheme(ctx.config);
  const agents = agentsOf(ctx.config, caseRow.queue);
  let statusLine: string | null = null;
  for (const c of commands) {
    if (c.kind === 'invalid') {
      errors.push({ line: c.line, why: c.why });
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
    if (c.kind === 'assign') {
      const who = c.agent.toLowerCase() === 'me' ? sender : c.agent;
      if (findAgent(agents, who) === null) {
        errors.push({ line: c.line, why: `"${who}" is not an agent of queue ${caseRow.queue} (agents: ${agents.map((a) => a.name).join(', ') || 'none'})` });
        continue;
      }
    }
    valid.push(c);
  }
  return { commands: valid, errors };
}
