import type { AppContext } from '../context.js';
import { openCasesByQueue } from '../db/repos/ops.js';
import { knownQueues } from './staff.js';

/**
 * Open cases whose queue the configuration no longer names (a queue renamed or removed, a mailbox
 * that was its only source taken out): nobody is notified about their customers' replies, no
 * agent is theirs, their SLA runs on the default calendar and policy. Said at start and after
 * every reload, one warning per queue, so the admin who changed the configuration learns it.
 */
export async function strandedQueueWarnings(ctx: Pick<AppContext, 'db' | 'config'>): Promise<string[]> {
  const known = knownQueues(ctx.config);
  const rows = await openCasesByQueue(ctx.db);
  return rows
    .filter((r) => !known.has(r.queue))
    .map((r) => `queue "${r.queue}" has ${r.n} open case(s), but no mailbox or queues entry names it: no agent is notified about them or can work them by email, and their SLA uses the default calendar and policy — name it again under queues (queues.${r.queue}.agents …) or in a mailbox's queue`);
}

/** Log the warnings of strandedQueueWarnings; a database that does not answer only costs the warning. */
export async function warnStrandedQueues(ctx: Pick<AppContext, 'db' | 'config' | 'log'>): Promise<void> {
  try {
    for (const w of await strandedQueueWarnings(ctx)) ctx.log.warn({ component: 'config' }, `configuration warning: ${w}`);
  } catch (err) {
    ctx.log.debug({ err }, 'stranded-queue check failed');
  }
}
