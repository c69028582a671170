import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { knownQueues } from '../cases/staff.js';
import { buildReport, formatReport } from '../reports/report.js';
import { print, withReadContext } from './shared.js';

/** "2026-03-01", "2026-03-01T08:00", "7d", "24h" → an instant (dates in jobs.timezone). */
export function parseSince(value: string, now: Date, zone: string): Date | null {
  const rel = /^(\d+)\s*([dh])$/i.exec(value.trim());
  if (rel !== null) return new Date(now.getTime() - Number(rel[1]) * (rel[2]!.toLowerCase() === 'd' ? 86_400_000 : 3_600_000));
  // A calendar date first: Luxon also reads "12" (noon today) or "2026" as ISO.
  if (!/^\d{4}-\d\d-\d\d(?:$|T)/.test(value.trim())) return null;
  const dt = DateTime.fromISO(value.trim(), { zone });
  return dt.isValid ? dt.toJSDate() : null;
}

export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description('opened/closed, response and resolution times in business time, SLA compliance, breaches, backlog, satisfaction, escalations, feedback')
    .option('--since <when>', 'start: a date or date-time (in jobs.timezone) or 7d / 24h ago (default 7d)', '7d')
    .option('--until <when>', 'end (exclusive; default now)')
    .option('--queue <queue>', 'only this queue')
    .option('--json', 'JSON output')
    .action(async (opts: { since: string; until?: string; queue?: string; json?: boolean }) => {
      await withReadContext(async (ctx) => {
        const now = ctx.clock.now();
        const zone = ctx.config.jobs.timezone;
        const from = parseSince(opts.since, now, zone);
        const to = opts.until !== undefined ? parseSince(opts.until, now, zone) : now;
        if (from === null || to === null) {
          process.stderr.write(`casegate: --since/--until take a date (2026-03-01), a date-time (2026-03-01T08:00) or 7d / 24h\n`);
          process.exitCode = 1;
          return;
        }
        if (from.getTime() >= to.getTime()) {
          process.stderr.write(`casegate: --since (${from.toISOString()}) must be before --until (${to.toISOString()})\n`);
          process.exitCode = 1;
          return;
        }
        const queues = knownQueues(ctx.config);
        if (opts.queue !== undefined && !queues.has(opts.queue)) {
          process.stderr.write(`casegate: no queue "${opts.queue}" (queues: ${[...queues].sort().join(', ')})\n`);
          process.exitCode = 1;
          return;
        }
        const report = await buildReport(ctx.db, ctx.config, { from, to, queue: opts.queue, periodName: 'custom', zone, now });
        print(report, opts.json === true, () => formatReport(report));
      });
    });
}
