/**
 * Issue 9, items 13 and 14: private data files whatever the umask; every pipeline stage bounded in
 * time (ending in retry); admin patterns only ever see bounded input.
 */
import fs, { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSmtpListener } from '../../src/channels/smtp-listener.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import type { DnsResolver } from '../../src/mail-in/sender-auth.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { walk } from '../helpers/corpus.js';
import { tempDir } from '../helpers/temp-dirs.js';
import { tightenIfExists } from '../../src/storage/private-files.js';

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8).padStart(3, '0');

describe('data files are private whatever the umask (item 13)', () => {
  let oldUmask = 0;
  beforeEach(() => {
    oldUmask = process.umask(0o000);
  });
  afterEach(() => {
    process.umask(oldUmask);
  });

  it('dataDir 0700; database, WAL, blobs, secret and outgoing .eml 0600 with umask 000', async () => {
    env = await testEnv({ instance: { name: 'Example Support', domain: 'support.example.com' }, database: { driver: 'sqlite' } }); // the SQLite files' modes (PostgreSQL keeps no database file here)
    const withAttachment = eml({ auth: null, body: 'BODY' }).replace(
      'Content-Type: text/plain; charset=utf-8\r\n\r\nBODY',
      'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--m\r\nContent-Type: application/pdf; name="invoice.pdf"\r\nContent-Disposition: attachment; filename="invoice.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--',
    );
    expect(withAttachment).toContain('invoice.pdf');
    expect(await env.ingest(withAttachment)).toMatchObject({ kind: 'stored' });
    const transport = createTransport(env.resolved);
    await transport.send({ from: 'support@example.com', to: 'jane@customer.example', subject: 'x', text: 'y' });
    transport.close();

    const data = env.resolved.paths.dataDir;
    expect(mode(data)).toBe('700');
    const files = walk(data);
    expect(files.map((f) => f.slice(data.length + 1))).toEqual(expect.arrayContaining(['casegate.db', 'casegate.db-wal', 'casegate.db-shm', 'secret']));
    expect(files.filter((f) => f.endsWith('.eml'))).toHaveLength(1);
    expect(files.filter((f) => f.includes('/blobs/') && !f.includes('/blobs/tmp/')).length).toBeGreaterThanOrEqual(2); // raw mail + attachment
    for (const f of files) expect(`${f}: ${mode(f)}`).toBe(`${f}: 600`);
    const dirs = new Set(files.map((f) => f.slice(0, f.lastIndexOf('/'))));
    for (const d of dirs) expect(`${d}: ${mode(d)}`).toBe(`${d}: 700`);
  });

  it('an existing world-readable data directory is tightened', async () => {
    const d = join(process.env['TMPDIR'] ?? '/tmp', `casegate-wide-${process.pid}-${Date.now()}`);
    mkdirSync(d, { mode: 0o755 });
    env = await testEnv({ dataDir: d, database: { driver: 'sqlite' } });
    expect(mode(d)).toBe('700');
    expect(readdirSync(d)).toContain('casegate.db');
  });
});

describe('SQLite\'s -wal and -shm files may vanish while a command opens the database', () => {
  /**
   * Run `fn` with fs[name] replaced by `impl` for every importer of node:fs (syncBuiltinESMExports
   * carries the change to the named exports), restored afterwards.
   */
  function withFs<K extends 'statSync' | 'chmodSync'>(name: K, impl: (typeof fs)[K], fn: () => void): void {
    const real = fs[name];
    fs[name] = impl;
    syncBuiltinESMExports();
    try {
      fn();
    } finally {
      fs[name] = real;
      syncBuiltinESMExports();
    }
  }

  it('a file removed by another process (its last connection closing) just before we look or chmod is no error', () => {
    // Found by a fresh-clone CI run: `casegate quarantine show` failed with "ENOENT … stat
    // casegate.db-shm" and a stack trace while another command closed the same database.
    const file = join(tempDir('casegate-vanish-'), 'casegate.db-shm');
    const realStat = fs.statSync;
    writeFileSync(file, '', { mode: 0o644 });
    withFs('statSync', ((path: fs.PathLike, opts?: fs.StatSyncOptions) => {
      rmSync(file, { force: true }); // gone between "it is there" and the look at its mode
      return realStat(path, opts);
    }) as typeof fs.statSync, () => expect(() => tightenIfExists(file)).not.toThrow());
    const realChmod = fs.chmodSync;
    writeFileSync(file, '', { mode: 0o644 });
    withFs('chmodSync', ((path: fs.PathLike, mode: fs.Mode) => {
      rmSync(file, { force: true }); // gone between the look at its mode and the chmod
      realChmod(path, mode);
    }) as typeof fs.chmodSync, () => expect(() => tightenIfExists(file)).not.toThrow());
    // A file that stays is still tightened, and other errors still count.
    writeFileSync(file, '', { mode: 0o644 });
    tightenIfExists(file);
    expect(mode(file)).toBe('600');
    expect(() => tightenIfExists(join(file, 'not-a-directory'))).toThrow(/ENOTDIR/);
  });
});

describe('every stage has a time limit that ends in retry (item 14)', () => {
  const hanging: DnsResolver = () => new Promise(() => undefined);

  it('a stage still waiting (DNS that never answers) ends the message in retry; nothing is recorded; it succeeds later', async () => {
    let answer = false;
    const dns: DnsResolver = (name, rrtype) => (answer ? Promise.reject(Object.assign(new Error(`ENOTFOUND ${name} ${rrtype}`), { code: 'ENOTFOUND' })) : hanging(name, rrtype));
    env = await testEnv({ security: { senderAuth: { mode: 'verify' } }, pipeline: { stageTimeoutSeconds: 0.3 } }, undefined, { resolveDns: dns });
    const raw = eml({ auth: null });
    const first = await env.ingest(raw, { client: { ip: '192.0.2.25', helo: 'mail.customer.example' } });
    expect(first).toEqual({ kind: 'retry', reason: 'sender: stage sender took longer than 0.3 s' });
    expect(await env.ctx.db.selectFrom('receipts').select('id').execute()).toHaveLength(0);
    answer = true;
    expect(await env.ingest(raw, { client: { ip: '192.0.2.25', helo: 'mail.customer.example' } })).toMatchObject({ kind: 'stored', caseNumber: 10001 });
  });

  it('the SMTP listener answers 451 (the sender retries), like Haraka’s hook timeout', async () => {
    env = await testEnv({ security: { senderAuth: { mode: 'verify' } }, pipeline: { stageTimeoutSeconds: 0.3 }, listener: { port: 0 } }, undefined, { resolveDns: hanging });
    const listener = await startSmtpListener(env.ctx);
    try {
      const { createConnection } = await import('node:net');
      const reply = await new Promise<string>((resolve, reject) => {
        const sock = createConnection({ host: '127.0.0.1', port: listener.port });
        const steps = ['EHLO mail.customer.example', 'MAIL FROM:<jane@customer.example>', 'RCPT TO:<support@example.com>', 'DATA', `${eml({ auth: null })}.`];
        let step = 0;
        let buf = '';
        sock.setEncoding('utf8');
        sock.on('data', (d: string) => {
          buf += d;
          for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (/^\d{3}-/.test(line)) continue;
            if (step === steps.length) {
              sock.end('QUIT\r\n');
              resolve(line);
              return;
            }
            sock.write(`${steps[step++]}\r\n`);
          }
        });
        sock.on('error', reject);
      });
      expect(reply).toMatch(/^451 /);
    } finally {
      await listener.close();
    }
  });

  /** The pipeline's log lines of one ingest, with a sender stage that waits or computes. */
  async function stageLines(dns: DnsResolver): Promise<{ outcome: unknown; lines: Record<string, unknown>[] }> {
    env = await testEnv({ security: { senderAuth: { mode: 'verify' } }, pipeline: { stageTimeoutSeconds: 0.3 } }, undefined, { resolveDns: dns });
    const lines: Record<string, unknown>[] = [];
    (env.ctx as { log: unknown }).log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const outcome = await env.ingest(eml({ auth: null, messageId: 'slow-stage@customer.example' }), { client: { ip: '192.0.2.25', helo: 'mail.customer.example' } });
    return { outcome, lines };
  }
  const notFound = (name: string): Promise<never> => Promise.reject(Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' }));

  it('a stage abandoned while waiting (a hung query, DNS) is not logged as synchronous work; when it ends later, how long it waited is', async () => {
    // Answers after 0.7 s: the stage is abandoned at 0.3 s (retry), and finishes later.
    const { outcome, lines } = await stageLines((name) => new Promise((_, reject) => setTimeout(() => void notFound(name).catch(reject), 700)));
    expect(outcome).toEqual({ kind: 'retry', reason: 'sender: stage sender took longer than 0.3 s' });
    expect(lines.filter((l) => String(l['msg']).includes('synchronous work'))).toEqual([]);
    await expect.poll(() => lines.filter((l) => String(l['msg']).startsWith('stage abandoned at its time limit')), { timeout: 3000 }).toHaveLength(1);
    const late = lines.find((l) => String(l['msg']).startsWith('stage abandoned at its time limit'))!;
    expect(late).toMatchObject({ stage: 'sender', messageId: 'slow-stage@customer.example' });
    expect(late['msg']).toMatch(/^stage abandoned at its time limit (finished|failed) after \d+ ms \(it was waiting — a database query or lock, DNS, the disk — not computing/);
    expect(late['ms']).toBeGreaterThanOrEqual(650);
  });

  it('a stage whose synchronous work kept its timer from firing is logged as synchronous work, and its result stands', async () => {
    const { outcome, lines } = await stageLines((name) => {
      const until = Date.now() + 450;
      while (Date.now() < until) {
        // Busy: the event loop (and the stage's timer) waits.
      }
      return notFound(name);
    });
    expect(outcome).toMatchObject({ kind: 'stored' });
    expect(lines.filter((l) => l['msg'] === 'stage ran past its time limit (synchronous work)')).toEqual([expect.objectContaining({ stage: 'sender', messageId: 'slow-stage@customer.example' })]);
    expect(lines.filter((l) => String(l['msg']).startsWith('stage abandoned'))).toEqual([]);
  });
});

describe('a message a stage keeps running out of time on is given up (hunt10 leftovers F1)', () => {
  const notFound = (name: string): Promise<never> => Promise.reject(Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' }));
  const client = { ip: '192.0.2.25', helo: 'mail.customer.example' };

  it('quarantined after pipeline.giveUpAfterAttempts timeouts while the stage worked for other mail (an outage counts nothing); the admin is told once; quarantine retry releases it after the fix', async () => {
    // The DNS of one sender's domain hangs (its nameservers are gone); everything else answers.
    let fixed = false;
    let outage = false;
    const dns: DnsResolver = (name) => ((name.includes('poison.example') && !fixed) || outage ? new Promise(() => undefined) : notFound(name));
    env = await testEnv(
      {
        instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
        security: { senderAuth: { mode: 'verify' } },
        pipeline: { stageTimeoutSeconds: 0.5, giveUpAfterAttempts: 2, giveUpAfterMinutes: 10 },
        autoReply: { minIntervalSeconds: 0 },
      },
      undefined,
      { resolveDns: dns },
    );
    const poison = eml({ auth: null, from: 'Pat <pat@poison.example>', subject: 'Invoice question', messageId: 'poison-1@poison.example' });
    // A second one from the same domain, given up at the same time: no second email within the hour.
    const poison2 = eml({ auth: null, from: 'Pia <pia@poison.example>', subject: 'Order question', messageId: 'poison-2@poison.example' });
    let good = 0;
    // Other mail passes the stage (on a loaded machine it may itself run out of time once: offered again, as a channel would).
    const other = async () => {
      const raw = eml({ auth: null, from: `Ann${++good} <ann${good}@customer.example>` });
      let outcome = await env.ingest(raw, { client });
      for (let i = 0; i < 4 && outcome.kind === 'retry'; i++) outcome = await env.ingest(raw, { client });
      expect(outcome).toMatchObject({ kind: 'stored' });
    };
    const failures = () => env.ctx.db.selectFrom('message_failures').select(['attempts', 'strikes', 'stage']).where('raw_sha256', '=', createHash('sha256').update(poison).digest('hex')).execute();
    const retry = { kind: 'retry', reason: 'sender: stage sender took longer than 0.5 s' };
    const minutes = (n: number) => env.clock.advance(n * 60_000);

    // Warm: the first parse loads the parser (on a loaded machine, past the time limit).
    for (let i = 0; i < 5 && (await env.ingest(eml({ auth: null, messageId: 'warm@customer.example' }), { client })).kind === 'retry'; i++);
    minutes(1);
    // An outage (every lookup hangs): attempts, an hour of them, never count.
    outage = true;
    for (let i = 0; i < 2; i++) {
      expect(await env.ingest(poison, { client })).toEqual(retry);
      if (i === 1) expect(await env.ingest(poison2, { client })).toEqual(retry);
      minutes(30);
    }
    expect(await failures()).toEqual([{ attempts: 2, strikes: 0, stage: 'sender' }]);
    outage = false;

    // The stage works for other mail between the attempts: each one counts.
    await other();
    minutes(1);
    expect(await env.ingest(poison, { client })).toEqual(retry);
    expect(await failures()).toEqual([{ attempts: 3, strikes: 1, stage: 'sender' }]);
    expect(await env.ingest(poison2, { client })).toEqual(retry);
    // Two attempts in a row with nothing passing between: the second does not count.
    minutes(1);
    expect(await env.ingest(poison, { client })).toEqual(retry);
    expect(await failures()).toEqual([{ attempts: 4, strikes: 1, stage: 'sender' }]);
    minutes(1);
    await other();
    minutes(1);
    const given = await env.ingest(poison, { client });
    expect(await env.ingest(poison2, { client })).toMatchObject({ kind: 'quarantined' });
    expect(given).toMatchObject({ kind: 'quarantined', reason: expect.stringMatching(/^given up after 5 timeouts over \d+ minutes \(2 while the stage worked for other mail; pipeline\.giveUpAfterAttempts\): stage sender took longer than 0\.5 s$/) });
    expect(await failures()).toEqual([]);
    const receipt = await env.ctx.db.selectFrom('receipts').select(['id', 'outcome', 'stage', 'message_id', 'raw_sha256']).where('message_id', '=', 'poison-1@poison.example').executeTakeFirstOrThrow();
    expect(receipt).toMatchObject({ outcome: 'quarantined', stage: 'sender' });
    // The raw message is kept.
    expect(fs.readFileSync(env.ctx.blobs.pathFor(receipt.raw_sha256), 'utf8')).toBe(poison);
    // One email to the admin, naming the commands; nothing to the sender.
    const mails = await env.ctx.db.selectFrom('outbox').select(['kind', 'to_address', 'text']).where('kind', '=', 'message-quarantined').execute();
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ to_address: 'admin@example.com', text: expect.stringContaining(`casegate quarantine retry ${receipt.id}`) });
    expect(mails[0]!.text).toContain('the sender stage ran out of time on it 5 times');
    const events = await env.ctx.db.selectFrom('events').select('reason').where('type', '=', 'message.given-up').orderBy('id').execute();
    expect(events.map((e) => e.reason)).toEqual(['quarantined after 5 timeouts of stage sender', expect.stringMatching(/^quarantined after 3 timeouts of stage sender; not alerted: an alert about a message given up went out at .* \(one an hour; casegate quarantine list shows every one\)$/)]);
    expect(await env.ctx.db.selectFrom('outbox').select('id').where('to_address', '=', 'pat@poison.example').execute()).toEqual([]);
    // Offered again (the sender retried before our 250): a duplicate of the quarantined one, no second alert.
    expect(await env.ingest(poison, { client })).toMatchObject({ kind: 'ignored' });
    expect(await env.ctx.db.selectFrom('outbox').select('id').where('kind', '=', 'message-quarantined').execute()).toHaveLength(1);

    // The cause is fixed: `casegate quarantine retry` (the same run) makes it a case.
    fixed = true;
    const released = await runPipeline(env.ctx, { channel: 'quarantine-retry', mailbox: env.ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: env.clock.now(), raw: { sha256: receipt.raw_sha256, size: Buffer.byteLength(poison), path: env.ctx.blobs.pathFor(receipt.raw_sha256) }, retryOf: receipt.id });
    expect(released, JSON.stringify(released)).toMatchObject({ kind: "stored", created: true });
  });

  it('other retry causes never count: a message whose file cannot be written (the disk) leaves no record, and is stored once the disk works', async () => {
    env = await testEnv({ pipeline: { stageTimeoutSeconds: 5, giveUpAfterAttempts: 1, giveUpAfterMinutes: 0 } });
    const raw = eml({ auth: null, messageId: 'disk-1@customer.example' });
    const blob = await env.ctx.blobs.hold(Buffer.from(raw));
    // The blob store's directory becomes a file: the message's file cannot be written (ENOTDIR, even as root).
    const blobs = env.ctx.paths.blobDir;
    rmSync(blobs, { recursive: true, force: true });
    writeFileSync(blobs, 'not a directory');
    const arrival = { channel: 'imap', mailbox: env.ctx.mailboxes.default, envelopeFrom: null, envelopeTo: [], receivedAt: env.clock.now(), raw: blob } as const;
    try {
      for (let i = 0; i < 3; i++) expect(await runPipeline(env.ctx, arrival)).toMatchObject({ kind: 'retry', reason: expect.stringContaining('ENOTDIR') });
    } finally {
      rmSync(blobs, { force: true });
    }
    expect(await env.ctx.db.selectFrom('message_failures').selectAll().execute()).toEqual([]);
    expect(await runPipeline(env.ctx, arrival)).toMatchObject({ kind: 'stored' });
  });
});

describe('admin patterns see bounded input (item 14)', () => {
  it('a header rule reads the first 1,000 characters of a value only; a body rule the first 50,000', async () => {
    env = await testEnv({
      rules: [
        { name: 'late-header', match: { header: { name: 'X-Ticket-Info', pattern: 'invoice.*overdue' } }, set: { tags: ['header-hit'] } },
        { name: 'late-body', match: { body: ['refund'] }, set: { tags: ['body-hit'] } },
      ],
    });
    const tags = async (n: number) => (await env.ctx.db.selectFrom('case_tags').innerJoin('cases', 'cases.id', 'case_tags.case_id').select('tag').where('cases.number', '=', n).execute()).map((t) => t.tag);
    await env.ingest(eml({ headers: { 'X-Ticket-Info': `invoice ${'x'.repeat(900)} overdue` } }));
    await env.ingest(eml({ headers: { 'X-Ticket-Info': `invoice ${'x'.repeat(1200)} overdue` } }));
    await env.ingest(eml({ body: `${'word '.repeat(9_000)}refund` }));
    await env.ingest(eml({ body: `${'word '.repeat(11_000)}refund` }));
    expect([await tags(10001), await tags(10002), await tags(10003), await tags(10004)]).toEqual([['header-hit'], [], ['body-hit'], []]);
  });
});
