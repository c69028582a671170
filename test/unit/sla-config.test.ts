import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { localWhen, promiseData } from '../../src/cases/promise.js';
import { DateTime } from 'luxon';
import { slaTerms } from '../../src/cases/sla-policy.js';
import { firstResponseTimes, resolutionTimes } from '../../src/cases/sla-state.js';

/** The shipped example policies keep each promise of issue 11; configuration mistakes are reported with their key. */

const example = (name: string) => fileURLToPath(new URL(`../../config/examples/${name}`, import.meta.url));
const env = { CASEGATE_SECRET: 'x'.repeat(32) };
const iso = (d: Date | null | undefined) => d?.toISOString().replace('.000Z', 'Z');

function due(config: ReturnType<typeof loadConfig>['config'], priority: string, openedAt: string) {
  const terms = slaTerms(config, 'support', priority);
  const state = { startedAt: openedAt, firstResponseAt: null, pauses: [] };
  return { terms, fr: firstResponseTimes(state, terms), res: resolutionTimes(state, terms) };
}

describe('config/examples/sla-four-level.yaml', () => {
  const { config } = loadConfig({ path: example('sla-four-level.yaml'), env });

  it.each([
    // "initial response within 2–4 business hours, Mon–Fri 7–17 CDT, holidays excluded"
    ['high', 'Mon 2 Mar 08:00 CST → 10:00', '2026-03-02T14:00:00Z', '2026-03-02T16:00:00Z'],
    ['normal', 'Mon 2 Mar 15:00 CST → Tue 09:00', '2026-03-02T21:00:00Z', '2026-03-03T15:00:00Z'],
    ['normal', 'Thu 2 Jul 16:00 CDT, Fri 3 Jul holiday → Mon 6 Jul 10:00', '2026-07-02T21:00:00Z', '2026-07-06T15:00:00Z'],
    ['normal', 'Wed 23 Dec 16:00 CST, 24 Dec closed, 25 Dec holiday → Mon 28 Dec 10:00', '2026-12-23T22:00:00Z', '2026-12-28T16:00:00Z'],
    // "Critical: 15 minutes, 24/7" — 3 a.m. on Christmas Day
    ['urgent', 'Fri 25 Dec 03:00 CST → 03:15', '2026-12-25T09:00:00Z', '2026-12-25T09:15:00Z'],
    // low: a case opened outside hours gets its first response by the end of the next business day
    ['low', 'Fri 6 Mar 20:00 CST → Mon 9 Mar 17:00 CDT', '2026-03-07T02:00:00Z', '2026-03-09T22:00:00Z'],
  ])('first response %s: %s', (priority, _what, opened, expected) => {
    expect(iso(due(config, priority, opened).fr.due)).toBe(expected);
  });

  it.each([
    // "Urgent 12 h / High 18 h / Normal 24 h / Low 48 h"
    ['urgent', '2026-03-02T14:00:00Z', '2026-03-03T02:00:00Z'], // 12 real hours (24/7)
    ['high', '2026-03-02T14:00:00Z', '2026-03-03T22:00:00Z'], // Mon 08:00 + 18 business h (9 + 9) → Tue 16:00 CST
    ['normal', '2026-03-02T13:00:00Z', '2026-03-04T17:00:00Z'], // Mon 07:00 + 24 business h (10 + 10 + 4) → Wed 11:00 CST
    ['low', '2026-03-02T13:00:00Z', '2026-03-06T21:00:00Z'], // Mon 07:00 + 48 business h (4 × 10 + 8) → Fri 15:00 CST
  ])('resolution %s from %s due %s', (priority, opened, expected) => {
    expect(iso(due(config, priority, opened).res?.due)).toBe(expected);
  });

  it('the confirmation promise in words, outside hours with when the team is back', () => {
    const at = '2026-03-06T23:30:00Z'; // Fri 17:30 CST
    const { fr } = due(config, 'normal', at);
    const p = promiseData(config, { queue: 'support', priority: 'normal', created_at: at, language: 'en', first_response_due_at: fr.due!.toISOString(), kind: 'case' }, new Date(at));
    expect(p).toMatchObject({ has: true, target: '4 business hours', due: 'Monday 11:00 CDT', open: false, backAt: 'Monday 07:00 CDT', nextBusinessDay: false });
    const de = promiseData(config, { queue: 'support', priority: 'urgent', created_at: at, language: 'de', first_response_due_at: due(config, 'urgent', at).fr.due!.toISOString(), kind: 'case' }, new Date(at));
    expect(de).toMatchObject({ has: true, target: '15 Minuten', due: 'Freitag, 17:45 Uhr GMT-6', open: true, backAt: '' });
  });

  it('reminders, auto-close after two weeks, survey after every case', () => {
    expect(config.jobs.pendingReminder).toMatchObject({ remindAfterBusinessDays: [3, 7], autoCloseAfterDays: 14, enabled: true });
    expect(config.jobs.survey).toMatchObject({ enabled: true, afterHours: 24 });
    expect(config.jobs.criticalReminder).toMatchObject({ priorities: ['urgent'], afterMinutes: 60, notifyCustomer: true });
  });
});

describe('config/examples/sla-s1-s5.yaml', () => {
  const { config } = loadConfig({ path: example('sla-s1-s5.yaml'), env });

  it.each([
    // "S2–S5 after 6 PM PT: next business day"
    ['S3', 'Mon 2 Mar 18:30 PST → end of Tue 3 Mar (18:00 PST)', '2026-03-03T02:30:00Z', '2026-03-04T02:00:00Z'],
    ['S2', 'Fri 6 Mar 19:00 PST → Mon 9 Mar 18:00 PDT', '2026-03-07T03:00:00Z', '2026-03-10T01:00:00Z'],
    ['S5', 'Sat 7 Mar 10:00 PST → Mon 9 Mar 18:00 PDT', '2026-03-07T18:00:00Z', '2026-03-10T01:00:00Z'],
    // Inside hours the business-hour target applies: S3 Mon 09:00 PST + 4 h
    ['S3', 'Mon 2 Mar 09:00 PST → 13:00', '2026-03-02T17:00:00Z', '2026-03-02T21:00:00Z'],
    // "Critical: 15 minutes, 24/7"
    ['S1', 'Sat 7 Mar 03:00 PST → 03:15', '2026-03-07T11:00:00Z', '2026-03-07T11:15:00Z'],
  ])('%s: %s', (priority, _what, opened, expected) => {
    expect(iso(due(config, priority, opened).fr.due)).toBe(expected);
  });

  it('says "by the end of the next business day" after 6 PM', () => {
    const at = '2026-03-03T02:30:00Z';
    const p = promiseData(config, { queue: 'support', priority: 'S3', created_at: at, language: 'en', first_response_due_at: due(config, 'S3', at).fr.due!.toISOString(), kind: 'case' }, new Date(at));
    expect(p).toMatchObject({ nextBusinessDay: true, open: false, due: 'Tuesday 18:00 PST', backAt: 'Tuesday 06:00 PST' });
  });
});

describe("the promise's due time in words (localWhen), remembered by the minute", () => {
  it('gives for every instant what Luxon gives for it: the same text within a minute, another in the next', () => {
    const now = new Date('2026-03-02T09:00:00Z');
    const luxon = (at: Date, zone: string, language: 'en' | 'de'): string => {
      const dt = DateTime.fromJSDate(at, { zone }).setLocale(language);
      const near = at.getTime() - now.getTime() < 6 * 86_400_000;
      if (language === 'de') return dt.toFormat(near ? "cccc, HH:mm 'Uhr' ZZZZ" : "cccc, d. LLLL, HH:mm 'Uhr' ZZZZ");
      return dt.toFormat(near ? 'cccc HH:mm ZZZZ' : 'cccc, d LLLL, HH:mm ZZZZ');
    };
    for (const zone of ['America/Chicago', 'Europe/Berlin', 'Asia/Kolkata']) {
      for (const language of ['en', 'de'] as const) {
        for (const base of ['2026-03-03T14:05:00.000Z', '2026-03-20T23:59:00.000Z']) {
          const texts = [0, 1, 59_999, 60_000].map((ms) => {
            const at = new Date(Date.parse(base) + ms);
            const text = localWhen(at, zone, language, now);
            expect(text).toBe(luxon(at, zone, language));
            return text;
          });
          expect(texts[1]).toBe(texts[0]);
          expect(texts[2]).toBe(texts[0]);
          expect(texts[3]).not.toBe(texts[0]);
        }
      }
    }
    // Near (within six days) and far differ for the same minute.
    const at = new Date('2026-03-03T14:05:00.000Z');
    expect(localWhen(at, 'Europe/Berlin', 'en', now)).not.toBe(localWhen(at, 'Europe/Berlin', 'en', new Date('2026-02-01T00:00:00Z')));
  });
});

describe('configuration problems are reported with their key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-sla-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const load = (cfg: ConfigInput) => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, stringify({ instance: { secret: 'x'.repeat(32) }, ...cfg }));
    try {
      loadConfig({ path: file, env: {} });
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
      throw err;
    }
  };

  it('every problem at once', () => {
    const problems = load({
      queues: { support: { calendar: 'nope', slaPolicy: 'missing' } },
      sla: {
        calendars: { bad: { zone: 'Mars/Base', hours: { funday: '09:00-17:00', 'mon-fri': '9-5' }, holidays: { country: 'XX' } } },
        policies: { p: { targets: { critical: { firstResponse: '15m' }, normal: { firstResponse: 'soon' }, high: {} } } },
      },
      jobs: { slaCheck: { schedule: 'every minute' }, criticalReminder: { priorities: ['S1'] }, pendingReminder: { remindAfterBusinessDays: [5, 3] } },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^sla\.calendars\.bad\.zone: not an IANA time zone/),
        expect.stringMatching(/^sla\.policies\.p\.targets\.normal\.firstResponse: a duration like 15m/),
        expect.stringMatching(/^jobs\.slaCheck\.schedule: not a cron expression/),
      ]),
    );
    // Cross-references are checked once the fields are valid.
    const refs = load({
      queues: { support: { calendar: 'nope', slaPolicy: 'missing' } },
      sla: {
        calendars: { c: { hours: { funday: '09:00-17:00', 'mon-fri': '9-5' }, holidays: { country: 'XX' } } },
        policies: { p: { targets: { critical: { firstResponse: '15m' }, high: {}, urgent: { firstResponse: 15, coverage: '24x7', afterHours: 'next-business-day' } } } },
      },
      jobs: { criticalReminder: { priorities: ['S1'] }, pendingReminder: { remindAfterBusinessDays: [5, 3] } },
    });
    expect(refs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^sla\.calendars\.c\.hours\.funday: "funday" is not a day/),
        expect.stringMatching(/^sla\.calendars\.c\.hours\.mon-fri: "9-5" is not a time range/),
        expect.stringMatching(/^sla\.calendars\.c\.holidays: date-holidays does not know the country "XX"/),
      ]),
    );
    const refs2 = load({
      queues: { support: { calendar: 'nope', slaPolicy: 'missing' } },
      sla: { policies: { p: { targets: { critical: { firstResponse: '15m' }, high: {}, urgent: { firstResponse: 15, coverage: '24x7', afterHours: 'next-business-day' } } } } },
      jobs: { criticalReminder: { priorities: ['S1'] }, pendingReminder: { remindAfterBusinessDays: [5, 3] } },
    });
    expect(refs2).toEqual([
      'queues.support.calendar: no calendar "nope" (calendars: none configured under sla.calendars)',
      'queues.support.slaPolicy: no policy "missing" (policies: p)',
      'sla.policies.p.targets.critical: "critical" is not a priority level (levels: urgent, high, normal, low)',
      'sla.policies.p.targets.high: give firstResponse, resolution or both',
      'sla.policies.p.targets.urgent.afterHours: a 24x7 target has no after-hours',
      'jobs.criticalReminder.priorities.0: "S1" is not a priority level (levels: urgent, high, normal, low)',
      'jobs.pendingReminder.remindAfterBusinessDays: list the business days in increasing order',
    ]);
  });

  it('a calendar without any opening hours is refused (every message to its queues was quarantined: no due time, no "back on …")', () => {
    expect(load({ queues: { support: { calendar: 'never' } }, sla: { calendars: { never: { hours: { daily: 'closed' } } } } })).toEqual([
      'sla.calendars.never.hours: no opening hours on any day: give at least one range (e.g. "mon-fri": "09:00-17:00"; "daily": "00:00-24:00" for round the clock)',
    ]);
    expect(load({ sla: { calendars: { empty: { hours: {} } } } })).toHaveLength(1);
    expect(load({ sla: { calendars: { sat: { hours: { 'mon-fri': 'closed', sat: '10:00-12:00' } } } } })).toEqual([]);
  });

  it('durations: minutes, "15m", "4h", "1h30m"', () => {
    const file = join(dir, 'd.yaml');
    writeFileSync(file, stringify({ instance: { secret: 'x'.repeat(32) }, sla: { policies: { p: { targets: { urgent: { firstResponse: 15, resolution: '1h30m' }, high: { firstResponse: '4h', resolution: '90 min' } } } } } }));
    const { config } = loadConfig({ path: file, env: {} });
    expect(config.sla.policies['p']!.targets).toMatchObject({ urgent: { firstResponse: 15, resolution: 90 }, high: { firstResponse: 240, resolution: 90 } });
  });
});
