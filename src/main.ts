import { closeContext, createContext, type AppContext } from './context.js';
import type { ResolvedConfig } from './config/load.js';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import { startSmtpListener, type SmtpListener } from './channels/smtp-listener.js';
import { OutboxWorker } from './mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from './mail-out/transport.js';

export interface Daemon {
  readonly ctx: AppContext;
  readonly smtp: SmtpListener | null;
  readonly outbox: OutboxWorker;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly resolved: ResolvedConfig;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Replace the configured transport (tests). */
  readonly transport?: MailTransport;
}

/** config → context → migrate → channels + outbox; stop() closes them in reverse order. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const ctx = await createContext({ resolved: opts.resolved, log: opts.log, watchTemplates: opts.resolved.config.templates.watch, ...(opts.clock ? { clock: opts.clock } : {}) });
  const transport = opts.transport ?? createTransport(opts.resolved);
  const outbox = new OutboxWorker(ctx, transport);
  let smtp: SmtpListener | null = null;
  try {
    outbox.start();
    if (ctx.config.listener.enabled) smtp = await startSmtpListener(ctx);
  } catch (err) {
    await outbox.stop();
    transport.close();
    await closeContext(ctx);
    throw err;
  }
  ctx.log.info(
    {
      config: opts.resolved.source ?? 'embedded default',
      database: ctx.paths.dbPath,
      mailboxes: ctx.config.mailboxes.map((m) => `${m.name} <${m.addresses.join(', ')}>`),
      smtp: smtp !== null ? `${ctx.config.listener.host}:${smtp.port}` : 'disabled',
      outgoing: transport.name,
    },
    'casegate started',
  );
  let stopping: Promise<void> | null = null;
  return {
    ctx,
    smtp,
    outbox,
    stop() {
      stopping ??= (async () => {
        ctx.log.info('casegate stopping');
        await smtp?.close();
        await outbox.stop();
        transport.close();
        await closeContext(ctx);
      })();
      return stopping;
    },
  };
}
