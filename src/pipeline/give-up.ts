import type { Transaction } from 'kysely';
import { runAlertCommand } from '../alert-command.js';
import type { AppContext } from '../context.js';
import { addEvent } from '../db/repos/events.js';
import { clearMessageFailure, forgetOldFailures, messageFailure, saveMessageFailure, type MessageFailureRow } from '../db/repos/message-failures.js';
import type { Database } from '../db/schema.js';
import { oneLine } from '../mail-in/header-values.js';
import { queueSystemEmail } from '../mail-out/system-email.js';
import { REPLY_MARKER } from '../mail-out/reply-marker.js';
import { TIMED_OUT, within } from '../time-limit.js';
import { TransientError, type Arrival, type ChannelName, type Inbound } from './types.js';

/**
 * Giving up on a poison message: one a stage runs out of time on every time (a parser pathology, a
 * lookup that hangs for its data only). Without this it is offered again for as long as the daemon
 * runs (IMAP, every pass) or until its sender bounces it days later (SMTP), and its writer never
 * gets a case. Every other ending is already final: a stage that throws is quarantined at once,
 * and the remaining `retry` causes — the database busy, locked or unreachable, the disk full, a
 * concurrent commit — are the installation's trouble, not the message's: they never count here.
 *
 * A stage timeout may be either (a DNS resolver or a database that hangs times every message out),
 * so one counts toward giving up (a strike) only when the same stage worked for some other message
 * since this message's previous timeout (for its first: since this attempt began). During an
 * outage nothing passes the stage, so nothing counts; in a mailbox where nothing else arrives the
 * message waits until something does. After pipeline.giveUpAfterAttempts strikes, and no sooner
 * than pipeline.giveUpAfterMinutes after its first timeout, the message is quarantined with the
 * reason (raw kept, `casegate quarantine retry` after a fix), its channel acknowledges it, and the
 * admin gets one message-quarantined email (and alerts.command).
 *
 * The record is per raw message (its SHA-256): IMAP offers the same bytes, a sending MTA retries
 * with the same bytes (the listener adds no header), also after a restart.
 */

/** A stage still waiting at pipeline.stageTimeoutSeconds (run-pipeline.ts StageTimer). */
export class StageTimeoutError extends TransientError {
  readonly stage: string;
  constructor(stage: string, seconds: number) {
    super(`stage ${stage} took longer than ${seconds} s`);
    this.stage = stage;
  }
}

/**
 * The channels whose messages can be given up: the daemon's, whose mail comes again by itself and
 * where other mail proves the stage works. Not `casegate ingest` (a process per message, which sees
 * no other mail: the MTA's own queue lifetime ends it, and the sender is told), nor a command
 * (quarantine retry, import), whose caller sees the outcome.
 */
const GIVES_UP: ReadonlySet<ChannelName> = new Set<ChannelName>(['imap', 'smtp', 'test']);

/** Rows of messages not seen for this long are forgotten. */
const FORGET_AFTER_MS = 7 * 24 * 3_600_000;
/** The record is bookkeeping: a database that does not answer within this does not hold the message up. */
const LEDGER_WAIT_MS = 2_000;

/**
 * At most one message-quarantined email (and alerts.command) an hour per daemon: a fault that
 * poisons many messages (an upgrade's parser bug) must not bury the admin in one email each.
 * The others are events and error lines; `casegate quarantine list` shows every one.
 */
const ALERT_EVERY_MS = 3_600_000;
/** Per context: when (clock ms) the last message-quarantined alert went out. */
const alertedAt = new WeakMap<AppContext, number>();

/** Per context: stage name → when (clock ms) a message last passed it. */
const passes = new WeakMap<AppContext, Map<string, number>>();

/** A message passed `stage` (called by the stage timer for every stage that finished in time). */
export function notePass(ctx: AppContext, stage: string): void {
  let map = passes.get(ctx);
  if (map === undefined) passes.set(ctx, (map = new Map()));
  map.set(stage, ctx.clock.now().getTime());
}

export interface GiveUp {
  readonly stage: string;
  readonly error: string;
  readonly attempts: number;
  readonly strikes: number;
  readonly firstFailedAt: string;
  readonly minutes: number;
}

/**
 * Record a stage timeout of this message; a GiveUp when it is time to quarantine it, else null
 * (`retry` as before). Never throws: a failure to keep the record leaves the message in retry.
 */
export async function judgeTimeout(ctx: AppContext, arrival: Arrival, err: StageTimeoutError, attemptStartedMs: number): Promise<GiveUp | null> {
  const { giveUpAfterAttempts, giveUpAfterMinutes } = ctx.config.pipeline;
  if (!GIVES_UP.has(arrival.channel)) return null;
  const work = async (): Promise<GiveUp | null> => {
    const now = ctx.clock.now();
    const before = await messageFailure(ctx.db, arrival.raw.sha256);
    const since = before !== undefined ? Date.parse(before.last_failed_at) : attemptStartedMs;
    const strike = (passes.get(ctx)?.get(err.stage) ?? -Infinity) > since;
    const row: MessageFailureRow = {
      raw_sha256: arrival.raw.sha256,
      mailbox: arrival.mailbox.name,
      channel: arrival.channel,
      stage: err.stage,
      reason: err.message.slice(0, 500),
      attempts: (before?.attempts ?? 0) + 1,
      strikes: (before?.strikes ?? 0) + (strike ? 1 : 0),
      first_failed_at: before?.first_failed_at ?? now.toISOString(),
      last_failed_at: now.toISOString(),
    };
    const minutes = Math.max(0, Math.floor((now.getTime() - Date.parse(row.first_failed_at)) / 60_000));
    const due = giveUpAfterAttempts > 0 && row.strikes >= giveUpAfterAttempts && now.getTime() - Date.parse(row.first_failed_at) >= giveUpAfterMinutes * 60_000;
    if (due) return { stage: err.stage, error: row.reason, attempts: row.attempts, strikes: row.strikes, firstFailedAt: row.first_failed_at, minutes };
    if (before === undefined) await forgetOldFailures(ctx.db, new Date(now.getTime() - FORGET_AFTER_MS).toISOString());
    await saveMessageFailure(ctx.db, row);
    return null;
  };
  try {
    const result = await within(work(), LEDGER_WAIT_MS);
    return result === TIMED_OUT ? null : result;
  } catch (e) {
    ctx.log.warn({ component: 'pipeline', err: e, sha256: arrival.raw.sha256 }, 'could not record the stage timeout of a message (it is offered again; this attempt does not count toward giving up)');
    return null;
  }
}

/** The quarantine reason of a message given up. */
export function giveUpReason(g: GiveUp): string {
  return `given up after ${g.attempts} timeouts over ${g.minutes} minutes (${g.strikes} while the stage worked for other mail; pipeline.giveUpAfterAttempts): ${g.error}`;
}

/**
 * Inside the quarantine's transaction: forget the record and queue the message-quarantined email
 * (when instance.adminAddress is set, and none went out within the hour; an event either way).
 * Returns what alerts.command gets, or null when this one is not alerted.
 */
export async function recordGiveUp(trx: Transaction<Database>, ctx: AppContext, msg: Inbound, g: GiveUp, receiptId: number): Promise<{ subject: string; text: string } | null> {
  const { arrival, notes } = msg;
  await clearMessageFailure(trx, arrival.raw.sha256);
  const data = {
    instance: { name: ctx.config.instance.name },
    mailbox: { name: arrival.mailbox.name, address: arrival.mailbox.addresses[0] ?? '' },
    message: {
      receipt: receiptId,
      from: notes.parsed?.from?.address ?? '',
      subject: oneLine(notes.parsed?.subject ?? '').slice(0, 200),
      messageId: notes.parsed?.messageId ?? '',
      channel: arrival.channel,
    },
    failure: {
      stage: g.stage,
      error: g.error,
      attempts: g.attempts,
      since: g.firstFailedAt,
      minutes: g.minutes,
      showCommand: `casegate quarantine show ${receiptId}`,
      retryCommand: `casegate quarantine retry ${receiptId}`,
    },
    replyMarker: REPLY_MARKER,
    isTest: false,
  };
  const to = ctx.config.instance.adminAddress;
  const event = { type: 'message.given-up', reason: `quarantined after ${g.attempts} timeouts of stage ${g.stage}`, data: { receipt: receiptId, stage: g.stage, attempts: g.attempts, messageId: notes.parsed?.messageId ?? null } };
  const last = alertedAt.get(ctx);
  const now = ctx.clock.now();
  if (last !== undefined && now.getTime() - last < ALERT_EVERY_MS) {
    const reason = `${event.reason}; not alerted: an alert about a message given up went out at ${new Date(last).toISOString()} (one an hour; casegate quarantine list shows every one)`;
    await addEvent(trx, { caseId: null, type: event.type, actor: 'system', reason, data: event.data, at: now.toISOString() });
    return null;
  }
  if (to !== undefined) {
    const queued = await queueSystemEmail(trx, ctx, { kind: 'message-quarantined', to, mailbox: arrival.mailbox, event, data });
    return { subject: queued.subject, text: queued.text };
  }
  await addEvent(trx, { caseId: null, type: event.type, actor: 'system', reason: event.reason, data: event.data, at: ctx.clock.now().toISOString() });
  const rendered = ctx.templates.render('message-quarantined', data, { language: ctx.config.cases.defaultLanguage });
  return { subject: oneLine(rendered.subject), text: rendered.text };
}

/** After the commit: the same alert through alerts.command (when configured), and the mail woken. */
export function announceGiveUp(ctx: AppContext, alert: { subject: string; text: string }): void {
  alertedAt.set(ctx, ctx.clock.now().getTime());
  if (ctx.config.instance.adminAddress !== undefined) ctx.outboxSignal.wake();
  void runAlertCommand(ctx.config, ctx.log, { kind: 'message-quarantined', subject: alert.subject, text: alert.text });
}
