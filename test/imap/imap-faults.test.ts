import { chmod, stat } from 'node:fs/promises';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peekDb, type DbPeek } from '../helpers/db-peek.js';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { eml, writeConfig } from '../helpers/context.js';
import { folderContents, imapOf, removeDir, runDaemon, until, type RunningDaemon } from './imap-env.js';

/**
 * Faults: the server going away while we idle, a mailbox whose login is rejected (health,
 * backoff, the alert and the all-clear) while another mailbox keeps working, and a processed
 * folder the account cannot write to. The test that takes the server down runs a Dovecot of its
 * own; the others share one (`shared`), each with users of its own, since they change passwords
 * or folder permissions of their user.
 */
const SHARED_USERS = ['tls', 'bad-cmd', 'typo', 'good', 'bad', 'noperm', 'qmove'];
let shared: DovecotServer | null = null;
/** The Dovecot of the running test: the shared one, or one of the test's own (stopped after it). */
let server: DovecotServer | null = null;
let d: RunningDaemon | null = null;
let db: DbPeek | null = null;

async function sql<T>(query: string, ...params: unknown[]): Promise<T[]> {
  db ??= peekDb(d!.resolved);
  return db.all<T>(query, ...params);
}

interface HealthRow {
  state: string;
  detail: string | null;
  failing_since: string | null;
  last_success_at: string | null;
  backlog: number;
  alerted: number;
}

async function health(mailbox: string): Promise<HealthRow | undefined> {
  return (await sql<HealthRow>('SELECT * FROM mailbox_health WHERE mailbox = ?', mailbox))[0];
}

function failureLines(mailbox: string) {
  return d!.lines.filter((l) => l.mailbox === mailbox && typeof l.msg === 'string' && l.msg.startsWith(`IMAP mailbox ${mailbox} failed:`));
}

describeWithDovecot('IMAP channel faults', () => {
  beforeAll(async () => {
    // The password each test's user has on the server (the tests of a rejected login change it).
    shared = await startDovecot({ users: SHARED_USERS.map((user) => ({ user, password: user.startsWith('bad') ? 'the-real-password' : `pw-${user}` })) });
  });

  afterEach(async () => {
    try {
      await d?.stop();
    } finally {
      await db?.close();
      db = null;
      if (d !== null) removeDir(d.dir);
      d = null;
      if (server !== shared) await server?.stop();
      server = null;
    }
  });

  afterAll(async () => {
    await server?.stop();
    await shared?.stop();
  });

  it('survives a Dovecot restart while idling: backs off, reconnects, and processes mail sent afterwards', async () => {
    server = await startDovecot({ users: [{ user: 'support', password: 'pw-support' }] });
    d = await runDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'support') }] });
    await until(async () => (await health('support'))?.state === 'idling', 'the mailbox to idle');

    await server.down();
    await until(async () => (await health('support'))?.state === 'backing-off', 'health backing-off while the server is down');
    const during = (await health('support'))!;
    expect(during.failing_since).not.toBeNull();
    expect(during.detail).toMatch(/ECONNREFUSED|ECONNRESET|connection lost|closed/i);
    await server.up();

    await until(async () => (await health('support'))?.state === 'idling' && (await health('support'))?.failing_since === null, 'recovery');
    await server.append('support', eml({ subject: 'After the restart', messageId: 'restart-1@customer.example' }));
    await until(async () => (await sql<{ subject: string }>('SELECT subject FROM cases')).length === 1, 'the case');
    expect((await sql<{ subject: string }>('SELECT subject FROM cases'))[0]!.subject).toBe('After the restart');
    await until(async () => (await folderContents(server!, 'support')).length === 0, 'INBOX to be empty');

    // One warn line per failed attempt, naming the mailbox, the error and the next attempt.
    const lines = failureLines('support');
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const l of lines) {
      expect(l.level).toBe(40);
      expect(l.msg).toMatch(/^IMAP mailbox support failed: .+; next attempt in \d/);
      expect(typeof l.retryInMs).toBe('number');
    }
    const h = (await health('support'))!;
    expect(h.detail).toBeNull();
    expect(h.last_success_at).not.toBeNull();
    expect(h.alerted).toBe(0);
  });

  it('a server ALERT (RFC 9051 §7.1: text a person must see) is logged and carried in the failure detail casegate status and the alert email show', async () => {
    // A server that greets with an ALERT and then refuses the login (no Dovecot setting sends ALERTs).
    const fake = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.write('* OK [ALERT] Planned maintenance at 22:00 UTC: this server is down for 2 hours\r\n');
      let buf = '';
      socket.on('data', (chunk: Buffer) => {
        buf += chunk.toString('latin1');
        for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
          const [tag, command] = buf.slice(0, i).split(' ');
          buf = buf.slice(i + 2);
          const cmd = (command ?? '').toUpperCase();
          if (cmd === 'CAPABILITY') socket.write(`* CAPABILITY IMAP4rev1\r\n${tag} OK done\r\n`);
          else if (cmd === 'LOGOUT') socket.end(`* BYE bye\r\n${tag} OK done\r\n`);
          else socket.write(`${tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n`);
        }
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const port = (fake.address() as AddressInfo).port;
      d = await runDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { host: '127.0.0.1', port, tls: 'none', auth: { method: 'password', user: 'u', password: 'p' }, reconnectMinSeconds: 1, reconnectMaxSeconds: 2 } }] });
      await until(async () => (await health('support'))?.state === 'auth-failed', 'the failed login');
      const alert = d.lines.find((l) => l.msg.startsWith('IMAP server of mailbox support says (ALERT):'));
      expect(alert).toMatchObject({ level: 40, msg: 'IMAP server of mailbox support says (ALERT): Planned maintenance at 22:00 UTC: this server is down for 2 hours' });
      expect((await health('support'))?.detail).toBe('login rejected: AUTHENTICATIONFAILED: Command failed: Authentication failed. (server ALERT: Planned maintenance at 22:00 UTC: this server is down for 2 hours)');
    } finally {
      await d?.stop();
      fake.close();
    }
  });

  it('tls: implicit against a server that starts in plain text (port 143): the failure names imap.tls and the fix, not only OpenSSL\'s "wrong version number"', async () => {
    server = shared!;
    d = await runDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'tls', { tls: 'implicit' }) }] });
    await until(async () => (await health('support'))?.state === 'backing-off', 'the mailbox to back off');
    const detail = (await health('support'))!.detail!;
    expect(detail).toContain(`the server on port ${server.port} does not speak TLS from the first byte (imap.tls: implicit): for a port that starts in plain text (143) set imap.tls: starttls`);
    // The library's own words stay, for a search.
    expect(detail).toMatch(/wrong version number/i);
    expect(failureLines('support')[0]!.msg).toContain('set imap.tls: starttls');

    // The other way round: starttls against a server that offers none (this Dovecot has ssl = no).
    writeConfig(d.dir, { listener: { enabled: false }, templates: { watch: false }, outgoing: { transport: 'file', sweepSeconds: 1 }, mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'tls', { tls: 'starttls' }) }] });
    expect((await d.daemon.reload()).ok).toBe(true);
    await until(async () => (await health('support'))?.detail?.includes('offers no STARTTLS') === true, 'the STARTTLS hint');
    expect((await health('support'))!.detail).toContain(`the server on port ${server.port} offers no STARTTLS (imap.tls: starttls): if it speaks TLS from the first byte (port 993), set imap.tls: implicit and that port`);
  });

  it('a rejected login with alerts.command and no instance.adminAddress: the command runs once for the alert and once for the all-clear', async () => {
    // The chat webhook is the path for when mail is what breaks; it was run only along with an
    // email to instance.adminAddress, so without one a dead mailbox alerted nobody.
    server = shared!;
    const dir = mkdtempSync(join(tmpdir(), 'casegate-imap-'));
    d = await runDaemon(
      {
        alerts: { command: `cat >> "${dir}/alerts.txt"; printf '%s|%s\\n' "$CASEGATE_ALERT_KIND" "$CASEGATE_ALERT_SUBJECT" >> "${dir}/alert-runs.txt"` },
        mailboxes: [{ name: 'bad', addresses: ['bad@example.com'], imap: { ...imapOf(server, 'bad-cmd'), auth: { method: 'password', user: 'bad-cmd', password: 'configured-password' }, alertAfterSeconds: 1 } }],
      },
      dir,
    );
    const runs = (): string[] => (existsSync(join(dir, 'alert-runs.txt')) ? readFileSync(join(dir, 'alert-runs.txt'), 'utf8').trim().split('\n') : []);
    await until(async () => (await health('bad'))?.alerted === 1, 'alerted');
    await until(async () => runs().length === 1, 'alerts.command');
    expect(runs()).toEqual(['mailbox-alert|[casegate] Mailbox bad is failing (auth-failed)']);
    expect(readFileSync(join(dir, 'alerts.txt'), 'utf8')).toMatch(/AUTHENTICATIONFAILED/);
    // Nothing to mail: no outbox row.
    expect(await sql("SELECT id FROM outbox WHERE kind LIKE 'mailbox-%'")).toHaveLength(0);
    const attemptsAtAlert = failureLines('bad').length;
    await until(async () => failureLines('bad').length >= attemptsAtAlert + 2, 'two more failed attempts');
    expect(runs()).toHaveLength(1);

    await server.setPassword('bad-cmd', 'configured-password');
    await until(async () => (await health('bad'))?.state === 'idling' && (await health('bad'))?.alerted === 0, 'bad to recover');
    await until(async () => runs().length === 2, 'the all-clear through alerts.command');
    expect(runs()[1]).toBe('mailbox-recovered|[casegate] Mailbox bad works again');
    expect(d.lines.some((l) => l.level === 50 && l.msg === 'mailbox has been failing too long; admin alerted')).toBe(true);
  });

  it('a password fixed by a reload: the idling mailbox no longer shows the old "login rejected" in status', async () => {
    server = shared!;
    const config = (password: string) => ({
      listener: { enabled: false },
      templates: { watch: false },
      outgoing: { transport: 'file' as const, sweepSeconds: 1 },
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { ...imapOf(server!, 'typo'), auth: { method: 'password' as const, user: 'typo', password } } }],
    });
    d = await runDaemon(config('a-typo'));
    await until(async () => (await health('support'))?.state === 'auth-failed', 'the mailbox to be auth-failed');
    expect((await health('support'))!.detail).toMatch(/login rejected/);
    writeConfig(d.dir, config('pw-typo'));
    expect((await d.daemon.reload()).ok).toBe(true);
    await until(async () => (await health('support'))?.state === 'idling', 'the mailbox to idle');
    expect((await health('support'))!).toMatchObject({ detail: null, failing_since: null });
  });

  it('a rejected login: auth-failed, the other mailbox keeps working, one alert, then the all-clear', async () => {
    server = shared!;
    d = await runDaemon({
      instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'ops@example.com' },
      mailboxes: [
        { name: 'good', addresses: ['good@example.com'], imap: imapOf(server, 'good') },
        { name: 'bad', addresses: ['bad@example.com'], imap: { ...imapOf(server, 'bad'), auth: { method: 'password', user: 'bad', password: 'configured-password' }, alertAfterSeconds: 1 } },
      ],
    });
    await until(async () => (await health('bad'))?.state === 'auth-failed', 'bad to be auth-failed');
    expect((await health('bad'))!.detail).toMatch(/login rejected/);
    await until(async () => (await health('good'))?.state === 'idling', 'good to idle');

    // The failing mailbox does not hold up the other one.
    await server.append('good', eml({ to: 'good@example.com', subject: 'Still working', messageId: 'good-1@customer.example' }));
    await until(async () => (await sql('SELECT id FROM cases')).length === 1, 'the case in the good mailbox');

    // Failing for longer than alertAfterSeconds: exactly one alert to the admin.
    await until(async () => (await sql("SELECT id FROM outbox WHERE kind = 'mailbox-alert'")).length === 1, 'the alert');
    await until(async () => (await health('bad'))?.alerted === 1, 'alerted');
    const alert = (await sql<{ case_id: number | null; to_address: string; subject: string; text: string; auto_reply: number; headers_json: string }>("SELECT * FROM outbox WHERE kind = 'mailbox-alert'"))[0]!;
    expect(alert).toMatchObject({ case_id: null, to_address: 'ops@example.com', auto_reply: 0 });
    expect(alert.subject).toBe('[casegate] Mailbox bad is failing (auth-failed)');
    expect(alert.text).toContain('check the password or access token');
    expect(JSON.parse(alert.headers_json)).toMatchObject({ 'Auto-Submitted': 'auto-generated' });
    const attemptsAtAlert = failureLines('bad').length;
    await until(async () => failureLines('bad').length >= attemptsAtAlert + 2, 'two more failed attempts');
    expect((await sql("SELECT id FROM outbox WHERE kind = 'mailbox-alert'"))).toHaveLength(1);
    for (const l of failureLines('bad')) {
      expect(l.level).toBe(50);
      expect(l.msg).toMatch(/^IMAP mailbox bad failed: login rejected: .*AUTHENTICATIONFAILED.*; next attempt in/);
    }

    // Fix the password: it recovers, and the all-clear follows.
    await server.setPassword('bad', 'configured-password');
    await until(async () => (await health('bad'))?.state === 'idling' && (await health('bad'))?.alerted === 0, 'bad to recover');
    await until(async () => (await sql("SELECT id FROM outbox WHERE kind = 'mailbox-recovered'")).length === 1, 'the all-clear');
    const clear = (await sql<{ case_id: number | null; subject: string; text: string }>("SELECT * FROM outbox WHERE kind = 'mailbox-recovered'"))[0]!;
    expect(clear.case_id).toBeNull();
    expect(clear.subject).toBe('[casegate] Mailbox bad works again');
    expect(clear.text).toMatch(/AUTHENTICATIONFAILED/);
    expect((await health('bad'))).toMatchObject({ failing_since: null, detail: null });
    // Both went through the outbox (file transport) and were sent.
    await until(async () => (await sql("SELECT id FROM outbox WHERE kind LIKE 'mailbox-%' AND status = 'sent'")).length === 2, 'both sent');
    expect((await sql("SELECT id FROM events WHERE type IN ('mailbox.alert', 'mailbox.recovered')"))).toHaveLength(2);

    await server.append('bad', eml({ to: 'bad@example.com', subject: 'Finally', messageId: 'bad-1@customer.example' }));
    await until(async () => (await sql('SELECT id FROM cases')).length === 2, 'the case in the recovered mailbox');
  });

  it('a processed folder the account cannot write to: the server\'s reason in log and status, no receipt per reconnect, all moved once it works', async () => {
    server = shared!;
    const config = {
      instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'ops@example.com' },
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'noperm', { alertAfterSeconds: 2 }) }],
    };
    d = await runDaemon(config);
    await until(async () => (await health('support'))?.state === 'idling', 'the mailbox to idle');
    // The folder exists now (created at connect). Read-only for Dovecot's mail process, which
    // runs unprivileged (dovecot-conf.ts), so MOVE into it fails on the server even when the test
    // runs as root: Dovecot answers NO [SERVERBUG] and logs "Permission denied".
    const folder = join(server.dir, 'mail', 'noperm', 'Maildir', '.casegate.Processed');
    const dirs = [folder, join(folder, 'tmp'), join(folder, 'new'), join(folder, 'cur')];
    const modes = await Promise.all(dirs.map(async (p) => (await stat(p)).mode & 0o7777));
    for (const p of dirs) await chmod(p, 0o555);
    const receipts = async (): Promise<{ outcome: string; n: number }[]> => sql('SELECT outcome, count(*) AS n FROM receipts GROUP BY outcome ORDER BY outcome');
    const outcomeLines = () => d!.lines.filter((l) => l.outcome !== undefined);
    const moveFailures = () => failureLines('support').filter((l) => /MOVE of \d+ messages? to "casegate\/Processed" failed/.test(l.msg));
    try {
      for (let i = 1; i <= 3; i++) await server.append('noperm', eml({ from: `Customer ${i} <c${i}@customer.example>`, subject: `No rights ${i}`, messageId: `noperm-${i}@customer.example` }));
      await until(async () => (await sql('SELECT id FROM cases')).length === 3, 'three cases');
      // Reconnect after reconnect (every second at most): only the MOVE is tried again.
      await until(() => moveFailures().length >= 4, 'four failed MOVEs');
      for (const l of moveFailures()) {
        // (a) the server's answer, not just "failed".
        expect(l.msg).toMatch(/^IMAP mailbox support failed: MOVE of \d+ messages? to "casegate\/Processed" failed: NO \[SERVERBUG\] Internal error occurred\..*; next attempt in /);
      }
      expect(moveFailures().at(-1)!.msg).toMatch(/MOVE of 3 messages/);
      const h = (await health('support'))!;
      expect(h.detail).toMatch(/^MOVE of 3 messages to "casegate\/Processed" failed: NO \[SERVERBUG\]/);
      expect(h.failing_since).not.toBeNull();
      // (b) one receipt and one outcome line per message, however many reconnects.
      expect(await receipts()).toEqual([{ outcome: 'stored', n: 3 }]);
      expect(outcomeLines()).toHaveLength(3);
      expect((await folderContents(server, 'noperm')).map((m) => m.subject)).toEqual(['No rights 1', 'No rights 2', 'No rights 3']);
      // Dovecot's own log says why (what its NO pointed at).
      expect(await server.readLog()).toMatch(/casegate\.Processed.*Permission denied/);
      // Reconnecting and retrying the MOVE is no success: the failure streak goes on, the admin is alerted.
      await until(async () => (await health('support'))?.alerted === 1, 'the alert');
      const alert = (await sql<{ subject: string; text: string }>("SELECT subject, text FROM outbox WHERE kind = 'mailbox-alert'"))[0]!;
      expect(alert.subject).toBe('[casegate] Mailbox support is failing (backing-off)');
      expect(alert.text).toMatch(/MOVE of 3 messages to "casegate\/Processed" failed: NO \[SERVERBUG\]/);

      // A restart forgets which messages wait only for their MOVE: each one runs through the
      // pipeline once more (ignored: duplicate), then, again, only the MOVE is retried.
      await d.stop();
      d = await runDaemon(config, d.dir);
      await until(async () => (await receipts()).some((r) => r.outcome === 'ignored' && r.n === 3), 'one duplicate receipt per message after the restart');
      await until(() => moveFailures().length >= 3, 'three failed MOVEs after the restart');
      expect(await receipts()).toEqual([
        { outcome: 'ignored', n: 3 },
        { outcome: 'stored', n: 3 },
      ]);
      expect(outcomeLines()).toHaveLength(3);
      expect((await health('support'))!.alerted).toBe(1);
    } finally {
      for (const [i, p] of dirs.entries()) await chmod(p, modes[i]!);
    }

    // (c) Writable again: all three moved, nothing new recorded, health recovers.
    await until(async () => (await folderContents(server!, 'noperm')).length === 0, 'INBOX to be empty');
    expect((await folderContents(server, 'noperm', 'casegate/Processed')).map((m) => m.subject)).toEqual(['No rights 1', 'No rights 2', 'No rights 3']);
    await until(async () => (await health('support'))?.state === 'idling' && (await health('support'))?.failing_since === null, 'recovery');
    expect((await health('support'))!.detail).toBeNull();
    expect(await receipts()).toEqual([
      { outcome: 'ignored', n: 3 },
      { outcome: 'stored', n: 3 },
    ]);
    expect(await sql('SELECT id FROM cases')).toHaveLength(3);
    expect(await sql("SELECT id FROM outbox WHERE kind = 'confirmation'")).toHaveLength(3);
    expect(outcomeLines()).toHaveLength(3);
    // One alert for the whole outage (the restart included), one all-clear.
    await until(async () => (await sql("SELECT id FROM outbox WHERE kind = 'mailbox-recovered'")).length === 1, 'the all-clear');
    expect(await sql("SELECT id FROM outbox WHERE kind = 'mailbox-alert'")).toHaveLength(1);
  });
  it('a quarantined message whose MOVE failed is not quarantined again after a restart: only the MOVE is retried', async () => {
    server = shared!;
    const config = {
      mime: { maxParts: 10 },
      security: { maxReceivedHops: 5 },
      listener: { enabled: false, maxMessageBytes: 8192 },
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'qmove') }],
    };
    d = await runDaemon(config);
    await until(async () => (await health('support'))?.state === 'idling', 'the mailbox to idle');
    // The quarantine folder exists now (created at connect); read-only for Dovecot's mail process.
    const folder = join(server.dir, 'mail', 'qmove', 'Maildir', '.casegate.Quarantine');
    const dirs = [folder, join(folder, 'tmp'), join(folder, 'new'), join(folder, 'cur')];
    const modes = await Promise.all(dirs.map(async (p) => (await stat(p)).mode & 0o7777));
    for (const p of dirs) await chmod(p, 0o555);
    const receipts = async (): Promise<{ outcome: string; stage: string; n: number }[]> => sql('SELECT outcome, stage, count(*) AS n FROM receipts GROUP BY outcome, stage ORDER BY stage');
    const quarantined = [
      { outcome: 'quarantined', stage: 'loop-guard', n: 1 },
      { outcome: 'quarantined', stage: 'parse', n: 1 },
      { outcome: 'quarantined', stage: 'size-limit', n: 1 },
    ];
    const moveFailures = () => failureLines('support').filter((l) => /MOVE of \d+ messages? to "casegate\/Quarantine" failed/.test(l.msg));
    const parts = ['--b', 'Content-Type: text/plain', '', 'part'];
    const manyParts = eml({ subject: 'Twenty parts', messageId: 'qmove-parts@customer.example', headers: { 'Content-Type': 'multipart/mixed; boundary="b"' }, body: [...Array.from({ length: 20 }, () => parts).flat(), '--b--', ''].join('\r\n') });
    const received = Array.from({ length: 8 }, (_, i) => `Received: from relay${i}.example.net by mx.example.com; Mon, 02 Mar 2026 08:5${i}:00 +0000`).join('\r\n');
    try {
      await server.append('qmove', manyParts);
      await server.append('qmove', `${received}\r\n${eml({ subject: 'Looping', messageId: 'qmove-loop@customer.example' })}`);
      await server.append('qmove', eml({ subject: 'Far too big', messageId: 'qmove-big@customer.example', body: `${'z'.repeat(76)}\r\n`.repeat(200) }));
      await until(async () => JSON.stringify(await receipts()) === JSON.stringify(quarantined), 'three quarantined messages');
      await until(() => moveFailures().length >= 2, 'two failed MOVEs');

      // A restart forgets that they wait only for their MOVE; the receipts remember them.
      await d.stop();
      const before = d.lines.length;
      d = await runDaemon(config, d.dir);
      await until(() => moveFailures().length >= 3, 'three failed MOVEs after the restart');
      expect(await receipts()).toEqual(quarantined);
      expect(d.lines.slice(before).filter((l) => l.outcome !== undefined)).toEqual([]);
      const again = d.lines.filter((l) => /^(oversized )?message uid \d+ was quarantined before \(receipt \d+\); only its (move to casegate\/Quarantine|acknowledgement) is retried$/.test(l.msg));
      expect(new Set(again.map((l) => l['uid'])).size).toBe(3);
      expect((await folderContents(server, 'qmove')).map((m) => m.subject)).toEqual(['Twenty parts', 'Looping', 'Far too big']);
      expect(await folderContents(server, 'qmove', 'casegate/Processed')).toEqual([]);
    } finally {
      for (const [i, p] of dirs.entries()) await chmod(p, modes[i]!);
    }
    // Writable again: all three go to the quarantine folder, nothing new is recorded.
    await until(async () => (await folderContents(server!, 'qmove')).length === 0, 'INBOX to be empty');
    expect((await folderContents(server, 'qmove', 'casegate/Quarantine')).map((m) => m.subject)).toEqual(['Twenty parts', 'Looping', 'Far too big']);
    expect(await folderContents(server, 'qmove', 'casegate/Processed')).toEqual([]);
    expect(await receipts()).toEqual(quarantined);
    expect(await sql("SELECT id FROM receipts WHERE outcome = 'quarantined' AND retried_as IS NULL")).toHaveLength(3);
  });
});
