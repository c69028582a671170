import { isStatusRequest } from '../../cases/status-request.js';
import { isStaff } from '../../cases/staff.js';
import { need, NEXT, type DecideStage } from '../types.js';
import { writtenTextOf } from '../written-text.js';

/**
 * Does the customer only ask where their case stands ("status", "?")? Then the reply is answered
 * with a summary (status-reply stage), agents are not notified, and the question neither reopens
 * a resolved case nor counts as the answer a pending case waits for.
 */
export const statusRequestStage: DecideStage = {
  name: 'status-request',
  run(msg, ctx) {
    const thread = need(msg.notes.thread, 'thread');
    const sender = need(msg.notes.sender, 'sender');
    msg.notes.statusRequest = false;
    if (thread.kind !== 'existing' || msg.notes.automated != null || !sender.verified || isStaff(ctx.config, sender.address)) return NEXT;
    if (thread.caseRow.kind === 'feedback') return NEXT;
    if (!isStatusRequest(writtenTextOf(msg))) return NEXT;
    msg.notes.statusRequest = true;
    if (thread.reopen === 'reopen') msg.notes.thread = { ...thread, reopen: 'keep' };
    return NEXT;
  },
};
