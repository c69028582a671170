import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { AppContext } from '../context.js';
import { isDiskFull, reportDiskFullRetry } from '../ops/disk-space.js';
import { runPipeline } from '../pipeline/run-pipeline.js';
import { RefusedError, type Outcome } from '../pipeline/types.js';
import { SizeLimitError } from '../storage/blob-store.js';
import { mailboxFromHeaders } from './arrival.js';

/** sysexits.h: the MTA keeps the message and retries. */
export const EX_TEMPFAIL = 75;
/** sysexits.h: an input file could not be opened. */
export const EX_NOINPUT = 66;
/** sysexits.h: a permanent problem with the input (too big, too many MIME parts). */
export const EX_DATAERR = 65;
/** sysexits.h: no such user: the MTA bounces the message (the SMTP listener's 550). */
export const EX_NOUSER = 67;

export interface PipeOptions {
  /** Mailbox name (else chosen from --recipient or the message's recipient headers). */
  readonly mailbox?: string;
  /** Envelope recipient as the MTA passes it. */
  readonly recipient?: string;
  /** Envelope sender as the MTA passes it ("" for <>). */
  readonly sender?: string;
}

export interface PipeResult {
  readonly source: string;
  readonly outcome: Outcome | { kind: 'rejected'; reason: string };
  readonly exitCode: number;
}

/**
 * `casegate ingest`: one message from a file or stdin. Exit 0 once the outcome is committed
 * (stored, ignored or quarantined: we have it), 75 when it could not be (the MTA retries), 67
 * when --recipient names an address no mailbox serves (the MTA bounces it).
 */
export async function ingestOne(ctx: AppContext, source: string, input: Readable, opts: PipeOptions): Promise<PipeResult> {
  // The rule of the SMTP listener: mail for an address no mailbox serves is refused (a whole-domain
  // transport would otherwise make every postmaster@, abuse@ or typo a case in the first mailbox).
  if (opts.mailbox === undefined && opts.recipient !== undefined && ctx.mailboxes.byAddress(opts.recipient) === null) {
    const reason = `no mailbox serves ${opts.recipient}`;
    ctx.log.warn({ source, recipient: opts.recipient }, `${reason}: refused (exit 67, the MTA bounces it)`);
    input.resume();
    return { source, outcome: { kind: 'rejected', reason }, exitCode: EX_NOUSER };
  }
  let blob;
  try {
    blob = await ctx.blobs.put(input, ctx.config.listener.maxMessageBytes);
  } catch (err) {
    if (err instanceof SizeLimitError) return { source, outcome: { kind: 'rejected', reason: err.message }, exitCode: EX_DATAERR };
    if (isDiskFull(err)) {
      const full = await reportDiskFullRetry(ctx, { channel: 'pipe', mailbox: opts.mailbox ?? null }, err);
      return { source, outcome: { kind: 'retry', reason: full }, exitCode: EX_TEMPFAIL };
    }
    ctx.log.error({ err, source }, 'could not spool message; exit 75 so the MTA retries');
    return { source, outcome: { kind: 'retry', reason: String((err as Error).message) }, exitCode: EX_TEMPFAIL };
  }
  try {
    let mailbox = opts.mailbox !== undefined ? ctx.mailboxes.byName(opts.mailbox) : null;
    if (opts.mailbox !== undefined && mailbox === null) throw new Error(`unknown mailbox "${opts.mailbox}"`);
    const fromHeaders = await mailboxFromHeaders(ctx, blob);
    if (mailbox === null && opts.recipient !== undefined) mailbox = ctx.mailboxes.byAddress(opts.recipient);
    mailbox ??= fromHeaders.mailbox;
    const outcome = await runPipeline(ctx, {
      channel: 'pipe',
      mailbox,
      envelopeFrom: opts.sender ?? null,
      envelopeTo: opts.recipient !== undefined ? [opts.recipient.toLowerCase()] : [],
      receivedAt: ctx.clock.now(),
      raw: blob,
    });
    return { source, outcome, exitCode: outcome.kind === 'retry' ? EX_TEMPFAIL : 0 };
  } catch (err) {
    // Refused by a limit (mime.maxParts): nothing was recorded; the MTA returns it to the sender.
    if (err instanceof RefusedError) return { source, outcome: { kind: 'rejected', reason: err.message }, exitCode: EX_DATAERR };
    ctx.log.error({ err, source }, 'ingest failed; exit 75 so the MTA retries');
    return { source, outcome: { kind: 'retry', reason: String((err as Error).message) }, exitCode: EX_TEMPFAIL };
  }
}

export async function ingestFiles(ctx: AppContext, files: readonly string[], opts: PipeOptions, onDone: () => void = () => undefined): Promise<PipeResult[]> {
  const results: PipeResult[] = [];
  if (files.length === 0) {
    results.push(await ingestOne(ctx, 'stdin', process.stdin, opts));
    return results;
  }
  for (const file of files) {
    // Open first: an unreadable file is reported as its own result and the batch goes on.
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      const reason = `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      ctx.log.error({ source: file }, reason);
      results.push({ source: file, outcome: { kind: 'rejected', reason }, exitCode: EX_NOINPUT });
      onDone();
      continue;
    }
    results.push(await ingestOne(ctx, file, handle.createReadStream(), opts));
    onDone();
  }
  return results;
}
