import type Mail from 'nodemailer/lib/mailer/index.js';
import type { AppContext } from '../context.js';
import { isBouncing } from '../db/repos/addresses.js';
import { attachmentsOfOutbox } from '../db/repos/agent-work.js';
import { addEvent } from '../db/repos/events.js';
import { dueRows, markFailed, markRetry, markSent } from '../db/repos/outbox.js';
import type { OutboxRow } from '../db/schema.js';
import { isPermanent, type MailTransport } from './transport.js';

const BATCH = 16;

/** Turn a stored outbox row into nodemailer options: every header fixed when the row was written. */
export function toMailOptions(row: OutboxRow, attachments: Mail.Attachment[] = []): Mail.Options {
  const headers = JSON.parse(row.headers_json) as Record<string, string>;
  const cc = JSON.parse(row.cc_json) as { address: string; name: string }[];
  return {
    from: { name: row.from_name, address: row.from_address },
    to: { name: row.to_name, address: row.to_address },
    ...(cc.length > 0 ? { cc } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
    ...(row.reply_to !== null ? { replyTo: row.reply_to } : {}),
    subject: row.subject,
    text: row.text,
    html: row.html,
    messageId: `<${row.message_id}>`,
    ...(row.in_reply_to !== null ? { inReplyTo: `<${row.in_reply_to}>` } : {}),
    ...(row.references_text !== null ? { references: row.references_text } : {}),
    date: new Date(row.created_at),
    headers,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/** The stored files of an email (an agent's relayed attachments), streamed from the blob store. */
async function outgoingAttachments(ctx: AppContext, outboxId: number): Promise<Mail.Attachment[]> {
  return (await attachmentsOfOutbox(ctx.db, outboxId)).map((a) => ({
    filename: a.filename,
    contentType: a.content_type,
    content: ctx.blobs.open(a.sha256),
    contentDisposition: a.disposition === 'inline' ? 'inline' : 'attachment',
    ...(a.content_id !== null ? { cid: a.content_id } : {}),
  }));
}

/**
 * Sends queued rows. A row is marked sent only after the transport accepted it; 4xx and network
 * errors retry with exponential backoff (capped), 5xx or giving up marks it failed with an event.
 * Woken by commits (OutboxSignal) and by a periodic sweep, so nothing waits and nothing is lost
 * across restarts.
 */
export class OutboxWorker {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  readonly #onWake = (): void => this.kick();

  constructor(
    private readonly ctx: AppContext,
    private readonly transport: MailTransport,
  ) {}

  start(): void {
    this.#stopped = false;
    this.ctx.outboxSignal.on('wake', this.#onWake);
    const sweep = (): void => {
      this.kick();
      this.#timer = setTimeout(sweep, this.ctx.config.outgoing.sweepSeconds * 1000);
      this.#timer.unref();
    };
    sweep();
  }

  /** Run a pass now (coalesces concurrent requests). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running !== null) {
      this.#again = true;
      return;
    }
    this.#running = this.drain()
      .then(() => undefined)
      .catch((err: unknown) => this.ctx.log.error({ err, component: 'outbox' }, 'outbox pass failed'))
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          this.kick();
        }
      });
  }

  /** Send everything due now; resolves when no due row is left. */
  async drain(): Promise<number> {
    let sent = 0;
    for (;;) {
      const rows = await dueRows(this.ctx.db, this.ctx.clock.now().toISOString(), BATCH);
      if (rows.length === 0 || this.#stopped) return sent;
      const results = await Promise.all(rows.map((r) => this.#sendOne(r)));
      sent += results.filter(Boolean).length;
      if (results.every((ok) => !ok)) return sent;
    }
  }

  async #sendOne(row: OutboxRow): Promise<boolean> {
    const log = this.ctx.log.child({ component: 'outbox', outboxId: row.id, caseId: row.case_id, messageId: row.message_id });
    const retry = this.ctx.config.outgoing.retry;
    const attempts = row.attempts + 1;
    if (await isBouncing(this.ctx.db, row.to_address)) {
      const at = this.ctx.clock.now().toISOString();
      await this.ctx.db.transaction().execute(async (trx) => {
        await trx.updateTable('outbox').set({ status: 'suppressed', last_error: 'address is bouncing' }).where('id', '=', row.id).execute();
        await addEvent(trx, { caseId: row.case_id, type: 'email.suppressed', actor: 'system', reason: `${row.kind} to ${row.to_address}: address is bouncing`, data: { outboxId: row.id }, at });
      });
      log.warn({ kind: row.kind, to: row.to_address }, 'email not sent: address is bouncing');
      return false;
    }
    try {
      const info = await this.transport.send(toMailOptions(row, await outgoingAttachments(this.ctx, row.id)));
      const now = this.ctx.clock.now().toISOString();
      await this.ctx.db.transaction().execute(async (trx) => {
        await markSent(trx, row.id, attempts, now);
        await trx.updateTable('messages').set({ sent_at: now }).where('outbox_id', '=', row.id).execute();
      });
      log.info({ kind: row.kind, to: row.to_address, attempts, response: info.response.slice(0, 200) }, 'email sent');
      return true;
    } catch (err) {
      const now = this.ctx.clock.now();
      const error = String((err as Error).message ?? err).slice(0, 500);
      const ageHours = (now.getTime() - new Date(row.created_at).getTime()) / 3_600_000;
      if (isPermanent(err) || ageHours >= retry.giveUpHours) {
        const why = isPermanent(err) ? 'permanent failure' : `gave up after ${retry.giveUpHours} h`;
        await this.ctx.db.transaction().execute(async (trx) => {
          await markFailed(trx, row.id, attempts, error);
          await addEvent(trx, { caseId: row.case_id, type: 'email.failed', actor: 'system', reason: `${row.kind} to ${row.to_address}: ${why}: ${error}`, data: { outboxId: row.id }, at: now.toISOString() });
        });
        log.error({ kind: row.kind, to: row.to_address, attempts, error }, `email failed (${why})`);
      } else {
        const delayS = Math.min(retry.baseSeconds * 2 ** (attempts - 1), retry.maxSeconds);
        const next = new Date(now.getTime() + delayS * 1000).toISOString();
        await markRetry(this.ctx.db, row.id, attempts, next, error);
        log.warn({ kind: row.kind, to: row.to_address, attempts, retryAt: next, error }, 'email send failed temporarily; will retry');
      }
      return false;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.ctx.outboxSignal.off('wake', this.#onWake);
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#running;
  }
}
