import { runAlertCommand } from '../alert-command.js';
import type { AppContext } from '../context.js';
import { CASE_RATE_ALERT, caseRateAlertedSince, lockCaseRateAlert, newCasesOfMailboxSince, newCasesSummary } from '../db/repos/case-rate.js';
import { addEvent } from '../db/repos/events.js';
import { REPLY_MARKER } from '../mail-out/compose.js';
import { queueSystemEmail } from '../mail-out/system-email.js';

const HOUR_MS = 3_600_000;

/** Per context (daemon): mailbox → until when an alert raised is known to cover it (ms). */
const alerted = new WeakMap<object, Map<string, number>>();
function alertedUntil(ctx: AppContext): Map<string, number> {
  let m = alerted.get(ctx);
  if (m === undefined) alerted.set(ctx, (m = new Map()));
  return m;
}

/**
 * A distributed flood (many unrelated senders, no List-Id, nothing the per-sender limits can
 * count) shows as many new cases in one mailbox. After each new case: when the mailbox opened more
 * than alerts.newCasesPerMailboxPerHour cases within the past hour and no alert about it went out
 * within the hour, instance.adminAddress gets a `case-rate-alert` (and alerts.command runs), like
 * the outbox and mailbox alerts. Nothing is held: the cases are opened as usual. Its own
 * transaction after the message's commit; a failure is logged, never the message's.
 * Returns whether it alerted.
 *
 * Nearly every new case finds no alert due: that is read first without a transaction (a write
 * transaction on SQLite takes the write lock and commits: it was the second transaction of every
 * new case, 2026-12-08), and an alert known to have gone out is remembered until its hour ends. The
 * transaction that raises an alert reads both again, so two daemons (or two messages) never raise
 * two.
 */
export async function alertCaseRate(ctx: AppContext, mailboxName: string): Promise<boolean> {
  const limit = ctx.config.alerts.newCasesPerMailboxPerHour;
  if (limit <= 0) return false;
  const now = ctx.clock.now();
  const since = new Date(now.getTime() - HOUR_MS).toISOString();
  const known = alertedUntil(ctx);
  if ((known.get(mailboxName) ?? 0) > now.getTime()) return false;
  const log = ctx.log.child({ component: 'case-rate', mailbox: mailboxName });
  /** Whether an alert is due; an alert already raised within the hour is remembered. */
  const due = async (db: typeof ctx.db): Promise<number | null> => {
    const alerted = (await caseRateAlertedSince(db, since)).get(mailboxName);
    if (alerted !== undefined) {
      known.set(mailboxName, Date.parse(alerted) + HOUR_MS);
      return null;
    }
    const cases = await newCasesOfMailboxSince(db, mailboxName, since, limit + 1);
    return cases > limit ? cases : null;
  };
  try {
    if ((await due(ctx.db)) === null) return false;
    const mail = await ctx.db.transaction().execute(async (trx) => {
      await lockCaseRateAlert(trx, mailboxName);
      const cases = await due(trx);
      if (cases === null) return null;
      const summary = await newCasesSummary(trx, mailboxName, since, 5);
      const mailbox = ctx.mailboxes.byName(mailboxName) ?? ctx.mailboxes.default;
      const data = {
        instance: { name: ctx.config.instance.name },
        mailbox: { name: mailboxName, address: mailbox.addresses[0] ?? '' },
        alert: { cases, limit, senders: summary.senders, since, newest: summary.newest.map((c) => ({ number: c.number, from: c.requester_address, subject: c.subject })), listCommand: 'casegate cases list' },
        replyMarker: REPLY_MARKER,
        isTest: false,
      };
      const to = ctx.config.instance.adminAddress;
      const reason = `more than ${limit} new cases within an hour in mailbox ${mailboxName} (${summary.senders} sender(s)): case-rate-alert to ${to ?? 'nobody (no instance.adminAddress)'}`;
      const event = { type: CASE_RATE_ALERT, reason, data: { mailbox: mailboxName, cases, limit, senders: summary.senders } };
      if (to !== undefined) return queueSystemEmail(trx, ctx, { kind: 'case-rate-alert', to, mailbox, data, event });
      // No admin address: the event alone keeps it to one an hour (alerts.command still runs).
      await addEvent(trx, { caseId: null, actor: 'system', at: now.toISOString(), ...event });
      return ctx.templates.render('case-rate-alert', data, { language: ctx.config.cases.defaultLanguage });
    });
    if (mail === null) return false;
    known.set(mailboxName, now.getTime() + HOUR_MS);
    log.warn({ limit }, `more than ${limit} new cases within an hour: case-rate-alert`);
    ctx.outboxSignal.wake();
    void runAlertCommand(ctx.config, log, { kind: 'case-rate-alert', subject: mail.subject, text: mail.text });
    return true;
  } catch (err) {
    log.warn({ err }, 'could not check or queue the new-case rate alert; the next new case tries again');
    return false;
  }
}
