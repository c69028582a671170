import { runAlertCommand } from '../alert-command.js';
import type { AppContext } from '../context.js';
import type { ImapConfig, MailboxConfig } from '../config/schema.js';
import { mailboxHealth, upsertMailboxHealth, type MailboxHealthPatch, type MailboxHealthState } from '../db/repos/mailbox-health.js';
import type { Logger } from '../log.js';
import { oneLine } from '../mail-in/header-values.js';
import { REPLY_MARKER } from '../mail-out/compose.js';
import { queueSystemEmail } from '../mail-out/system-email.js';
import type { SystemTemplateName } from '../mail-out/template-data.js';

type AlertKind = SystemTemplateName;

interface Snapshot {
  state: MailboxHealthState | null;
  detail: string | null;
  failingSince: string | null;
  alerted: boolean;
  backlog: number;
}

/**
 * The health row of one IMAP mailbox (table mailbox_health, shown by `casegate status`) and the
 * alert flow: once the mailbox has been failing for imap.alertAfterSeconds, ONE alert email to
 * instance.adminAddress (outbox row and `alerted = 1` in one transaction), and an all-clear when
 * it works again (outbox row and `alerted = 0` in one transaction). `alerted` survives restarts,
 * so a daemon restarted during an outage neither alerts twice nor forgets the all-clear.
 *
 * Health writes never break the mailbox loop: a failed write (database locked) is logged at
 * debug level and simply repeated with the next change.
 */
export class MailboxHealthReporter {
  readonly #ctx: AppContext;
  #mailbox: MailboxConfig;
  readonly #cfg: ImapConfig;
  readonly #log: Logger;
  /** What the database holds (as far as we know); null fields until init(). */
  readonly #row: Snapshot = { state: null, detail: null, failingSince: null, alerted: false, backlog: 0 };
  #warnedNoAdmin = false;

  constructor(ctx: AppContext, mailbox: MailboxConfig, cfg: ImapConfig, log: Logger) {
    this.#ctx = ctx;
    this.#mailbox = mailbox;
    this.#cfg = cfg;
    this.#log = log;
  }

  /**
   * Load the row left by the previous run. An outage that was already alerted stays alerted (the
   * all-clear follows on recovery); an unalerted failing_since from a previous run is dropped:
   * the time the daemon was not running does not count as failing.
   */
  async init(): Promise<void> {
    try {
      const row = await mailboxHealth(this.#ctx.db, this.#mailbox.name);
      if (row !== undefined) {
        this.#row.alerted = row.alerted === 1;
        this.#row.failingSince = this.#row.alerted ? row.failing_since : null;
        // The error of a failure streak dropped here goes with it: kept, nothing would clear it
        // (success() clears the detail of a streak), and a mailbox whose password a reload or a
        // restart fixed would show "idling … login rejected" until its next failure.
        this.#row.detail = row.failing_since !== null && !this.#row.alerted ? null : row.detail;
        this.#row.backlog = row.backlog;
      }
    } catch (err) {
      this.#log.debug({ err }, 'could not read mailbox health');
    }
    await this.#write({ state: 'connecting', failing_since: this.#row.failingSince, detail: this.#row.detail });
  }

  get state(): MailboxHealthState | null {
    return this.#row.state;
  }

  get backlog(): number {
    return this.#row.backlog;
  }

  /** The mailbox's settings after a reload (same name, same imap block). */
  updateMailbox(mailbox: MailboxConfig): void {
    this.#mailbox = mailbox;
  }

  /** A state change that says nothing about success or failure (connecting, processing, stopped). */
  async set(state: MailboxHealthState, backlog?: number): Promise<void> {
    if (state === this.#row.state && (backlog === undefined || backlog === this.#row.backlog)) return;
    await this.#write({ state, ...(backlog !== undefined ? { backlog } : {}) });
  }

  /** A free-text note (e.g. an oversized message) without changing the state. */
  async note(detail: string): Promise<void> {
    await this.#write({ detail: detail.slice(0, 500) });
  }

  /**
   * The mailbox works (folder open, last check done): records the success time and backlog; ends
   * a failure streak, and queues the all-clear if an alert went out.
   */
  async success(state: MailboxHealthState, backlog: number): Promise<void> {
    const now = this.#ctx.clock.now();
    const at = now.toISOString();
    const wasFailing = this.#row.failingSince;
    const patch: MailboxHealthPatch = { state, backlog, last_success_at: at, ...(wasFailing !== null ? { failing_since: null, detail: null } : {}) };
    if (this.#row.alerted) {
      const since = wasFailing ?? at;
      const lastError = this.#row.detail ?? 'unknown';
      const ok = await this.#queueAlert('mailbox-recovered', { state, error: lastError, since, now }, { ...patch, failing_since: null, detail: null, alerted: 0 });
      if (ok) {
        this.#warnedNoAdmin = false;
        this.#log.info({ since, minutes: minutesBetween(since, now) }, 'mailbox works again; all-clear queued');
      }
      return;
    }
    this.#warnedNoAdmin = false;
    await this.#write(patch);
  }

  /** A failed attempt: opens (or continues) the failure streak; alerts once it lasted alertAfterSeconds. */
  async failure(state: 'backing-off' | 'auth-failed', detail: string): Promise<void> {
    const now = this.#ctx.clock.now();
    const at = now.toISOString();
    const since = this.#row.failingSince ?? at;
    const patch: MailboxHealthPatch = { state, detail: detail.slice(0, 500), failing_since: since };
    const due = !this.#row.alerted && now.getTime() - new Date(since).getTime() >= this.#cfg.alertAfterSeconds * 1000;
    if (!due) {
      await this.#write(patch);
      return;
    }
    const cfg = this.#ctx.config;
    if (cfg.instance.adminAddress === undefined && cfg.alerts.command === undefined) {
      await this.#write(patch);
      if (!this.#warnedNoAdmin) {
        this.#warnedNoAdmin = true;
        this.#log.error({ since, minutes: minutesBetween(since, now) }, 'mailbox has been failing too long; no instance.adminAddress or alerts.command to alert');
      }
      return;
    }
    const ok = await this.#queueAlert('mailbox-alert', { state, error: detail, since, now }, { ...patch, alerted: 1 });
    if (ok) this.#log.error({ since, minutes: minutesBetween(since, now), to: cfg.instance.adminAddress ?? null }, 'mailbox has been failing too long; admin alerted');
  }

  async #write(patch: MailboxHealthPatch): Promise<boolean> {
    try {
      await upsertMailboxHealth(this.#ctx.db, this.#mailbox.name, patch, this.#ctx.clock.now().toISOString());
      this.#apply(patch);
      return true;
    } catch (err) {
      this.#log.debug({ err }, 'could not write mailbox health');
      return false;
    }
  }

  #apply(patch: MailboxHealthPatch): void {
    if (patch.state !== undefined) this.#row.state = patch.state;
    if (patch.detail !== undefined) this.#row.detail = patch.detail;
    if (patch.failing_since !== undefined) this.#row.failingSince = patch.failing_since;
    if (patch.alerted !== undefined) this.#row.alerted = patch.alerted === 1;
    if (patch.backlog !== undefined) this.#row.backlog = patch.backlog;
  }

  /**
   * Queue the alert / all-clear (when instance.adminAddress is set) and write the health patch
   * (which flips `alerted`) in one transaction; then run alerts.command with the same text (also
   * without an admin address: it is the path for when mail is what is broken).
   */
  async #queueAlert(kind: AlertKind, a: { state: string; error: string; since: string; now: Date }, patch: MailboxHealthPatch): Promise<boolean> {
    const ctx = this.#ctx;
    const to = ctx.config.instance.adminAddress;
    const at = a.now.toISOString();
    const data = {
      instance: { name: ctx.config.instance.name },
      mailbox: { name: this.#mailbox.name, address: this.#mailbox.addresses[0] ?? '', queue: ctx.mailboxes.queueOf(this.#mailbox) },
      alert: {
        host: `${this.#cfg.host}:${this.#cfg.port}`,
        user: this.#cfg.auth.user,
        folder: this.#cfg.folder,
        state: a.state,
        error: a.error,
        since: a.since,
        minutes: minutesBetween(a.since, a.now),
        statusCommand: 'casegate status',
      },
      replyMarker: REPLY_MARKER,
      isTest: false,
    };
    let mail: { subject: string; text: string };
    try {
      mail = await ctx.db.transaction().execute(async (trx) => {
        const rendered =
          to !== undefined
            ? await queueSystemEmail(trx, ctx, {
                kind,
                to,
                mailbox: this.#mailbox,
                event: { type: kind === 'mailbox-alert' ? 'mailbox.alert' : 'mailbox.recovered', reason: `${kind} for mailbox ${this.#mailbox.name} to ${to}`, data: { mailbox: this.#mailbox.name } },
                data,
              })
            : ctx.templates.render(kind, data, { language: ctx.config.cases.defaultLanguage });
        await upsertMailboxHealth(trx, this.#mailbox.name, patch, at);
        return rendered;
      });
    } catch (err) {
      this.#log.warn({ err, kind }, 'could not queue the mailbox health email; trying again with the next check');
      return false;
    }
    this.#apply(patch);
    if (to !== undefined) ctx.outboxSignal.wake();
    // The same alert through alerts.command (when configured): it does not depend on mail working.
    void runAlertCommand(ctx.config, this.#log, { kind, subject: oneLine(mail.subject), text: mail.text });
    return true;
  }
}

function minutesBetween(since: string, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - new Date(since).getTime()) / 60_000));
}
