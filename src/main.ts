import { closeContext, createContext, type AppContext } from './context.js';
import { loadConfig, problemLine, type ResolvedConfig } from './config/load.js';
import { packageVersion } from './ops/version.js';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import { warnStrandedQueues } from './cases/stranded-queues.js';
import { startSmtpListener, type SmtpListener } from './channels/smtp-listener.js';
import { startImapChannel, type ImapChannel } from './channels/imap-channel.js';
import { WorkLease } from './channels/work-lease.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { databaseTarget, describeTarget } from './db/database.js';
import { RelayOutbox } from './mail-out/relay-outbox.js';
import { createRelayTransports, type MailTransport } from './mail-out/transport.js';
import { startJobs, type JobScheduler } from './jobs/scheduler.js';
import { Metrics, type LiveState } from './ops/metrics.js';
import { reloadDaemon, type ReloadReport } from './reload.js';
import { startOpsServer } from './ops/ops-server.js';
import { checkSecretAgreement } from './ops/secret-agreement.js';
import { startWebServer, type WebServer } from './web/server.js';

export interface Daemon {
  readonly ctx: AppContext;
  readonly smtp: SmtpListener | null;
  /** The watched IMAP mailboxes (none when no mailbox has an `imap` config). */
  readonly imap: ImapChannel;
  /** The outbox's senders, one per relay in use (mail-out/relay-outbox.ts). */
  readonly outbox: RelayOutbox;
  /** Scheduled jobs (null when jobs.enabled is false). */
  readonly jobs: JobScheduler | null;
  /** The web server (null when web.enabled is false). */
  readonly web: WebServer | null;
  /** The ops listener: /healthz and /metrics (null when ops.enabled is false). */
  readonly ops: WebServer | null;
  readonly metrics: Metrics;
  /** Re-read the configuration and templates and apply them (SIGHUP); a broken one is reported and the running one kept. */
  reload(): Promise<ReloadReport>;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly resolved: ResolvedConfig;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Replace the configured transport (tests); a reload then keeps it. */
  readonly transport?: MailTransport;
  /** How a reload reads the configuration again (default: the same file, mailbox credentials required). */
  readonly loadConfig?: () => ResolvedConfig;
}

/** The running components; a reload (src/reload.ts) replaces some of them. */
export interface DaemonParts {
  smtp: SmtpListener | null;
  imap: ImapChannel;
  /** The outbox's senders and their transports (one per relay in use). */
  outbox: RelayOutbox;
  jobs: JobScheduler | null;
  web: WebServer | null;
  ops: WebServer | null;
  /** PostgreSQL: this daemon's presence (lease `node:<nodeId>`), what `casegate status` reads there. */
  presence: WorkLease | null;
  /** Whether the transport was injected (tests): a reload never replaces it. */
  readonly fixedTransport: boolean;
}

/**
 * instance lock → config → context → migrate → channels → outbox; stop() closes them again.
 *
 * SQLite: the instance lock comes first: a second daemon on the same database refuses to start
 * (InstanceLockedError names the holder) before it touches anything. PostgreSQL: several daemons
 * run side by side; each mailbox is read by the holder of its lease, the outbox is drained by all
 * (row claims), each job's schedule runs once (slot claims). The outbox starts last,
 * once every channel is up: a daemon that cannot bind its listener exits without sending a thing.
 */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const dbPath = opts.resolved.paths.dbPath;
  // SQLite: one daemon per database file. PostgreSQL: any number share the work (leases and claims).
  const sqlite = opts.resolved.config.database.driver === 'sqlite';
  const lock: InstanceLock | null = !sqlite || dbPath === ':memory:' ? null : acquireInstanceLock(dbPath);
  const metrics = new Metrics(packageVersion());
  let ctx: AppContext;
  try {
    ctx = await createContext({ resolved: opts.resolved, log: opts.log, watchTemplates: opts.resolved.config.templates.watch, telemetry: metrics, backgroundCheckpoints: true, parseThread: opts.resolved.config.mime.parseThread, ...(opts.clock ? { clock: opts.clock } : {}) });
  } catch (err) {
    lock?.release();
    throw err;
  }
  // The configuration in force since the start (casegate_config_last_reload_successful 1).
  metrics.configReload(true, ctx.clock.now());
  for (const w of opts.resolved.warnings) ctx.log.warn({ key: w.path }, `configuration warning: ${problemLine(w, opts.resolved.lineOf)}`);
  await warnStrandedQueues(ctx);
  if (!sqlite) {
    try {
      await checkSecretAgreement(ctx);
    } catch (err) {
      await closeContext(ctx);
      throw err;
    }
  }
  let transports: Map<string, MailTransport> | MailTransport;
  try {
    // A blob directory that cannot be made or a configured DKIM key that cannot be read stops the
    // start: nothing has started yet. The blob store's directories are made now, not by the first
    // messages (storage/blob-store.ts).
    await ctx.blobs.prepare();
    transports = opts.transport ?? createRelayTransports(opts.resolved, ctx.log.child({ component: 'outgoing' }));
  } catch (err) {
    await closeContext(ctx);
    lock?.release();
    throw err;
  }
  const parts: DaemonParts = { smtp: null, imap: startImapChannel(ctx, []), outbox: new RelayOutbox(ctx, transports), jobs: null, web: null, ops: null, presence: null, fixedTransport: opts.transport !== undefined };
  const live: LiveState = {
    outboxPaused: () => parts.outbox.paused,
    relaysPaused: () => parts.outbox.pausedByRelay(),
  };
  try {
    if (!sqlite) {
      // No PID file on a shared database: the daemon's presence is a lease only it renews.
      parts.presence = new WorkLease(ctx, `node:${ctx.nodeId}`, ctx.log);
      // Taken again after a database outage longer than the lease: status lists this daemon again.
      await parts.presence.keep();
    }
    if (ctx.config.listener.enabled) parts.smtp = await startSmtpListener(ctx);
    // Each mailbox connects in its own loop (in the background): a failing one never blocks the start.
    parts.imap = startImapChannel(ctx);
    if (ctx.config.web.enabled) parts.web = await startWebServer(ctx);
    if (ctx.config.ops.enabled) parts.ops = await startOpsServer(ctx, metrics, live);
    await parts.outbox.start();
    // Jobs last: they catch up on what came due while we were down (issue 11) — once the mail that
    // waited in the IMAP mailboxes meanwhile is in (a reply reopens its case before a reminder or close).
    if (ctx.config.jobs.enabled) parts.jobs = startJobs(ctx, parts.imap.watchers.length > 0 ? parts.imap.firstPass : undefined);
  } catch (err) {
    await stopParts(parts);
    await closeContext(ctx);
    lock?.release();
    throw err;
  }
  ctx.log.info(
    {
      config: opts.resolved.source ?? 'embedded default',
      database: describeTarget(databaseTarget(ctx.config, ctx.paths)),
      mailboxes: ctx.config.mailboxes.map((m) => `${m.name} <${m.addresses.join(', ')}>`),
      smtp: parts.smtp !== null ? `${ctx.config.listener.host}:${parts.smtp.port}` : 'disabled',
      imap: parts.imap.watchers.map((w) => w.name),
      // The default transport as before (a string, for whoever reads the line); named relays beside it.
      outgoing: parts.outbox.transports.get('default')?.name ?? 'none (every mailbox has a relay of its own)',
      ...(parts.outbox.transports.size > 1 ? { relays: [...parts.outbox.transports].filter(([relay]) => relay !== 'default').map(([relay, t]) => t.label ?? relay) } : {}),
      web: parts.web !== null ? `${ctx.config.web.host}:${parts.web.port}` : 'disabled',
      ops: parts.ops !== null ? `${ctx.config.ops.host}:${parts.ops.port}` : 'disabled',
      jobs: parts.jobs !== null ? [...parts.jobs.tasks.keys()] : 'disabled',
    },
    'casegate started',
  );
  let stopping: Promise<void> | null = null;
  let reloading: Promise<ReloadReport> | null = null;
  const context = ctx;
  const load = opts.loadConfig ?? (() => loadConfig({ path: opts.resolved.source ?? undefined, mailboxCredentials: 'required' }));
  return {
    ctx,
    get smtp() {
      return parts.smtp;
    },
    get imap() {
      return parts.imap;
    },
    get outbox() {
      return parts.outbox;
    },
    get jobs() {
      return parts.jobs;
    },
    get web() {
      return parts.web;
    },
    get ops() {
      return parts.ops;
    },
    metrics,
    reload() {
      if (stopping !== null) return Promise.resolve({ ok: false, problems: ['stopping'], changed: [], actions: [] });
      // One reload at a time; a SIGHUP during a reload waits for it and runs again.
      const run = (): Promise<ReloadReport> => reloadDaemon(context, parts, load, { metrics, live });
      const next: Promise<ReloadReport> = (reloading ?? Promise.resolve(null)).then(run, run).finally(() => {
        if (reloading === next) reloading = null;
      });
      reloading = next;
      return next;
    },
    stop() {
      stopping ??= (async () => {
        context.log.info('casegate stopping');
        await reloading?.catch(() => undefined);
        await stopParts(parts);
        await closeContext(context);
        lock?.release();
        context.log.info('casegate stopped');
      })();
      return stopping;
    },
  };
}

/**
 * Stop every component: a running job finishes its current item; the web servers stop taking
 * requests and answer the ones in flight (a reply from the case page, up to 5 s); then all at
 * once: idle SMTP sessions get 421 now, messages in flight finish (and are
 * acknowledged) before the database closes; the outbox records what was sent.
 */
async function stopParts(parts: DaemonParts): Promise<void> {
  await parts.jobs?.stop();
  await parts.web?.close();
  await parts.ops?.close();
  await Promise.all([parts.imap.stop(), parts.smtp?.close(), parts.outbox.stop()]);
  parts.outbox.close();
  await parts.presence?.release();
}
