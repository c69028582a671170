import { closeContext, createContext, type AppContext } from './context.js';
import type { ResolvedConfig } from './config/load.js';
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import { startSmtpListener, type SmtpListener } from './channels/smtp-listener.js';
import { startImapChannel, type ImapChannel } from './channels/imap.js';
import { OutboxWorker } from './mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from './mail-out/transport.js';

export interface Daemon {
  readonly ctx: AppContext;
  readonly smtp: SmtpListener | null;
  /** The watched IMAP mailboxes (none when no mailbox has an `imap` config). */
  readonly imap: ImapChannel;
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
  const ctx = await createContext({ resolved: opts.resolved, log: opts.log, watchTemplates: opts.resolved.config.templates.watch, checkTemplates: 'full', ...(opts.clock ? { clock: opts.clock } : {}) });
  const transport = opts.transport ?? createTransport(opts.resolved);
  const outbox = new OutboxWorker(ctx, transport);
  let smtp: SmtpListener | null = null;
  let imap: ImapChannel | null = null;
  try {
    outbox.start();
    if (ctx.config.listener.enabled) smtp = await startSmtpListener(ctx);
    // Each mailbox connects in its own loop (in the background): a failing one never blocks the start.
    imap = startImapChannel(ctx);
  } catch (err) {
    await imap?.stop();
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
      imap: imap.watchers.map((w) => w.name),
      outgoing: transport.name,
    },
    'casegate started',
  );
  let stopping: Promise<void> | null = null;
  const imapChannel = imap;
  return {
    ctx,
    smtp,
    imap: imapChannel,
    outbox,
    stop() {
      stopping ??= (async () => {
        ctx.log.info('casegate stopping');
        // In-flight messages finish (and are acknowledged) before the database closes.
        await imapChannel.stop();
        await smtp?.close();
        await outbox.stop();
        transport.close();
        await closeContext(ctx);
      })();
      return stopping;
    },
  };
}
