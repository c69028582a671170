import { describe, expect, it } from 'vitest';
import { invitationText, readInvitation } from '../../src/mail-in/calendar-invite.js';

/** What agents read of a calendar invitation sent without text: its times as people write them. */
const event = (...lines: string[]): string => ['BEGIN:VCALENDAR', 'BEGIN:VEVENT', 'SUMMARY:Review', ...lines, 'END:VEVENT', 'END:VCALENDAR'].join('\r\n');
const when = (...lines: string[]): string | undefined =>
  invitationText(readInvitation(event(...lines))!)
    .split('\n')
    .find((l) => l.startsWith('When: '));

describe('calendar invitation times', () => {
  it('UTC, one day: the date once, both times, the zone', () => {
    expect(when('DTSTART:20260303T100000Z', 'DTEND:20260303T113000Z')).toBe('When: 2026-03-03 10:00 – 11:30 UTC');
  });
  it('a TZID (Outlook writes Windows zone names; shown as given)', () => {
    expect(when('DTSTART;TZID=Europe/Berlin:20260303T100000', 'DTEND;TZID=Europe/Berlin:20260303T110000')).toBe('When: 2026-03-03 10:00 – 11:00 (Europe/Berlin)');
    expect(when('DTSTART;TZID="W. Europe Standard Time":20260303T100000', 'DTEND;TZID="W. Europe Standard Time":20260304T090000')).toBe('When: 2026-03-03 10:00 – 2026-03-04 09:00 (W. Europe Standard Time)');
  });
  it('start and end in different zones each name theirs; a floating time names none', () => {
    expect(when('DTSTART;TZID=America/New_York:20260303T090000', 'DTEND:20260303T150000Z')).toBe('When: 2026-03-03 09:00 (America/New_York) – 2026-03-03 15:00 UTC');
    expect(when('DTSTART:20260303T090000', 'DTEND:20260303T100000')).toBe('When: 2026-03-03 09:00 – 10:00');
  });
  it('a whole day (its end is the next day, exclusive) is one date; several days a range', () => {
    expect(when('DTSTART;VALUE=DATE:20260303', 'DTEND;VALUE=DATE:20260304')).toBe('When: 2026-03-03');
    expect(when('DTSTART;VALUE=DATE:20261231', 'DTEND;VALUE=DATE:20270101')).toBe('When: 2026-12-31');
    expect(when('DTSTART;VALUE=DATE:20260303', 'DTEND;VALUE=DATE:20260306')).toBe('When: 2026-03-03 – 2026-03-06');
  });
  it('only a start; a value in no known format is shown as written (bounded)', () => {
    expect(when('DTSTART:20260303T100000Z')).toBe('When: 2026-03-03 10:00 UTC');
    expect(when('DTSTART:tomorrow at ten', 'DTEND:20260303T110000Z')).toBe('When: tomorrow at ten – 2026-03-03 11:00 UTC');
    expect(when(`DTSTART:${'9'.repeat(500)}`)!.length).toBeLessThan(120);
  });
});
