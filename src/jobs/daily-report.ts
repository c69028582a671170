import { DateTime } from 'luxon';
import { knownQueues, tierAddresses } from '../cases/staff.js';
import { claim, lastClaimKey, setClaimOutbox } from '../db/repos/jobs.js';
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
 * then went out early while the missed one never did. Days missed before it (down over a
 * weekend) are reported too, oldest first (daysToReport): the days after the last reported one.
 */

export function reportDay(now: Date, zone: string): { from: Date; to: Date } {
  const to = DateTime.fromJSDate(now, { zone }).startOf('day');
  return { from: to.minus({ days: 1 }).toJSDate(), to: to.toJSDate() };
}

/** At most this many days' reports are sent by one run: the days missed while the daemon was down (a weekend, a week's outage), not a month of them. */
export const CATCH_UP_DAYS = 7;

/**
 * The days to report, oldest first: the day of the run's slot, and before it the days after the
 * last one reported (`lastReported`, the start of that day; null: none ever — only the slot's day)
 * that were missed while the daemon was down, at most CATCH_UP_DAYS in all.
 */
export function daysToReport(day: { from: Date; to: Date }, lastReported: Date | null, zone: string): { from: Date; to: Date }[] {
  const days = [day];
  if (lastReported === null) return days;
  let start = DateTime.fromJSDate(day.from, { zone });
  while (days.length < CATCH_UP_DAYS) {
    const before = start.minus({ days: 1 });
    if (before.toMillis() <= lastReported.getTime()) break;
    days.unshift({ from: before.toJSDate(), to: start.toJSDate() });
    start = before;
  }
  return days;
}

async function run(j: JobContext): Promise<JobResult> {
  const { ctx } = j;
  const zone = ctx.config.jobs.timezone;
  const slotDay = reportDay(previousRun(ctx.config.jobs.dailyReport.schedule, zone, j.now) ?? j.now, zone);
  const lastKey = await lastClaimKey(ctx.db, 'daily-report');
  const last = lastKey !== null ? new Date(lastKey.slice(0, 24)) : null;
  const days = daysToReport(slotDay, last !== null && !Number.isNaN(last.getTime()) ? last : null, zone);
  const plan: { queue: string | undefined; addresses: string[] }[] = [];
  for (const queue of [...knownQueues(ctx.config)].sort()) {
    const leads = tierAddresses(ctx.config, queue, 1);
    if (leads.length > 0) plan.push({ queue, addresses: [...leads] });
  }
  const everything = new Set([...(ctx.config.instance.adminAddress !== undefined ? [ctx.config.instance.adminAddress] : []), ...ctx.config.jobs.dailyReport.recipients]);
  if (everything.size > 0) plan.push({ queue: undefined, addresses: [...everything] });

  let sent = 0;
  for (const { from, to } of days) {
    for (const p of plan) {
      if (j.stopping()) break;
      sent += await reportTo(j, p, from, to);
    }
  }
  if (sent > 0) ctx.outboxSignal.wake();
  return { processed: plan.length * days.length, sent };
}

/** One day's report of one queue (undefined: all) to its addresses, each claimed; the number queued. */
async function reportTo(j: JobContext, p: { queue: string | undefined; addresses: string[] }, from: Date, to: Date): Promise<number> {
  const { ctx } = j;
  const zone = ctx.config.jobs.timezone;
  let sent = 0;
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
  return sent;
}

export const dailyReportJob: JobDefinition = { name: 'daily-report', configKey: 'dailyReport', runOnFirstStart: false, run };
