/**
 * A calendar invitation sent with no text (text/calendar as the whole message, or beside an empty
 * text part): agents saw an empty message and "attachment-1.ics". What it proposes — title, time,
 * place, description — is read from the iCalendar text (RFC 5545: folded lines, escaped text) and
 * shown as the message's text. Only the first event; values bounded.
 */

/** Bytes of a text/calendar part kept for reading. */
export const CALENDAR_MAX_BYTES = 256 * 1024;
const VALUE_MAX = 2_000;

export interface Invitation {
  readonly summary: string;
  readonly start: string;
  readonly end: string;
  readonly location: string;
  readonly description: string;
}

function unescapeText(value: string): string {
  return value.replace(/\\([nN,;\\])/g, (_m, c: string) => (c === 'n' || c === 'N' ? '\n' : c)).slice(0, VALUE_MAX).trim();
}

/** The first VEVENT of an iCalendar text, or null. */
export function readInvitation(ics: string): Invitation | null {
  const lines = ics.replace(/\r\n?/g, '\n').replace(/\n[ \t]/g, '').split('\n');
  const start = lines.findIndex((l) => /^BEGIN:VEVENT\s*$/i.test(l));
  if (start < 0) return null;
  const fields = new Map<string, { readonly params: string; readonly value: string }>();
  for (const line of lines.slice(start + 1)) {
    if (/^END:VEVENT\s*$/i.test(line)) break;
    const m = /^([A-Za-z-]+)((?:;[^:]*)?):(.*)$/.exec(line);
    if (m !== null && !fields.has(m[1]!.toUpperCase())) fields.set(m[1]!.toUpperCase(), { params: m[2] ?? '', value: m[3] ?? '' });
  }
  const get = (k: string): string => unescapeText(fields.get(k)?.value ?? '');
  const time = (k: string): CalendarTime | null => {
    const f = fields.get(k);
    return f === undefined ? null : readTime(f.value, f.params);
  };
  const when = formatWhen(time('DTSTART'), time('DTEND'));
  const invitation = { summary: get('SUMMARY'), start: when.start, end: when.end, location: get('LOCATION'), description: get('DESCRIPTION') };
  return Object.values(invitation).some((v) => v !== '') ? invitation : null;
}

/** A DTSTART or DTEND as written: its date, its time of day if any, and its zone (UTC, a TZID, or none: floating). */
interface CalendarTime {
  readonly date: string;
  readonly time: string | null;
  readonly zone: string | null;
  /** Not the basic format (RFC 5545 §3.3.5): shown as written. */
  readonly raw: string | null;
}

function readTime(value: string, params: string): CalendarTime | null {
  const v = value.trim();
  if (v === '') return null;
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})\d{2}(Z?))?$/.exec(v);
  if (m === null) return { date: '', time: null, zone: null, raw: unescapeText(v).slice(0, 100) };
  const tzid = /;TZID=("?)([^";:]{1,100})\1/i.exec(params)?.[2]?.trim() ?? null;
  return { date: `${m[1]}-${m[2]}-${m[3]}`, time: m[4] !== undefined ? `${m[4]}:${m[5]}` : null, zone: m[6] === 'Z' ? 'UTC' : tzid, raw: null };
}

/**
 * "2026-03-03 10:00 – 11:00 UTC", "2026-03-03 10:00 – 2026-03-04 09:00 (Europe/Berlin)",
 * "2026-03-03" for a whole day: readable, and with the zone the sender gave (the text is stored
 * once, for agents anywhere; it is not converted into a queue's zone).
 */
function formatWhen(start: CalendarTime | null, end: CalendarTime | null): { start: string; end: string } {
  const zoneText = (t: CalendarTime): string => (t.zone === null ? '' : t.zone === 'UTC' ? ' UTC' : ` (${t.zone})`);
  const full = (t: CalendarTime, withZone: boolean): string => t.raw ?? `${t.date}${t.time !== null ? ` ${t.time}` : ''}${withZone ? zoneText(t) : ''}`;
  if (start === null) return { start: '', end: end === null ? '' : full(end, true) };
  if (end === null) return { start: full(start, true), end: '' };
  // A whole-day event ends (exclusively) the next day: one date is enough.
  if (start.raw === null && end.raw === null && start.time === null && end.time === null) {
    const next = new Date(`${start.date}T00:00:00Z`);
    next.setUTCDate(next.getUTCDate() + 1);
    if (next.toISOString().slice(0, 10) === end.date) return { start: start.date, end: '' };
  }
  const sameZone = start.zone === end.zone;
  if (start.raw === null && end.raw === null && sameZone && start.date === end.date && end.time !== null) return { start: full(start, false), end: `${end.time}${zoneText(end)}` };
  return { start: full(start, !sameZone), end: full(end, true) };
}

/** The text shown for an invitation. */
export function invitationText(i: Invitation): string {
  return [
    `Calendar invitation: ${i.summary || '(no title)'}`,
    ...(i.start !== '' ? [`When: ${i.start}${i.end !== '' ? ` – ${i.end}` : ''}`] : []),
    ...(i.location !== '' ? [`Where: ${i.location}`] : []),
    ...(i.description !== '' ? ['', i.description] : []),
  ].join('\n');
}
