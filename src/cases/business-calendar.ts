import { createRequire } from 'node:module';
import type HolidaysClass from 'date-holidays';
import { DateTime } from 'luxon';
import { DAY_MIN, isValidZone, parseWeeklyHours, type WeeklyHours } from './calendar-hours.js';

type Holidays = HolidaysClass;
let holidaysClass: typeof HolidaysClass | undefined;

/**
 * date-holidays (with its astronomy and moment-timezone) loaded when a calendar names a holiday
 * source: a configuration without holidays — and `casegate ingest`, one process per message —
 * never pays for it.
 */
function loadHolidays(): typeof HolidaysClass {
  holidaysClass ??= createRequire(import.meta.url)('date-holidays') as typeof HolidaysClass;
  return holidaysClass;
}

/**
 * Business time (issue 11): a calendar is an IANA zone, weekly opening hours (several ranges a
 * day, a range may run over midnight), closed days (public holidays from date-holidays by
 * country/state/region, plus explicit dates) and closures (from/to in local time). Opening hours
 * are wall-clock times in the zone, so a DST change makes a 07:00–17:00 day still open at 07:00 and
 * close at 17:00 (the day is then one hour longer or shorter in real time). A closed day removes
 * every open minute of that local date, also the part of a range that started the evening before.
 *
 * The two operations every SLA computation needs: `add` (a business duration from an instant) and
 * `between` (business time between two instants). A 24/7 clock (`alwaysOpen`) counts every
 * millisecond and knows no holidays. Everything is in epoch milliseconds; pure, no clock.
 */

const MIN = 60_000;
/** How far add() and nextOpen() look ahead before giving up (a calendar without any open hour). */
const SEARCH_DAYS = 800;


export interface HolidaySource {
  /** ISO 3166-1 country code, e.g. US, DE. */
  readonly country: string;
  /** State / province code (date-holidays), e.g. TX, BY. */
  readonly state?: string | undefined;
  readonly region?: string | undefined;
  /** date-holidays types that close the day (default: public). */
  readonly types?: readonly ('public' | 'bank' | 'school' | 'optional' | 'observance')[] | undefined;
}

export interface CalendarSpec {
  readonly name: string;
  readonly zone: string;
  /** "mon-fri": "07:00-17:00", "sat": ["09:00-12:00", "13:00-15:00"], "sun": "22:00-06:00" … */
  readonly hours: Readonly<Record<string, string | readonly string[]>>;
  readonly holidays?: HolidaySource | undefined;
  /** Extra closed days, local dates YYYY-MM-DD. */
  readonly closedDates?: readonly string[] | undefined;
  /** Closed periods in local time ("2026-12-31T12:00" … "2027-01-01T00:00"). */
  readonly closures?: readonly { readonly from: string; readonly to: string }[] | undefined;
}

export interface BusinessClock {
  readonly name: string;
  readonly zone: string;
  /** True for 24/7 coverage: every moment counts, no holidays. */
  readonly always: boolean;
  isOpen(at: Date): boolean;
  /** Closed at `at` between two openings that start on the same local day (a lunch break): within the business day, not after hours. */
  inBreak(at: Date): boolean;
  /** `at` when open, else the next opening. */
  nextOpen(at: Date): Date;
  /** The instant `ms` of business time after `at` (an end at closing time stays at closing time). */
  add(at: Date, ms: number): Date;
  /** Business milliseconds in [a, b); 0 when b ≤ a. */
  between(a: Date, b: Date): number;
  /** Closing time of the business day that starts with the next opening at or after `at`. */
  endOfNextBusinessDay(at: Date): Date;
  /** The same local wall time `days` business days (days with opening hours) later. */
  addBusinessDays(at: Date, days: number): Date;
  /** Whether a local date (YYYY-MM-DD) has any opening hours. */
  isBusinessDay(date: string): boolean;
}

/** Why date-holidays cannot serve this country/state/region, or null when it can. */
export function holidaySourceProblem(h: HolidaySource): string | null {
  const hd = new (loadHolidays())();
  const country = h.country.toUpperCase();
  if (!Object.hasOwn(hd.getCountries(), country)) return `date-holidays does not know the country "${h.country}" (ISO 3166-1 code like US, DE)`;
  if (h.state !== undefined && !Object.hasOwn(hd.getStates(country) ?? {}, h.state.toUpperCase())) {
    return `date-holidays does not know the state "${h.state}" of ${country} (known: ${Object.keys(hd.getStates(country) ?? {}).join(', ') || 'none'})`;
  }
  if (h.region !== undefined) {
    if (h.state === undefined) return 'a region needs a state';
    if (!Object.hasOwn(hd.getRegions(country, h.state.toUpperCase()) ?? {}, h.region.toUpperCase())) return `date-holidays does not know the region "${h.region}" of ${country}/${h.state}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Clocks

interface Interval {
  readonly s: number;
  readonly e: number;
}

class AlwaysOpen implements BusinessClock {
  readonly always = true;
  constructor(
    readonly name: string,
    readonly zone: string,
  ) {}
  isOpen(): boolean {
    return true;
  }
  inBreak(): boolean {
    return false;
  }
  nextOpen(at: Date): Date {
    return at;
  }
  add(at: Date, ms: number): Date {
    return new Date(at.getTime() + Math.max(0, ms));
  }
  between(a: Date, b: Date): number {
    return Math.max(0, b.getTime() - a.getTime());
  }
  endOfNextBusinessDay(at: Date): Date {
    return DateTime.fromJSDate(at, { zone: this.zone }).endOf('day').plus({ milliseconds: 1 }).toJSDate();
  }
  addBusinessDays(at: Date, days: number): Date {
    return DateTime.fromJSDate(at, { zone: this.zone }).plus({ days }).toJSDate();
  }
  isBusinessDay(): boolean {
    return true;
  }
}

interface LocalDay {
  /** YYYY-MM-DD in the calendar's zone. */
  readonly date: string;
  /** The same date as a UTC DateTime (for date arithmetic without zone shifts). */
  readonly utcDate: DateTime;
  readonly start: number;
  readonly end: number;
}

interface Span {
  readonly intervals: readonly Interval[];
  readonly horizon: number;
}

class Calendar implements BusinessClock {
  readonly always = false;
  readonly name: string;
  readonly zone: string;
  readonly #weekly: WeeklyHours;
  readonly #closedDates: Set<string>;
  readonly #closures: Interval[];
  readonly #holidays: Holidays | null;
  readonly #holidayYears = new Set<number>();
  /** Holidays that begin during their day (Christmas Eve from 14:00): local date → minutes after midnight. */
  readonly #closedFrom = new Map<string, number>();
  readonly #cache = new Map<string, Interval[]>();
  readonly #days = new Map<string, LocalDay>();
  #lastDay: LocalDay | null = null;
  readonly #spans = new Map<string, Span>();

  constructor(spec: CalendarSpec) {
    this.name = spec.name;
    this.zone = spec.zone;
    if (!isValidZone(spec.zone)) throw new Error(`calendar ${spec.name}: unknown time zone "${spec.zone}"`);
    const { weekly, problems } = parseWeeklyHours(spec.hours);
    if (problems.length > 0) throw new Error(`calendar ${spec.name}: ${problems.map((p) => p.message).join('; ')}`);
    this.#weekly = weekly;
    this.#closedDates = new Set(spec.closedDates ?? []);
    // A closure's `to` without a time is its last day (docs/configuration.md): closed to the end of it.
    this.#closures = (spec.closures ?? []).map((c) => ({ s: this.#local(c.from), e: /^\d{4}-\d{2}-\d{2}$/.test(c.to) ? this.#localDayEnd(c.to) : this.#local(c.to) })).filter((c) => c.e > c.s);
    if (spec.holidays !== undefined) {
      const h = spec.holidays;
      const opts = { types: [...(h.types ?? ['public'])] };
      const Hd = loadHolidays();
      this.#holidays = h.state !== undefined ? new Hd(h.country, h.state, h.region ?? '', opts) : new Hd(h.country, opts);
    } else {
      this.#holidays = null;
    }
  }

  /** The end of a local date (the next day's midnight, whatever DST does that night). */
  #localDayEnd(date: string): number {
    return DateTime.fromISO(date, { zone: this.zone }).plus({ days: 1 }).startOf('day').toMillis();
  }

  #local(iso: string): number {
    const dt = DateTime.fromISO(iso, { zone: this.zone });
    if (!dt.isValid) throw new Error(`calendar ${this.name}: "${iso}" is not a local date-time`);
    return dt.toMillis();
  }

  #isClosedDate(date: string): boolean {
    this.#loadHolidays(date);
    return this.#closedDates.has(date);
  }

  /**
   * The holidays of a date's year. date-holidays gives each as a local "YYYY-MM-DD hh:mm:ss": most
   * start at midnight and close the day; a few start later (DE/AT bank holidays Christmas Eve and
   * New Year's Eve from 14:00, Swedish eves from 12:00): those close the day from that time on —
   * the morning is a working morning.
   */
  #loadHolidays(date: string): void {
    const year = Number(date.slice(0, 4));
    if (this.#holidays === null || this.#holidayYears.has(year)) return;
    for (const h of this.#holidays.getHolidays(year) ?? []) {
      const day = h.date.slice(0, 10);
      const m = /^\d{4}-\d{2}-\d{2} (\d{2}):(\d{2})/.exec(h.date);
      const from = m === null ? 0 : Number(m[1]) * 60 + Number(m[2]);
      if (from === 0) this.#closedDates.add(day);
      else this.#closedFrom.set(day, Math.min(from, this.#closedFrom.get(day) ?? DAY_MIN));
    }
    this.#holidayYears.add(year);
  }

  /** Where a holiday that begins during the day `date` closes it (epoch ms), or null. */
  #closedFromAt(date: string): number | null {
    this.#loadHolidays(date);
    const from = this.#closedFrom.get(date);
    return from === undefined ? null : this.#at(DateTime.fromISO(date, { zone: 'UTC' }), from);
  }

  #dayStart(date: string): number {
    return DateTime.fromISO(date, { zone: this.zone }).toMillis();
  }

  /** Open intervals of the ranges that start on a local date (closed days and closures removed). */
  #intervalsOf(date: string): Interval[] {
    const hit = this.#cache.get(date);
    if (hit !== undefined) return hit;
    const day = DateTime.fromISO(date, { zone: 'UTC' });
    const out: Interval[] = [];
    for (const r of this.#weekly[day.weekday] ?? []) {
      let pieces: Interval[] = [{ s: this.#at(day, r.start), e: this.#at(day, r.end) }];
      // A closed day removes its own local hours, also those of a range from the day before.
      for (let k = 0; k * DAY_MIN < r.end; k++) {
        const d = day.plus({ days: k }).toISODate() ?? date;
        const end = this.#dayStart(day.plus({ days: k + 1 }).toISODate() ?? date);
        if (this.#isClosedDate(d)) pieces = subtract(pieces, { s: this.#dayStart(d), e: end });
        else {
          const from = this.#closedFromAt(d);
          if (from !== null) pieces = subtract(pieces, { s: from, e: end });
        }
      }
      for (const c of this.#closures) pieces = subtract(pieces, c);
      out.push(...pieces.filter((p) => p.e > p.s));
    }
    if (this.#cache.size > 4000) this.#cache.clear();
    this.#cache.set(date, out);
    return out;
  }

  /** Local wall time `minutes` after midnight of a (zone-less) date, as epoch ms in the zone. */
  #at(day: DateTime, minutes: number): number {
    const d = day.plus({ days: Math.floor(minutes / DAY_MIN) });
    const m = minutes % DAY_MIN;
    return DateTime.fromObject({ year: d.year, month: d.month, day: d.day, hour: Math.floor(m / 60), minute: m % 60 }, { zone: this.zone }).toMillis();
  }

  #localDate(ms: number): DateTime {
    const z = DateTime.fromMillis(ms, { zone: this.zone });
    return DateTime.fromObject({ year: z.year, month: z.month, day: z.day }, { zone: 'UTC' });
  }

  /**
   * The local day that contains `ms`: its date and where it starts and ends (epoch ms). Luxon's
   * zone arithmetic costs microseconds a call and every confirmation asks the clock several
   * questions about the same few days, so the days met are remembered (a day is the same day
   * for as long as this calendar exists).
   */
  #dayOf(ms: number): LocalDay {
    const last = this.#lastDay;
    if (last !== null && ms >= last.start && ms < last.end) return last;
    for (const d of this.#days.values()) {
      if (ms >= d.start && ms < d.end) return (this.#lastDay = d);
    }
    const date = this.#localDate(ms);
    const iso = date.toISODate() ?? '';
    const day = { date: iso, utcDate: date, start: this.#dayStart(iso), end: this.#dayStart(date.plus({ days: 1 }).toISODate() ?? iso) };
    if (this.#days.size >= 64) this.#days.delete(this.#days.keys().next().value!);
    this.#days.set(iso, day);
    return (this.#lastDay = day);
  }

  /**
   * Sorted, merged open intervals of the local days from the day before `from`'s to `days` + 1
   * days after it, and the start of the local day `days` after `from`'s (the horizon of a walk):
   * the same for every instant of a day, so kept per day.
   */
  #span(from: number, days: number): Span {
    const day = this.#dayOf(from);
    const key = `${day.date}|${days}`;
    const hit = this.#spans.get(key);
    if (hit !== undefined) return hit;
    const first = day.utcDate.minus({ days: 1 });
    const all: Interval[] = [];
    for (let i = 0; i <= days + 1; i++) all.push(...this.#intervalsOf(first.plus({ days: i }).toISODate() ?? ''));
    all.sort((a, b) => a.s - b.s);
    const merged: Interval[] = [];
    for (const iv of all) {
      const last = merged[merged.length - 1];
      if (last !== undefined && iv.s <= last.e) merged[merged.length - 1] = { s: last.s, e: Math.max(last.e, iv.e) };
      else merged.push(iv);
    }
    const span = { intervals: merged, horizon: this.#dayStart(day.utcDate.plus({ days }).toISODate() ?? '') };
    if (this.#spans.size >= 256) this.#spans.delete(this.#spans.keys().next().value!);
    this.#spans.set(key, span);
    return span;
  }

  /** Walk the open intervals from `from` onwards, a week at a time. */
  *#forward(from: number): Generator<Interval> {
    let cursor = from;
    for (let done = 0; done < SEARCH_DAYS; done += 7) {
      const { intervals, horizon: limit } = this.#span(cursor, 7);
      for (const iv of intervals) {
        if (iv.s >= limit) break;
        const s = Math.max(iv.s, cursor);
        const e = Math.min(iv.e, limit);
        if (e > s) yield { s, e };
      }
      cursor = Math.max(cursor, limit);
    }
    throw new Error(`calendar ${this.name} has no opening hours in the next ${SEARCH_DAYS} days`);
  }

  isOpen(at: Date): boolean {
    const t = at.getTime();
    return this.#span(t, 1).intervals.some((iv) => iv.s <= t && t < iv.e);
  }

  inBreak(at: Date): boolean {
    const t = at.getTime();
    const { intervals } = this.#span(t, 1);
    if (intervals.some((iv) => iv.s <= t && t < iv.e)) return false;
    const day = this.#dayOf(t);
    // Openings that start on this local date (a night range from the evening before does not make the day a business day).
    const today = intervals.filter((iv) => iv.s >= day.start && iv.s < day.end);
    return today.some((iv) => iv.e <= t) && today.some((iv) => iv.s > t);
  }

  nextOpen(at: Date): Date {
    for (const iv of this.#forward(at.getTime())) return new Date(iv.s);
    throw new Error('unreachable');
  }

  add(at: Date, ms: number): Date {
    let left = Math.max(0, ms);
    if (left === 0) return at;
    for (const iv of this.#forward(at.getTime())) {
      const avail = iv.e - iv.s;
      if (left <= avail) return new Date(iv.s + left);
      left -= avail;
    }
    throw new Error('unreachable');
  }

  between(a: Date, b: Date): number {
    const from = a.getTime();
    const to = b.getTime();
    if (to <= from) return 0;
    let total = 0;
    for (const iv of this.#forward(from)) {
      if (iv.s >= to) break;
      total += Math.min(iv.e, to) - iv.s;
    }
    return total;
  }

  endOfNextBusinessDay(at: Date): Date {
    const open = this.nextOpen(at).getTime();
    const date = this.#localDate(open);
    // The ranges of that local date (and a range from the evening before that is still running).
    for (const k of [0, -1]) {
      const ivs = this.#intervalsOf(date.plus({ days: k }).toISODate() ?? '').filter((iv) => iv.e > open);
      if (ivs.length > 0) return new Date(Math.max(...ivs.map((iv) => iv.e)));
    }
    return new Date(open);
  }

  addBusinessDays(at: Date, days: number): Date {
    const local = DateTime.fromJSDate(at, { zone: this.zone });
    let d = this.#localDate(at.getTime());
    for (let n = 0, guard = 0; n < days && guard < SEARCH_DAYS; guard++) {
      d = d.plus({ days: 1 });
      if (this.isBusinessDay(d.toISODate() ?? '')) n++;
    }
    return DateTime.fromObject({ year: d.year, month: d.month, day: d.day, hour: local.hour, minute: local.minute, second: local.second }, { zone: this.zone }).toJSDate();
  }

  isBusinessDay(date: string): boolean {
    return this.#intervalsOf(date).length > 0;
  }
}

function subtract(pieces: readonly Interval[], cut: Interval): Interval[] {
  const out: Interval[] = [];
  for (const p of pieces) {
    if (cut.e <= p.s || cut.s >= p.e) out.push(p);
    else {
      if (cut.s > p.s) out.push({ s: p.s, e: cut.s });
      if (cut.e < p.e) out.push({ s: cut.e, e: p.e });
    }
  }
  return out;
}

export function businessCalendar(spec: CalendarSpec): BusinessClock {
  return new Calendar(spec);
}

/** 24/7 coverage, shown in `zone`. */
export function alwaysOpen(name: string, zone: string): BusinessClock {
  return new AlwaysOpen(name, zone);
}

export const MINUTE_MS = MIN;
