import { runAlertCommand } from '../alert-command.js';
import type { AppContext } from '../context.js';
import { oldestQueued, queuedCount } from '../db/repos/outbox.js';
import { transportHealth, upsertTransportHealth, type TransportHealthPatch } from '../db/repos/transport-health.js';
import type { TransportState } from '../db/schema.js';
import type { Logger } from '../log.js';
import { REPLY_MARKER } from './compose.js';
import type { ClassifiedSendError } from './send-errors.js';
import { queueSystemEmail } from './system-email.js';
import { DEFAULT_RELAY } from './relays.js';

/** last_success_at is refreshed at most this often while all is well (not one write per email). */
const SUCCESS_WRITE_EVERY_MS = 60_000;

interface Snapshot {
  state: TransportState;
  failingSince: string | null;
  pausedSince: string | null;
  lastError: string | null;
  lastClass: string | null;
  alerted: boolean;
}

/**
 * The health row of the outgoing transport (table transport_health, shown by `casegate status`)
 * and the admin alert: once sending has been failing for outgoing.alertAfterSeconds — at once for
 * a rejected login or a TLS failure, which never heal by themselves — ONE alert (an outbox-alert
 * email to instance.adminAddress plus alerts.command), and an all-clear (outbox-recovered) when
 * it works again. `alerted` survives restarts.
 *
 * The alert email goes through the outbox like any email, so with a broken relay it waits there
 * until sending works again (it then arrives just before the all-clear, telling how long the
 * outage lasted); the error-level log line and alerts.command are the paths that work meanwhile.
 *
 * Writes never break sending: a failed write (database locked) is kept and repeated with the
 * next change.
 */
export class TransportHealthReporter {
  readonly #ctx: AppContext;
  readonly #name: string;
  /** The health row's key: the transport's name, or `sender:<address>` for a sender the relay refuses (sender-holds.ts). */
  readonly #key: string;
  readonly #log: Logger;
  readonly #row: Snapshot = { state: 'ok', failingSince: null, pausedSince: null, lastError: null, lastClass: null, alerted: false };
  #pending: TransportHealthPatch = {};
  #lastSuccessWrite = 0;
  #warnedNoAdmin = false;

  /** The relay (relays.ts): "default" or a name of outgoing.relays; alerts name it. */
  readonly #relay: string;

  constructor(ctx: AppContext, transportName: string, log: Logger, key: string = transportName, relay: string = DEFAULT_RELAY) {
    this.#ctx = ctx;
    this.#relay = relay;
    this.#name = transportName;
    this.#key = key;
    this.#log = log;
  }

  get failingSince(): string | null {
    return this.#row.failingSince;
  }

  /** Load the previous run's row: an alerted outage stays alerted (the all-clear follows on recovery). */
  async init(): Promise<void> {
    try {
      const row = await transportHealth(this.#ctx.db, this.#key);
      if (row !== undefined && row.alerted === 1) {
        this.#row.alerted = true;
        this.#row.failingSince = row.failing_since;
        this.#row.lastError = row.last_error;
        this.#row.lastClass = row.last_error_class;
      }
    } catch (err) {
      this.#log.debug({ err }, 'could not read transport health');
    }
    // A pause of the previous run is over: this run starts sending and finds out again.
    await this.#write({ state: this.#row.failingSince !== null ? 'failing' : 'ok', paused_since: null, failing_since: this.#row.failingSince });
  }

  /** Calls run one after the other (two failures at once must not both alert). */
  #queue: Promise<void> = Promise.resolve();
  #serial(fn: () => Promise<void>): Promise<void> {
    // (the chain never rejects, so one failure cannot stop the next call)
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /**
   * An email was accepted, or a probe of the paused transport succeeded. Resolves with how long
   * sending had been failing when this ends a failure streak (else null).
   */
  async success(): Promise<number | null> {
    let recoveredAfterMs: number | null = null;
    await this.#serial(async () => {
      const since = this.#row.failingSince;
      await this.#success();
      if (since !== null && this.#row.failingSince === null) recoveredAfterMs = this.#ctx.clock.now().getTime() - new Date(since).getTime();
    });
    return recoveredAfterMs;
  }

  /** A send or probe failed; `paused` when the transport is (now) paused. Alerts when due. */
  failure(c: ClassifiedSendError, paused: boolean): Promise<void> {
    return this.#serial(() => this.#failure(c, paused));
  }

  async #success(): Promise<void> {
    const now = this.#ctx.clock.now();
    const at = now.toISOString();
    if (this.#row.failingSince === null && this.#row.state === 'ok') {
      if (now.getTime() - this.#lastSuccessWrite >= SUCCESS_WRITE_EVERY_MS) {
        this.#lastSuccessWrite = now.getTime();
        await this.#write({ last_success_at: at });
      }
      return;
    }
    const since = this.#row.failingSince ?? at;
    const patch: TransportHealthPatch = { state: 'ok', last_success_at: at, failing_since: null, paused_since: null };
    this.#lastSuccessWrite = now.getTime();
    if (this.#row.alerted) {
      const ok = await this.#alert('outbox-recovered', { state: 'ok', errorClass: this.#row.lastClass ?? 'unknown', error: this.#row.lastError ?? 'unknown', since, now }, { ...patch, alerted: 0 });
      if (ok) this.#log.info({ transport: this.#name, since, minutes: minutesBetween(since, now) }, 'outgoing mail works again; all-clear queued');
      return;
    }
    this.#log.info({ transport: this.#name, since, minutes: minutesBetween(since, now) }, 'outgoing mail works again');
    await this.#write(patch);
  }

  async #failure(c: ClassifiedSendError, paused: boolean): Promise<void> {
    const now = this.#ctx.clock.now();
    const at = now.toISOString();
    const since = this.#row.failingSince ?? at;
    const patch: TransportHealthPatch = {
      state: paused ? 'paused' : 'failing',
      last_error: c.summary,
      last_error_class: c.errorClass,
      last_error_at: at,
      failing_since: since,
      paused_since: paused ? (this.#row.pausedSince ?? at) : null,
    };
    // A rejected login, TLS, or a sender the relay refuses (MAIL FROM): none heals by itself.
    const immediate = c.errorClass === 'auth' || c.errorClass === 'tls' || c.errorClass === 'sender';
    const due = !this.#row.alerted && (immediate || now.getTime() - new Date(since).getTime() >= this.#ctx.config.outgoing.alertAfterSeconds * 1000);
    if (!due) {
      await this.#write(patch);
      return;
    }
    const cfg = this.#ctx.config;
    if (cfg.instance.adminAddress === undefined && cfg.alerts.command === undefined) {
      await this.#write(patch);
      if (!this.#warnedNoAdmin) {
        this.#warnedNoAdmin = true;
        this.#log.error({ transport: this.#name, since, errorClass: c.errorClass, error: c.summary }, 'outgoing mail is failing; no instance.adminAddress or alerts.command to alert');
      }
      return;
    }
    const ok = await this.#alert('outbox-alert', { state: patch.state!, errorClass: c.errorClass, error: c.summary, since, now }, { ...patch, alerted: 1 });
    if (ok) {
      this.#log.error({ transport: this.#name, relay: this.#relay, since, minutes: minutesBetween(since, now), errorClass: c.errorClass, error: c.summary, to: cfg.instance.adminAddress ?? null }, 'outgoing mail is failing; admin alerted');
    }
  }

  async #write(patch: TransportHealthPatch): Promise<boolean> {
    const merged = { ...this.#pending, ...patch };
    this.#apply(patch);
    try {
      await upsertTransportHealth(this.#ctx.db, this.#key, merged, this.#ctx.clock.now().toISOString());
      this.#pending = {};
      return true;
    } catch (err) {
      this.#pending = merged;
      this.#log.debug({ err }, 'could not write transport health; kept for the next change');
      return false;
    }
  }

  #apply(patch: TransportHealthPatch): void {
    if (patch.state !== undefined) this.#row.state = patch.state;
    if (patch.failing_since !== undefined) this.#row.failingSince = patch.failing_since;
    if (patch.paused_since !== undefined) this.#row.pausedSince = patch.paused_since;
    if (patch.last_error !== undefined) this.#row.lastError = patch.last_error;
    if (patch.last_error_class !== undefined) this.#row.lastClass = patch.last_error_class;
    if (patch.alerted !== undefined) this.#row.alerted = patch.alerted === 1;
  }

  /** Queue the alert / all-clear and flip `alerted` in one transaction; then run alerts.command. */
  async #alert(kind: 'outbox-alert' | 'outbox-recovered', a: { state: string; errorClass: string; error: string; since: string; now: Date }, patch: TransportHealthPatch): Promise<boolean> {
    const ctx = this.#ctx;
    const to = ctx.config.instance.adminAddress;
    const at = a.now.toISOString();
    let mail: { subject: string; text: string };
    try {
      mail = await ctx.db.transaction().execute(async (trx) => {
        const queued = await queuedCount(trx);
        const oldest = await oldestQueued(trx);
        const data = {
          instance: { name: ctx.config.instance.name },
          alert: {
            transport: this.#name,
            relay: this.#relay,
            settings: settingsKey(this.#relay),
            login: loginKeys(ctx.config, this.#relay),
            state: a.state,
            errorClass: a.errorClass,
            error: a.error,
            since: a.since,
            minutes: minutesBetween(a.since, a.now),
            queued,
            oldestQueuedAt: oldest?.queued_at ?? '',
            statusCommand: 'casegate status',
          },
          replyMarker: REPLY_MARKER,
          isTest: false,
        };
        let rendered: { subject: string; text: string };
        if (to !== undefined) {
          rendered = await queueSystemEmail(trx, ctx, {
            kind,
            to,
            mailbox: ctx.mailboxes.default,
            data,
            event: { type: kind === 'outbox-alert' ? 'outbox.alert' : 'outbox.recovered', reason: `${kind} to ${to}: ${a.errorClass}: ${a.error}`.slice(0, 500), data: { transport: this.#name, ...(this.#relay !== DEFAULT_RELAY ? { relay: this.#relay } : {}), ...(this.#key !== this.#name ? { key: this.#key } : {}) } },
          });
        } else {
          rendered = ctx.templates.render(kind, data, { language: ctx.config.cases.defaultLanguage });
        }
        await upsertTransportHealth(trx, this.#key, { ...this.#pending, ...patch }, at);
        return rendered;
      });
    } catch (err) {
      this.#log.warn({ err, kind }, 'could not queue the outbox health email; trying again with the next change');
      if (kind === 'outbox-alert') {
        // Remember the failure (not the alert: it is tried again with the next failure).
        const { alerted: _a, ...rest } = patch;
        this.#apply(rest);
        this.#pending = { ...this.#pending, ...rest };
      }
      // The all-clear: nothing changes, so the next success tries it again.
      return false;
    }
    this.#pending = {};
    this.#apply(patch);
    ctx.outboxSignal.wake();
    void runAlertCommand(ctx.config, this.#log, { kind, subject: mail.subject, text: mail.text });
    return true;
  }
}

/** Where a relay is configured (relays.ts). */
function settingsKey(relay: string): string {
  return relay === DEFAULT_RELAY ? 'outgoing.smtp' : `outgoing.relays.${relay}`;
}

/** The keys of a relay's login, as an alert names them: user and password, or its auth (xoauth2: the token's source). */
function loginKeys(config: AppContext['config'], relay: string): string {
  const key = settingsKey(relay);
  const r = relay === DEFAULT_RELAY ? config.outgoing.smtp : config.outgoing.relays[relay];
  const auth = r?.auth;
  if (auth?.method === 'xoauth2') return `${key}.auth (xoauth2 for ${auth.user}: the token ${auth.tokenCommand !== undefined ? 'its tokenCommand prints' : `in ${auth.accessTokenEnv ?? '?'}`}, and the mailbox's SMTP AUTH permission)`;
  if (auth?.method === 'password') return `${key}.auth.user and ${key}.auth.password`;
  return `${key}.user and ${key}.password`;
}

function minutesBetween(since: string, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - new Date(since).getTime()) / 60_000));
}
