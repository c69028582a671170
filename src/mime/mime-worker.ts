/**
 * The MIME thread's entry (mime-thread.ts starts it): writes a held inbound message's file
 * (BlobStore.hold: the IMAP reader's messages) and parses the inbound messages, and builds the
 * outgoing emails the daemon's main thread sends, with the same code the main thread would run
 * (parseHere: parseMailFile and the visible text, attachments streamed into the same blob store;
 * nodemailer's composer), and answers with plain data (it crosses the thread boundary as a
 * structured clone) or the error's name, code and message. SMTP emails it builds, signs and sends
 * itself, through a nodemailer pool per transport settings, and answers with the relay's reply or
 * the send error's fields (thread-smtp.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import nodemailer, { type Transporter } from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { buildMessage } from '../mail-out/mime-build.js';
import { BlobStore, type StoredBlob } from '../storage/blob-store.js';
import { bufferOf, parseHere, type MimeJob, type MimeReply } from './mime-thread.js';
import { offersDsn, refusedRecipientsOf } from '../mail-out/send-errors.js';
import { answerWasLost, closePool, installReplyWait } from '../mail-out/smtp-reply-wait.js';
import { sendErrorOf, type ThreadSent, type ThreadSmtp } from './thread-smtp.js';

const port = parentPort;
if (port === null) throw new Error('mime-worker.js runs as a worker thread (mime-thread.ts starts it)');
const blobs = new BlobStore((workerData as { blobDir: string }).blobDir);

/** The SMTP pools this thread sends through, one per transport's settings (made on its first email). */
const pools = new Map<string, Transporter>();
// The pools' options carry the wait after the final "." (outgoing.smtp.replyTimeoutSeconds).
installReplyWait();

async function sendSmtp(smtp: ThreadSmtp, options: Mail.Options): Promise<ThreadSent> {
  let pool = pools.get(smtp.key);
  if (pool === undefined) {
    pool = nodemailer.createTransport({ ...smtp.options, pool: true });
    pools.set(smtp.key, pool);
  }
  try {
    const info = (await pool.sendMail(options)) as { response?: unknown; ehlo?: unknown };
    const dsn = offersDsn(info);
    return { response: String(info.response ?? ''), refused: refusedRecipientsOf(info), ...(dsn !== undefined ? { offersDsn: dsn } : {}) };
  } catch (err) {
    if (answerWasLost(options.messageId) && err !== null && typeof err === 'object') Object.assign(err, { answerLost: true });
    throw err;
  }
}

function storedBlob(raw: Extract<MimeJob, { kind: 'parse' }>['raw']): StoredBlob {
  return { ...raw, data: bufferOf(raw.data) };
}

async function work(job: Exclude<MimeJob, { kind: 'close-smtp' }>): Promise<[MimeReply, ArrayBuffer[]]> {
  if (job.kind === 'send') {
    try {
      return [{ id: job.id, sent: await sendSmtp(job.smtp, { ...job.options, disableFileAccess: true, disableUrlAccess: true }) }, []];
    } catch (err) {
      return [{ id: job.id, sendError: sendErrorOf(err) }, []];
    }
  }
  if (job.kind === 'parse') {
    const raw = storedBlob(job.raw);
    if (job.store) {
      try {
        blobs.writeSmallSync(raw.data!, raw.sha256);
      } catch (err) {
        return [{ id: job.id, error: errorOf(err), unstored: true }, []];
      }
    }
    return [{ id: job.id, parsed: await parseHere(raw, blobs, job.limits) }, []];
  }
  const built = await buildMessage(job.options);
  // A copy of exactly the message's bytes (nodemailer's Buffer may share a pooled block), moved back.
  const raw = new Uint8Array(built.raw);
  return [{ id: job.id, built: { ...built, raw } }, [raw.buffer]];
}

/** An error as it crosses back: its name, message and code (EMAXLEN, ENOSPC …). */
function errorOf(err: unknown): { name: string; message: string; code?: string } {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
  };
}

port.on('message', (job: MimeJob) => {
  if (job.kind === 'close-smtp') {
    const pool = pools.get(job.key);
    if (pool !== undefined) closePool(pool.transporter, job.how);
    // 'answers' keeps the pool's sessions waiting for their answer; a later 'now' closes them.
    if (job.how !== 'answers') pools.delete(job.key);
    return;
  }
  work(job).then(
    ([reply, transfer]) => port.postMessage(reply, transfer),
    (err: unknown) => port.postMessage({ id: job.id, error: errorOf(err) } satisfies MimeReply),
  );
});
