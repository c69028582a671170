/**
 * Large messages over IMAP (issue 12): messages above the prefetch size are downloaded one at a
 * time, in 2 MB partial FETCHes — never interleaved with another large message's chunks on the
 * one connection (Dovecot re-reads a message from its start for every interleaved chunk) — and
 * streamed into the blob store intact. The daemon's IMAP traffic goes through a recording proxy
 * so the order of the FETCH commands is seen as the server sees it. (Time and peak RSS with
 * 25 MB attachments: `BENCH_MODE=large npm run bench`.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { peekDb } from '../helpers/db-peek.js';
import { imapProxy } from '../helpers/imap-proxy.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { imapOf, removeDir, runDaemon, until, type RunningDaemon } from './imap-env.js';

const COUNT = 4;
const ATTACHMENT_BYTES = 3 * 1024 * 1024; // ~4 MB of base64: three 2 MB chunks per message

interface Proxy {
  readonly port: number;
  /** Partial FETCHes of whole messages as the client sent them: [uid, offset, length]. */
  readonly fetches: [number, number, number][];
  close(): Promise<void>;
}

/** A TCP proxy to Dovecot that records the client's partial FETCH commands. */
async function recordingProxy(server: DovecotServer): Promise<Proxy> {
  const fetches: [number, number, number][] = [];
  const proxy = await imapProxy(server.host, server.port, (line) => {
    const m = /UID FETCH (\d+) \(.*(?:BODY|BINARY)\.PEEK\[\]<(\d+)\.(\d+)>/i.exec(line);
    if (m !== null) fetches.push([Number(m[1]), Number(m[2]), Number(m[3])]);
  });
  return { port: proxy.port, fetches, close: () => proxy.close() };
}

function largeMessage(i: number, attachment: Buffer): string {
  return [
    `From: Customer ${i} <big${i}@customer.example>`,
    'To: support@example.com',
    `Subject: Large dump ${i}`,
    `Message-ID: <large-${i}@customer.example>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'The dump is attached.',
    '--b',
    'Content-Type: application/octet-stream; name="dump.bin"',
    'Content-Disposition: attachment; filename="dump.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    attachment.toString('base64').replace(/.{76}/g, '$&\r\n'),
    '--b--',
    '',
  ].join('\r\n');
}

let server: DovecotServer;
let proxy: Proxy;
let daemon: RunningDaemon | null = null;
const attachments = Array.from({ length: COUNT }, () => randomBytes(ATTACHMENT_BYTES));

describeWithDovecot('IMAP channel: large messages', () => {
  beforeAll(async () => {
    server = await startDovecot({ users: [{ user: 'large', password: 'pw-large' }] });
    proxy = await recordingProxy(server);
    for (let i = 0; i < COUNT; i++) await server.append('large', largeMessage(i, attachments[i]!));
  });

  afterAll(async () => {
    await daemon?.stop();
    if (daemon !== null) removeDir(daemon.dir);
    await proxy?.close();
    await server?.stop();
  });

  it('downloads them one at a time in 2 MB chunks and stores every attachment intact', async () => {
    daemon = await runDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { ...imapOf(server, 'large', { concurrency: 8 }), port: proxy.port } }] });
    const db = peekDb(daemon.resolved);
    try {
      await until(async () => (await db.get<{ n: number }>("SELECT count(*) AS n FROM receipts WHERE outcome = 'stored'"))!.n === COUNT, `${COUNT} stored messages`, 60_000);
      const rows = await db.all<{ subject: string; size: number; sha256: string }>('SELECT c.subject, a.size, a.sha256 FROM attachments a JOIN messages m ON m.id = a.message_row_id JOIN cases c ON c.id = m.case_id ORDER BY c.subject');
      expect(rows.map((r) => [r.subject, r.size, r.sha256])).toEqual(
        attachments.map((a, i) => [`Large dump ${i}`, ATTACHMENT_BYTES, createHash('sha256').update(a).digest('hex')]),
      );
      for (const r of rows) expect(createHash('sha256').update(readFileSync(daemon.daemon.ctx.blobs.pathFor(r.sha256))).digest('hex')).toBe(r.sha256);
    } finally {
      await db.close();
    }
    // Every message's chunks came in one run: no other message's chunk in between.
    const order = proxy.fetches.map(([uid]) => uid);
    expect(order.length).toBeGreaterThanOrEqual(COUNT * 2);
    const runs = order.filter((uid, i) => i === 0 || order[i - 1] !== uid);
    expect(runs).toEqual([...new Set(order)]);
    expect(new Set(order).size).toBe(COUNT);
    expect(new Set(proxy.fetches.map(([, , length]) => length))).toEqual(new Set([2 * 1024 * 1024]));
  });
});
