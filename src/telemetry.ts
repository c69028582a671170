import type { SendErrorClass } from './mail-out/send-errors.js';

/**
 * What the running code tells the metrics, counted in memory (never a database write per
 * message). The daemon installs the Prometheus implementation (src/ops/metrics.ts, the only
 * importer of prom-client); one-shot commands keep the no-op one and never load prom-client.
 */
export interface Telemetry {
  /**
   * A message reached its outcome (stored, ignored, quarantined, retry, refused); seconds from
   * arrival to commit; `automated`: the kind of automated mail it is (bounce, auto-reply, …), if any.
   */
  messageOutcome(e: { readonly mailbox: string; readonly channel: string; readonly outcome: string; readonly seconds: number; readonly automated?: string | null }): void;
  /** The relay accepted an email; seconds from the commit that queued it to the relay's acceptance. */
  emailSent(e: { readonly kind: string; readonly seconds: number }): void;
  /** A send attempt through this relay (`default`: outgoing.smtp or the file transport; else outgoing.relays' name) failed (send-errors.ts classes). */
  sendFailure(errorClass: SendErrorClass, relay: string): void;
  /** The web or ops server answered a request: the route's name ("none" when no route matched), never its path. */
  webRequest(e: { readonly server: string; readonly route: string; readonly status: number }): void;
  /** A scheduled job ran (ok = finished without throwing). */
  jobRun(e: { readonly job: string; readonly ok: boolean; readonly seconds: number }): void;
}

export const noTelemetry: Telemetry = {
  messageOutcome: () => undefined,
  emailSent: () => undefined,
  sendFailure: () => undefined,
  jobRun: () => undefined,
  webRequest: () => undefined,
};
