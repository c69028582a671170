import { DateTime } from 'luxon';
import type { Config } from '../config/schema.js';
import { priorityScheme } from '../cases/priority.js';
import type { Db } from '../db/database.js';
import { countCasesBy, eventsInRange, feedbackInRange, firstResponsesInRange, openCases, ratingsInRange, resolutionsInRange, suspectedSpamOpened, type Range } from '../db/repos/report.js';
import type { TemplateDataMap } from '../mail-out/template-data.js';
import { SURVEY_MAX } from '../web/links.js';

/**
 * The report (issue 11), for `casegate report` and the daily email: cases opened, resolved and
 * closed; response and resolution times in business time (median, 90th percentile); SLA
 * compliance per priority; breaches; the backlog by status, priority and age; satisfaction;
 * escalations; feedback. Plain data (JSON for --json), and the template data of the `report` kind.
 */

export interface ReportOptions {
  readonly from: Date;
  readonly to: Date;
  readonly queue?: string | undefined;
  /** daily, weekly, monthly or custom (CLI ranges). */
  readonly periodName: string;
  /** Time zone the period is shown in. */
  readonly zone: string;
  /** Now, for the age of open cases. */
  readonly now: Date;
}

export interface Compliance {
  readonly priority: string;
  readonly firstResponse: { readonly met: number; readonly total: number };
  readonly resolution: { readonly met: number; readonly total: number };
}

export interface ReportData {
  readonly period: { readonly name: string; readonly from: string; readonly to: string };
  readonly queue: string | null;
  readonly opened: number;
  /** Cases opened in the period by suspected spam, still held (not in opened or the backlog). */
  readonly suspectedSpam: number;
  readonly resolved: number;
  readonly closed: number;
  readonly reopened: number;
  readonly escalations: number;
  /** Business minutes. */
  readonly firstResponse: { readonly count: number; readonly median: number | null; readonly p90: number | null };
  readonly resolution: { readonly count: number; readonly median: number | null; readonly p90: number | null };
  readonly compliance: readonly Compliance[];
  readonly breaches: readonly { readonly caseNumber: number; readonly kind: string; readonly priority: string; readonly subject: string; readonly at: string }[];
  readonly backlog: {
    readonly total: number;
    readonly byStatus: Record<string, number>;
    readonly byPriority: Record<string, number>;
    readonly byAge: Record<string, number>;
  };
  readonly csat: { readonly average: number | null; readonly count: number; readonly max: number };
  readonly feedback: { readonly count: number; readonly items: readonly { readonly caseNumber: number; readonly from: string; readonly subject: string; readonly at: string }[] };
  readonly queues: readonly { readonly queue: string; readonly opened: number; readonly resolved: number; readonly backlog: number; readonly breaches: number }[];
}

/** Nearest-rank percentile of business seconds, in whole minutes; null for none. */
export function percentile(seconds: readonly number[], p: number): number | null {
  if (seconds.length === 0) return null;
  const sorted = [...seconds].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return Math.round((sorted[rank - 1] ?? 0) / 60);
}

export const AGE_BRACKETS = [
  { name: '< 1 day', maxDays: 1 },
  { name: '1–3 days', maxDays: 3 },
  { name: '3–7 days', maxDays: 7 },
  { name: '> 7 days', maxDays: Infinity },
] as const;

function sumBy<T>(rows: readonly T[], key: (t: T) => string, n: (t: T) => number = () => 1): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rows) m.set(key(r), (m.get(key(r)) ?? 0) + n(r));
  return m;
}

export async function buildReport(db: Db, config: Pick<Config, 'priorities'>, o: ReportOptions): Promise<ReportData> {
  const r: Range = { from: o.from.toISOString(), to: o.to.toISOString(), queue: o.queue };
  const [opened, resolved, closed, reopened, escalations, frs, ress, open, ratings, feedback, breachEvents, suspectedSpam] = await Promise.all([
    countCasesBy(db, 'created_at', r),
    countCasesBy(db, 'resolved_at', r),
    countCasesBy(db, 'closed_at', r),
    eventsInRange(db, 'case.reopened', r),
    eventsInRange(db, 'case.escalated', r),
    firstResponsesInRange(db, r),
    resolutionsInRange(db, r),
    openCases(db, AGE_BRACKETS.filter((b) => Number.isFinite(b.maxDays)).map((b) => new Date(o.now.getTime() - b.maxDays * 86_400_000).toISOString()), o.queue),
    ratingsInRange(db, r),
    feedbackInRange(db, { ...r, queue: undefined }),
    eventsInRange(db, 'sla.breach', r),
    suspectedSpamOpened(db, r),
  ]);
  const scheme = priorityScheme(config);
  const breaches = breachEvents.map((e) => {
    const data = JSON.parse(e.data_json) as { target?: string };
    return { caseNumber: e.number, kind: data.target ?? 'first-response', priority: e.priority, subject: e.subject, at: e.created_at, queue: e.queue };
  });
  const total = (rows: readonly { n: number }[]): number => rows.reduce((a, x) => a + x.n, 0);

  const priorities = [...new Set([...frs.map((x) => x.priority), ...ress.map((x) => x.priority)])].sort((a, b) => scheme.orderOf(a) - scheme.orderOf(b) || a.localeCompare(b));
  const compliance: Compliance[] = priorities.map((priority) => {
    const f = frs.filter((x) => x.priority === priority && x.met !== null);
    const s = ress.filter((x) => x.priority === priority && x.met !== null);
    return { priority, firstResponse: { met: f.filter((x) => x.met === 1).length, total: f.length }, resolution: { met: s.filter((x) => x.met === 1).length, total: s.length } };
  });

  // The backlog comes counted: bracket k of AGE_BRACKETS (opened less than its maxDays ago).
  const byAge: Record<string, number> = Object.fromEntries(AGE_BRACKETS.map((b) => [b.name, 0]));
  for (const c of open) {
    const bracket = AGE_BRACKETS[Math.min(c.age, AGE_BRACKETS.length - 1)]!;
    byAge[bracket.name] = (byAge[bracket.name] ?? 0) + c.n;
  }
  const byPriority = Object.fromEntries([...sumBy(open, (c) => c.priority, (c) => c.n)].sort(([a], [b]) => scheme.orderOf(a) - scheme.orderOf(b)));
  const statusOrder = ['new', 'open', 'pending', 'on_hold'];
  const byStatus = Object.fromEntries([...sumBy(open, (c) => c.status, (c) => c.n)].sort(([a], [b]) => statusOrder.indexOf(a) - statusOrder.indexOf(b)));
  const rated = ratings.filter((x): x is typeof x & { rating: number } => x.rating !== null);

  const queueNames = [...new Set([...opened, ...resolved].map((x) => x.queue).concat(open.map((c) => c.queue), breaches.map((b) => b.queue)))].sort();
  const openByQueue = sumBy(open, (c) => c.queue, (c) => c.n);
  const breachesByQueue = sumBy(breaches, (b) => b.queue);
  const zoned = (d: Date): string => DateTime.fromJSDate(d, { zone: o.zone }).toISO() ?? d.toISOString();
  return {
    period: { name: o.periodName, from: zoned(o.from), to: zoned(o.to) },
    queue: o.queue ?? null,
    opened: total(opened),
    suspectedSpam,
    resolved: total(resolved),
    closed: total(closed),
    reopened: reopened.length,
    escalations: escalations.length,
    firstResponse: { count: frs.length, median: percentile(frs.flatMap((x) => (x.sec !== null ? [x.sec] : [])), 50), p90: percentile(frs.flatMap((x) => (x.sec !== null ? [x.sec] : [])), 90) },
    resolution: { count: ress.length, median: percentile(ress.flatMap((x) => (x.sec !== null ? [x.sec] : [])), 50), p90: percentile(ress.flatMap((x) => (x.sec !== null ? [x.sec] : [])), 90) },
    compliance,
    breaches: breaches.map(({ queue: _q, ...b }) => b),
    backlog: { total: total(open), byStatus, byPriority, byAge },
    csat: { average: rated.length > 0 ? Math.round((rated.reduce((a, x) => a + x.rating, 0) / rated.length) * 10) / 10 : null, count: rated.length, max: SURVEY_MAX },
    feedback: { count: feedback.length, items: feedback.slice(0, 20).map((f) => ({ caseNumber: f.number, from: f.requester_address, subject: f.subject, at: f.created_at })) },
    queues: queueNames.map((queue) => ({
      queue,
      opened: opened.find((x) => x.queue === queue)?.n ?? 0,
      resolved: resolved.find((x) => x.queue === queue)?.n ?? 0,
      backlog: openByQueue.get(queue) ?? 0,
      breaches: breachesByQueue.get(queue) ?? 0,
    })),
  };
}

function share(x: { met: number; total: number }): string {
  return x.total === 0 ? '–' : `${Math.round((100 * x.met) / x.total)} %`;
}

/** The `report` template's data. */
export function reportTemplateData(r: ReportData): TemplateDataMap['report']['report'] {
  const entries = (o: Record<string, number>) => Object.entries(o).map(([name, count]) => ({ name, count }));
  return {
    period: r.period,
    queue: r.queue ?? '',
    opened: r.opened,
    suspectedSpam: r.suspectedSpam,
    closed: r.closed,
    resolved: r.resolved,
    reopened: r.reopened,
    backlog: r.backlog.total,
    firstResponseBreaches: r.breaches.filter((b) => b.kind === 'first-response').length,
    resolutionBreaches: r.breaches.filter((b) => b.kind === 'resolution').length,
    medianFirstResponse: r.firstResponse.median ?? 0,
    p90FirstResponse: r.firstResponse.p90 ?? 0,
    medianResolution: r.resolution.median ?? 0,
    p90Resolution: r.resolution.p90 ?? 0,
    escalations: r.escalations,
    compliance: r.compliance.map((c) => ({ priority: c.priority, firstResponse: share(c.firstResponse), resolution: share(c.resolution), cases: Math.max(c.firstResponse.total, c.resolution.total) })),
    breaches: r.breaches.map((b) => ({ caseNumber: b.caseNumber, kind: b.kind, priority: b.priority, subject: b.subject })),
    backlogByStatus: entries(r.backlog.byStatus),
    backlogByPriority: entries(r.backlog.byPriority),
    backlogByAge: entries(r.backlog.byAge),
    csat: { average: r.csat.average === null ? '–' : r.csat.average.toFixed(1), count: r.csat.count, max: r.csat.max },
    feedback: { count: r.feedback.count, items: r.feedback.items.map((f) => ({ from: f.from, subject: f.subject, at: f.at })) },
    queues: r.queues,
  };
}

/** Plain-text rendering for the CLI. */
export function formatReport(r: ReportData): string {
  const min = (m: number | null): string => (m === null ? '–' : m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`);
  const lines = [
    `Report ${r.period.from} – ${r.period.to}${r.queue !== null ? ` (queue ${r.queue})` : ''}`,
    '',
    `Opened ${r.opened} · resolved ${r.resolved} · closed ${r.closed} · reopened ${r.reopened} · escalations ${r.escalations}${r.suspectedSpam > 0 ? ` · suspected spam ${r.suspectedSpam} (not counted; casegate cases list --spam)` : ''}`,
    `First response (business time): median ${min(r.firstResponse.median)}, p90 ${min(r.firstResponse.p90)} (${r.firstResponse.count} cases)`,
    `Resolution (business time):     median ${min(r.resolution.median)}, p90 ${min(r.resolution.p90)} (${r.resolution.count} cases)`,
    `Satisfaction: ${r.csat.average === null ? '–' : `${r.csat.average.toFixed(1)} of ${r.csat.max}`} (${r.csat.count} ratings) · feedback messages: ${r.feedback.count}`,
    '',
    'SLA compliance per priority (first response / resolution):',
    ...(r.compliance.length === 0 ? ['  (no clocks stopped in the period)'] : r.compliance.map((c) => `  ${c.priority.padEnd(10)} ${share(c.firstResponse).padStart(6)} of ${c.firstResponse.total}   ${share(c.resolution).padStart(6)} of ${c.resolution.total}`)),
    '',
    `Breaches: ${r.breaches.length}`,
    ...r.breaches.map((b) => `  case ${b.caseNumber} (${b.priority}) ${b.kind}: ${b.subject}`),
    '',
    `Open now: ${r.backlog.total}`,
    `  by status:   ${Object.entries(r.backlog.byStatus).map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`,
    `  by priority: ${Object.entries(r.backlog.byPriority).map(([k, v]) => `${k} ${v}`).join(', ') || '–'}`,
    `  by age:      ${Object.entries(r.backlog.byAge).map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ];
  if (r.feedback.items.length > 0) lines.push('', 'Feedback:', ...r.feedback.items.map((f) => `  ${f.at} ${f.from}: ${f.subject}`));
  if (r.queues.length > 0) lines.push('', 'Per queue (opened / resolved / open now / breaches):', ...r.queues.map((q) => `  ${q.queue}: ${q.opened} / ${q.resolved} / ${q.backlog} / ${q.breaches}`));
  return lines.join('\n') + '\n';
}
