import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAgentResponse, setPriority, setStatus } from '../../src/cases/lifecycle.js';
import { recordSurveyAnswer } from '../../src/cases/survey.js';
import type { CaseStatus } from '../../src/db/schema.js';
import { caseById } from '../../src/db/repos/cases.js';
import { openCaseCounts } from '../../src/db/repos/ops.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { buildReport, formatReport, percentile, reportTemplateData, type ReportData } from '../../src/reports/report.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { templatesWithFeedbackQueue } from '../helpers/feedback-templates.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';

/**
 * The report over a day of real cases (pipeline, SLA hooks, jobs, survey answers) with a manual
 * clock: counts, business-time percentiles, compliance per priority, breaches, backlog, CSAT,
 * escalations and feedback — as data, as text and as the email.
 */

let env: TestEnv;
let tplDir: string;
let report: ReportData;

const at = (iso: string) => env.clock.set(iso);
async function open(subject: string, id: string) {
  const out = await env.ingest(eml({ subject, messageId: `${id}@customer.example`, from: `${id} <${id}@customer.example>` }));
  if (out.kind !== 'stored') throw new Error(out.reason);
  return out.caseId;
}
const respond = (id: number) => env.ctx.db.transaction().execute((trx) => recordAgentResponse(trx, env.ctx, id, { actor: 'agent:erika@example.com', reason: 'reply' }));
const status = (id: number, to: CaseStatus) => env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, id, to, { actor: 'agent:erika@example.com', reason: 'test' }));
const rate = (id: number, rating: number) =>
  env.ctx.db.transaction().execute(async (trx) => recordSurveyAnswer(trx, env.ctx, (await caseById(trx, id))!, { rating, comment: '' }, { source: 'web', actor: 'customer:x' }));

beforeAll(async () => {
  tplDir = templatesWithFeedbackQueue();
  env = await testEnv(
    {
      ...SLA_CONFIG,
      mailboxes: [
        { name: 'support', addresses: ['support@example.com'] },
        { name: 'feedback', addresses: ['feedback@example.com'] },
      ],
      queues: { ...SLA_CONFIG.queues, feedback: { feedback: true } },
      templates: { watch: false, dir: tplDir },
      jobs: { timezone: 'America/Chicago' },
    },
    '2026-03-02T14:00:00Z', // Mon 08:00 CST
  );
  const a = await open('Printer on fire', 'a'); // normal
  const b = await open('Cannot log in', 'b');
  await env.ctx.db.transaction().execute((trx) => setPriority(trx, env.ctx, b, 'high', { actor: 'cli:lead', reason: '' }));
  at('2026-03-02T15:00:00Z'); // 09:00
  await respond(a); // 60 business minutes, met
  at('2026-03-02T16:00:00Z'); // 10:00
  const c = await open('Question about invoices', 'c'); // normal
  const d = await open('Urgent – payments down', 'd'); // urgent, 24/7, escalated
  at('2026-03-02T16:30:00Z'); // 10:30
  await respond(c); // 30 minutes, met
  await createJobScheduler(env.ctx).run('sla-check', 'manual'); // b (due 10:00) and d (due 10:15) breach their first response
  at('2026-03-02T17:00:00Z'); // 11:00
  await respond(b); // 180 minutes, missed (2 h)
  at('2026-03-02T22:00:00Z'); // 16:00
  await status(b, 'resolved'); // 8 business hours, met (18 h)
  await status(c, 'pending');
  await env.ingest(eml({ to: 'feedback@example.com', subject: 'Love the new portal', from: 'fan@customer.example' }), { mailbox: 'feedback' });
  // Spam our MX flagged: a case held out of the list, and out of the report's counts (SLA hunt).
  const spam = await env.ingest(eml({ subject: 'You won a prize', messageId: 'spam-1@spammer.example', from: 'win@spammer.example', headers: { 'X-Spam-Flag': 'YES' } }));
  expect(spam).toMatchObject({ kind: 'stored', created: true });
  at('2026-03-03T15:00:00Z'); // Tue 09:00
  // The spam is closed unanswered the next day: that stops its clocks (first response "missed"
  // after 9 business hours), yet it was never a customer's case: not in any figure (SLA hunt 9).
  if (spam.kind === 'stored') await status(spam.caseId, 'closed');
  await status(a, 'resolved'); // Mon 08–17 (9 h) + Tue 07–09 (2 h) = 11 business hours, met (24 h)
  await rate(a, 5);
  await rate(b, 4);
  expect(d).toBeGreaterThan(0);
  at('2026-03-04T12:00:00Z');
  report = await buildReport(env.ctx.db, env.ctx.config, { from: new Date('2026-03-02T06:00:00Z'), to: new Date('2026-03-04T06:00:00Z'), periodName: 'custom', zone: 'America/Chicago', now: env.clock.now() });
});
afterAll(async () => {
  await env.close();
  rmSync(tplDir, { recursive: true, force: true });
});

describe('report', () => {
  it('counts, escalations, backlog by status, priority and age', () => {
    expect(report).toMatchObject({ opened: 4, suspectedSpam: 1, resolved: 2, closed: 0, reopened: 0, escalations: 1 });
    expect(report.backlog).toEqual({ total: 2, byStatus: { new: 1, pending: 1 }, byPriority: { urgent: 1, normal: 1 }, byAge: { '< 1 day': 0, '1–3 days': 2, '3–7 days': 0, '> 7 days': 0 } });
  });

  it('casegate status and casegate_open_cases count what the report counts: suspected spam (held, `cases list --spam`) is no open case', async () => {
    const counts = await openCaseCounts(env.ctx.db);
    // The report's backlog (new, pending) plus the two resolved cases not yet closed; not the spam case (new, normal).
    expect(counts.filter((c) => c.status !== 'resolved')).toEqual(
      expect.arrayContaining([
        { status: 'new', priority: 'urgent', n: 1 },
        { status: 'pending', priority: 'normal', n: 1 },
      ]),
    );
    expect(counts.filter((c) => c.status !== 'resolved').reduce((n, c) => n + c.n, 0)).toBe(report.backlog.total);
    expect(counts.reduce((n, c) => n + c.n, 0)).toBe(4);
  });

  it('first response and resolution in business minutes: median and 90th percentile', () => {
    expect(report.firstResponse).toEqual({ count: 3, median: 60, p90: 180 });
    expect(report.resolution).toEqual({ count: 2, median: 480, p90: 660 });
  });

  it('SLA compliance per priority (most severe first) and the breaches', () => {
    expect(report.compliance).toEqual([
      { priority: 'high', firstResponse: { met: 0, total: 1 }, resolution: { met: 1, total: 1 } },
      { priority: 'normal', firstResponse: { met: 2, total: 2 }, resolution: { met: 1, total: 1 } },
    ]);
    expect(report.breaches.map((b) => `${b.caseNumber} ${b.priority} ${b.kind}`)).toEqual(['10002 high first-response', '10004 urgent first-response']);
  });

  it('satisfaction and feedback', () => {
    expect(report.csat).toEqual({ average: 4.5, count: 2, max: 5 });
    expect(report.feedback).toMatchObject({ count: 1, items: [{ from: 'fan@customer.example', subject: 'Love the new portal' }] });
  });

  it('a queue filter narrows every figure', async () => {
    const other = await buildReport(env.ctx.db, env.ctx.config, { from: new Date('2026-03-02T06:00:00Z'), to: new Date('2026-03-04T06:00:00Z'), queue: 'nope', periodName: 'custom', zone: 'America/Chicago', now: env.clock.now() });
    expect(other).toMatchObject({ opened: 0, resolved: 0, escalations: 0, breaches: [], backlog: { total: 0 }, csat: { count: 0, average: null } });
  });

  it('as text and as the report email', () => {
    const text = formatReport(report);
    expect(text).toContain('First response (business time): median 1 h 0 min, p90 3 h 0 min (3 cases)');
    expect(text).toContain('  high          0 % of 1    100 % of 1');
    expect(text).toContain('Satisfaction: 4.5 of 5 (2 ratings) · feedback messages: 1');
    expect(text).toContain('escalations 1 · suspected spam 1 (not counted; casegate cases list --spam)');
    const out = env.ctx.templates.render('report', { instance: { name: 'Example Support' }, report: reportTemplateData(report), replyMarker: '##- Please type your reply above this line -##', isTest: false }, { language: 'de' });
    expect(out.text).toContain('Erstantwort (Geschäftszeit):');
    expect(out.text).toContain('Median 1 Stunde, 90 % innerhalb von 3 Stunden');
    expect(out.text).toContain('- high: 0 % / 100 % / 1');
    expect(out.text).toContain('Zufriedenheit:');
    expect(out.text).toContain('4.5 von 5 (2 Bewertungen)');
    expect(out.text).toMatch(/Spamverdacht \(nicht gezählt\): 1\n/);
  });

  it.each([
    [[], 50, null],
    [[60], 90, 1],
    [[60, 120, 180, 240, 300, 360, 420, 480, 540, 600], 50, 5],
    [[60, 120, 180, 240, 300, 360, 420, 480, 540, 600], 90, 9],
  ] as const)('percentile(%j, %i) = %s minutes', (secs, p, expected) => {
    expect(percentile(secs, p)).toBe(expected);
  });
});
