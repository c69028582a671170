import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppContext } from '../context.js';
import { jobRuns } from '../db/repos/jobs.js';
import { lastStoredAt, openCaseCounts, openSlaBreaches, quarantineWaiting, slaBreachTotals } from '../db/repos/ops.js';
import type { AutomatedKind } from '../mail-in/automated.js';
import type { SendErrorClass } from '../mail-out/send-errors.js';
import { relayRateWaiting } from '../mail-out/relay-rate-waiting.js';
import { heldSenderAddresses } from '../db/repos/transport-health.js';
import type { Telemetry } from '../telemetry.js';
import { assessHealth, databaseAnswerMs, gatherHealthFacts, withinMs, type HealthFacts } from './health.js';

/**
 * /metrics (Prometheus text format, prom-client). The only importer of prom-client; the daemon
 * creates one and installs it as ctx.telemetry.
 *
 * Counters and histograms are counted in memory as things happen (no database write per
 * message). Gauges about stored state (outbox depth and age, open cases, SLA breaches, the
 * quarantine) are read at scrape time with a few indexed queries (src/db/repos/ops.ts). Mailbox
 * connection state comes from the rows the mailboxes' readers keep (mailbox_health), as /healthz
 * reads it: on PostgreSQL one daemon reads a mailbox and every daemon reports the same state (a
 * standby has no state of its own to tell). The outbox pause is this daemon's (its own transport).
 *
 * Counters start at zero with every daemon start (Prometheus' rate() handles the reset), but
 * casegate_sla_breaches_total: its totals are kept in the database (two rows read by key a scrape).
 */

/** What the daemon knows in memory (src/main.ts supplies it). */
export interface LiveState {
  /** Whether sending is paused (transport broken). */
  outboxPaused(): boolean;
  /** Each relay in use (mail-out/relays.ts) and whether its sending is paused. */
  relaysPaused?(): ReadonlyMap<string, boolean>;
}

const MAILBOX_STATES = ['connecting', 'processing', 'idling', 'polling', 'backing-off', 'auth-failed', 'stopped'] as const;
const AUTOMATED_KINDS: readonly AutomatedKind[] = ['bounce', 'auto-reply', 'auto-generated', 'bulk', 'feedback-report'];
const SEND_CLASSES: readonly SendErrorClass[] = ['auth', 'tls', 'connection', 'sender', 'recipient', 'message', 'unknown'];

export class Metrics implements Telemetry {
  readonly registry = new Registry();
  readonly #messages: Counter<'mailbox' | 'channel' | 'outcome'>;
  readonly #automated: Counter<'kind'>;
  readonly #commitSeconds: Histogram<'channel'>;
  readonly #relaySeconds: Histogram<'kind'>;
  readonly #sent: Counter<'kind'>;
  readonly #sendFailures: Counter<'class' | 'relay'>;
  readonly #jobRuns: Counter<'job'>;
  readonly #httpRequests: Counter<'server' | 'route' | 'status'>;
  readonly #jobFailures: Counter<'job'>;
  readonly #jobSeconds: Histogram<'job'>;
  readonly #jobLastFinished: Gauge<'job'>;
  readonly #jobLastFailed: Gauge<'job'>;
  readonly #outboxQueued: Gauge;
  readonly #outboxFailed: Gauge;
  readonly #outboxHeld: Gauge;
  readonly #outboxOldest: Gauge;
  readonly #outboxPaused: Gauge;
  readonly #relayPaused: Gauge<'relay'>;
  readonly #rateUsed: Gauge<'relay'>;
  readonly #rateWaiting: Gauge<'relay'>;
  readonly #rateOldest: Gauge<'relay'>;
  readonly #mailboxUp: Gauge<'mailbox'>;
  readonly #mailboxState: Gauge<'mailbox' | 'state'>;
  readonly #mailboxBacklog: Gauge<'mailbox'>;
  readonly #mailboxLastSuccess: Gauge<'mailbox'>;
  readonly #openCases: Gauge<'status' | 'priority'>;
  readonly #slaBreachedOpen: Gauge<'target'>;
  readonly #slaBreaches: Counter<'target'>;
  readonly #quarantine: Gauge;
  readonly #lastStored: Gauge;
  readonly #healthy: Gauge;
  readonly #healthCheck: Gauge<'check'>;
  readonly #reloadOk: Gauge;
  readonly #reloadOkAt: Gauge;

  constructor(version: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'casegate_build_info', help: 'casegate version (always 1)', labelNames: ['version'], registers }).set({ version }, 1);
    this.#messages = new Counter({ name: 'casegate_messages_total', help: 'Inbound messages by mailbox, channel and outcome (stored, ignored, quarantined, retry, refused)', labelNames: ['mailbox', 'channel', 'outcome'], registers });
    // Bounces apart from newsletters and auto-replies: a rise in bounces is our mail being refused.
    this.#automated = new Counter({ name: 'casegate_automated_messages_total', help: 'Inbound automated mail by kind (bounce, auto-reply, auto-generated, bulk, feedback-report), whatever its outcome (refused and retried messages not counted)', labelNames: ['kind'], registers });
    for (const k of AUTOMATED_KINDS) this.#automated.inc({ kind: k }, 0);
    this.#commitSeconds = new Histogram({
      name: 'casegate_message_commit_seconds',
      help: 'Arrival of a message (SMTP DATA, IMAP fetch, pipe) to the commit of its outcome',
      labelNames: ['channel'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#relaySeconds = new Histogram({
      name: 'casegate_email_relay_seconds',
      help: 'Commit that queued an email to its acceptance by the relay',
      labelNames: ['kind'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400],
      registers,
    });
    this.#sent = new Counter({ name: 'casegate_emails_sent_total', help: 'Emails accepted by the relay, by template kind', labelNames: ['kind'], registers });
    this.#sendFailures = new Counter({ name: 'casegate_send_failures_total', help: 'Failed send attempts by error class (auth, tls, connection, sender, recipient, message, unknown) and relay (default: outgoing.smtp; else the name in outgoing.relays)', labelNames: ['class', 'relay'], registers });
    for (const c of SEND_CLASSES) this.#sendFailures.inc({ class: c, relay: 'default' }, 0);
    this.#httpRequests = new Counter({ name: 'casegate_http_requests_total', help: 'Requests answered by the web server (customer pages) and the ops listener, by route name and HTTP status', labelNames: ['server', 'route', 'status'], registers });
    this.#jobRuns = new Counter({ name: 'casegate_job_runs_total', help: 'Runs of scheduled jobs', labelNames: ['job'], registers });
    this.#jobFailures = new Counter({ name: 'casegate_job_failures_total', help: 'Runs of scheduled jobs that failed', labelNames: ['job'], registers });
    this.#jobSeconds = new Histogram({ name: 'casegate_job_duration_seconds', help: 'Duration of job runs', labelNames: ['job'], buckets: [0.01, 0.1, 0.5, 1, 5, 30, 120, 600], registers });
    // What job_runs records (the last run of each job on any daemon, kept across restarts): the
    // counters above are this daemon's since its start.
    this.#jobLastFinished = new Gauge({ name: 'casegate_job_last_finished_timestamp_seconds', help: 'When the last run of the job finished (on any daemon), Unix time', labelNames: ['job'], registers });
    this.#jobLastFailed = new Gauge({ name: 'casegate_job_last_run_failed', help: '1 when the last finished run of the job failed', labelNames: ['job'], registers });
    this.#outboxQueued = new Gauge({ name: 'casegate_outbox_queued', help: 'Emails waiting to be sent (outbox depth)', registers });
    this.#outboxFailed = new Gauge({ name: 'casegate_outbox_failed', help: 'Emails that failed for good and wait for an admin', registers });
    this.#outboxHeld = new Gauge({ name: 'casegate_outbox_held', help: 'Queued emails held because the relay refuses their sender at MAIL FROM (check sender:<address>); counted in casegate_outbox_queued too', registers });
    this.#outboxOldest = new Gauge({ name: 'casegate_outbox_oldest_queued_age_seconds', help: 'Age of the email waiting longest (0 when none)', registers });
    this.#outboxPaused = new Gauge({ name: 'casegate_outbox_paused', help: '1 while sending is paused because the transport is broken (any relay)', registers });
    // A relay's maxPerMinute is shared by every daemon (mail-out/relay-rate.ts): read from the database, the same on each.
    this.#rateUsed = new Gauge({ name: 'casegate_relay_rate_used', help: 'Recipients handed to the relay in the last 60 s by every daemon, against its maxPerMinute (relays with one only)', labelNames: ['relay'], registers });
    this.#rateWaiting = new Gauge({ name: 'casegate_relay_rate_waiting', help: 'Emails due now that the relay\'s maxPerMinute has no room for this minute: they go in a later one (relays with a maxPerMinute only)', labelNames: ['relay'], registers });
    this.#rateOldest = new Gauge({ name: 'casegate_relay_rate_oldest_waiting_seconds', help: 'How long the oldest email waiting for room under the relay\'s maxPerMinute has been due (0 when none waits)', labelNames: ['relay'], registers });
    this.#relayPaused = new Gauge({ name: 'casegate_relay_paused', help: '1 while sending through this relay is paused because it is broken (login, TLS, connection); the other relays go on', labelNames: ['relay'], registers });
    this.#mailboxUp = new Gauge({ name: 'casegate_mailbox_up', help: '1 when the IMAP mailbox is connected and working (idling, polling, processing)', labelNames: ['mailbox'], registers });
    this.#mailboxState = new Gauge({ name: 'casegate_mailbox_state', help: 'IMAP mailbox connection state (1 for the current state)', labelNames: ['mailbox', 'state'], registers });
    this.#mailboxBacklog = new Gauge({ name: 'casegate_mailbox_backlog', help: 'Unprocessed messages seen in the IMAP folder at the last check', labelNames: ['mailbox'], registers });
    this.#mailboxLastSuccess = new Gauge({ name: 'casegate_mailbox_last_success_timestamp_seconds', help: 'When the IMAP mailbox last completed a check (login, folder, search; with IDLE a safety check every pollSeconds), Unix time', labelNames: ['mailbox'], registers });
    this.#openCases = new Gauge({ name: 'casegate_open_cases', help: 'Cases not closed, by status and priority (suspected spam not counted)', labelNames: ['status', 'priority'], registers });
    this.#slaBreachedOpen = new Gauge({ name: 'casegate_sla_breached_open_cases', help: 'Open cases past an SLA target (first_response, resolution)', labelNames: ['target'], registers });
    // Kept in the database (two counters rows the sla-check job raises with each breach it records),
    // so every daemon reports the same total and a restart is no reset; a scrape reads two rows.
    // Until 2026-12-07: the gauge casegate_sla_breaches_recorded, which counted every sla.breach event.
    this.#slaBreaches = new Counter({ name: 'casegate_sla_breaches_total', help: 'SLA breaches recorded (an alert went out or was due) by target (first_response, resolution), on any daemon, since the counter began (upgrade to 0037: seeded with the breach events then kept)', labelNames: ['target'], registers });
    this.#quarantine = new Gauge({ name: 'casegate_quarantine_waiting', help: 'Quarantined messages not retried yet', registers });
    // The counters above are this daemon's; mail piped in by `casegate ingest` is stored by
    // processes of its own. This one sees every channel: "no mail for hours" whatever the path.
    this.#lastStored = new Gauge({ name: 'casegate_last_stored_message_timestamp_seconds', help: 'When the newest stored message arrived, any channel (`casegate ingest` included), Unix time (0 before the first)', registers });
    this.#healthy = new Gauge({ name: 'casegate_healthy', help: '1 when /healthz answers 200', registers });
    this.#healthCheck = new Gauge({ name: 'casegate_health_check_ok', help: 'Each health check (1 ok, 0 failing)', labelNames: ['check'], registers });
    // A refused reload leaves the daemon running on the old configuration, with a file on disk it
    // would refuse to start with (exit 78 at the next restart): visible here, not only in the log.
    this.#reloadOk = new Gauge({ name: 'casegate_config_last_reload_successful', help: '0 when the last configuration reload (SIGHUP) was refused and the daemon runs on the previous configuration; 1 after a successful one (and at start)', registers });
    this.#reloadOkAt = new Gauge({ name: 'casegate_config_last_reload_success_timestamp_seconds', help: 'When the configuration in force was loaded (start or the last successful reload), Unix time', registers });
  }

  messageOutcome(e: { mailbox: string; channel: string; outcome: string; seconds: number; automated?: string | null }): void {
    this.#messages.inc({ mailbox: e.mailbox, channel: e.channel, outcome: e.outcome });
    if (e.automated != null) this.#automated.inc({ kind: e.automated });
    if (e.outcome !== 'retry' && e.outcome !== 'refused') this.#commitSeconds.observe({ channel: e.channel }, e.seconds);
  }

  emailSent(e: { kind: string; seconds: number }): void {
    this.#sent.inc({ kind: e.kind });
    this.#relaySeconds.observe({ kind: e.kind }, Math.max(0, e.seconds));
  }

  sendFailure(errorClass: SendErrorClass, relay: string): void {
    this.#sendFailures.inc({ class: errorClass, relay });
  }

  /** A configuration reload (SIGHUP) was applied (ok) or refused. */
  configReload(ok: boolean, at: Date): void {
    this.#reloadOk.set(ok ? 1 : 0);
    if (ok) this.#reloadOkAt.set(Math.floor(at.getTime() / 1000));
  }

  webRequest(e: { server: string; route: string; status: number }): void {
    this.#httpRequests.inc({ server: e.server, route: e.route, status: String(e.status) });
  }

  jobRun(e: { job: string; ok: boolean; seconds: number }): void {
    this.#jobRuns.inc({ job: e.job });
    this.#jobFailures.inc({ job: e.job }, e.ok ? 0 : 1);
    this.#jobSeconds.observe({ job: e.job }, e.seconds);
  }

  /**
   * The exposition: gauges refreshed from the database and the daemon's memory, then everything
   * rendered. A database that fails or does not answer (databaseAnswerMs, as /healthz) never
   * fails or holds up the scrape: it says casegate_healthy 0 with the `database` check failing,
   * the gauges about stored state are NaN (unknown) or without series, and the process metrics
   * are there — "casegate is down" and "its database is" look different to Prometheus.
   */
  async render(ctx: AppContext, live: LiveState): Promise<string> {
    const now = ctx.clock.now();
    this.#outboxPaused.set(live.outboxPaused() ? 1 : 0);
    this.#relayPaused.reset();
    for (const [relay, paused] of live.relaysPaused?.() ?? []) {
      this.#relayPaused.set({ relay }, paused ? 1 : 0);
      // Every relay's failure series exist from the start (at 0), not from its first failure.
      for (const c of SEND_CLASSES) this.#sendFailures.inc({ class: c, relay }, 0);
    }
    let facts: HealthFacts;
    try {
      // The health check bounds its first query itself; this bounds the rest.
      facts = await withinMs(this.#readStored(ctx, now), databaseAnswerMs(ctx.config) + 2_000);
    } catch (err) {
      facts = { databaseError: err instanceof Error ? err.message : String(err), mailboxes: [], transport: null, outbox: null };
    }
    if (facts.databaseError !== null) this.#storedUnknown();
    const health = assessHealth(ctx.config, facts, now);
    this.#healthy.set(health.healthy ? 1 : 0);
    this.#healthCheck.reset();
    for (const c of health.checks) this.#healthCheck.set({ check: c.name }, c.ok ? 1 : 0);
    // prom-client 15 writes NaN as "Nan"; the text format's spelling is "NaN" (Prometheus reads
    // either, stricter parsers only the latter). Also nodejs_eventloop_lag_* between close scrapes.
    return (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
  }

  /** The health facts, and the gauges read from the database (none when it does not answer). */
  async #readStored(ctx: AppContext, now: Date): Promise<HealthFacts> {
    const facts = await gatherHealthFacts(ctx);
    if (facts.databaseError !== null) return facts;
    const depth = facts.outbox;
    if (depth !== null) {
      this.#outboxQueued.set(depth.queued);
      this.#outboxFailed.set(depth.failed);
      this.#outboxHeld.set(depth.held);
      this.#outboxOldest.set(depth.oldestQueuedAt === null ? 0 : Math.max(0, (now.getTime() - new Date(depth.oldestQueuedAt).getTime()) / 1000));
    }
    this.#rateUsed.reset();
    this.#rateWaiting.reset();
    this.#rateOldest.reset();
    for (const r of await relayRateWaiting(ctx.db, ctx.config, now, heldSenderAddresses(facts.senders ?? []))) {
      this.#rateUsed.set({ relay: r.relay }, r.usedLastMinute);
      this.#rateWaiting.set({ relay: r.relay }, r.waiting);
      this.#rateOldest.set({ relay: r.relay }, r.oldestWaitingSince === null ? 0 : Math.max(0, (now.getTime() - new Date(r.oldestWaitingSince).getTime()) / 1000));
    }
    this.#mailboxUp.reset();
    this.#mailboxState.reset();
    this.#mailboxBacklog.reset();
    this.#mailboxLastSuccess.reset();
    for (const { name, row } of facts.mailboxes) {
      const state = row?.state ?? null;
      this.#mailboxUp.set({ mailbox: name }, state === 'idling' || state === 'polling' || state === 'processing' ? 1 : 0);
      for (const s of MAILBOX_STATES) this.#mailboxState.set({ mailbox: name, state: s }, state === s ? 1 : 0);
      this.#mailboxBacklog.set({ mailbox: name }, row?.backlog ?? 0);
      if (row?.last_success_at != null) this.#mailboxLastSuccess.set({ mailbox: name }, new Date(row.last_success_at).getTime() / 1000);
    }
    const cases = await openCaseCounts(ctx.db);
    this.#openCases.reset();
    for (const c of cases) this.#openCases.set({ status: c.status, priority: c.priority }, c.n);
    const breaches = await openSlaBreaches(ctx.db);
    this.#slaBreachedOpen.set({ target: 'first_response' }, breaches.firstResponse);
    this.#slaBreachedOpen.set({ target: 'resolution' }, breaches.resolution);
    const totals = await slaBreachTotals(ctx.db);
    // The stored totals as they are (a restored backup's lower value reads as a counter reset).
    this.#slaBreaches.reset();
    for (const target of ['first_response', 'resolution'] as const) this.#slaBreaches.inc({ target }, totals[target]);
    this.#quarantine.set(await quarantineWaiting(ctx.db));
    const runs = await jobRuns(ctx.db);
    this.#jobLastFinished.reset();
    this.#jobLastFailed.reset();
    for (const r of runs) {
      if (r.last_finished_at === null) continue;
      this.#jobLastFinished.set({ job: r.job }, new Date(r.last_finished_at).getTime() / 1000);
      this.#jobLastFailed.set({ job: r.job }, r.last_error !== null ? 1 : 0);
    }
    const last = await lastStoredAt(ctx.db);
    this.#lastStored.set(last === null ? 0 : new Date(last).getTime() / 1000);
    return facts;
  }

  /** The database did not answer: what it holds is unknown (NaN; labelled gauges without series). */
  #storedUnknown(): void {
    for (const g of [this.#outboxQueued, this.#outboxFailed, this.#outboxHeld, this.#outboxOldest, this.#quarantine, this.#lastStored]) g.set(Number.NaN);
    for (const g of [this.#rateUsed, this.#rateWaiting, this.#rateOldest, this.#openCases, this.#slaBreachedOpen, this.#slaBreaches, this.#mailboxUp, this.#mailboxState, this.#mailboxBacklog, this.#mailboxLastSuccess, this.#jobLastFinished, this.#jobLastFailed]) g.reset();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
