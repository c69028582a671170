/**
 * The MIME parser thread's entry (mime-parser.ts starts it): parses what the daemon's main thread
 * sends, with the same code the main thread would run (parseMailFile), attachments streamed into
 * the same blob store, and answers with the ParsedMail (plain data: it crosses the thread boundary
 * as a structured clone) or the error's name, code and message.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BlobStore, type StoredBlob } from '../storage/blob-store.js';
import { parseMailFile } from './parse-mail.js';
import type { ParseJob, ParseReply } from './mime-parser.js';

const port = parentPort;
if (port === null) throw new Error('parse-worker.js runs as a worker thread (mime-parser.ts starts it)');
const blobs = new BlobStore((workerData as { blobDir: string }).blobDir);

function storedBlob(raw: ParseJob['raw']): StoredBlob {
  // A Buffer arrives as a plain Uint8Array: the same bytes, seen as a Buffer again (no copy).
  return { ...raw, data: Buffer.from(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength) };
}

port.on('message', (job: ParseJob) => {
  parseMailFile(storedBlob(job.raw), blobs, job.limits).then(
    (mail) => port.postMessage({ id: job.id, mail } satisfies ParseReply),
    (err: unknown) => {
      const e = err as { name?: unknown; message?: unknown; code?: unknown } | null;
      port.postMessage({
        id: job.id,
        error: {
          name: typeof e?.name === 'string' ? e.name : 'Error',
          message: typeof e?.message === 'string' ? e.message : String(err),
          ...(typeof e?.code === 'string' ? { code: e.code } : {}),
        },
      } satisfies ParseReply);
    },
  );
});
