/**
 * The MIME thread's entry (mime-thread.ts starts it): writes a held inbound message's file
 * (BlobStore.hold: the IMAP reader's messages) and parses the inbound messages, and builds the
 * outgoing emails the daemon's main thread sends, with the same code the main thread would run
 * (parseHere: parseMailFile and the visible text, attachments streamed into the same blob store;
 * nodemailer's composer), and answers with plain data (it crosses the thread boundary as a
 * structured clone) or the error's name, code and message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildMessage } from '../mail-out/mime-build.js';
import { BlobStore, type StoredBlob } from '../storage/blob-store.js';
import { bufferOf, parseHere, type MimeJob, type MimeReply } from './mime-thread.js';

const port = parentPort;
if (port === null) throw new Error('mime-worker.js runs as a worker thread (mime-thread.ts starts it)');
const blobs = new BlobStore((workerData as { blobDir: string }).blobDir);

function storedBlob(raw: Extract<MimeJob, { kind: 'parse' }>['raw']): StoredBlob {
  return { ...raw, data: bufferOf(raw.data) };
}

async function work(job: MimeJob): Promise<[MimeReply, ArrayBuffer[]]> {
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
  work(job).then(
    ([reply, transfer]) => port.postMessage(reply, transfer),
    (err: unknown) => port.postMessage({ id: job.id, error: errorOf(err) } satisfies MimeReply),
  );
});
