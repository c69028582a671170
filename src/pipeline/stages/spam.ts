import { spamVerdict } from '../../mail-in/spam-verdict.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Did our MX's spam filter call it spam (security.spam)? Suspected spam is still stored — nothing
 * is lost — but marked: no automatic reply, no escalation, no assignment, no reopening, and the
 * case stays out of the default case list until someone marks it ham (`casegate cases ham N`).
 */
export const spamStage: DecideStage = {
  name: 'spam',
  run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    msg.notes.spam = spamVerdict(parsed, ctx.config.security.spam);
    return NEXT;
  },
};
