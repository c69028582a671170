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
  const fields = new Map<string, string>();
  for (const line of lines.slice(start + 1)) {
    if (/^END:VEVENT\s*$/i.test(line)) break;
    const m = /^([A-Za-z-]+)(?:;[^:]*)?:(.*)$/.exec(line);
    if (m !== null && !fields.has(m[1]!.toUpperCase())) fields.set(m[1]!.toUpperCase(), m[2] ?? '');
  }
  const get = (k: string): string => unescapeText(fields.get(k) ?? '');
  const invitation = { summary: get('SUMMARY'), start: get('DTSTART'), end: get('DTEND'), location: get('LOCATION'), description: get('DESCRIPTION') };
  return Object.values(invitation).some((v) => v !== '') ? invitation : null;
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
