import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { eml } from '../helpers/context.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { folderContents, removeDir, runDaemon, until, type RunningDaemon } from './imap-env.js';

/**
 * XOAUTH2 end to end (issue 13, point 9), the paths Microsoft 365 and Google Workspace exercise:
 * a private Dovecot whose oauth2 passdb checks every token against a small RFC 7662
 * introspection server run by this test; casegate logs in with the token its tokenCommand
 * prints; when the token expires while casegate IDLEs the server ends the session (as the
 * providers do) and casegate runs the command again for a fresh token; a command that fails
 * raises the mailbox alert (and its all-clear once it works again).
 */

let dovecot: DovecotServer;
let introspection: Server;
let sink: SmtpSink;
let running: RunningDaemon;
let dir: string;
/** token → whether it is active (the "provider"). */
const tokens = new Map<string, boolean>();
/** Tokens presented to the introspection endpoint, in order. */
const presented: string[] = [];
/** The identity provider is down: the introspection endpoint answers 503. */
let providerDown = false;

function setToken(value: string): void {
  writeFileSync(join(dir, 'token.txt'), `${value}\n`);
}

beforeAll(async () => {
  introspection = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token') ?? '';
      presented.push(token);
      if (providerDown) {
        res.writeHead(503);
        res.end('down for maintenance');
        return;
      }
      const active = tokens.get(token) === true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(active ? { active: true, username: 'support', scope: 'https://outlook.office.com/IMAP.AccessAsUser.All' } : { active: false }));
    });
  });
  await new Promise<void>((r) => introspection.listen(0, '127.0.0.1', r));
  const port = (introspection.address() as AddressInfo).port;
  dovecot = await startDovecot({ users: [{ user: 'support', password: 'not-used-by-casegate' }], oauth2: { introspectionUrl: `http://127.0.0.1:${port}/introspect` } });
  sink = await startSmtpSink();
}, 30_000);

afterAll(async () => {
  await running?.stop();
  await dovecot?.stop();
  await sink?.close();
  await new Promise<void>((r) => (introspection ? introspection.close(() => r()) : r()));
  if (dir !== undefined) removeDir(dir);
});

describeWithDovecot('XOAUTH2 against Dovecot with token introspection', () => {
  it('logs in with the token of tokenCommand and takes mail', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    dir = mkdtempSync(join(tmpdir(), 'casegate-xoauth2-'));
    // The token helper: prints the current token, fails when told to (an expired refresh token, a broken helper).
    const script = join(dir, 'token.sh');
    writeFileSync(script, `#!/bin/sh\nt=$(cat "${join(dir, 'token.txt')}")\nif [ "$t" = FAIL ]; then echo "refresh token revoked (AADSTS70008)" >&2; exit 1; fi\necho "$t"\n`);
    chmodSync(script, 0o755);
    tokens.set('token-one', true);
    setToken('token-one');
    running = await runDaemon(
      {
        instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'admin@example.com' },
        mailboxes: [
          {
            name: 'support',
            addresses: ['support@example.com'],
            imap: { host: dovecot.host, port: dovecot.port, tls: 'none', auth: { method: 'xoauth2', user: 'support', tokenCommand: script }, afterProcessing: 'flag', reconnectMinSeconds: 0.2, reconnectMaxSeconds: 1, alertAfterSeconds: 2 },
          },
        ],
        outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1 },
        jobs: { enabled: false },
      },
      dir,
    );
    await until(() => running.daemon.imap.watchers[0]?.state === 'idling', 'the mailbox idling');
    expect(presented).toContain('token-one');
    expect(await dovecot.readLog()).toMatch(/Login: user=<support>, method=XOAUTH2/);
    await dovecot.append('support', eml({ from: 'Ann <ann@customer.example>', subject: 'Token one works', messageId: 'x1@customer.example' }));
    await until(async () => (await folderContents(dovecot, 'support')).some((m) => m.subject === 'Token one works' && m.flags.includes('$CasegateProcessed')), 'the first message processed');
  }, 60_000);

  it('a token that expires mid-IDLE: the server ends the session, casegate runs tokenCommand again and logs in with the new token', async () => {
    const logins = (await dovecot.readLog()).match(/method=XOAUTH2/g)?.length ?? 0;
    // The provider expires the old token and issues a new one; the helper now prints it.
    tokens.set('token-one', false);
    tokens.set('token-two', true);
    setToken('token-two');
    await dovecot.kick('support');
    await until(async () => ((await dovecot.readLog()).match(/method=XOAUTH2/g)?.length ?? 0) > logins, 'a new XOAUTH2 login');
    expect(presented.at(-1)).toBe('token-two');
    // The expired token was never offered again.
    expect(presented.filter((t) => t === 'token-one')).toHaveLength(presented.indexOf('token-two'));
    await until(() => running.daemon.imap.watchers[0]?.state === 'idling', 'idling again');
    await dovecot.append('support', eml({ from: 'Ann <ann@customer.example>', subject: 'Token two works', messageId: 'x2@customer.example' }));
    await until(async () => (await folderContents(dovecot, 'support')).some((m) => m.subject === 'Token two works' && m.flags.includes('$CasegateProcessed')), 'the message after the refresh processed');
  }, 60_000);

  it('a failing tokenCommand raises the mailbox alert to the admin (and the all-clear when it works again)', async () => {
    setToken('FAIL');
    tokens.set('token-two', false);
    await dovecot.kick('support');
    await until(() => running.daemon.imap.watchers[0]?.state === 'auth-failed', 'auth-failed');
    const alert = await until(() => sink.messages.find((m) => m.envelopeTo.includes('admin@example.com') && /support/.test(m.parsed.subject ?? '')), 'the alert email', 20_000);
    expect(alert.parsed.text).toMatch(/tokenCommand failed: refresh token revoked \(AADSTS70008\)/);
    const health = await running.daemon.ctx.db.selectFrom('mailbox_health').selectAll().where('mailbox', '=', 'support').executeTakeFirstOrThrow();
    expect(health).toMatchObject({ state: 'auth-failed', alerted: 1 });
    expect(health.detail).toMatch(/tokenCommand failed/);

    tokens.set('token-three', true);
    setToken('token-three');
    await until(() => running.daemon.imap.watchers[0]?.state === 'idling', 'idling after the fix', 20_000);
    const clear = await until(() => sink.messages.find((m) => m.envelopeTo.includes('admin@example.com') && m !== alert), 'the all-clear email', 20_000);
    expect(clear.parsed.subject).not.toBe(alert.parsed.subject);
  }, 60_000);

  it('the identity provider down (Dovecot: NO [UNAVAILABLE] Temporary authentication failure) is a server-side failure, not "login rejected": backing-off, never auth-failed', async () => {
    const states = new Set<string>();
    const watch = setInterval(() => states.add(String(running.daemon.imap.watchers[0]?.state)), 20);
    try {
      providerDown = true;
      await dovecot.kick('support');
      const health = async () => running.daemon.ctx.db.selectFrom('mailbox_health').selectAll().where('mailbox', '=', 'support').executeTakeFirstOrThrow();
      await until(async () => /UNAVAILABLE/.test((await health()).detail ?? ''), 'the failed login reported');
      const h = await health();
      expect(h.state).toBe('backing-off');
      expect(h.detail).toMatch(/^login failed on the server's side, not for our credentials: UNAVAILABLE: .*Temporary authentication failure/);
      const line = running.lines.find((l) => /^IMAP mailbox support failed: login failed on the server's side/.test(l.msg));
      expect(line?.level).toBe(40);
      providerDown = false;
      await until(() => running.daemon.imap.watchers[0]?.state === 'idling', 'idling once the provider is back', 20_000);
      expect(states).not.toContain('auth-failed');
    } finally {
      clearInterval(watch);
      providerDown = false;
    }
  }, 60_000);
});
