import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateDkimKey, type GeneratedKey } from '../../src/mail-out/dkim.js';
import { drainOutbox } from '../helpers/sent-mail.js';
import { eml, mxHeaderFields, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply } from '../helpers/mail-clients.js';
import { dnsStub } from '../helpers/outgoing-samples.js';
import { describeWithPostfix, startPostfix, type PostfixServer } from '../helpers/postfix-server.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * An agent forwards an email to the customer as an attachment (Outlook's and Thunderbird's
 * "Forward as attachment": a message/rfc822 part). Such a part may not be encoded (RFC 2046
 * §5.2.1): it is written as it is — and an email with a line over RFC 5322's 998 octets (long
 * HTML lines are common) made our email break the limit. A relay cuts such lines (Postfix:
 * smtp_line_length_limit), which changes the body: the customer's MX found our DKIM signature
 * broken. Through a real Postfix to a real SMTP server: both arrive DKIM-valid; the one with the
 * long line as a file (.eml, base64, the bytes unchanged), the other as an attached email.
 */

const JANE = 'jane@customer.example';

function forwarded(subject: string, line: number): Buffer {
  return Buffer.from(`From: =?UTF-8?Q?J=C3=BCrgen?= <j@vendor.example>\r\nTo: ben@example.com\r\nSubject: ${subject}\r\nDate: Mon, 02 Mar 2026 08:00:00 +0000\r\nMessage-ID: <${subject}@vendor.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<p>Grüße ${'x'.repeat(line)}</p>\r\n`);
}

describeWithPostfix('an email forwarded as an attachment, through a real Postfix', () => {
  let postfix: PostfixServer;
  let customerMx: SMTPServer;
  let ourMx: SmtpSink;
  let env: TestEnv;
  let key: GeneratedKey;
  const received: Buffer[] = [];

  beforeAll(async () => {
    customerMx = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onData(stream, _s, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push(Buffer.concat(chunks));
          cb();
        });
      },
    });
    await new Promise<void>((r) => customerMx.listen(0, '127.0.0.1', () => r()));
    ourMx = await startSmtpSink();
    postfix = await startPostfix({
      routes: { 'customer.example': `smtp:[127.0.0.1]:${(customerMx.server.address() as { port: number }).port}`, 'example.com': `smtp:[127.0.0.1]:${ourMx.port}` },
      main: { myhostname: 'mx.relay.example', mydomain: 'relay.example', myorigin: 'relay.example', smtp_dns_support_level: 'disabled', smtp_tls_security_level: 'none', smtpd_tls_security_level: 'none', queue_run_delay: '1s' },
    });
    env = await testEnv({
      queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: postfix.port, secure: false } },
    });
    key = generateDkimKey(env.resolved.paths.dataDir, 'example.com', 'fw2026');
  }, 120_000);

  afterAll(async () => {
    await env?.close();
    await postfix?.stop();
    await ourMx?.close();
    await new Promise<void>((r) => (customerMx ? customerMx.close(() => r()) : r()));
  });

  it('arrives DKIM-valid; the email with a 2000-octet line as a .eml file (bytes unchanged), the other as an attached email', async () => {
    expect((await env.ingest(eml({ from: `Jane Customer <${JANE}>`, subject: 'Invoice missing', messageId: 'jane-1@customer.example' }))).kind).toBe('stored');
    const n = await env.ctx.db.selectFrom('outbox').selectAll().where('to_address', '=', 'ben@example.com').executeTakeFirstOrThrow();
    const long = forwarded('long-line', 2000);
    const short = forwarded('short-lines', 200);
    const reply = clientReply(
      { messageId: n.message_id, subject: n.subject, text: n.text, fromName: n.from_name, fromAddress: n.from_address, references: [] },
      {
        style: 'thunderbird',
        from: 'Ben Agent <ben@example.com>',
        to: 'support@example.com',
        body: 'Hi Jane,\n\nhere is what the vendor wrote to us, attached.',
        messageId: 'ben-1@example.com',
        headers: mxHeaderFields('example.com', 'pass'),
        attachments: [
          { filename: 'vendor answer.eml', contentType: 'message/rfc822', content: long },
          { filename: 'earlier mail.eml', contentType: 'message/rfc822', content: short },
        ],
      },
    );
    expect((await env.ingest(reply)).kind).toBe('stored');
    await drainOutbox(env);
    const row = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'agent-reply').executeTakeFirstOrThrow();
    expect(row.status).toBe('sent');
    const end = Date.now() + 30_000;
    let raw: Buffer | undefined;
    while ((raw = received.find((r) => r.toString('latin1').includes(`<${row.message_id}>`))) === undefined) {
      if (Date.now() > end) throw new Error(`the agent's reply did not arrive\n${postfix.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(raw.toString('latin1').split('\r\n').filter((l) => l.length > 998)).toEqual([]);
    const v = await dkimVerify(raw, { resolver: dnsStub(new Map([['fw2026._domainkey.example.com', key.record]])) as never });
    expect(v.results.map((r) => `${r.status.result} ${r.status.comment ?? ''}`.trim())).toEqual(['pass']);
    const parsed = await simpleParser(raw);
    const byName = new Map(parsed.attachments.map((a) => [a.filename, a]));
    // (mailparser names a part's type by its file name: the raw headers say what was sent.)
    expect(raw.toString('latin1')).toMatch(/^Content-Type: application\/octet-stream; name="vendor answer\.eml"\r\nContent-Transfer-Encoding: base64$/m);
    expect(raw.toString('latin1')).toMatch(/^Content-Type: message\/rfc822; name="earlier mail\.eml"\r\nContent-Transfer-Encoding: 8bit$/m);
    expect(byName.get('vendor answer.eml')?.content.equals(long)).toBe(true);
    expect(byName.get('earlier mail.eml')?.content.equals(short)).toBe(true);
  });
});
