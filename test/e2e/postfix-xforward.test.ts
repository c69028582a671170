import { afterAll, beforeAll, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { startSmtpListener, type SmtpListener } from '../../src/channels/smtp-listener.js';
import type { DnsResolver } from '../../src/mail-in/sender-auth.js';
import { testEnv, type TestEnv } from '../helpers/context.js';
import { describeWithPostfix, startPostfix, type PostfixServer } from '../helpers/postfix-server.js';

/**
 * The listener behind a real Postfix with `security.senderAuth.mode: verify`: Postfix passes the
 * original client on with XFORWARD (smtp_send_xforward_command = yes), and the listener, trusting
 * 127.0.0.1 (listener.trustXForwardFrom), judges SPF for that client — here 127.0.0.2, the only
 * address xf.example's SPF names — instead of Postfix's own 127.0.0.1.
 */
const dns: DnsResolver = async (name, rrtype) => {
  if (rrtype === 'TXT' && name.toLowerCase() === 'xf.example') return [['v=spf1 ip4:127.0.0.2 -all']];
  if (rrtype === 'TXT' && name.toLowerCase() === '_dmarc.xf.example') return [['v=DMARC1; p=reject']];
  throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
};

describeWithPostfix('senderAuth verify behind Postfix: XFORWARD names the real client', () => {
  let env: TestEnv;
  let listener: SmtpListener;
  let postfix: PostfixServer;

  beforeAll(async () => {
    env = await testEnv({ security: { senderAuth: { mode: 'verify', authservId: 'casegate.example.com' } }, listener: { port: 0, trustXForwardFrom: ['127.0.0.1'] } }, undefined, { resolveDns: dns });
    listener = await startSmtpListener(env.ctx);
    postfix = await startPostfix({
      routes: { 'example.com': `tocasegate:[127.0.0.1]:${listener.port}` },
      services: [{ name: 'tocasegate', command: 'smtp -o smtp_send_xforward_command=yes' }],
    });
  }, 60_000);

  afterAll(async () => {
    await postfix?.stop();
    await listener?.close();
    await env?.close();
  });

  async function send(localAddress: string, id: string): Promise<void> {
    const t = nodemailer.createTransport({ host: postfix.host, port: postfix.port, secure: false, ignoreTLS: true, localAddress });
    const info = await t.sendMail({ from: 'Ann <ann@xf.example>', to: 'support@example.com', subject: `from ${localAddress}`, text: 'hello\n', messageId: `<${id}>` });
    const qid = /queued as ([0-9A-F]+)/i.exec(info.response)?.[1] ?? '';
    const line = await postfix.waitForLog(new RegExp(`${qid}: to=<support@example\\.com>, relay=127\\.0\\.0\\.1.*status=(sent|deferred|bounced)`), 30_000);
    expect(line, postfix.log()).toMatch(/status=sent/);
  }

  it('mail Postfix took from 127.0.0.2 passes SPF; from 127.0.0.1 it fails (DMARC p=reject: forged)', async () => {
    await send('127.0.0.2', 'xf-pass@xf.example');
    await send('127.0.0.1', 'xf-fail@xf.example');
    const rows = await env.ctx.db.selectFrom('messages').select(['subject', 'sender_auth']).where('direction', '=', 'in').orderBy('id').execute();
    expect(rows.map((r) => [r.subject, r.sender_auth])).toEqual([
      ['from 127.0.0.2', 'pass'],
      ['from 127.0.0.1', 'fail'],
    ]);
  });
});
