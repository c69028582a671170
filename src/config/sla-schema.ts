import { validate as validateCron } from 'node-cron';
import * as z from 'zod';
import './schema-basics.js'; // zod's settings first (see there)
import { holidaySourceProblem } from '../cases/business-calendar.js';
import { isValidZone, parseWeeklyHours } from '../cases/calendar-hours.js';

/**
 * Configuration of promises kept in business time (issue 11): business calendars, SLA policies
 * (targets per priority), the scheduled jobs with their schedules and knobs, the satisfaction
 * survey and the small web server. Part of configSchema (schema.ts); every key is documented in
 * config/casegate.example.yaml and docs/configuration.md.
 */

const zone = z.string().min(1).refine(isValidZone, { message: 'not an IANA time zone like America/Chicago or Europe/Berlin' });
const localDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date like 2026-12-24');
const localDateTime = z.string().regex(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$/, 'a local date and time like 2026-12-31T12:00');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'use letters, digits, - and _');

/** A duration in minutes: a number (minutes) or "15m", "4h", "1h30m". */
export const minutes = z.union([
  z.number().nonnegative(),
  z
    .string()
    .trim()
    .regex(/^(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?$/i, 'a duration like 15m, 4h or 1h30m')
    .refine((s) => s !== '', 'a duration like 15m, 4h or 1h30m'),
]).transform((v) => {
  if (typeof v === 'number') return v;
  const m = /^(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?$/i.exec(v);
  return Number(m?.[1] ?? 0) * 60 + Number(m?.[2] ?? 0);
});

const cron = z.string().trim().refine((s) => validateCron(s), { message: 'not a cron expression (minute hour day-of-month month day-of-week, e.g. "*/15 * * * *")' });

export const calendarSchema = z
  .object({
    /** IANA time zone of the opening hours and of the times customers are told. */
    zone: zone.default('UTC'),
    /** Opening hours: day or day range → "HH:MM-HH:MM" or a list of ranges; "closed" for none. */
    hours: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({ 'mon-fri': '09:00-17:00' }),
    /** Public holidays from date-holidays. */
    holidays: z
      .object({
        country: z.string().trim().min(2),
        state: z.string().trim().min(1).optional(),
        region: z.string().trim().min(1).optional(),
        types: z.array(z.enum(['public', 'bank', 'school', 'optional', 'observance'])).min(1).default(['public']),
      })
      .strict()
      .optional(),
    /** Further closed days (local dates). */
    closedDates: z.array(localDate).default([]),
    /** Closed periods in local time (an afternoon, a company event). */
    closures: z.array(z.object({ from: localDateTime, to: localDateTime, reason: z.string().optional() }).strict()).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    const { weekly, problems } = parseWeeklyHours(c.hours);
    for (const p of problems) ctx.addIssue({ code: 'custom', path: ['hours', p.key], message: p.message });
    // Without one open hour a week, no due time, no "back on …" and no next business day exists:
    // every message to a queue on this calendar failed (quarantined) instead of opening a case.
    if (problems.length === 0 && weekly.every((day) => day.length === 0)) {
      ctx.addIssue({ code: 'custom', path: ['hours'], message: 'no opening hours on any day: give at least one range (e.g. "mon-fri": "09:00-17:00"; "daily": "00:00-24:00" for round the clock)' });
    }
    if (c.holidays !== undefined) {
      const problem = holidaySourceProblem(c.holidays);
      if (problem !== null) ctx.addIssue({ code: 'custom', path: ['holidays'], message: problem });
    }
    c.closures.forEach((cl, i) => {
      // A date without a time is a whole day: a closure of one day has from = to.
      const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(cl.to);
      if (dateOnly ? cl.to < cl.from.slice(0, 10) : cl.to <= cl.from) ctx.addIssue({ code: 'custom', path: ['closures', i, 'to'], message: dateOnly ? 'must not be before from (a date is the last day of the closure)' : 'must be after from' });
    });
  });

const target = z
  .object({
    /** First response due this long after the case was opened (business time; 24/7 with coverage 24x7). */
    firstResponse: minutes.optional(),
    /** Resolution due this long after opening; time in pending (and on hold, if it pauses) does not count. */
    resolution: minutes.optional(),
    /** business-hours: counted in the queue's calendar; 24x7: every minute counts, holidays too. */
    coverage: z.enum(['business-hours', '24x7']).default('business-hours'),
    /** next-business-day: a case opened outside hours gets its first response by the end of the next business day. */
    afterHours: z.enum(['business-time', 'next-business-day']).default('business-time'),
  })
  .strict();

const policy = z
  .object({
    /** Priority level → targets; a level without an entry has no targets. */
    targets: z.record(z.string(), target).default({}),
    /** Whether on_hold pauses the resolution clock (default: it keeps running). */
    onHoldPauses: z.boolean().default(false),
  })
  .strict();

export const slaSchema = z
  .object({
    /** Share of a target after which the warning goes out (0.8 = at 80 % of the time). */
    warnAt: z.number().gt(0).lt(1).default(0.8),
    /** Named business calendars; queues pick one with queues.<q>.calendar. */
    calendars: z.record(name, calendarSchema).default({}),
    /** Named policies (targets per priority); queues pick one with queues.<q>.slaPolicy. */
    policies: z.record(name, policy).default({}),
    /** Calendar of queues without their own (default: Mon–Fri 09:00–17:00 UTC). */
    defaultCalendar: z.string().optional(),
    /** Policy of queues without their own (default: none: no targets). */
    defaultPolicy: z.string().optional(),
  })
  .strict()
  .prefault({});

const enabled = z.boolean().default(true);
export const jobsSchema = z
  .object({
    /** Run the scheduled jobs in the daemon. */
    enabled: z.boolean().default(true),
    /** Time zone of the cron schedules (and of the daily report's day), and of the times the CLI prints (cli/display-time.ts). */
    timezone: zone.default('UTC'),
    /** SLA warnings (at sla.warnAt of a target) and breaches: alert to the owner and the queue's leads (tier 1). */
    slaCheck: z.object({ enabled, schedule: cron.default('* * * * *') }).strict().prefault({}),
    /** Critical cases without an update from the team: reminder to the owner (and optionally the customer). */
    criticalReminder: z
      .object({
        enabled,
        schedule: cron.default('*/5 * * * *'),
      /** Priority levels that count as critical (default: the most severe level). */
      priorities: z.array(z.string().trim().min(1)).optional(),
      /** Quiet time that triggers a reminder (and again after each further quiet period). */
      afterMinutes: z.number().int().positive().default(60),
      /** Also send the customer a "we are still working on it" update. */
      notifyCustomer: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** Pending cases: reminders to the customer, then automatic closing with a notice. */
    pendingReminder: z
      .object({
        enabled,
        schedule: cron.default('*/15 * * * *'),
      /** Business days (queue calendar) after the case went pending, one reminder each. */
      remindAfterBusinessDays: z.array(z.number().int().positive()).default([3, 7]),
      /** Calendar days without a customer reply after which the case is closed (0 = never). */
      autoCloseAfterDays: z.number().int().nonnegative().default(14),
      })
      .strict()
      .prefault({}),
    /** Resolved cases are closed this long after resolution (customers can still reopen within cases.reopenWindowDays). */
    resolvedClose: z.object({ enabled, schedule: cron.default('0 * * * *'), afterDays: z.number().nonnegative().default(7) }).strict().prefault({}),
    /** Satisfaction survey, once per case, this long after resolution. */
    survey: z.object({ enabled, schedule: cron.default('*/15 * * * *'), afterHours: z.number().nonnegative().default(24) }).strict().prefault({}),
    /** Daily report of the previous day: each queue's leads (tier 1) get their queue, instance.adminAddress and `recipients` get all. */
    dailyReport: z.object({ enabled, schedule: cron.default('0 7 * * *'), recipients: z.array(z.string().trim().toLowerCase().email()).default([]) }).strict().prefault({}),
    /**
     * Retention: the rendered text and HTML of emails sent more than keepDays ago are dropped from
     * the outbox (about 6 KB an email); the row (recipients, Message-ID, status, times) stays, and
     * the case's thread keeps its own copy of the conversation's emails (jobs/sent-bodies.ts).
     */
    sentBodies: z.object({ enabled, schedule: cron.default('40 3 * * *'), keepDays: z.number().int().positive().default(90) }).strict().prefault({}),
  })
  .strict()
  .prefault({});

export const webSchema = z
  .object({
    /** Run the web server (customer case page, survey clicks, /healthz) in the daemon. */
    enabled: z.boolean().default(false),
    /** Address to bind; keep 127.0.0.1 behind a reverse proxy. */
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8025),
    /** Public URL of the server as customers reach it (default http://<host>:<port>). */
    baseUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Days a link in an email stays valid (every new email carries a fresh one). */
    linkDays: z.number().positive().default(30),
    /** Largest form body accepted, in bytes. */
    maxBodyBytes: z.number().int().positive().default(256 * 1024),
    /** Replies a case page, and answers the survey form, accepts per hour (per case); beyond it the form asks to wait (each reply notifies agents). */
    repliesPerHour: z.number().int().positive().default(10),
    /**
     * "Email me a fresh link" on the page of an expired or revoked case link (cases/fresh-link.ts):
     * how many a case's reader may ask for in an hour (each sends them an email); 0: the page
     * offers none.
     */
    freshLinksPerHour: z.number().int().nonnegative().default(3),
  })
  .strict()
  .prefault({});

export type CalendarConfig = z.output<typeof calendarSchema>;
export type SlaConfig = z.output<typeof slaSchema>;
export type SlaPolicyConfig = SlaConfig['policies'][string];
export type SlaTargetConfig = SlaPolicyConfig['targets'][string];
export type JobsConfig = z.output<typeof jobsSchema>;
export type WebConfig = z.output<typeof webSchema>;
