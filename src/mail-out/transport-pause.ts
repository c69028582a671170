import type { AppContext } from '../context.js';
import type { Logger } from '../log.js';
import { classifySendError, relaySettingsOf, type ClassifiedSendError } from './send-errors.js';
import type { MailTransport } from './transport.js';
import type { TransportHealthReporter } from './transport-health.js';

/** First probe of a transport paused by a connection or TLS problem. */
const PROBE_FIRST_MS = 1_000;

interface Pause {
  readonly since: string;
  errorClass: ClassifiedSendError['errorClass'];
  delayMs: number;
  timer: NodeJS.Timeout | null;
}

/**
 * A broken transport (login rejected, TLS, relay unreachable: send-errors.ts decision `pause`)
 * pauses sending — no email is marked failed for it — and is probed with the transport's verify
 * (no email sent) until it works: a rejected login every outgoing.authProbeSeconds, anything else
 * after PROBE_FIRST_MS, doubling up to outgoing.probeSeconds. `resumed` runs when it works again.
 * The outbox worker (outbox-worker.ts) claims nothing while it is paused.
 */
export class TransportPause {
  #pause: Pause | null = null;
  #stopped = false;

  constructor(
    private readonly ctx: AppContext,
    private readonly transport: MailTransport,
    private readonly log: Logger,
    private readonly health: TransportHealthReporter,
    private readonly resumed: () => Promise<void>,
  ) {}

  /** True while sending is paused because the transport is broken. */
  get active(): boolean {
    return this.#pause !== null;
  }

  start(): void {
    this.#stopped = false;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#pause?.timer) clearTimeout(this.#pause.timer);
  }

  /** Pause sending for this failure (or, already paused, remember its class). */
  begin(c: ClassifiedSendError): void {
    if (this.#pause !== null) {
      this.#pause.errorClass = c.errorClass;
      return;
    }
    const out = this.ctx.config.outgoing;
    const delayMs = c.errorClass === 'auth' ? out.authProbeSeconds * 1000 : Math.min(PROBE_FIRST_MS, out.probeSeconds * 1000);
    this.#pause = { since: this.ctx.clock.now().toISOString(), errorClass: c.errorClass, delayMs, timer: null };
    this.log.error({ transport: this.transport.name, errorClass: c.errorClass, error: c.summary, probeInMs: delayMs }, `outgoing transport ${this.transport.label ?? this.transport.name} paused (${c.errorClass}): ${c.summary}`);
    this.#scheduleProbe();
  }

  #scheduleProbe(): void {
    const p = this.#pause;
    if (p === null || this.#stopped) return;
    p.timer = setTimeout(() => void this.#probe(), p.delayMs);
    p.timer.unref();
  }

  /** Try the paused transport without sending anything; resume when it works. */
  async #probe(): Promise<void> {
    const p = this.#pause;
    if (p === null || this.#stopped) return;
    p.timer = null;
    try {
      await this.transport.verify?.();
    } catch (err) {
      const c = classifySendError(err, this.transport.relay ?? relaySettingsOf(this.ctx.config.outgoing));
      p.errorClass = c.errorClass;
      const out = this.ctx.config.outgoing;
      p.delayMs = c.errorClass === 'auth' ? out.authProbeSeconds * 1000 : Math.min(p.delayMs * 2, out.probeSeconds * 1000);
      this.log.warn({ transport: this.transport.name, errorClass: c.errorClass, error: c.summary, probeInMs: p.delayMs }, `outgoing transport still broken: ${this.transport.label ?? this.transport.name}`);
      await this.health.failure(c, true);
      this.#scheduleProbe();
      return;
    }
    if (this.#stopped) return;
    this.#pause = null;
    this.log.info({ transport: this.transport.name, pausedSince: p.since }, `outgoing transport works again; sending resumed: ${this.transport.label ?? this.transport.name}`);
    await this.resumed();
  }
}
