import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type { ResolvedConfig, ResolvedPaths } from './config/load.js';
import type { Config } from './config/schema.js';
import { databaseTarget, describeProgress, migrateToLatest, openDatabase, type Db } from './db/database.js';
import type { Logger } from './log.js';
import { MailboxDirectory } from './mailboxes.js';
import type { TemplateEngine } from './mail-out/templates.js';
import type { Mime } from './mime/mime-thread.js';
import { BlobStore } from './storage/blob-store.js';
import { ensurePrivateDir } from './storage/private-files.js';
import type { ThreadSecret } from './cases/thread-token.js';
import { systemDnsResolver, type DnsResolver } from './mail-in/sender-auth.js';
import { noTelemetry, type Telemetry } from './telemetry.js';
import { settlesWithin } from './time-limit.js';

/** Wakes the outbox worker right after a commit that queued mail. */
export class OutboxSignal extends EventEmitter {
  wake(): void {
    this.emit('wake');
  }
}

/** The one composition root: everything a stage, a channel, a job or a command needs. */
export interface AppContext {
  readonly config: Config;
  readonly paths: ResolvedPaths;
  /** HMAC keys of our signed Message-IDs and plus addresses (current + retired ones still accepted). */
  readonly secret: ThreadSecret;
  readonly log: Logger;
  readonly db: Db;
  readonly clock: Clock;
  readonly blobs: BlobStore;
  /** Parses inbound MIME and builds outgoing email: on the main thread, or on the daemon's MIME thread (mime.parseThread). */
  readonly mime: Mime;
  readonly templates: TemplateEngine;
  readonly mailboxes: MailboxDirectory;
  readonly outboxSignal: OutboxSignal;
  /** Value of our X-Loop header. */
  readonly loopId: string;
  /** DNS look-ups of sender authentication (security.senderAuth.mode verify); tests inject a stub. */
  readonly resolveDns: DnsResolver;
  /** In-memory counters for /metrics (the daemon's); a no-op in one-shot commands. */
  readonly telemetry: Telemetry;
  /** This process among several daemons on one database (host:pid:random): holder of leases, claims and job runs. */
  readonly nodeId: string;
}

export interface ContextOptions {
  readonly resolved: ResolvedConfig;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Watch templates for changes (the daemon does; one-shot commands don't). */
  readonly watchTemplates?: boolean;
  /**
   * 'load' (default): load the template set now: checked, or reused as it is when its exact content
   * passed the checks before (<dataDir>/template-check.json; mail-out/template-set.ts). 'none': a command
   * that renders no email (it reads cases, the outbox, the status …) skips reading, hashing and
   * compiling the template folder; its `templates` refuses to render.
   */
  readonly templates?: 'load' | 'none';
  /** Run migrations (default true). */
  readonly migrate?: boolean;
  /**
   * A one-shot command (`casegate ingest`, `cases` …): on PostgreSQL it waits for another process's
   * migration only database.busyTimeoutMs, as for any lock (SQLite's write lock: the same), then
   * fails — ingest exits 75 and the MTA retries — instead of holding the pipe and a connection
   * for as long as a large upgrade takes. The daemon waits (up to an hour) and starts after it.
   */
  readonly shortMigrationWait?: boolean;
  /** DNS for sender authentication (default: the system resolver). */
  readonly resolveDns?: DnsResolver;
  /** Metrics sink (default: none). */
  readonly telemetry?: Telemetry;
  /** SQLite: WAL checkpoints in a worker thread, off the event loop (the daemon; src/db/sqlite-checkpointer.ts). */
  readonly backgroundCheckpoints?: boolean;
  /** MIME work on a thread of its own (the daemon, when mime.parseThread; src/mime/mime-thread.ts). */
  readonly parseThread?: boolean;
}

export async function createContext(opts: ContextOptions): Promise<AppContext> {
  const { config, paths, secret } = opts.resolved;
  const log = opts.log;
  const clock = opts.clock ?? systemClock;
  ensurePrivateDir(paths.dataDir);
  const db = openDatabase(
    databaseTarget(config, paths, {
      applicationName: 'casegate',
      onIdleError: (err: Error) => log.warn({ err: err.message, component: 'db' }, 'an idle PostgreSQL connection failed (server restart?); the next query opens a new one'),
      onSilent: (info) => log.warn({ ...info, component: 'db' }, 'a PostgreSQL connection went silent under a query (a dropped NAT or firewall flow?): its server session was ended and the connection closed; the query failed (transient) and the pool opens a new one'),
      ...(opts.shortMigrationWait === true ? { shortMigrationWait: true } : {}),
      ...(opts.backgroundCheckpoints === true ? { backgroundCheckpoints: { onFailure: (reason: string) => log.error({ component: 'db', reason }, 'background WAL checkpoints stopped') } } : {}),
    }),
  );
  if (opts.migrate !== false) {
    const started = performance.now();
    let applied: readonly string[];
    try {
      ({ applied } = await migrateToLatest(db, {
        // A fresh database's migrations take milliseconds: only a slow one gets a line of its own.
        onProgress: (p) => {
          if (p.kind === 'applied' && p.ms < 1000) log.debug({ component: 'db', ...p }, describeProgress(p));
          else log.info({ component: 'db', ...p }, describeProgress(p));
        },
      }));
    } catch (err) {
      // PostgreSQL: the pool's open connections would keep the process alive — an ingest that
      // printed its 75 would never exit, and the MTA would wait for it until its time limit.
      await db.destroy().catch(() => undefined);
      throw err;
    }
    if (applied.length > 0) log.info({ applied, ms: Math.round(performance.now() - started) }, 'database migrated');
  }
  const mailboxes = MailboxDirectory.fromConfig(config);
  let templates: TemplateEngine;
  try {
    if (opts.templates === 'none') templates = NO_TEMPLATES;
    else {
      const { templatesFor } = await import('./context-templates.js');
      templates = templatesFor(opts.resolved, mailboxes, log, opts.watchTemplates ?? false, 'cached');
    }
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const blobs = new BlobStore(paths.blobDir);
  return {
    config,
    paths,
    secret: secret.withClock(clock),
    log,
    db,
    clock,
    blobs,
    mime: lazyMime(blobs, opts.parseThread === true, log),
    templates,
    mailboxes,
    outboxSignal: new OutboxSignal(),
    loopId: `casegate@${config.instance.domain}`,
    resolveDns: opts.resolveDns ?? systemDnsResolver,
    telemetry: opts.telemetry ?? noTelemetry,
    nodeId: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
  };
}

/**
 * MIME work (src/mime/mime-thread.ts), its module (mailparser and everything behind it) loaded on
 * first parse: most one-shot commands parse nothing. Without the thread, outgoing email is left to
 * the transport to build, and nothing is loaded for it. Where the compiled thread's file is missing
 * (code run from its TypeScript sources, as the unit tests do) the work stays on the main thread.
 */
function lazyMime(blobs: BlobStore, thread: boolean, log: Logger): Mime {
  let real: Promise<Mime> | null = null;
  // Sending on the thread is decided at once: until the module is loaded, an email is sent here.
  let loaded: Mime | null = null;
  const load = (): Promise<Mime> =>
    (real ??= import('./mime/mime-thread.js').then((m) => {
      const url = thread ? m.mimeWorkerUrl() : null;
      if (thread && url === null) log.warn({ component: 'mime' }, 'no compiled MIME thread beside this code (run from sources?): MIME work on the main thread');
      if (url === null) return m.mainThreadMime(blobs);
      const mime = new m.MimeThread(blobs, url, (reason, jobs) =>
        log.error({ component: 'mime', reason, jobs }, 'MIME thread lost; the messages it had are parsed and the emails it had are built and sent on the main thread'),
      );
      log.info({ component: 'mime' }, 'MIME work on a thread of its own: parsing messages up to 1 MB, building outgoing email, and sending it when the transport is SMTP (it starts with the first one)');
      return mime;
    }).then((m) => (loaded = m)));
  if (thread) void load();
  return {
    parse: async (raw, limits, timeoutMs) => (await load()).parse(raw, limits, timeoutMs),
    prepare: async (options, timeoutMs) => (thread ? (await load()).prepare(options, timeoutMs) : options),
    sendSmtp: (options, smtp) => loaded?.sendSmtp(options, smtp) ?? null,
    closeSmtp: (key, how) => loaded?.closeSmtp(key, how),
    close: async () => {
      if (real !== null) await (await real).close();
    },
  };
}

/** The templates of a context created with `templates: 'none'`: a command that renders nothing. */
const NO_TEMPLATES: TemplateEngine = {
  render() {
    throw new Error('this command loaded no email templates (createContext with templates: "none")');
  },
  check() {
    throw new Error('this command loaded no email templates (createContext with templates: "none")');
  },
  savedReplies() {
    throw new Error('this command loaded no email templates (createContext with templates: "none")');
  },
  renderSavedReply() {
    throw new Error('this command loaded no email templates (createContext with templates: "none")');
  },
  close() {},
};

/** The parts of a context a configuration reload (SIGHUP) replaces; everything else stays. */
export interface ReloadableParts {
  readonly config: Config;
  readonly paths: ResolvedPaths;
  readonly secret: ThreadSecret;
  readonly templates: TemplateEngine;
  readonly mailboxes: MailboxDirectory;
  readonly loopId: string;
}

/**
 * Swap the reloadable parts into a running context (src/reload.ts). Every component reads
 * `ctx.config` (…) when it acts, so the next message, email or job sees the new values; a message
 * already in the pipeline may finish under the old ones.
 */
export function replaceReloadableParts(ctx: AppContext, parts: ReloadableParts): void {
  const live = ctx as { -readonly [K in keyof ReloadableParts]: ReloadableParts[K] };
  live.config = parts.config;
  live.paths = parts.paths;
  live.secret = parts.secret;
  live.templates = parts.templates;
  live.mailboxes = parts.mailboxes;
  live.loopId = parts.loopId;
}

/**
 * How long closing waits for the database's connections to end. PostgreSQL's pool ends only once
 * every connection is back, and one whose query waits on a server that went silent (a frozen
 * server, a proxy whose backend is gone) never comes back: `systemctl stop` hung until systemd
 * killed the daemon.
 */
const DB_CLOSE_WAIT_MS = 10_000;

export async function closeContext(ctx: AppContext): Promise<void> {
  ctx.templates.close();
  await ctx.mime.close();
  const closed = await settlesWithin(ctx.db.destroy(), DB_CLOSE_WAIT_MS);
  if (!closed) ctx.log.warn({ seconds: DB_CLOSE_WAIT_MS / 1000 }, 'a database connection did not close in time (a query still waiting on a server that does not answer); closing without it');
}
