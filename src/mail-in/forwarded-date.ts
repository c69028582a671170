/**
 * When a forwarded message was sent, as its forward shows it (stages/thread.ts: which of a writer's
 * same-subject messages a forward carries). An attached message's Date header and Thunderbird's
 * block carry their zone; most clients print a local time without one, in their own words:
 *   Gmail      "Mon, Dec 7, 2026 at 3:04 PM" · "Mo., 7. Dez. 2026 um 15:04" · "lun. 7 déc. 2026 à 15:04"
 *   Outlook    "Monday, December 7, 2026 3:04 PM" · "Tuesday, 14 May 2013 6:18 AM" ·
 *              "Donnerstag, 23. März 2023 17:11" · "lundi 7 décembre 2026 15:04" · "maandag 5 december 2016 17:00"
 *   Apple Mail "7 December 2026 at 15:04:05 CET" · others "25.11.2025 15:00", "23/06/24 10:46 (GMT+01:00)"
 * A local time is the writer's clock: read in the forwarder's own zone (her Date header's offset),
 * or one hour either side (a summer message forwarded in winter). The result is a few windows of
 * instants; the caller takes a stored message as the forwarded one only when exactly one case has a
 * message in any of them, so a reading that fits two cases decides nothing.
 */

/** A span of instants (ms since the epoch, UTC) the forwarded message's Date may have been. */
export interface SentWindow {
  readonly from: number;
  readonly to: number;
}

const MINUTE = 60_000;
/** Slack around a shown time (clocks, a client rounding instead of cutting the seconds). */
const SLACK = MINUTE;
/** A time shown in the forwarder's zone may be an hour off: daylight saving time changed since it was sent. */
const DST = 60 * MINUTE;

/** A Date header (RFC 5322: an attached message's, Thunderbird's block) or an ISO time, with its zone: one instant. Anything else is read field by field (Date.parse would take a zone-less text as the server's local time, 03/06 as March). */
const RFC_DATE = /^\s*(?:[a-z]{2,9},?\s+)?\d{1,2}\s+[a-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|gmt|utc|ut)(?:\s*\([^)]*\))?\s*$/i;
const ISO_DATE = /^\s*\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})\s*$/i;

/** Zone names clients print (Apple Mail "CET", old mailers "EST"); ambiguous ones (IST, the Asian CST) are left out. */
const ZONES: Record<string, number> = {
  ut: 0, utc: 0, gmt: 0, z: 0, wet: 0, west: 60, bst: 60, cet: 60, cest: 120, met: 60, mest: 120, eet: 120, eest: 180,
  est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420,
};

const MONTHS: ReadonlyArray<readonly string[]> = [
  ['jan', 'january', 'januar', 'jänner', 'jän', 'janvier', 'janv', 'enero', 'ene', 'gennaio', 'gen', 'januari', 'janeiro'],
  ['feb', 'february', 'februar', 'février', 'févr', 'fevrier', 'fevr', 'febrero', 'febbraio', 'februari', 'fevereiro', 'fev'],
  ['mar', 'march', 'märz', 'mär', 'maerz', 'mars', 'marzo', 'maart', 'mrt', 'março', 'marts'],
  ['apr', 'april', 'avril', 'avr', 'abril', 'abr', 'aprile'],
  ['may', 'mai', 'mayo', 'maggio', 'mag', 'mei', 'maio', 'maj'],
  ['jun', 'june', 'juni', 'juin', 'junio', 'giugno', 'giu', 'junho'],
  ['jul', 'july', 'juli', 'juillet', 'juil', 'julio', 'luglio', 'lug', 'julho'],
  ['aug', 'august', 'août', 'aout', 'agosto', 'ago', 'augustus', 'augusti'],
  ['sep', 'sept', 'september', 'septembre', 'septiembre', 'setiembre', 'settembre', 'set', 'setembro'],
  ['oct', 'october', 'oktober', 'okt', 'octobre', 'octubre', 'ottobre', 'ott', 'outubro', 'out'],
  ['nov', 'november', 'novembre', 'noviembre', 'novembro'],
  ['dec', 'december', 'dezember', 'dez', 'décembre', 'déc', 'decembre', 'diciembre', 'dic', 'dicembre', 'dezembro', 'desember'],
];
const MONTH_OF = new Map<string, number>(MONTHS.flatMap((names, i) => names.map((n) => [n, i] as const)));

/** The forwarder's own zone offset in minutes, from her message's Date header ("… +0100"); null when it names none ("-0000": unknown). */
export function zoneOffsetOf(dateHeader: string | null): number | null {
  if (dateHeader === null) return null;
  // Its end only (a hostile 100 KB header of "+0100(" repeated took seconds with the pattern on the whole).
  const m = /([+-])(\d{2})(\d{2})\s*(?:\([^)]*\)\s*)?$/.exec(dateHeader.trim().slice(-80));
  if (m === null) return null;
  if (m[0].startsWith('-0000')) return null;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return minutes > 14 * 60 ? null : (m[1] === '-' ? -minutes : minutes);
}

interface Reading {
  /** The shown wall-clock time as if it were UTC (ms), one per reading of the date (03/04: two). */
  readonly locals: readonly number[];
  /** What the shown time can be off by at most (no seconds: the minute). */
  readonly precision: number;
  /** The zone the text names, in minutes east of UTC; null when it names none. */
  readonly offset: number | null;
}

/** A shown date read field by field (any of the wordings above); null when it has no day, month, year and time. */
export function readShownDate(shown: string): Reading | null {
  let s = shown.slice(0, 200).toLowerCase().replace(/\([^)]*\)/g, (z) => ` ${z.slice(1, -1)} `);
  let offset: number | null = null;
  const gmt = /\b(?:gmt|utc)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?\b/.exec(s);
  const numeric = /(?:^|\s)([+-])(\d{2}):?(\d{2})(?=\s|$)/.exec(s);
  const zone = gmt ?? numeric;
  if (zone !== null) {
    const minutes = Number(zone[2]) * 60 + Number(zone[3] ?? 0);
    if (minutes <= 14 * 60) offset = zone[1] === '-' ? -minutes : minutes;
    s = s.replace(zone[0], ' ');
  } else {
    for (const word of s.split(/[\s,]+/)) {
      if (word in ZONES) {
        offset = ZONES[word]!;
        break;
      }
    }
  }
  const time = /(?:^|[^\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])/.exec(s);
  if (time === null) return null;
  s = s.replace(time[0], ' ');
  let hour = Number(time[1]);
  const minute = Number(time[2]);
  const second = time[3] !== undefined ? Number(time[3]) : null;
  const meridiem = /(?:^|[\s\d])([ap])\.?\s?m\b\.?/.exec(s);
  if (meridiem !== null) {
    if (hour < 1 || hour > 12) return null;
    hour = (hour % 12) + (meridiem[1] === 'p' ? 12 : 0);
  }
  if (hour > 23 || minute > 59 || (second !== null && second > 59)) return null;

  const days: Array<[number, number, number]> = [];
  const cjk = /(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]/.exec(s);
  const iso = /\b(\d{4})-(\d{1,2})-(\d{1,2})\b/.exec(s);
  const dotted = /\b(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})\b/.exec(s);
  const slashed = /\b(\d{1,2})[/-](\d{1,2})[/-](\d{2}|\d{4})\b/.exec(s);
  if (cjk !== null) days.push([Number(cjk[1]), Number(cjk[2]), Number(cjk[3])]);
  else if (iso !== null) days.push([Number(iso[1]), Number(iso[2]), Number(iso[3])]);
  else if (dotted !== null) days.push([year(dotted[3]!), Number(dotted[2]), Number(dotted[1])]);
  else if (slashed !== null) {
    // Day first (most of the world) or month first (the US, with AM/PM): both when both are dates.
    const a = Number(slashed[1]);
    const b = Number(slashed[2]);
    days.push([year(slashed[3]!), b, a]);
    if (a !== b) days.push([year(slashed[3]!), a, b]);
  } else {
    // Words: the month is the last month name (Gmail's French "mar. 8 déc." starts with the weekday "mar."),
    // the day the one number of one or two digits, the year the number of four.
    let month: number | null = null;
    let day: number | null = null;
    let yearSeen: number | null = null;
    for (const word of s.split(/[\s,./]+|(?<=\d)(?=\D)|(?<=\D)(?=\d)/)) {
      const w = word.replace(/\.$/, '');
      const m = MONTH_OF.get(w);
      if (m !== undefined) month = m + 1;
      else if (/^\d{4}$/.test(w)) {
        if (yearSeen !== null) return null;
        yearSeen = Number(w);
      } else if (/^\d{1,2}$/.test(w)) {
        if (day !== null) return null;
        day = Number(w);
      }
    }
    if (month === null || day === null || yearSeen === null) return null;
    days.push([yearSeen, month, day]);
  }
  const locals: number[] = [];
  for (const [y, mo, d] of days) {
    const t = Date.UTC(y, mo - 1, d, hour, minute, second ?? 0);
    const back = new Date(t);
    if (mo >= 1 && mo <= 12 && back.getUTCDate() === d && back.getUTCMonth() === mo - 1 && y >= 1990) locals.push(t);
  }
  if (locals.length === 0) return null;
  return { locals, precision: second !== null ? 1_000 : MINUTE, offset };
}

function year(text: string): number {
  const n = Number(text);
  return text.length === 2 ? 2000 + n : n;
}

/**
 * The windows the forwarded message's Date lies in: a full date with its zone (an attached
 * message's header) to within a minute; a shown time naming its zone ("CET", "(GMT+01:00)") in
 * that zone; a shown local time in the forwarder's zone (`forwarderOffset`, minutes east of UTC)
 * or an hour either side — none when her zone is unknown. Empty when the date cannot be read.
 */
export function sentWindows(shown: string | null, forwarderOffset: number | null): SentWindow[] {
  if (shown === null || shown.length > 200) return [];
  const rfc = RFC_DATE.test(shown) || ISO_DATE.test(shown) ? Date.parse(shown.replace(/\s*\([^)]*\)\s*$/, '')) : NaN;
  if (Number.isFinite(rfc)) return [{ from: rfc - MINUTE, to: rfc + MINUTE }];
  const reading = readShownDate(shown);
  if (reading === null) return [];
  const offsets = reading.offset !== null ? [reading.offset] : forwarderOffset !== null ? [forwarderOffset, forwarderOffset - DST / MINUTE, forwarderOffset + DST / MINUTE] : [];
  const windows: SentWindow[] = [];
  for (const local of reading.locals) {
    for (const offset of offsets) {
      const at = local - offset * MINUTE;
      windows.push({ from: at - SLACK, to: at + reading.precision + SLACK });
    }
  }
  return windows;
}

/** Whether a stored message's Date (ISO) lies in one of the windows. */
export function inWindows(windows: readonly SentWindow[], sentAt: string | null): boolean {
  if (sentAt === null) return false;
  const t = Date.parse(sentAt);
  return windows.some((w) => t >= w.from && t < w.to);
}
