import { DateTime, IANAZone } from 'luxon';
import { parse } from 'node-cron';

/**
 * When a cron expression (node-cron syntax: five fields, or six with seconds first) fires, in a time zone: the last
 * time at or before an instant (catch-up at start: "did a run come due while we were down?") and
 * the next one after it. Day of month and day of week follow cron: when both are restricted,
 * either may match.
 *
 * A time the clock skips (the hour lost when daylight saving time starts: 02:30 on the last Sunday
 * of March in Europe/Berlin does not exist) fires at the instant of the change, once, however
 * many of its minutes match — as Vixie cron does. Otherwise "30 2 * * *" would skip that day, and
 * a daily report scheduled there would never be sent. node-cron does not fire such a time
 * (scheduler.ts arms a timer of its own for it: nextSkippedRun). The hour repeated in autumn
 * fires once, at its first occurrence.
 */

interface Fields {
  /** The seconds of a matching minute, ascending ([0] for a five-field expression). */
  readonly second: readonly number[];
  readonly minute: ReadonlySet<number>;
  readonly hour: ReadonlySet<number>;
  readonly dom: ReadonlySet<number>;
  readonly month: ReadonlySet<number>;
  readonly dow: ReadonlySet<number>;
  readonly domRestricted: boolean;
  readonly dowRestricted: boolean;
}

const cache = new Map<string, Fields>();

function fieldsOf(expr: string): Fields {
  const hit = cache.get(expr);
  if (hit !== undefined) return hit;
  const p = parse(expr);
  const dom = new Set(p.dayOfMonth.filter((d): d is number => typeof d === 'number'));
  const dow = new Set(p.dayOfWeek.filter((d): d is number => typeof d === 'number').map((d) => d % 7));
  const f: Fields = {
    second: [...new Set(p.second)].sort((a, b) => a - b),
    minute: new Set(p.minute),
    hour: new Set(p.hour),
    dom,
    month: new Set(p.month),
    dow,
    domRestricted: dom.size < 31,
    dowRestricted: dow.size < 7,
  };
  cache.set(expr, f);
  return f;
}

function dayMatches(f: Fields, dt: DateTime): boolean {
  if (!f.month.has(dt.month)) return false;
  const domOk = f.dom.has(dt.day);
  const dowOk = f.dow.has(dt.weekday % 7);
  if (f.domRestricted && f.dowRestricted) return domOk || dowOk;
  return domOk && dowOk;
}

const LIMIT_DAYS = 400;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** A change of the zone's offset forward: at `at` (UTC ms) the wall clock jumps over `minutes` minutes from `wallFrom`. */
interface Skip {
  readonly at: number;
  /** The first skipped wall-clock time, as UTC milliseconds of the same fields. */
  readonly wallFrom: number;
  readonly minutes: number;
}

const skipCache = new Map<string, readonly Skip[]>();

/** The forward changes of `zone`'s offset in a UTC calendar year (a day's scan, then a search to the minute). */
function skipsIn(zone: string, year: number): readonly Skip[] {
  const key = `${zone}|${year}`;
  const hit = skipCache.get(key);
  if (hit !== undefined) return hit;
  const z = IANAZone.create(zone);
  const out: Skip[] = [];
  if (z.isValid) {
    const end = Date.UTC(year + 1, 0, 1);
    for (let t = Date.UTC(year, 0, 1); t < end; t += DAY_MS) {
      const before = z.offset(t);
      if (z.offset(t + DAY_MS) <= before) continue;
      // The first minute of the day with the later offset.
      let lo = t;
      let hi = t + DAY_MS;
      while (hi - lo > MINUTE_MS) {
        const mid = lo + Math.floor((hi - lo) / 2 / MINUTE_MS) * MINUTE_MS;
        if (z.offset(mid) > before) hi = mid;
        else lo = mid;
      }
      const minutes = z.offset(hi) - before;
      out.push({ at: hi, wallFrom: hi + before * MINUTE_MS, minutes });
    }
  }
  skipCache.set(key, out);
  return out;
}

/** Whether a wall-clock minute the skip jumps over matches. */
function skipMatches(f: Fields, skip: Skip): boolean {
  for (let i = 0; i < skip.minutes; i++) {
    const wall = DateTime.fromMillis(skip.wallFrom + i * MINUTE_MS, { zone: 'utc' });
    if (dayMatches(f, wall) && f.hour.has(wall.hour) && f.minute.has(wall.minute)) return true;
  }
  return false;
}

/** The changes between `from` and `to` (UTC ms, from < to) whose skipped time matches, in order. */
function matchingSkips(f: Fields, zone: string, from: number, to: number): Skip[] {
  const out: Skip[] = [];
  for (let y = new Date(from).getUTCFullYear(); y <= new Date(to).getUTCFullYear(); y++) {
    for (const s of skipsIn(zone, y)) if (s.at >= from && s.at <= to && skipMatches(f, s)) out.push(s);
  }
  return out;
}

/** The later of two times (either may be missing). */
function later(a: Date | null, b: number | undefined): Date | null {
  if (b === undefined) return a;
  return a === null || b > a.getTime() ? new Date(b) : a;
}

/**
 * The first time after `at` at which the clock skips over a matching time (a firing node-cron
 * does not make), or null when there is none within 400 days.
 */
export function nextSkippedRun(expr: string, zone: string, at: Date): Date | null {
  const from = at.getTime() + 1;
  const first = matchingSkips(fieldsOf(expr), zone, from, from + LIMIT_DAYS * DAY_MS)[0];
  return first === undefined ? null : new Date(first.at);
}

/** The latest firing time at or before `at`, or null when there is none within 400 days. */
export function previousRun(expr: string, zone: string, at: Date): Date | null {
  const f = fieldsOf(expr);
  return later(previousWallRun(f, zone, at), matchingSkips(f, zone, at.getTime() - LIMIT_DAYS * DAY_MS, at.getTime()).at(-1)?.at);
}

function previousWallRun(f: Fields, zone: string, at: Date): Date | null {
  const first = DateTime.fromJSDate(at, { zone }).startOf('minute');
  // In the minute of `at`, only its seconds up to `at` have come (a six-field expression fires
  // several times a minute: each firing is a slot of its own).
  const upTo = (dt: DateTime): number => (dt.toMillis() === first.toMillis() ? DateTime.fromJSDate(at, { zone }).second : 59);
  let dt = first;
  const stop = dt.minus({ days: LIMIT_DAYS });
  while (dt > stop) {
    if (!dayMatches(f, dt)) {
      dt = dt.startOf('day').minus({ minutes: 1 });
      continue;
    }
    if (!f.hour.has(dt.hour)) {
      dt = dt.startOf('hour').minus({ minutes: 1 });
      continue;
    }
    if (f.minute.has(dt.minute)) {
      const limit = upTo(dt);
      const second = f.second.findLast((s) => s <= limit);
      if (second !== undefined) return dt.set({ second }).toJSDate();
    }
    dt = dt.minus({ minutes: 1 });
  }
  return null;
}

/** The first firing time after `at`, or null when there is none within 400 days. */
export function nextRun(expr: string, zone: string, at: Date): Date | null {
  const wall = nextWallRun(fieldsOf(expr), zone, at);
  const skipped = nextSkippedRun(expr, zone, at);
  if (skipped === null) return wall;
  return wall === null || skipped < wall ? skipped : wall;
}

function nextWallRun(f: Fields, zone: string, at: Date): Date | null {
  const first = DateTime.fromJSDate(at, { zone }).startOf('minute');
  // In the minute of `at`, only its seconds after `at`.
  const after = (dt: DateTime): number => (dt.toMillis() === first.toMillis() ? DateTime.fromJSDate(at, { zone }).second : -1);
  let dt = first;
  const stop = dt.plus({ days: LIMIT_DAYS });
  while (dt < stop) {
    if (!dayMatches(f, dt)) {
      dt = dt.plus({ days: 1 }).startOf('day');
      continue;
    }
    if (!f.hour.has(dt.hour)) {
      dt = dt.plus({ hours: 1 }).startOf('hour');
      continue;
    }
    if (f.minute.has(dt.minute)) {
      const limit = after(dt);
      const second = f.second.find((s) => s > limit);
      if (second !== undefined) return dt.set({ second }).toJSDate();
    }
    dt = dt.plus({ minutes: 1 });
  }
  return null;
}
