import { describe, expect, it } from 'vitest';
import { alwaysOpen, businessCalendar, type CalendarSpec } from '../../src/cases/business-calendar.js';
import { parseDayKey, parseRange, parseWeeklyHours } from '../../src/cases/calendar-hours.js';
import type { SlaTerms } from '../../src/cases/sla-policy.js';
import { firstResponseTimes } from '../../src/cases/sla-state.js';

/**
 * Business-time arithmetic, table-driven. Times are written as UTC instants with the local time in
 * the comment; 2026 DST changes: America/Chicago Sun 8 March (02:00 → 03:00) and Sun 1 November
 * (02:00 → 01:00); Europe/Berlin Sun 29 March (02:00 → 03:00) and Sun 25 October (03:00 → 02:00).
 */

const H = 3_600_000;
const M = 60_000;

const chicago = businessCalendar({
  name: 'us-central',
  zone: 'America/Chicago',
  hours: { 'mon-fri': '07:00-17:00' },
  holidays: { country: 'US' },
});
const berlin = businessCalendar({
  name: 'de-by',
  zone: 'Europe/Berlin',
  hours: { 'mon-fri': ['09:00-12:00', '13:00-17:00'] },
  holidays: { country: 'DE', state: 'BY' },
  closedDates: ['2026-06-12'],
  closures: [{ from: '2026-06-15T15:00', to: '2026-06-16T11:00' }],
});
const night = businessCalendar({ name: 'night', zone: 'America/Chicago', hours: { sat: '22:00-06:00', sun: '22:00-06:00' } });
const pacific = businessCalendar({ name: 'us-pacific', zone: 'America/Los_Angeles', hours: { 'mon-fri': '06:00-18:00' }, holidays: { country: 'US' } });
const chicago247 = alwaysOpen('us-central 24/7', 'America/Chicago');

const iso = (d: Date): string => d.toISOString().replace('.000Z', 'Z');

describe('add: a business duration from an instant', () => {
  it.each([
    // Chicago, DST spring forward (Sun 8 Mar): Fri 16:00 CST + 2 h → Mon 08:00 CDT
    ['chicago', 'spring forward over the weekend', '2026-03-06T22:00:00Z', 2 * H, '2026-03-09T13:00:00Z'],
    // Chicago, DST fall back (Sun 1 Nov): Fri 16:00 CDT + 2 h → Mon 08:00 CST
    ['chicago', 'fall back over the weekend', '2026-10-30T21:00:00Z', 2 * H, '2026-11-02T14:00:00Z'],
    // Mon 9 Mar (first CDT day) opens at 07:00 CDT = 12:00Z
    ['chicago', 'first day after spring forward opens at local 07:00', '2026-03-09T05:00:00Z', 30 * M, '2026-03-09T12:30:00Z'],
    // Weekend: Fri 16:30 CST + 1 h → Mon 07:30 CST
    ['chicago', 'weekend skipped', '2026-02-13T22:30:00Z', 1 * H, '2026-02-17T13:30:00Z'],
    // ^ Mon 16 Feb 2026 is Presidents' Day: the next business day is Tuesday.
    // Arrival before opening: Tue 05:00 CST + 4 h → Tue 11:00 CST
    ['chicago', 'arrival before opening', '2026-02-03T11:00:00Z', 4 * H, '2026-02-03T17:00:00Z'],
    // Arrival after closing: Mon 20:00 CST + 4 h → Tue 11:00 CST
    ['chicago', 'arrival after closing', '2026-02-03T02:00:00Z', 4 * H, '2026-02-03T17:00:00Z'],
    // Ends exactly at closing: Tue 13:00 + 4 h → Tue 17:00 (not next morning)
    ['chicago', 'ends exactly at closing time', '2026-02-03T19:00:00Z', 4 * H, '2026-02-03T23:00:00Z'],
    // Holiday: Thu 2 Jul 16:00 CDT + 2 h; Fri 3 Jul is Independence Day (observed) → Mon 6 Jul 08:00 CDT
    ['chicago', 'observed holiday on Friday', '2026-07-02T21:00:00Z', 2 * H, '2026-07-06T13:00:00Z'],
    // Two business days of hours: Mon 07:00 + 20 h → Tue 17:00
    ['chicago', 'long duration over several days', '2026-02-02T13:00:00Z', 20 * H, '2026-02-03T23:00:00Z'],
    // Berlin, DST spring forward (Sun 29 Mar): Fri 16:00 CET + 2 h → Mon 10:00 CEST
    ['berlin', 'spring forward over the weekend', '2026-03-27T15:00:00Z', 2 * H, '2026-03-30T08:00:00Z'],
    // Berlin, DST fall back (Sun 25 Oct): Fri 16:00 CEST + 2 h → Mon 10:00 CET
    ['berlin', 'fall back over the weekend', '2026-10-23T14:00:00Z', 2 * H, '2026-10-26T09:00:00Z'],
    // Easter: Thu 2 Apr 16:00 CEST + 2 h; Good Friday and Easter Monday closed → Tue 7 Apr 10:00 CEST
    ['berlin', 'Good Friday and Easter Monday', '2026-04-02T14:00:00Z', 2 * H, '2026-04-07T08:00:00Z'],
    // Lunch break: Mon 11:00 + 2 h → 14:00 (12–13 closed)
    ['berlin', 'two ranges a day (lunch break)', '2026-02-02T10:00:00Z', 2 * H, '2026-02-02T13:00:00Z'],
    // Explicit closed date Fri 12 Jun: Thu 11 Jun 16:30 + 1 h → Mon 15 Jun 09:30
    ['berlin', 'explicit closed date', '2026-06-11T14:30:00Z', 1 * H, '2026-06-15T07:30:00Z'],
    // Closure Mon 15 Jun 15:00 → Tue 16 Jun 11:00: Mon 14:00 + 2 h → Tue 12:00
    ['berlin', 'closure from afternoon to next morning', '2026-06-15T12:00:00Z', 2 * H, '2026-06-16T10:00:00Z'],
    // Over midnight on the DST night: Sat 7 Mar 22:00 CST … Sun 06:00 CDT is 7 real hours
    ['night', 'range over midnight across spring forward', '2026-03-08T04:00:00Z', 7 * H, '2026-03-08T11:00:00Z'],
    // 24/7 priority at 3 a.m. on Christmas Day: + 15 min is 03:15
    ['chicago 24/7', '3 a.m. on a holiday', '2026-12-25T09:00:00Z', 15 * M, '2026-12-25T09:15:00Z'],
    // 24/7 over spring forward: Sat 23:00 CST + 4 h → Sun 05:00 CDT (real hours)
    ['chicago 24/7', 'real hours over spring forward', '2026-03-08T05:00:00Z', 4 * H, '2026-03-08T09:00:00Z'],
  ] as const)('%s: %s', (cal, _what, from, ms, expected) => {
    const c = { chicago, berlin, night, 'chicago 24/7': chicago247 }[cal];
    expect(iso(c.add(new Date(from), ms))).toBe(expected);
  });
});

describe('between: business time between two instants', () => {
  it.each([
    ['chicago', 'spring forward weekend', '2026-03-06T22:00:00Z', '2026-03-09T13:00:00Z', 2 * H],
    ['chicago', 'fall back weekend', '2026-10-30T21:00:00Z', '2026-11-02T14:00:00Z', 2 * H],
    ['chicago', 'a whole week', '2026-02-02T00:00:00Z', '2026-02-09T00:00:00Z', 50 * H],
    ['chicago', 'a week with a holiday (Presidents’ Day)', '2026-02-16T00:00:00Z', '2026-02-23T00:00:00Z', 40 * H],
    ['chicago', 'only outside hours', '2026-02-03T23:30:00Z', '2026-02-04T12:30:00Z', 0],
    ['chicago', 'reversed is zero', '2026-02-04T18:00:00Z', '2026-02-04T15:00:00Z', 0],
    ['berlin', 'Easter: Mon 30 Mar … Mon 6 Apr, Good Friday and Easter Monday closed', '2026-03-30T00:00:00Z', '2026-04-07T00:00:00Z', 28 * H],
    ['berlin', 'around the lunch break', '2026-02-02T10:30:00Z', '2026-02-02T12:30:00Z', 1 * H],
    ['night', 'DST night is 7 hours, the fall-back night 9', '2026-03-07T12:00:00Z', '2026-03-08T18:00:00Z', 7 * H],
    ['night', 'fall-back night (Sat 31 Oct 22:00 CDT → Sun 06:00 CST)', '2026-10-31T12:00:00Z', '2026-11-01T18:00:00Z', 9 * H],
    ['chicago 24/7', 'holiday counts', '2026-12-24T09:00:00Z', '2026-12-26T09:00:00Z', 48 * H],
  ] as const)('%s: %s', (cal, _what, a, b, expected) => {
    const c = { chicago, berlin, night, 'chicago 24/7': chicago247 }[cal];
    expect(c.between(new Date(a), new Date(b))).toBe(expected);
  });

  it('add and between agree (round trip over many starts, including DST weeks)', () => {
    for (let i = 0; i < 200; i++) {
      const start = new Date(Date.UTC(2026, 2, 1) + i * 7.3 * H);
      for (const c of [chicago, berlin]) {
        const end = c.add(start, 5.5 * H);
        expect(c.between(start, end)).toBe(5.5 * H);
      }
    }
  });

  it('a calendar that remembers the days it met answers as a new one does (random order over DST weeks, holidays, closures)', () => {
    const specs: CalendarSpec[] = [
      { name: 'us-central', zone: 'America/Chicago', hours: { 'mon-fri': '07:00-17:00' }, holidays: { country: 'US' } },
      { name: 'de-by', zone: 'Europe/Berlin', hours: { 'mon-fri': ['09:00-12:00', '13:00-17:00'] }, holidays: { country: 'DE', state: 'BY' }, closedDates: ['2026-06-12'], closures: [{ from: '2026-06-15T15:00', to: '2026-06-16T11:00' }] },
      { name: 'night', zone: 'America/Chicago', hours: { sat: '22:00-06:00', sun: '22:00-06:00' } },
    ];
    let seed = 7;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (const spec of specs) {
      const warm = businessCalendar(spec);
      for (let i = 0; i < 150; i++) {
        // Instants over 2026 (DST changes in March, October and November), often on the same days.
        const at = new Date(Date.UTC(2026, 0, 1) + Math.floor(random() * 365) * 24 * H + Math.floor(random() * 96) * 15 * M);
        const later = new Date(at.getTime() + random() * 20 * 24 * H);
        const answers = (c: ReturnType<typeof businessCalendar>): unknown[] => [c.isOpen(at), c.nextOpen(at).getTime(), c.add(at, 13.25 * H).getTime(), c.between(at, later)];
        // A new calendar each time: its first answer computes every day it needs.
        expect(answers(warm), `${spec.name} at ${at.toISOString()}, until ${later.toISOString()}`).toEqual(answers(businessCalendar(spec)));
      }
    }
  });
});

describe('opening, next business day, business days', () => {
  it.each([
    ['chicago', '2026-02-03T15:00:00Z', true], // Tue 09:00 CST
    ['chicago', '2026-02-03T12:59:00Z', false], // Tue 06:59 CST
    ['chicago', '2026-07-03T15:00:00Z', false], // holiday
    ['chicago', '2026-02-07T15:00:00Z', false], // Saturday
    ['berlin', '2026-02-02T11:30:00Z', false], // lunch
    ['night', '2026-03-08T10:30:00Z', true], // Sun 05:30 CDT, inside Sat night range
    ['chicago 24/7', '2026-12-25T09:00:00Z', true],
  ] as const)('%s isOpen(%s) = %s', (cal, at, open) => {
    const c = { chicago, berlin, night, 'chicago 24/7': chicago247 }[cal];
    expect(c.isOpen(new Date(at))).toBe(open);
  });

  it.each([
    // "S2–S5 after 6 PM PT: next business day": Mon 19:00 PST → Tue 18:00 PST
    ['pacific', 'evening', '2026-02-03T03:00:00Z', '2026-02-04T02:00:00Z'],
    // Friday 20:00 PT → Monday 18:00 PT
    ['pacific', 'Friday evening', '2026-02-07T04:00:00Z', '2026-02-10T02:00:00Z'],
    // Thursday 2 Jul 19:00 PDT; Fri 3 Jul holiday → Mon 6 Jul 18:00 PDT
    ['pacific', 'before a holiday', '2026-07-03T02:00:00Z', '2026-07-07T01:00:00Z'],
    // Saturday morning in Berlin → Monday 17:00
    ['berlin', 'weekend', '2026-02-07T09:00:00Z', '2026-02-09T16:00:00Z'],
  ] as const)('%s endOfNextBusinessDay: %s', (cal, _what, at, expected) => {
    const c = { pacific, berlin }[cal];
    expect(iso(c.endOfNextBusinessDay(new Date(at)))).toBe(expected);
  });

  it.each([
    // Fri 6 Feb 10:00 CST + 2 business days → Tue 10 Feb 10:00 CST
    ['2026-02-06T16:00:00Z', 2, '2026-02-10T16:00:00Z'],
    // Fri 13 Feb + 1 → Tue 17 Feb (Presidents' Day)
    ['2026-02-13T16:00:00Z', 1, '2026-02-17T16:00:00Z'],
    // Fri 6 Mar 10:00 CST + 1 → Mon 9 Mar 10:00 CDT (same wall time after spring forward)
    ['2026-03-06T16:00:00Z', 1, '2026-03-09T15:00:00Z'],
  ] as const)('addBusinessDays(%s, %i) = %s', (at, days, expected) => {
    expect(iso(chicago.addBusinessDays(new Date(at), days))).toBe(expected);
  });
});

describe('afterHours next-business-day: a break within the day is business time, not after hours', () => {
  it.each([
    ['berlin', 'lunch (12:30 CET)', '2026-02-03T11:30:00Z', true],
    ['berlin', 'before opening (08:00 CET)', '2026-02-03T07:00:00Z', false],
    ['berlin', 'after closing (18:00 CET)', '2026-02-03T17:00:00Z', false],
    ['berlin', 'open (10:00 CET)', '2026-02-03T09:00:00Z', false],
    ['berlin', 'Saturday noon', '2026-02-07T11:30:00Z', false],
    ['night', 'Sunday 10:00 CST, between Sat and Sun night ranges', '2026-02-08T16:00:00Z', false],
    ['chicago 24/7', 'any time', '2026-02-03T11:30:00Z', false],
  ] as const)('%s inBreak: %s = %s', (cal, _what, at, expected) => {
    const c = { berlin, night, 'chicago 24/7': chicago247 }[cal];
    expect(c.inBreak(new Date(at))).toBe(expected);
  });

  it('a case at lunch gets its 8 business hours like one a minute before lunch; one after closing is due at the end of the next business day', () => {
    const terms: SlaTerms = { policy: 'p', calendar: berlin, clock: berlin, coverage: 'business-hours', firstResponseMin: 480, resolutionMin: null, afterHours: 'next-business-day', onHoldPauses: false, warnAt: 0.8 };
    const due = (at: string) => iso(firstResponseTimes({ startedAt: at, firstResponseAt: null, pauses: [] }, terms).due!);
    // 7 business hours a day (09–12, 13–17 CET)
    expect(due('2026-02-03T10:59:00Z')).toBe('2026-02-04T12:59:00Z'); // Tue 11:59 + 8 h → Wed 13:59
    expect(due('2026-02-03T11:30:00Z')).toBe('2026-02-04T13:00:00Z'); // Tue 12:30 (lunch) + 8 h from 13:00 → Wed 14:00
    expect(due('2026-02-03T17:00:00Z')).toBe('2026-02-04T16:00:00Z'); // Tue 18:00 → end of Wed
  });
});

describe('parsing opening hours', () => {
  it.each([
    ['mon-fri', [1, 2, 3, 4, 5]],
    ['sat,sun', [6, 7]],
    ['fri-mon', [1, 5, 6, 7]],
    ['daily', [1, 2, 3, 4, 5, 6, 7]],
    ['Tuesday', [2]],
    ['funday', null],
    ['mon-xyz', null],
  ] as const)('day key %s', (key, days) => {
    expect(parseDayKey(key)).toEqual(days);
  });

  it.each([
    ['07:00-17:00', { start: 420, end: 1020 }],
    ['22:00-06:00', { start: 1320, end: 1800 }],
    ['00:00-24:00', { start: 0, end: 1440 }],
    ['9:30-12:00', { start: 570, end: 720 }],
    ['10:00-10:00', null],
    ['25:00-26:00', null],
    ['07:00', null],
  ] as const)('range %s', (s, r) => {
    expect(parseRange(s)).toEqual(r);
  });

  it('reports every problem with its key', () => {
    const { problems } = parseWeeklyHours({ 'mon-fri': ['07:00-17:00', 'late'], funday: '09:00-10:00', fri: '08:00-09:00' });
    expect(problems.map((p) => p.key)).toEqual(['mon-fri', 'funday', 'fri']);
  });

  it('refuses an unknown zone and a calendar without hours fails loudly', () => {
    expect(() => businessCalendar({ name: 'x', zone: 'Mars/Olympus', hours: {} } as CalendarSpec)).toThrow(/unknown time zone/);
    const empty = businessCalendar({ name: 'never', zone: 'UTC', hours: {} });
    expect(() => empty.add(new Date('2026-01-01T00:00:00Z'), H)).toThrow(/no opening hours/);
  });
});

describe('holidays that begin during the day', () => {
  it('Christmas Eve and New Year\'s Eve as DE bank holidays close at 14:00, not the whole day (the morning is worked)', () => {
    const de = businessCalendar({ name: 'de', zone: 'Europe/Berlin', hours: { 'mon-fri': '09:00-17:00' }, holidays: { country: 'DE', types: ['public', 'bank'] } });
    expect(de.isOpen(new Date('2026-12-24T09:00:00Z'))).toBe(true); // Thu 10:00 CET
    expect(de.isOpen(new Date('2026-12-24T13:30:00Z'))).toBe(false); // 14:30
    expect(de.between(new Date('2026-12-24T00:00:00Z'), new Date('2026-12-25T00:00:00Z'))).toBe(5 * H); // 09:00–14:00
    // A case at 10:00 on the 24th with 4 business hours: due 14:00 that day, not on Monday 28th.
    expect(iso(de.add(new Date('2026-12-24T09:00:00Z'), 4 * H))).toBe('2026-12-24T13:00:00Z');
    // 5 h: 4 on the 24th, 25th/26th holidays, the weekend → Mon 28 Dec 10:00.
    expect(iso(de.add(new Date('2026-12-24T09:00:00Z'), 5 * H))).toBe('2026-12-28T09:00:00Z');
    expect(de.isBusinessDay('2026-12-24')).toBe(true);
    expect(de.isOpen(new Date('2026-12-31T12:59:00Z'))).toBe(true);
    expect(de.isOpen(new Date('2026-12-31T13:00:00Z'))).toBe(false);
    // A whole-day public holiday still closes the day.
    expect(de.isOpen(new Date('2025-10-03T09:00:00Z'))).toBe(false); // Fri 3 Oct 2025, Day of German Unity
  });
});

describe('closures', () => {
  it('a date without a time in `to` is the last day of the closure (docs/configuration.md): closed to its end; one day is from = to', () => {
    // Berlin, Mon 28 – Wed 30 Dec 2026 closed; Thu 31 open again.
    const cal = businessCalendar({ name: 'de', zone: 'Europe/Berlin', hours: { 'mon-fri': '09:00-17:00' }, closures: [{ from: '2026-12-28', to: '2026-12-30' }, { from: '2027-01-05', to: '2027-01-05' }] });
    expect(cal.isOpen(new Date('2026-12-28T09:00:00Z'))).toBe(false);
    expect(cal.isOpen(new Date('2026-12-30T15:00:00Z'))).toBe(false);
    expect(cal.isOpen(new Date('2026-12-31T09:00:00Z'))).toBe(true);
    expect(cal.isOpen(new Date('2027-01-05T12:00:00Z'))).toBe(false);
    expect(cal.isOpen(new Date('2027-01-06T12:00:00Z'))).toBe(true);
    // A time still means that instant: the example's New Year's Eve afternoon.
    const eve = businessCalendar({ name: 'us', zone: 'America/Chicago', hours: { daily: '07:00-17:00' }, closures: [{ from: '2026-12-31T12:00', to: '2027-01-01T00:00' }] });
    expect(eve.isOpen(new Date('2026-12-31T17:00:00Z'))).toBe(true); // 11:00 CST
    expect(eve.isOpen(new Date('2026-12-31T19:00:00Z'))).toBe(false); // 13:00 CST
    expect(eve.isOpen(new Date('2027-01-01T14:00:00Z'))).toBe(true); // 08:00 CST on the 1st
  });
});
