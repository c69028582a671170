import { DateTime } from 'luxon';

/**
 * A business calendar's opening hours as the configuration writes them (`mon-fri: 07:00-17:00`,
 * `sat: closed`, a range over midnight `22:00-06:00`) and its time zone, read and checked once
 * (config/sla-schema.ts) for the clocks of business-calendar.ts.
 */

/** Minutes in a day. */
export const DAY_MIN = 1440;

export interface DayRange {
  /** Minutes after local midnight. */
  readonly start: number;
  /** Minutes after local midnight of the same date; above 1440 for a range over midnight. */
  readonly end: number;
}

/** Opening ranges per ISO weekday: index 1 = Monday … 7 = Sunday (index 0 unused). */
export type WeeklyHours = readonly (readonly DayRange[])[];

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

function dayIndex(name: string): number | null {
  const i = DAYS.indexOf(name.trim().toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
  return i < 0 || !/^[a-z]{3,9}$/i.test(name.trim()) ? null : i + 1;
}

/** "mon-fri", "sat,sun", "daily", "tue" → ISO weekdays; null when unreadable. */
export function parseDayKey(key: string): number[] | null {
  const k = key.trim().toLowerCase();
  if (k === 'daily' || k === 'every-day' || k === 'all') return [1, 2, 3, 4, 5, 6, 7];
  const out = new Set<number>();
  for (const part of k.split(',')) {
    const [a, b, ...rest] = part.split('-');
    if (rest.length > 0 || a === undefined) return null;
    const from = dayIndex(a);
    const to = b === undefined ? from : dayIndex(b);
    if (from === null || to === null) return null;
    // "fri-mon" wraps over the weekend.
    for (let d = from, n = 0; n < 7; d = (d % 7) + 1, n++) {
      out.add(d);
      if (d === to) break;
    }
  }
  return [...out].sort();
}

function parseClock(s: string): number | null {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s.trim());
  if (m === null) return null;
  const h = Number(m[1]);
  const mi = Number(m[2]);
  if (mi > 59 || h > 24 || (h === 24 && mi !== 0)) return null;
  return h * 60 + mi;
}

/** "07:00-17:00" → {420, 1020}; "22:00-06:00" runs over midnight → {1320, 1800}. */
export function parseRange(s: string): DayRange | null {
  const [a, b, ...rest] = s.split('-');
  if (a === undefined || b === undefined || rest.length > 0) return null;
  const start = parseClock(a);
  const endRaw = parseClock(b);
  if (start === null || endRaw === null || start >= DAY_MIN) return null;
  if (endRaw === start) return null;
  return { start, end: endRaw > start ? endRaw : endRaw + DAY_MIN };
}

/** Opening hours by weekday, with every problem worded for the configuration. */
export function parseWeeklyHours(hours: Readonly<Record<string, string | readonly string[]>>): { weekly: DayRange[][]; problems: { key: string; message: string }[] } {
  const weekly: DayRange[][] = Array.from({ length: 8 }, () => []);
  const problems: { key: string; message: string }[] = [];
  const seen = new Map<number, string>();
  for (const [key, value] of Object.entries(hours)) {
    const days = parseDayKey(key);
    if (days === null) {
      problems.push({ key, message: `"${key}" is not a day or day range (mon, tue, … sun; mon-fri; sat,sun; daily)` });
      continue;
    }
    const list = typeof value === 'string' ? (value.trim().toLowerCase() === 'closed' ? [] : [value]) : value;
    const ranges: DayRange[] = [];
    for (const r of list) {
      const range = parseRange(r);
      if (range === null) problems.push({ key, message: `"${r}" is not a time range like 07:00-17:00 (24:00 ends at midnight; 22:00-06:00 runs over midnight)` });
      else ranges.push(range);
    }
    for (const d of days) {
      const other = seen.get(d);
      if (other !== undefined) problems.push({ key, message: `${DAYS[d - 1]} is already given by "${other}"` });
      seen.set(d, key);
      weekly[d] = [...ranges].sort((x, y) => x.start - y.start);
    }
  }
  return { weekly, problems };
}

export function isValidZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}
