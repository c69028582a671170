import { parseAgentMail } from '../../cases/agent-commands.js';
import { checkCommands } from '../../cases/agent-work.js';
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
