import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { AppContext } from '../context.js';
import type { MailboxConfig } from '../config/schema.js';
import { mailboxFromHeaders } from '../channels/arrival.js';
import { runPipeline } from '../pipeline/run-pipeline.js';
import { RefusedError } from '../pipeline/types.js';
import type { StoredBlob } from '../storage/blob-store.js';
import type { Progress } from '../cli/progress.js';

/**
 * `casegate import --mbox FILE | --maildir DIR | --eml DIR`: history from another tool (Zammad,
 * RT, osTicket export mail as mbox or Maildir) into casegate, the way a migrating team expects:
 *
 *  - every message is stored first (blob store), then all of them go through the normal pipeline
 *    OLDEST FIRST (by their Date header), so a reply finds the case of the mail it answers
 *    (References / In-Reply-To from a participant, the subject tag) and threads form as they did;
 *  - cases keep their dates: the pipeline runs with the clock at the message's Date, so created
 *    and updated times, events and the reopen window are those of the original mail;
 *  - nothing is sent: every email the pipeline would queue for historic mail (confirmations,
 *    agent notifications) is recorded as cancelled in the same transaction. --notify sends them;
 *  - idempotent: a message seen before (Message-ID, else the raw bytes) is recognised as a
 *    duplicate and not stored twice, so an interrupted import is simply run again.
 */


/** What was named on the command line is not an archive to import: one line, not a stack (cli/import.ts). */
export class ImportSourceError extends Error {
  override readonly name = 'ImportSourceError';
}

export type ImportSource = { readonly kind: 'mbox'; readonly path: string } | { readonly kind: 'maildir'; readonly path: string } | { readonly kind: 'eml'; readonly path: string };

export interface ImportOptions {
  readonly mailbox?: MailboxConfig;
  /** Send what the pipeline queues (confirmations …) instead of recording it as cancelled. */
  readonly notify: boolean;
}

export interface ImportSummary {
  readonly messages: number;
  readonly stored: number;
  readonly newCases: number;
  readonly ignored: number;
  readonly duplicates: number;
  readonly quarantined: number;
  readonly retry: number;
  readonly refused: number;
  /** Larger than listener.maxMessageBytes: left out. */
  readonly tooBig: number;
  /** First and last Date of the imported mail. */
  readonly from: string | null;
  readonly to: string | null;
  readonly seconds: number;
}

interface Item {
  readonly blob: StoredBlob;
  readonly date: Date;
  readonly order: number;
}

/** The Date header of a raw message (unfolded), or null. */
export function dateHeader(raw: Buffer): Date | null {
  const text = raw.subarray(0, 64 * 1024).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = (end >= 0 ? text.slice(0, end) : text).replace(/\r?\n[ \t]+/g, ' ');
  const m = /^date:[ \t]*(.+)$/im.exec(head);
  if (m === null) return null;
  const d = new Date(m[1]!.replace(/\s*\([^)]*\)\s*$/, '').trim());
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * The first of the candidate dates that is not in the future, else now: a Date header of 2100 (a
 * sender's broken clock, a forged header) would give a case opened in 2100 — first in every list,
 * its clocks not due for decades, out of reach of retention, its links older than itself.
 */
export function pastDate(now: Date, ...candidates: readonly (Date | null)[]): Date {
  return candidates.find((d): d is Date => d !== null && d.getTime() <= now.getTime()) ?? now;
}

async function headOf(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

type MboxMessage = { content: Buffer; time: Date | false };
type MboxReader = (input: Readable) => AsyncIterable<MboxMessage>;

/** Every message of the source into the blob store, with its date (Date header, else the mbox From_ line, else the file's time). */
async function collect(ctx: AppContext, source: ImportSource, tick: () => void, skip: () => void): Promise<Item[]> {
  const items: Item[] = [];
  const limit = ctx.config.listener.maxMessageBytes;
  if (source.kind === 'mbox') {
    const require = createRequire(import.meta.url);
    const { mboxReader } = require('mbox-reader') as { mboxReader: MboxReader };
    for await (const msg of mboxReader(createReadStream(source.path))) {
      if (msg.content.length > limit) {
        skip();
        continue;
      }
      const { sha256, size, path } = await ctx.blobs.putBuffer(msg.content);
      // Only its name is kept until its turn (read from its file then): an export of many GB is never held in memory.
      items.push({ blob: { sha256, size, path }, date: pastDate(ctx.clock.now(), dateHeader(msg.content), msg.time !== false ? msg.time : null), order: items.length });
      tick();
    }
    return items;
  }
  const files =
    source.kind === 'maildir'
      ? ['cur', 'new'].flatMap((sub) => (existsSync(join(source.path, sub)) ? readdirSync(join(source.path, sub)).map((f) => join(source.path, sub, f)) : []))
      : readdirSync(source.path)
          .filter((f) => f.toLowerCase().endsWith('.eml'))
          .map((f) => join(source.path, f));
  if (source.kind === 'maildir' && !existsSync(join(source.path, 'cur')) && !existsSync(join(source.path, 'new'))) throw new ImportSourceError(`${source.path} is not a Maildir (no cur/ or new/)`);
  for (const file of files.sort()) {
    const st = statSync(file);
    if (!st.isFile()) continue;
    if (st.size > limit) {
      skip();
      continue;
    }
    const { sha256, size, path } = await ctx.blobs.put(createReadStream(file), limit);
    items.push({ blob: { sha256, size, path }, date: pastDate(ctx.clock.now(), dateHeader(await headOf(file)), st.mtime), order: items.length });
    tick();
  }
  return items;
}

export async function importMail(ctx: AppContext, source: ImportSource, opts: ImportOptions, progress: (label: string, total: number) => Progress): Promise<ImportSummary> {
  const started = performance.now();
  const reading = progress('reading', 0);
  let read = 0;
  let tooBig = 0;
  const items = await collect(
    ctx,
    source,
    () => {
      read += 1;
      reading.setTotal(read);
      reading.tick();
    },
    () => (tooBig += 1),
  );
  reading.stop();
  // Oldest first: replies come after what they answer.
  items.sort((a, b) => a.date.getTime() - b.date.getTime() || a.order - b.order);
  const counts = { stored: 0, newCases: 0, ignored: 0, duplicates: 0, quarantined: 0, retry: 0, refused: 0 };
  const log = ctx.log.child({ component: 'import', source: source.path });
  const bar = progress('importing', items.length);
  for (const item of items) {
    const mailbox = opts.mailbox ?? (await mailboxFromHeaders(ctx, item.blob)).mailbox;
    // The message's own time: cases, events and windows as they were.
    const historic: AppContext = { ...ctx, clock: { now: () => new Date(item.date.getTime()) } };
    try {
      const outcome = await runPipeline(historic, {
        channel: 'import',
        mailbox,
        envelopeFrom: null,
        envelopeTo: mailbox.addresses,
        receivedAt: item.date,
        raw: item.blob,
        historic: !opts.notify,
      });
      if (outcome.kind === 'stored') {
        counts.stored += 1;
        if (outcome.created) counts.newCases += 1;
      } else if (outcome.kind === 'ignored') {
        if (outcome.reason.startsWith('duplicate')) counts.duplicates += 1;
        else counts.ignored += 1;
      } else if (outcome.kind === 'quarantined') counts.quarantined += 1;
      else counts.retry += 1;
    } catch (err) {
      if (!(err instanceof RefusedError)) throw err;
      counts.refused += 1;
    }
    bar.tick();
  }
  bar.stop();
  if (opts.notify) ctx.outboxSignal.wake();
  const summary: ImportSummary = {
    messages: items.length + tooBig,
    ...counts,
    tooBig,
    from: items[0]?.date.toISOString() ?? null,
    to: items.at(-1)?.date.toISOString() ?? null,
    seconds: (performance.now() - started) / 1000,
  };
  log.info(summary, 'import finished');
  return summary;
}
