import { closeContext, createContext, type AppContext } from './context.js';
import type { ResolvedConfig } from './config/load.js';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import { startSmtpListener, type SmtpListener } from './channels/smtp-listener.js';
import { startImapChannel, type ImapChannel } from './channels/imap.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { databaseTarget, describeTarget } from './db/database.js';
import { OutboxWorker } from './mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from './mail-out/transport.js';
import { startJobs, type JobScheduler } from './jobs/scheduler.js';
import { startWebServer, type WebServer } from './web/server.js';

export interface Daemon {
  readonly ctx: AppContext;
  readonly smtp: SmtpListener | null;
  /** The watched IMAP mailboxes (none when no mailbox has an `imap` config). */
  readonly imap: ImapChannel;
  readonly outbox: OutboxWorker;
  /** Scheduled jobs (null when jobs.enabled is false). */
  readonly jobs: JobScheduler | null;
  /** The web server (null when web.enabled is false). */
  readonly web: WebServer | null;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly resolved: ResolvedConfig;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Replace the configured transport (tests). */
  readonly transport?: MailTransport;
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
  let ctx: AppContext;
  try {
    ctx = await createContext({ resolved: opts.resolved, log: opts.log, watchTemplates: opts.resolved.config.templates.watch, checkTemplates: 'full', ...(opts.clock ? { clock: opts.clock } : {}) });
  } catch (err) {
    lock?.release();
    throw err;
  }
  for (const w of opts.resolved.warnings) ctx.log.warn({ key: w.path }, `configuration warning: ${w.path}: ${w.message}`);
  const transport = opts.transport ?? createTransport(opts.resolved);
  const outbox = new OutboxWorker(ctx, transport);
  let smtp: SmtpListener | null = null;
  let imap: ImapChannel | null = null;
  let jobs: JobScheduler | null = null;
  let web: WebServer | null = null;
  try {
    if (ctx.config.listener.enabled) smtp = await startSmtpListener(ctx);
    // Each mailbox connects in its own loop (in the background): a failing one never blocks the start.
    imap = startImapChannel(ctx);
    if (ctx.config.web.enabled) web = await startWebServer(ctx);
    await outbox.start();
    // Jobs last: they catch up on what came due while we were down (issue 11).
    if (ctx.config.jobs.enabled) jobs = startJobs(ctx);
  } catch (err) {
    await jobs?.stop();
    await web?.close();
    await imap?.stop();
    await smtp?.close();
    await outbox.stop();
    transport.close();
    await closeContext(ctx);
    lock?.release();
    throw err;
  }
  ctx.log.info(
    {
      config: opts.resolved.source ?? 'embedded default',
      database: describeTarget(databaseTarget(ctx.config, ctx.paths)),
      mailboxes: ctx.config.mailboxes.map((m) => `${m.name} <${m.addresses.join(', ')}>`),
      smtp: smtp !== null ? `${ctx.config.listener.host}:${smtp.port}` : 'disabled',
      imap: imap.watchers.map((w) => w.name),
      outgoing: transport.name,
      web: web !== null ? `${ctx.config.web.host}:${web.port}` : 'disabled',
      jobs: jobs !== null ? [...jobs.tasks.keys()] : 'disabled',
    },
    'casegate started',
  );
  let stopping: Promise<void> | null = null;
  const imapChannel = imap;
  const listener = smtp;
  const context = ctx;
  return {
    ctx,
    smtp,
    imap: imapChannel,
    outbox,
    jobs,
    web,
    stop() {
      stopping ??= (async () => {
        context.log.info('casegate stopping');
        // A running job finishes its current item; the web server stops taking requests.
        await jobs?.stop();
        await web?.close();
        // All at once: idle SMTP sessions get 421 now, messages in flight finish (and are
        // acknowledged) before the database closes; the outbox records what was sent.
        await Promise.all([imapChannel.stop(), listener?.close(), outbox.stop()]);
        transport.close();
        await closeContext(context);
        lock?.release();
        context.log.info('casegate stopped');
      })();
      return stopping;
    },
  };
}
