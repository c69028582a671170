import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { peekDb, type DbPeek } from '../helpers/db-peek.js';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { eml, writeConfig } from '../helpers/context.js';
import { describeResult } from '../helpers/cli.js';
// The admin's commands run in this process (the binary's command code: test/helpers/cli-in-process.ts).
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { COMMITTED_SWEEP_MIN } from '../../src/channels/imap-reader.js';
import { folderContents, imapOf, removeDir, runDaemon, until, type RunningDaemon } from './imap-env.js';

/**
 * The IMAP channel against a private Dovecot: IDLE, backlog order, several mailboxes, acknowledge
 * only after commit, oversized mail, flag mode and a UIDVALIDITY change. Every test uses its own
 * Dovecot user (own mail) and its own casegate data dir.
 */
const USERS = ['idle', 'late', 'backlog', 'two-a', 'two-b', 'lock', 'disk', 'big', 'flag', 'uidv', 'kept', 'nokw', 'poison', 'nokw2', 'burst', 'many'];
let server: DovecotServer;
const running: RunningDaemon[] = [];

async function start(config: Parameters<typeof runDaemon>[0], dir?: string): Promise<RunningDaemon> {
  const d = await runDaemon(config, dir);
  running.push(d);
  return d;
}

async function count(d: RunningDaemon, sql: string, ...params: unknown[]): Promise<number> {
  const row = (await rawDb(d).get<Record<string, number>>(sql, ...params))!;
  return Number(Object.values(row)[0]);
}

const raw = new Map<RunningDaemon, DbPeek>();
function rawDb(d: RunningDaemon): DbPeek {
  let db = raw.get(d);
  if (db === undefined) {
    db = peekDb(d.resolved);
    raw.set(d, db);
  }
  return db;
}

async function health(d: RunningDaemon, mailbox = 'support'): Promise<{ state: string; backlog: number; detail: string | null; failing_since: string | null; last_success_at: string | null } | undefined> {
  return rawDb(d).get('SELECT * FROM mailbox_health WHERE mailbox = ?', mailbox);
}

function mailbox(user: string, over: Parameters<typeof imapOf>[2] = {}, name = 'support') {
  return { name, addresses: [`${name}@example.com`], imap: imapOf(server, user, over) };
}

describeWithDovecot('IMAP channel', () => {
  beforeAll(async () => {
    server = await startDovecot({ users: USERS.map((user) => ({ user, password: `pw-${user}` })), noKeywordUsers: ['nokw', 'nokw2'] });
  });

  afterEach(async () => {
    for (const d of running.splice(0)) {
      await d.stop();
      await raw.get(d)?.close();
      raw.delete(d);
      removeDir(d.dir);
    }
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('processes mail that arrives while idling, then moves it to the processed folder', async () => {
    const d = await start({ mailboxes: [mailbox('idle')] });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    await server.append('idle', eml({ subject: 'Printer on fire', messageId: 'idle-1@customer.example' }));
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 1, 'the case');
    const c = (await rawDb(d).get('SELECT * FROM cases')) as { subject: string; mailbox: string };
    expect(c).toMatchObject({ subject: 'Printer on fire', mailbox: 'support' });
    const r = (await rawDb(d).all('SELECT channel, outcome FROM receipts'));
    expect(r).toEqual([{ channel: 'imap', outcome: 'stored' }]);
    await until(async () => (await folderContents(server, 'idle')).length === 0, 'INBOX to be empty');
    const processed = await folderContents(server, 'idle', 'casegate/Processed');
    expect(processed.map((m) => m.subject)).toEqual(['Printer on fire']);
    expect(processed[0]!.flags).toContain('\\Seen');
    // The checkpoint went into mailbox_state with the outcome.
    const state = (await rawDb(d).get('SELECT uidvalidity, last_uid FROM mailbox_state WHERE mailbox = ?', 'support')) as { uidvalidity: string; last_uid: number };
    expect(state.last_uid).toBe(1);
    expect(state.uidvalidity).toMatch(/^\d+$/);
    // The quarantine folder exists too.
    const client = await server.connect('idle');
    const folders = (await client.list()).map((b) => b.path);
    await client.logout();
    expect(folders).toEqual(expect.arrayContaining(['casegate/Processed', 'casegate/Quarantine']));
  });

  it('a reload that changes a mailbox but not its imap block keeps the session, and the next message gets the new settings', async () => {
    const base = { listener: { enabled: false }, templates: { watch: false }, outgoing: { transport: 'file' as const, sweepSeconds: 1 } };
    const d = await start({ mailboxes: [mailbox('kept')] });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    await server.append('kept', eml({ subject: 'Before the reload', messageId: 'kept-1@customer.example' }));
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 1, 'the first case');
    const connected = d.lines.filter((l) => l.msg === 'IMAP mailbox connected').length;
    // Same imap block; another queue and sender name for the mailbox.
    writeConfig(d.dir, { ...base, mailboxes: [{ ...mailbox('kept'), queue: 'vip', fromName: 'VIP Desk' }] });
    const report = await d.daemon.reload();
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect(report.actions).toContain('imap kept: support');
    await server.append('kept', eml({ from: 'Bob <bob@customer.example>', subject: 'After the reload', messageId: 'kept-2@customer.example' }));
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 2, 'the second case');
    expect(await rawDb(d).all('SELECT subject, queue FROM cases ORDER BY number')).toEqual([
      { subject: 'Before the reload', queue: 'support' },
      { subject: 'After the reload', queue: 'vip' },
    ]);
    const confirmations = (await rawDb(d).all<{ subject: string; from_name: string }>("SELECT subject, from_name FROM outbox WHERE kind = 'confirmation' ORDER BY id")).map((r) => r.from_name);
    expect(confirmations).toEqual(['Example Support', 'VIP Desk']);
    // The same session read the second message: no new connection.
    expect(d.lines.filter((l) => l.msg === 'IMAP mailbox connected')).toHaveLength(connected);
  });

  it('works through the backlog at start, oldest first', async () => {
    for (let i = 1; i <= 6; i++) await server.append('backlog', eml({ subject: `backlog ${i}`, messageId: `backlog-${i}@customer.example` }));
    const d = await start({ mailboxes: [mailbox('backlog', { concurrency: 1 })] });
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 6, 'six cases');
    const subjects = ((await rawDb(d).all('SELECT subject FROM cases ORDER BY number')) as { subject: string }[]).map((r) => r.subject);
    expect(subjects).toEqual(['backlog 1', 'backlog 2', 'backlog 3', 'backlog 4', 'backlog 5', 'backlog 6']);
    await until(async () => (await health(d))?.state === 'idling' && (await health(d))?.backlog === 0, 'idle with an empty backlog');
    expect(await folderContents(server, 'backlog')).toEqual([]);
  });

  it('after a downtime the jobs catch up once the mail that waited is in: a pending case whose customer replied meanwhile is reopened, not closed for want of a reply', async () => {
    await server.append('late', eml({ from: 'Jane <jane@customer.example>', subject: 'Printer offline', messageId: 'late-1@customer.example' }));
    const first = await start({ mailboxes: [mailbox('late')] });
    await until(async () => (await count(first, "SELECT count(*) FROM outbox WHERE kind = 'confirmation'")) === 1, 'the case and its confirmation');
    const confirmation = (await rawDb(first).get<{ message_id: string }>("SELECT message_id FROM outbox WHERE kind = 'confirmation'"))!.message_id.replace(/^<|>$/g, '');
    await first.stop();
    // While it was down: the case waited for the customer, both reminders went out, the close came due.
    const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
    await rawDb(first).run("UPDATE cases SET status = 'pending'");
    await rawDb(first).run('UPDATE case_sla SET pending_since = ?, pending_reminders = 2, pending_next_at = ?', ago(20), ago(6));
    await rawDb(first).run('UPDATE job_runs SET last_started_at = ?, last_finished_at = ?, last_slot = ?', ago(2), ago(2), ago(2));
    // …and the customer's answer has been waiting in the mailbox since Saturday.
    await server.append('late', eml({ from: 'Jane <jane@customer.example>', subject: 'Re: [Case #10001] Printer offline', body: 'Here is the serial number: 4711.', messageId: 'late-2@customer.example', inReplyTo: confirmation }));
    const second = await start({ mailboxes: [mailbox('late')] }, first.dir);
    await until(() => second.lines.some((l) => l['msg'] === 'job finished' && l['job'] === 'pending-reminder'), 'the pending-reminder catch-up');
    expect((await rawDb(second).get<{ status: string }>('SELECT status FROM cases'))!.status).toBe('open');
    expect(await count(second, "SELECT count(*) FROM outbox WHERE kind = 'auto-closed'")).toBe(0);
    expect(second.lines.some((l) => l['msg'] === 'jobs start: the mail that waited in the mailboxes was taken in first')).toBe(true);
  });

  it('watches two mailboxes at once', async () => {
    await server.append('two-a', eml({ to: 'sales@example.com', subject: 'Quote please', messageId: 'two-a-1@customer.example' }));
    const d = await start({ mailboxes: [mailbox('two-a', {}, 'sales'), mailbox('two-b', {}, 'billing')] });
    await server.append('two-b', eml({ to: 'billing@example.com', subject: 'Invoice wrong', messageId: 'two-b-1@customer.example' }));
    await server.append('two-a', eml({ to: 'sales@example.com', subject: 'Another quote', messageId: 'two-a-2@customer.example' }));
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 3, 'three cases');
    const rows = (await rawDb(d).all('SELECT mailbox, subject FROM cases ORDER BY subject'));
    expect(rows).toEqual([
      { mailbox: 'sales', subject: 'Another quote' },
      { mailbox: 'billing', subject: 'Invoice wrong' },
      { mailbox: 'sales', subject: 'Quote please' },
    ]);
    await until(async () => (await health(d, 'sales'))?.state === 'idling' && (await health(d, 'billing'))?.state === 'idling', 'both mailboxes to idle');
  });

  it('acknowledges a message only after its outcome is committed', async () => {
    const d = await start({ mailboxes: [mailbox('lock')], database: { busyTimeoutMs: 50 } });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    // Another connection holds the write lock (PostgreSQL: the receipts table): every commit fails
    // with SQLITE_BUSY / a lock timeout (→ retry).
    const locker = await holdDatabase(d);
    try {
      await server.append('lock', eml({ subject: 'Locked out', messageId: 'lock-1@customer.example' }));
      await until(async () => d.lines.filter((l) => l.msg === 'message left in the folder; trying again later').length >= 2, 'two failed attempts');
      const inbox = await folderContents(server, 'lock');
      expect(inbox.map((m) => m.subject)).toEqual(['Locked out']);
      expect(inbox[0]!.flags).not.toContain('\\Seen');
      expect(await folderContents(server, 'lock', 'casegate/Processed')).toEqual([]);
      expect(await locker.count('SELECT count(*) AS n FROM receipts')).toBe(0);
    } finally {
      await locker.release();
    }
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 1, 'the case once the lock is gone');
    await until(async () => (await folderContents(server, 'lock')).length === 0, 'INBOX to be empty');
    const processed = await folderContents(server, 'lock', 'casegate/Processed');
    expect(processed.map((m) => m.subject)).toEqual(['Locked out']);
    expect((await count(d, 'SELECT count(*) FROM receipts'))).toBe(1);
  });

  it('a message whose file cannot be written stays in the folder, unacknowledged, and is stored once the disk works again', async () => {
    const d = await start({ mailboxes: [mailbox('disk')] });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    // The blob store's directory becomes a file: every write of a message's file fails (ENOTDIR, even as root).
    const blobs = d.resolved.paths.blobDir;
    rmSync(blobs, { recursive: true, force: true });
    writeFileSync(blobs, 'not a directory');
    try {
      await server.append('disk', eml({ subject: 'Disk trouble', messageId: 'disk-1@customer.example' }));
      await until(async () => d.lines.filter((l) => l.msg === 'message left in the folder; trying again later').length >= 2, 'two failed attempts');
      expect(d.lines.some((l) => l.msg === 'message left in the folder; trying again later' && /could not store the message: ENOTDIR/.test(String(l['reason'])))).toBe(true);
      expect((await folderContents(server, 'disk')).map((m) => m.subject)).toEqual(['Disk trouble']);
      expect(await folderContents(server, 'disk', 'casegate/Processed')).toEqual([]);
      expect(await count(d, 'SELECT count(*) FROM receipts')).toBe(0);
    } finally {
      rmSync(blobs, { force: true });
    }
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 1, 'the case once the disk works');
    await until(async () => (await folderContents(server, 'disk')).length === 0, 'INBOX to be empty');
    expect((await folderContents(server, 'disk', 'casegate/Processed')).map((m) => m.subject)).toEqual(['Disk trouble']);
    expect(await count(d, 'SELECT count(*) FROM receipts')).toBe(1);
  });

  it('quarantines a message above maxMessageBytes without downloading it: a receipt `quarantine list` shows (size, sender, subject from the envelope)', async () => {
    const d = await start({ mailboxes: [mailbox('big')], listener: { enabled: false, maxMessageBytes: 4096 } });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    const body = `${'x'.repeat(76)}\r\n`.repeat(130);
    await server.append('big', eml({ from: 'Hugo Sender <hugo@customer.example>', subject: 'Huge attachment', messageId: 'big-1@customer.example', body }));
    await server.append('big', eml({ subject: 'Small one', messageId: 'big-2@customer.example' }));
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 1, 'the small one as a case');
    await until(async () => (await folderContents(server, 'big', 'casegate/Quarantine')).length === 1, 'the big one in quarantine');
    expect((await folderContents(server, 'big', 'casegate/Quarantine'))[0]!.subject).toBe('Huge attachment');
    await until(async () => (await folderContents(server, 'big')).length === 0, 'INBOX to be empty');
    const ev = (await rawDb(d).all("SELECT case_id, reason, data_json FROM events WHERE type = 'imap.oversized'")) as { case_id: null; reason: string; data_json: string }[];
    expect(ev).toHaveLength(1);
    expect(ev[0]!.case_id).toBeNull();
    expect(JSON.parse(ev[0]!.data_json)).toMatchObject({ mailbox: 'support', uid: 1, limit: 4096, messageId: 'big-1@customer.example', from: 'hugo@customer.example', subject: 'Huge attachment' });
    expect((await health(d))?.detail).toMatch(/exceeds listener\.maxMessageBytes/);

    // A quarantine receipt like any other quarantined message: the admin sees it.
    const size = (JSON.parse(ev[0]!.data_json) as { size: number }).size;
    expect(size).toBeGreaterThan(4096);
    const config = join(d.dir, 'casegate.yaml');
    const [listed, text] = await Promise.all([runCliInProcess(['-c', config, 'quarantine', 'list', '--json']), runCliInProcess(['-c', config, 'quarantine', 'list'])]);
    expect(listed.code, describeResult(listed)).toBe(0);
    const rows = JSON.parse(listed.stdout) as { id: number; outcome: string; stage: string; channel: string; raw_size: number; from_address: string; subject: string; message_id: string; reason: string }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'quarantined', stage: 'size-limit', channel: 'imap', raw_size: size, from_address: 'hugo@customer.example', subject: 'Huge attachment', message_id: 'big-1@customer.example' });
    expect(rows[0]!.reason).toBe(`too large: ${size} bytes, over listener.maxMessageBytes (4096); not downloaded, moved to casegate/Quarantine`);
    expect(text.stdout).toMatch(new RegExp(`^${rows[0]!.id}\\s.*hugo@customer\\.example\\s+Huge attachment\\s+too large: ${size} bytes`, 'm'));
    // Only the header block was taken: `show --raw` prints it, `retry` refuses (the message is on the server).
    const shown = await runCliInProcess(['-c', config, 'quarantine', 'show', String(rows[0]!.id), '--raw']);
    expect(shown.stdout).toContain(`header only`);
    expect(shown.stdout).toContain('Subject: Huge attachment');
    expect(shown.stdout).not.toContain('x'.repeat(76));
    const retry = await runCliInProcess(['-c', config, 'quarantine', 'retry', String(rows[0]!.id)]);
    expect(retry.code).toBe(1);
    expect(retry.stdout).toMatch(/too large to retry here .*raise listener\.maxMessageBytes/);
    expect(await count(d, "SELECT count(*) FROM receipts WHERE outcome = 'quarantined'")).toBe(1);
    // One log line, the outcome's.
    const lines = d.lines.filter((l) => /oversized message moved to casegate\/Quarantine/.test(l.msg));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, outcome: 'quarantined', uid: 1 });
  });

  it('a message a stage keeps running out of time on is given up (IMAP and the SMTP listener): quarantined, taken off the server, the admin told once', async () => {
    const d = await start({
      mailboxes: [mailbox('poison')],
      listener: { port: 0 },
      instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
      security: { senderAuth: { mode: 'verify' } },
      pipeline: { stageTimeoutSeconds: 1, giveUpAfterAttempts: 1, giveUpAfterMinutes: 0 },
    });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    // The DNS of one sender's domain hangs (its nameservers are gone); every other name answers at once.
    const ctx = d.daemon.ctx as { resolveDns: unknown };
    ctx.resolveDns = (name: string) => (name.includes('poison.example') ? new Promise(() => undefined) : Promise.reject(Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' })));
    const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: d.daemon.smtp!.port, secure: false, ignoreTLS: true });
    const send = (raw: string, from: string) => smtp.sendMail({ envelope: { from, to: ['support@example.com'] }, raw });
    const deferred = () => d.lines.filter((l) => l.msg === 'message left in the folder; trying again later');
    await server.append('poison', eml({ from: 'Pat <pat@poison.example>', subject: 'Poison by IMAP', messageId: 'poison-imap@poison.example' }));
    const bySmtp = eml({ from: 'Pat <pat@poison.example>', subject: 'Poison by SMTP', messageId: 'poison-smtp@poison.example' });
    // First attempts: nothing else has passed the stage meanwhile, so they do not count: 451, left in the folder.
    await expect(send(bySmtp, 'pat@poison.example')).rejects.toMatchObject({ responseCode: 451 });
    await until(() => deferred().length >= 1, 'the IMAP message deferred');
    // Other mail passes the sender stage (sent again, as an MTA would, should it run out of time itself on a loaded machine).
    const fine = eml({ from: 'Ann <ann@customer.example>', subject: 'Fine one', messageId: 'fine@customer.example' });
    await send(fine, 'ann@customer.example').catch(() => send(fine, 'ann@customer.example'));
    // The sending MTA tries again: this time-out counts, and it is the last allowed.
    const accepted = await send(bySmtp, 'pat@poison.example');
    expect(accepted.response).toMatch(/^250 .*Accepted \(quarantined\)/);
    // IMAP offers its message again: given up too, moved to the quarantine folder.
    await until(async () => (await folderContents(server, 'poison', 'casegate/Quarantine')).length === 1, 'the IMAP message in the quarantine folder', 30_000);
    expect(await folderContents(server, 'poison')).toEqual([]);
    const receipts = (await rawDb(d).all("SELECT channel, outcome, stage, reason FROM receipts WHERE outcome = 'quarantined' ORDER BY channel")) as { channel: string; outcome: string; stage: string; reason: string }[];
    expect(receipts.map((r) => [r.channel, r.stage])).toEqual([['imap', 'sender'], ['smtp', 'sender']]);
    for (const r of receipts) expect(r.reason).toMatch(/^given up after \d+ timeouts over 0 minutes \(1 while the stage worked for other mail; pipeline\.giveUpAfterAttempts\): stage sender took longer than 1 s$/);
    expect(await count(d, 'SELECT count(*) FROM cases')).toBe(1);
    // One email to the admin (at most one an hour); both are events.
    expect(await count(d, "SELECT count(*) FROM outbox WHERE kind = 'message-quarantined' AND to_address = 'admin@example.com'")).toBe(1);
    expect(await count(d, "SELECT count(*) FROM events WHERE type = 'message.given-up'")).toBe(2);
    expect(await count(d, 'SELECT count(*) FROM message_failures')).toBe(0);
    smtp.close();
  });

  it('flag mode: marks processed mail with \\Seen and the keyword, and never takes it again', async () => {
    const box = mailbox('flag', { afterProcessing: 'flag' });
    await server.append('flag', eml({ subject: 'First', messageId: 'flag-1@customer.example' }));
    // Already read by a person: still unprocessed (no keyword).
    await server.append('flag', eml({ subject: 'Second', messageId: 'flag-2@customer.example' }), 'INBOX', { flags: ['\\Seen'] });
    const d = await start({ mailboxes: [box] });
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 2, 'two cases');
    await until(async () => (await folderContents(server, 'flag')).every((m) => m.flags.includes('$CasegateProcessed')), 'both flagged');
    const inbox = await folderContents(server, 'flag');
    expect(inbox.map((m) => m.subject)).toEqual(['First', 'Second']);
    for (const m of inbox) expect(m.flags).toEqual(expect.arrayContaining(['\\Seen', '$CasegateProcessed']));
    await d.stop();

    // A restart finds nothing to do; a new message is taken.
    const again = await runDaemon({ mailboxes: [box] }, d.dir);
    running.push(again);
    await server.append('flag', eml({ subject: 'Third', messageId: 'flag-3@customer.example' }));
    await until(async () => (await count(again, 'SELECT count(*) FROM cases')) === 3, 'the third case');
    await until(async () => (await health(again))?.state === 'idling', 'idle');
    expect(await count(again, 'SELECT count(*) FROM receipts')).toBe(3);
  });

  it('flag mode on a server without keywords (Exchange): a message left for later is taken even after a person read it and a newer one was stored', async () => {
    const d = await start({ mailboxes: [mailbox('nokw', { afterProcessing: 'flag' })], database: { busyTimeoutMs: 50 } });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    expect(d.lines.find((l) => l.msg === 'IMAP mailbox connected')).toMatchObject({ keywords: false });
    const deferred = () => d.lines.filter((l) => l.msg === 'message left in the folder; trying again later');
    const locker = await holdDatabase(d);
    try {
      await server.append('nokw', eml({ subject: 'Left for later', messageId: 'nokw-1@customer.example' }));
      // Three failed attempts: its next one is 4 s away.
      await until(() => deferred().filter((l) => l.uid === 1).length >= 3, 'three failed attempts');
      // A colleague opens it in Outlook meanwhile: \Seen, the only marker this server allows.
      const outlook = await server.connect('nokw');
      await outlook.mailboxOpen('INBOX');
      await outlook.messageFlagsAdd('1', ['\\Seen'], { uid: true });
      await outlook.logout();
      await server.append('nokw', eml({ from: 'Bob <bob@customer.example>', subject: 'Newer one', messageId: 'nokw-2@customer.example' }));
      await until(() => deferred().some((l) => l.uid === 2), 'the newer one tried');
    } finally {
      await locker.release();
    }
    // The newer one is stored first (due in 1 s): the checkpoint (highest committed UID) passes the first.
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 2, 'both cases', 30_000);
    expect(((await rawDb(d).all('SELECT subject FROM cases ORDER BY number')) as { subject: string }[]).map((r) => r.subject)).toEqual(['Newer one', 'Left for later']);
    expect(await count(d, 'SELECT count(*) FROM receipts')).toBe(2);
  });

  it('flag mode without keywords: a processed message a person marks unread stays unread and is not run again; one deferred and read before a restart is taken after it', async () => {
    const box = mailbox('nokw2', { afterProcessing: 'flag' });
    const d = await start({ mailboxes: [box], security: { senderAuth: { mode: 'verify' } }, pipeline: { stageTimeoutSeconds: 1, giveUpAfterAttempts: 0 } });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    // One sender's DNS hangs: its message ends in retry every time (stage timeout); every other name answers at once.
    (d.daemon.ctx as { resolveDns: unknown }).resolveDns = (name: string) => (name.includes('slow.example') ? new Promise(() => undefined) : Promise.reject(Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' })));
    const flags = async (subject: string) => (await folderContents(server, 'nokw2')).find((m) => m.subject === subject)?.flags ?? [];
    const person = async (uid: number, op: 'messageFlagsAdd' | 'messageFlagsRemove') => {
      const outlook = await server.connect('nokw2');
      await outlook.mailboxOpen('INBOX');
      await outlook[op](String(uid), ['\\Seen'], { uid: true });
      await outlook.logout();
    };
    await server.append('nokw2', eml({ subject: 'Done one', messageId: 'nokw2-1@customer.example' }));
    await until(async () => (await flags('Done one')).includes('\\Seen'), 'the first processed (\\Seen)');
    // A colleague marks it unread: a to-do marker in a shared mailbox.
    await person(1, 'messageFlagsRemove');
    await server.append('nokw2', eml({ from: 'Pat <pat@slow.example>', subject: 'Left for later', messageId: 'nokw2-2@slow.example' }));
    await until(() => d.lines.some((l) => l.msg === 'message left in the folder; trying again later' && l.uid === 2), 'the second deferred');
    await server.append('nokw2', eml({ from: 'Bob <bob@customer.example>', subject: 'Newer one', messageId: 'nokw2-3@customer.example' }));
    await until(async () => (await flags('Newer one')).includes('\\Seen'), 'the newer one processed');
    // The colleague reads the deferred one in Outlook.
    await person(2, 'messageFlagsAdd');
    // The unread mark stays; the message was not run again (no duplicate receipt).
    expect(await flags('Done one')).not.toContain('\\Seen');
    expect(await count(d, 'SELECT count(*) FROM receipts')).toBe(2);
    await d.stop();

    // Restarted (the DNS works again): the message deferred before the stop is taken, though read and below a stored one.
    const again = await runDaemon({ mailboxes: [box] }, d.dir);
    running.push(again);
    await until(async () => (await count(again, 'SELECT count(*) FROM cases')) === 3, 'the deferred one as a case after the restart', 30_000);
    await until(async () => (await health(again))?.state === 'idling', 'idle');
    expect(((await rawDb(again).all('SELECT subject FROM cases ORDER BY number')) as { subject: string }[]).map((r) => r.subject)).toEqual(['Done one', 'Newer one', 'Left for later']);
    // The newer one, committed above the deferred one, is recognised once as a duplicate (as a stored
    // but unacknowledged message is after a restart); the colleague's unread mark stays.
    expect(await rawDb(again).all("SELECT subject, outcome FROM receipts WHERE outcome <> 'stored'")).toEqual([{ subject: 'Newer one', outcome: 'ignored' }]);
    expect(await flags('Done one')).not.toContain('\\Seen');
  });

  it('messages committed together (a burst held back by a database lock): the checkpoint ends at the last one, not one behind', async () => {
    const d = await start({ mailboxes: [mailbox('burst', { concurrency: 8 })], database: { busyTimeoutMs: 30_000 } });
    await until(async () => (await health(d))?.state === 'idling', 'the mailbox to idle');
    const N = 5;
    // Every message reaches its commit while the lock is held, then they commit one right after another.
    const locker = await holdDatabase(d);
    try {
      for (let i = 1; i <= N; i++) await server.append('burst', eml({ from: `Kim ${i} <kim${i}@customer.example>`, subject: `Burst ${i}`, messageId: `burst-${i}@customer.example` }));
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      await locker.release();
    }
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === N, 'every message a case');
    await until(async () => (await folderContents(server, 'burst')).length === 0, 'INBOX to be empty');
    await until(async () => (await health(d))?.state === 'idling', 'idle again');
    // Nothing left to commit: every message is below the checkpoint (a restart runs none again).
    expect(((await rawDb(d).get('SELECT last_uid FROM mailbox_state')) as { last_uid: number }).last_uid).toBe(N);
  });

  it('a reader running for months does not remember every UID it ever committed: only those above the checkpoint (move mode)', async () => {
    // It kept one per message for the daemon's life (and walked them all twice per commit).
    const N = 80;
    const client = await server.connect('many');
    try {
      for (let i = 1; i <= N; i++) await client.append('INBOX', eml({ from: `Lee ${i} <lee${i}@customer${i}.example>`, subject: `Many ${i}`, messageId: `many-${i}@customer.example` }));
    } finally {
      await client.logout();
    }
    const concurrency = 8;
    const d = await start({ mailboxes: [mailbox('many', { concurrency })] });
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === N, 'every message a case', 120_000);
    await until(async () => (await folderContents(server, 'many')).length === 0, 'INBOX to be empty');
    expect(((await rawDb(d).get('SELECT last_uid FROM mailbox_state')) as { last_uid: number }).last_uid).toBe(N);
    const watcher = d.daemon.imap.watchers[0]!;
    await until(() => watcher.remembered.unacked === 0, 'every move acknowledged');
    const kept = watcher.remembered;
    // Swept at COMMITTED_SWEEP_MIN; a sweep in progress lets at most one round of workers add theirs.
    expect(kept.committed).toBeLessThan(COMMITTED_SWEEP_MIN + concurrency);
    expect(kept.uncommitted).toBe(0);
  });

  it('rescans a recreated folder (new UIDVALIDITY) without creating duplicates', async () => {
    // pollSeconds 1: the periodic re-SELECT notices the recreated folder even though the open
    // session keeps seeing the old one (Dovecot sends no notification for it).
    const box = mailbox('uidv', { folder: 'Support/In', pollSeconds: 1 });
    // The very same bytes come back with the new folder (eml() stamps a Date of its own per call).
    const beforeRaw = eml({ subject: 'Before', messageId: 'uidv-1@customer.example' });
    await server.append('uidv', beforeRaw, 'Support/In');
    const d = await start({ mailboxes: [box] });
    await until(async () => (await count(d, 'SELECT count(*) FROM cases')) === 1, 'the first case');
    await until(async () => (await health(d))?.state === 'idling', 'idle');
    const before = (await rawDb(d).get('SELECT uidvalidity, last_uid FROM mailbox_state')) as { uidvalidity: string; last_uid: number };

    // Delete and recreate the folder: Dovecot assigns a new UIDVALIDITY and starts UIDs at 1 again.
    const admin = await server.connect('uidv');
    // Dovecot answers NO (e.g. [INUSE]) while another session holds the mailbox's lock (the daemon
    // moving a message, re-SELECTing every second): the admin tries each step again, as a person
    // would, and the last refusal is reported with Dovecot's own words.
    const again = async (what: string, step: () => Promise<unknown>): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await step();
          return;
        } catch (err) {
          const e = err as { message?: string; responseText?: string; serverResponseCode?: string };
          if (attempt >= 20) throw new Error(`${what}: ${e.message ?? String(err)} (${e.serverResponseCode ?? ''} ${e.responseText ?? ''})`);
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    };
    await again('DELETE', () => admin.mailboxDelete('Support/In'));
    await again('CREATE', () => admin.mailboxCreate('Support/In'));
    await admin.logout();
    // Each APPEND on a new connection: a session that saw the folder deleted may keep answering
    // "Mailbox was deleted under us" (TRYCREATE) for the recreated one.
    await again('APPEND Before', () => server.append('uidv', beforeRaw, 'Support/In'));
    await again('APPEND After', () => server.append('uidv', eml({ subject: 'After', messageId: 'uidv-2@customer.example' }), 'Support/In'));

    await until(async () => (await count(d, 'SELECT count(*) FROM receipts')) === 3, 'both messages of the new folder');
    await until(async () => (await folderContents(server, 'uidv', 'Support/In')).length === 0, 'the folder to be empty');
    expect(((await rawDb(d).all('SELECT subject FROM cases ORDER BY number')) as { subject: string }[]).map((r) => r.subject)).toEqual(['Before', 'After']);
    // The old message came back with the new folder: recognised, not stored twice.
    const outcomes = (await rawDb(d).all('SELECT outcome, message_id, reason FROM receipts ORDER BY message_id, outcome DESC')) as { outcome: string; message_id: string; reason: string }[];
    expect(outcomes.map((o) => `${o.message_id} ${o.outcome}`)).toEqual(['uidv-1@customer.example stored', 'uidv-1@customer.example ignored', 'uidv-2@customer.example stored']);
    expect(outcomes[1]!.reason).toMatch(/duplicate/);
    // The checkpoint is the highest UID up to which every message is committed (imap-reader): past
    // both, also when the two were committed together (a settled commit moves it up).
    await until(async () => ((await rawDb(d).get('SELECT last_uid FROM mailbox_state')) as { last_uid: number }).last_uid === 2, 'the checkpoint past both messages', 10_000);
    const after = (await rawDb(d).get('SELECT uidvalidity, last_uid FROM mailbox_state')) as { uidvalidity: string; last_uid: number };
    expect(after.uidvalidity).not.toBe(before.uidvalidity);
    expect(after.last_uid).toBe(2);
    expect(d.lines.some((l) => /UIDVALIDITY changed/.test(l.msg))).toBe(true);
    expect((await folderContents(server, 'uidv', 'casegate/Processed')).map((m) => m.subject).sort()).toEqual(['After', 'Before', 'Before']);
  });
});

/** Another connection holding the database against writers (SQLite: BEGIN EXCLUSIVE; PostgreSQL: LOCK TABLE receipts). */
async function holdDatabase(d: RunningDaemon): Promise<{ count(sql: string): Promise<number>; release(): Promise<void> }> {
  const cfg = d.resolved.config.database;
  if (cfg.driver === 'postgres') {
    const c = new pg.Client({ connectionString: cfg.url!, options: `-c search_path=${cfg.schema}` });
    await c.connect();
    await c.query('BEGIN');
    await c.query('LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE');
    return {
      count: async (sql) => Number((await c.query<{ n: string }>(sql)).rows[0]!.n),
      release: async () => {
        await c.query('ROLLBACK');
        await c.end();
      },
    };
  }
  const locker = new SQLite(d.resolved.paths.dbPath);
  locker.exec('BEGIN EXCLUSIVE');
  return {
    count: async (sql) => Number((locker.prepare(sql).get() as { n: number }).n),
    release: async () => {
      locker.exec('ROLLBACK');
      locker.close();
    },
  };
}
