import { DateTime } from 'luxon';
import { knownQueues, tierAddresses } from '../cases/staff.js';
import { claim, setClaimOutbox } from '../db/repos/jobs.js';
import { queueSystemEmail } from '../mail-out/system-email.js';
import { REPLY_MARKER } from '../mail-out/compose.js';
import { buildReport, reportTemplateData } from '../reports/report.js';
import { previousRun } from './cron-time.js';
import type { JobContext, JobDefinition, JobResult } from './job.js';

/**
 * The daily report of the previous day (jobs.timezone): each queue's leads (tier 1) get their
 * queue's report; instance.adminAddress and jobs.dailyReport.recipients get the report of all
 * queues. One claim per day, queue and recipient (with the outbox row): a restart or a catch-up
 * run never sends a day's report twice. The day is the one before the scheduled time the run is
 * for (its latest slot): a run that caught up after midnight (the daemon was down at 07:00 and
 * started again the next night) reports the day that slot was for, not a day whose own report
 * then went out early while the missed one never did.
 */

export function reportDay(now: Date, zone: string): { from: Date; to: Date } {
  const to = DateTime.fromJSDate(now, { zone }).startOf('day');
  return { from: to.minus({ days: 1 }).toJSDate(), to: to.toJSDate() };
}

async function run(j: JobContext): Promise<JobResult> {
  const { ctx } = j;
  const zone = ctx.config.jobs.timezone;
  const { from, to } = reportDay(previousRun(ctx.config.jobs.dailyReport.schedule, zone, j.now) ?? j.now, zone);
  const plan: { queue: string | undefined; addresses: string[] }[] = [];
  for (const queue of [...knownQueues(ctx.config)].sort()) {
    const leads = tierAddresses(ctx.config, queue, 1);
    if (leads.length > 0) plan.push({ queue, addresses: [...leads] });
  }
  const everything = new Set([...(ctx.config.instance.adminAddress !== undefined ? [ctx.config.instance.adminAddress] : []), ...ctx.config.jobs.dailyReport.recipients]);
  if (everything.size > 0) plan.push({ queue: undefined, addresses: [...everything] });

  let sent = 0;
  for (const p of plan) {
    if (j.stopping()) break;
    const data = await buildReport(ctx.db, ctx.config, { from, to, queue: p.queue, periodName: 'daily', zone, now: j.now });
    const report = reportTemplateData(data);
    for (const address of p.addresses) {
      const key = `${from.toISOString()}:${p.queue ?? '*'}:${address}`;
      const queued = await ctx.db.transaction().execute(async (trx) => {
        const claimId = await claim(trx, 'daily-report', 0, key, j.now.toISOString());
        if (claimId === null) return false;
        const { outboxId } = await queueSystemEmail(trx, ctx, {
          kind: 'report',
          to: address,
          mailbox: ctx.mailboxes.default,
          event: { type: 'report.sent', reason: `report to ${address}` },
          data: { instance: { name: ctx.config.instance.name }, report, replyMarker: REPLY_MARKER, isTest: false },
        });
        await setClaimOutbox(trx, claimId, outboxId);
        return true;
      });
      if (queued) {
        sent++;
        j.log.info({ to: address, queue: p.queue ?? 'all', from: data.period.from }, 'daily report queued');
      }
    }
  }
  if (sent > 0) ctx.outboxSignal.wake();
  return { processed: plan.length, sent };
}

export const dailyReportJob: JobDefinition = { name: 'daily-report', configKey: 'dailyReport', runOnFirstStart: false, run };
