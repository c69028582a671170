import type { AppContext } from '../context.js';
import type { Inbound } from './types.js';

/**
 * Old mail: a message that arrived (IMAP: its INTERNALDATE) more than autoReply.maxAgeHours ago —
 * the history of a mailbox attached for the first time, or the backlog of a long outage. It is
 * stored like any other, but it sends nothing by itself: no confirmation to its sender (react
 * stage), no notification (notify-staff), escalation alert (escalate) or assignment email (route)
 * to the agents — 20,000 old messages would be 20,000 emails to every agent of the queue. Returns why (for the event), or null when it is not old.
 */
export function oldMailReason(ctx: AppContext, msg: Pick<Inbound, 'arrival'>): string | null {
  const maxAgeHours = ctx.config.autoReply.maxAgeHours;
  if (maxAgeHours <= 0) return null;
  const ageHours = (ctx.clock.now().getTime() - msg.arrival.receivedAt.getTime()) / 3_600_000;
  if (ageHours <= maxAgeHours) return null;
  return `the message arrived ${ageHours >= 48 ? `${Math.floor(ageHours / 24)} days` : `${Math.floor(ageHours)} hours`} ago (autoReply.maxAgeHours ${maxAgeHours})`;
}
