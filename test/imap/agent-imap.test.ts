import { simpleParser, type ParsedMail } from 'mailparser';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { eml } from '../helpers/context.js';
import { headline } from '../helpers/headline.js';
import { clientReply, type Original } from '../helpers/mail-clients.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { imapOf, removeDir, runDaemon, until, type RunningDaemon } from './imap-env.js';

/**
 * Issue 10 over real IMAP: the support mailbox lives on a private Dovecot (the daemon watches it
 * with IDLE), and so do the customer's and the agent's mailboxes. What casegate sends goes
 * through a real SMTP sink and is delivered into the recipient's Dovecot INBOX; each person's
 * "mail client" reads its INBOX over IMAP and answers by delivering a reply into the support
 * INBOX. The customer sees the agent's answer threaded under her own mail, with the attachment;
 * the agent sees her answer; an internal note never reaches her mailbox.
 */

const USERS = ['support', 'jane', 'ben'];
const ADDRESS: Record<string, string> = { 'support@example.com': 'support', 'jane@customer.example': 'jane', 'ben@example.com': 'ben' };
let server: DovecotServer;
let sink: SmtpSink;
let d: RunningDaemon;
let delivered = 0;

/** The MTA: deliver every mail the sink got since the last call into the Dovecot INBOX of each recipient we host. */
async function deliver(): Promise<void> {
  // Take the batch first: a mail the sink receives while this one is being appended belongs to
  // the next call (counting the sink's length afterwards skipped it — a lost confirmation).
  const batch = sink.messages.slice(delivered);
  delivered += batch.length;
  for (const m of batch) {
    for (const rcpt of m.envelopeTo) {
      const user = ADDRESS[rcpt];
      if (user !== undefined) await server.append(user, m.raw);
    }
  }
}

/** A mail client: everything in the user's INBOX, parsed. */
async function inbox(user: string): Promise<ParsedMail[]> {
  const client = await server.connect(user);
  try {
    const lock = await client.getMailboxLock('INBOX', { readOnly: true });
    try {
      if (client.mailbox === false || client.mailbox.exists === 0) return [];
      const out: ParsedMail[] = [];
      for await (const msg of client.fetch('1:*', { source: true })) out.push(await simpleParser(msg.source!));
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}

function asOriginal(m: ParsedMail): Original {
  const refs = m.references;
  return {
    messageId: m.messageId!.replace(/^<|>$/g, ''),
    subject: m.subject ?? '',
    text: m.text ?? '',
    fromName: m.from?.value[0]?.name ?? '',
    fromAddress: m.from?.value[0]?.address ?? '',
    references: (Array.isArray(refs) ? refs : refs !== undefined ? [refs] : []).map((r) => r.replace(/^<|>$/g, '')),
  };
}

async function waitForMail(user: string, subject: RegExp, count = 1): Promise<ParsedMail[]> {
  return until(
    async () => {
      await deliver();
      const found = (await inbox(user)).filter((m) => subject.test(headline(m)));
      return found.length >= count ? found : null;
    },
    `${count} mail(s) "${subject}" in ${user}'s INBOX`,
    30_000,
    200,
  );
}

describeWithDovecot('agents and customers over real IMAP', () => {
  beforeAll(async () => {
    server = await startDovecot({ users: USERS.map((user) => ({ user, password: `pw-${user}` })) });
    sink = await startSmtpSink();
    d = await runDaemon({
      mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'support') }],
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1 },
      queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'round-robin' } },
    });
  });

  afterAll(async () => {
    await d?.stop();
    if (d !== undefined) removeDir(d.dir);
    await sink?.close();
    await server?.stop();
  });

  it('customer → owner notified → agent answers from Outlook with an attachment → customer sees it in her thread → customer answers → agent notified; a note stays internal', async () => {
    await server.append('support', eml({ from: 'Jane Customer <jane@customer.example>', subject: 'Printer offline', messageId: 'jane-imap-1@customer.example', body: 'The office printer shows "offline" since the update.' }));
    const [assigned] = await waitForMail('ben', /Assigned to you: Printer offline/);
    expect(assigned!.text).toContain('shows "offline" since the update');
    const [confirmation] = await waitForMail('jane', /We have received your request and opened case 10001/);
    expect(confirmation!.text).toContain('Status of case 10001: received, waiting for an agent.');

    // Ben answers from Outlook (his client delivers it into the support mailbox).
    const driver = Buffer.from('fake printer driver');
    await server.append(
      'support',
      clientReply(asOriginal(assigned!), { style: 'outlook', from: 'Ben Agent <ben@example.com>', to: 'Support <support@example.com>', body: 'Hello Jane,\r\nplease install the attached driver and restart the printer.', messageId: 'ben-imap-1@example.com', attachments: [{ filename: 'driver.zip', contentType: 'application/zip', content: driver }] }),
    );
    const [reply] = await waitForMail('jane', /please install the attached driver/);
    expect(reply!.from?.value[0]).toEqual({ name: 'Ben Agent', address: 'support@example.com' });
    expect(reply!.inReplyTo).toBe('<jane-imap-1@customer.example>');
    expect(reply!.references).toContain('<jane-imap-1@customer.example>');
    expect(reply!.headers.get('auto-submitted')).toBeUndefined();
    expect(reply!.text).toContain('please install the attached driver');
    expect(reply!.text).not.toContain('since the update');
    expect(reply!.attachments.map((a) => [a.filename, a.content.equals(driver)])).toEqual([['driver.zip', true]]);

    // Jane answers from her client; Ben is notified with her words.
    await server.append('support', clientReply(asOriginal(reply!), { style: 'thunderbird', from: 'Jane Customer <jane@customer.example>', to: 'support@example.com', body: 'Installed, still offline.', messageId: 'jane-imap-2@customer.example' }));
    const [notified] = await waitForMail('ben', /Customer replied: Printer offline/);
    expect(notified!.text).toContain('Installed, still offline.');

    // Ben answers that notification with an internal note: nothing new reaches Jane.
    const janeBefore = (await inbox('jane')).length;
    await server.append('support', clientReply(asOriginal(notified!), { style: 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body: '#note\nPrinter firmware 2.1 is known broken. IMAP-NOTE-55', messageId: 'ben-imap-2@example.com' }));
    await until(() => {
      const row = d.lines.find((l) => l.msg === 'message stored' && l['messageId'] === 'ben-imap-2@example.com');
      return row !== undefined;
    }, 'the note to be stored');
    await new Promise((r) => setTimeout(r, 2000));
    await deliver();
    const janeAfter = await inbox('jane');
    expect(janeAfter).toHaveLength(janeBefore);
    for (const m of janeAfter) expect(`${m.text}${m.html || ''}`).not.toContain('IMAP-NOTE-55');
  });
});
