/**
 * The MIME thread's entry (mime-thread.ts starts it): parses the inbound messages and builds the
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
  if (job.kind === 'parse') return [{ id: job.id, parsed: await parseHere(storedBlob(job.raw), blobs, job.limits) }, []];
  const built = await buildMessage(job.options);
  // A copy of exactly the message's bytes (nodemailer's Buffer may share a pooled block), moved back.
  const raw = new Uint8Array(built.raw);
  return [{ id: job.id, built: { ...built, raw } }, [raw.buffer]];
}

port.on('message', (job: MimeJob) => {
  work(job).then(
    ([reply, transfer]) => port.postMessage(reply, transfer),
    (err: unknown) => {
      const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
      port.postMessage({
        id: job.id,
        error: {
          name: typeof e?.name === 'string' ? e.name : 'Error',
          message: typeof e?.message === 'string' ? e.message : String(err),
          ...(typeof e?.code === 'string' ? { code: e.code } : {}),
        },
      } satisfies MimeReply);
    },
  );
});
