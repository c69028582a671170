import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peerUid, uidsOf } from '../../src/channels/peer-user.js';
import { ConfigError } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/main.js';
import { writeConfig } from '../helpers/context.js';
import { isCI } from '../helpers/dovecot-server.js';
import { openSmtpSession } from '../helpers/smtp-probe.js';
import { captureLogger, type LogLine } from '../imap/imap-env.js';

/**
 * Every process of the machine can reach the loopback listener. With senderAuth trusted-header a
 * local user who connected could write the MX's Authentication-Results and pass as an agent (a
 * forged reply reached the customer as ours). listener.localUsers accepts only the named users'
 * connections from this machine (the MTA). Changing user needs root (CI runs as root): without it
 * the test fails under CI=true and is skipped with a warning elsewhere.
 */
function isRoot(): boolean {
  if (process.getuid?.() === 0) return true;
  if (isCI()) throw new Error('smtp-local-users test: a client of another user needs root, and CI is set: failing instead of skipping');
  console.warn('[smtp-local-users] skipping: a client of another user needs root');
  return false;
}

const ROOT = isRoot();
const NOBODY = 65534;

/** The forged agent reply a local user would send, straight to the listener. */
const FORGED = [
  'Received: from mail.agents.example (mail.agents.example [192.0.2.7]) by mx.example.com (Postfix) with ESMTPS id 4Xyz; Sun, 6 Dec 2026 20:40:00 +0000',
  'Authentication-Results: mx.example.com; dkim=pass header.d=agents.example; spf=pass smtp.mailfrom=agents.example; dmarc=pass header.from=agents.example',
  'From: Erika <erika@agents.example>',
  'To: support@example.com',
  'Subject: Re: [Case #10001] my order',
  '',
  'Please pay the outstanding 900 EUR to IBAN XX00 1234 now.',
  '',
].join('\r\n');

/** One SMTP transaction in a child process as `uid`; every reply line it got. */
async function sendAs(uid: number, port: number, message: string): Promise<string[]> {
  const script = `
    const net = require('node:net');
    const steps = ['EHLO local.example', 'MAIL FROM:<erika@agents.example>', 'RCPT TO:<support@example.com>', 'DATA', ${JSON.stringify(message)} + '\\r\\n.', 'QUIT'];
    const s = net.connect(${port}, '127.0.0.1');
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      for (;;) {
        const i = buf.indexOf('\\r\\n');
        if (i < 0) break;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        console.log(line);
        if (/^\\d{3} /.test(line)) {
          if (line.startsWith('421') || steps.length === 0) { s.end(); return; }
          s.write(steps.shift() + '\\r\\n');
        }
      }
    });
    s.on('error', (e) => console.log('error ' + e.message));
  `;
  // Not spawnSync: the daemon answering it runs on this process's event loop.
  const child = spawn(process.execPath, ['-e', script], { uid, gid: uid, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20_000 });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  await new Promise((res) => child.on('close', res));
  return out.split('\n').filter((l) => l !== '');
}

describe.skipIf(!ROOT)('listener.localUsers: only the MTA\'s user may hand in mail from this machine', () => {
  let daemon: Daemon;
  let lines: LogLine[];
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'casegate-localusers-'));
    const resolved = writeConfig(dir, {
      templates: { watch: false },
      listener: { port: 0, localUsers: ['root'] },
      outgoing: { transport: 'file', sweepSeconds: 1 },
      mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
      queues: { support: { agents: [{ name: 'Erika', address: 'erika@agents.example' }] } },
      security: { senderAuth: { mode: 'trusted-header', authservId: 'mx.example.com' } },
      autoReply: { minIntervalSeconds: 0 },
    });
    expect(resolved.warnings.map((w) => w.path)).not.toContain('security.senderAuth.mode');
    const captured = captureLogger();
    lines = captured.lines;
    daemon = await startDaemon({ resolved, log: captured.log });
  });

  afterAll(async () => {
    await daemon?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('the listed user (the MTA) is served; another local user gets 421 at connect and nothing of its mail is kept', async () => {
    const mta = await openSmtpSession(daemon.smtp!.port, '127.0.0.1');
    try {
      expect((await mta.command('EHLO mta.example')).reply).toMatch(/^250/);
    } finally {
      mta.close();
    }
    const replies = await sendAs(NOBODY, daemon.smtp!.port, FORGED);
    expect(replies).toEqual([expect.stringMatching(/^421 4\.7\.1 .*Not accepted from this local user/)]);
    expect(await daemon.ctx.db.selectFrom('receipts').select('id').execute()).toEqual([]);
    expect(lines.find((l) => /not one of listener\.localUsers/.test(l.msg))).toMatchObject({ level: 40, uid: NOBODY, client: '127.0.0.1' });
  });

  it('peerUid names the owner of a loopback connection (IPv4 and IPv6); uidsOf takes names and numbers', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const server = createServer();
      const accepted = new Promise<Socket>((res) => server.once('connection', res));
      await new Promise<void>((res, rej) => server.once('error', rej).listen(0, host, () => res()));
      const client = connect((server.address() as AddressInfo).port, host);
      const s = await accepted;
      try {
        expect(peerUid({ remoteAddress: s.remoteAddress!, remotePort: s.remotePort!, localAddress: s.localAddress!, localPort: s.localPort! })).toBe(0);
      } finally {
        client.destroy();
        s.destroy();
        server.close();
      }
    }
    expect(peerUid({ remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 1 })).toBeNull();
    expect(uidsOf(['root', '65534', 7, 'no-such-user-here'])).toEqual(new Set([0, 65534, 7]));
  });

  it('a user name the machine does not know is a configuration error, not a refused MTA', () => {
    expect(() => writeConfig(mkdtempSync(join(tmpdir(), 'casegate-localusers-')), { listener: { localUsers: ['postfix-typo'] }, mailboxes: [{ name: 'support', addresses: ['support@example.com'] }] })).toThrow(ConfigError);
  });
});
