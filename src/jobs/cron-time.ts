import { DateTime } from 'luxon';
import { parse } from 'node-cron';

/**
 * When a cron expression (node-cron syntax, minute resolution) fires, in a time zone: the last
 * time at or before an instant (catch-up at start: "did a run come due while we were down?") and
 * the next one after it. Day of month and day of week follow cron: when both are restricted,
 * either may match.
 */

interface Fields {
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

/** The latest firing time at or before `at`, or null when there is none within 400 days. */
export function previousRun(expr: string, zone: string, at: Date): Date | null {
  const f = fieldsOf(expr);
  let dt = DateTime.fromJSDate(at, { zone }).startOf('minute');
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
    if (f.minute.has(dt.minute)) return dt.toJSDate();
    dt = dt.minus({ minutes: 1 });
  }
  return null;
}

/** The first firing time after `at`, or null when there is none within 400 days. */
export function nextRun(expr: string, zone: string, at: Date): Date | null {
  const f = fieldsOf(expr);
  let dt = DateTime.fromJSDate(at, { zone }).startOf('minute').plus({ minutes: 1 });
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
    if (f.minute.has(dt.minute)) return dt.toJSDate();
    dt = dt.plus({ minutes: 1 });
  }
  return null;
}
