import { DateTime } from 'luxon';
import type { Config } from '../config/schema.js';
import { calendarOf } from '../cases/sla-policy.js';
import { knownQueues } from '../cases/staff.js';

/**
 * Times the CLI prints for people (`cases show`, `cases list`, `cases files`, `outbox list`,
 * `quarantine list`, `jobs list`): in the installation's zone, each with its zone's abbreviation
 * ("2026-12-07 15:00 CET"), so an agent in Berlin reads Berlin time and never has to convert.
 * The zone is jobs.timezone (the zone of the schedules and the daily report); left at UTC while
 * every queue's business calendar names one other zone, that zone (a team that set only its
 * calendar's zone). `--utc` prints UTC; `--json` always prints the stored ISO-8601 UTC.
 */
export interface TimeDisplay {
  /** The IANA zone the times are shown in. */
  readonly zone: string;
  /** Where it comes from, for the one line that names it. */
  readonly source: string;
  /** An ISO time in the zone, to the minute (`seconds`: to the second), with the zone's abbreviation. */
  readonly at: (iso: string, o?: { readonly seconds?: boolean }) => string;
}

export function displayZone(config: Pick<Config, 'jobs' | 'sla' | 'queues' | 'mailboxes'>, utc: boolean): { zone: string; source: string } {
  if (utc) return { zone: 'UTC', source: '--utc' };
  const jobs = config.jobs.timezone;
  if (jobs !== 'UTC') return { zone: jobs, source: 'jobs.timezone' };
  const zones = new Set([...knownQueues(config)].map((q) => calendarOf(config, q).zone));
  const [only] = zones;
  if (zones.size === 1 && only !== undefined && only !== 'UTC') return { zone: only, source: 'the queues’ business calendar' };
  return { zone: 'UTC', source: 'jobs.timezone' };
}

export function timeDisplay(config: Pick<Config, 'jobs' | 'sla' | 'queues' | 'mailboxes'>, utc = false): TimeDisplay {
  const { zone, source } = displayZone(config, utc);
  return {
    zone,
    source,
    at: (iso, o = {}) => {
      const t = DateTime.fromISO(iso, { zone: 'utc' });
      if (!t.isValid) return iso;
      return t.setZone(zone).setLocale('en-GB').toFormat(o.seconds === true ? 'yyyy-LL-dd HH:mm:ss ZZZZ' : 'yyyy-LL-dd HH:mm ZZZZ');
    },
  };
}

/** The one line naming the zone under a text output. */
export function zoneNote(t: TimeDisplay): string {
  return t.zone === 'UTC' && t.source === '--utc' ? 'times in UTC' : `times in ${t.zone} (${t.source}; --utc for UTC)`;
}

/** UTC, as before: for callers and tests that want the stored time. */
export const UTC_DISPLAY: TimeDisplay = { zone: 'UTC', source: '--utc', at: (iso, o = {}) => `${iso.slice(0, o.seconds === true ? 19 : 16).replace('T', ' ')} UTC` };
