import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { peekDb, type DbPeek } from '../helpers/db-peek.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { eml, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { imapOf, removeDir, runDaemon, until, type RunningDaemon } from './imap-env.js';

/**
 * One message that reached two of our IMAP mailboxes (To support@, Cc billing@: the MTA delivered a
 * copy to each account), against a private Dovecot: one case, one confirmation, whichever copy is
 * read first.
 */
const USERS = ['nomid-s', 'nomid-b', 'cc-s', 'cc-b', 'fwd-s', 'fwd-b'];
let server: DovecotServer;
let d: RunningDaemon | undefined;
let db: DbPeek | undefined;

async function start(s: string, b: string, extra: Partial<Parameters<typeof runDaemon>[0]> = {}): Promise<{ d: RunningDaemon; db: DbPeek }> {
  d = await runDaemon({
    ...extra,
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'], imap: imapOf(server, s) },
      { name: 'billing', addresses: ['billing@example.com'], queue: 'finance', imap: imapOf(server, b) },
    ],
    autoReply: { minIntervalSeconds: 0 },
  });
  db = peekDb(d.resolved);
  return { d, db };
}

async function count(db: DbPeek, sql: string): Promise<number> {
  return Number(Object.values((await db.get<Record<string, number>>(sql))!)[0]);
}

/** The copy the MTA delivered to one account: its own trace headers on top. */
function copyFor(address: string, raw: string): string {
  return `Delivered-To: ${address}\r\nReceived: from mx.example.com by imap.example.com for <${address}>; Mon, 02 Mar 2026 08:59:40 +0000\r\n${raw}`;
}

describeWithDovecot('one message in two of our IMAP mailboxes', () => {
  beforeAll(async () => {
    server = await startDovecot({ users: USERS.map((user) => ({ user, password: `pw-${user}` })) });
  });

  afterEach(async () => {
    await d?.stop();
    await db?.close();
    if (d !== undefined) removeDir(d.dir);
    d = undefined;
    db = undefined;
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('without a Message-ID (a monitoring script): one case, one confirmation', async () => {
    const { db } = await start('nomid-s', 'nomid-b');
    const raw = eml({ from: 'Monitor <monitor@customer.example>', to: 'support@example.com', cc: 'billing@example.com', subject: 'Payment API down', messageId: null, body: 'The payment API answers 503 since 08:55.' });
    await server.append('nomid-b', copyFor('billing@example.com', raw));
    await until(async () => (await count(db, 'SELECT count(*) FROM receipts')) === 1, 'the first copy');
    await server.append('nomid-s', copyFor('support@example.com', raw));
    await until(async () => (await count(db, 'SELECT count(*) FROM receipts')) === 2, 'the second copy');
    expect(await count(db, 'SELECT count(*) FROM cases')).toBe(1);
    expect(await db.all('SELECT outcome FROM receipts ORDER BY id')).toEqual([{ outcome: 'stored' }, { outcome: 'ignored' }]);
    expect(await count(db, "SELECT count(*) FROM outbox WHERE kind = 'confirmation'")).toBe(1);
    // The script's next alert, word for word the same a minute later, is a message of its own.
    const next = eml({ from: 'Monitor <monitor@customer.example>', to: 'support@example.com', cc: 'billing@example.com', subject: 'Payment API down', messageId: null, body: 'The payment API answers 503 since 08:55.', date: 'Mon, 02 Mar 2026 09:00:00 +0000' });
    await server.append('nomid-s', copyFor('support@example.com', next));
    await until(async () => (await count(db, 'SELECT count(*) FROM receipts')) === 3, 'the next alert');
    expect(await count(db, 'SELECT count(*) FROM cases')).toBe(2);
  });

  it('To support@, Cc billing@: the case is support\'s (queue, From) even when billing\'s copy is read first', async () => {
    const { db } = await start('cc-s', 'cc-b');
    const raw = eml({ from: 'Jane Customer <jane@customer.example>', to: 'support@example.com', cc: 'billing@example.com', subject: 'Login fails after paying', messageId: 'cc-1@customer.example' });
    await server.append('cc-b', copyFor('billing@example.com', raw));
    await until(async () => (await count(db, 'SELECT count(*) FROM receipts')) === 1, 'billing\'s copy');
    await server.append('cc-s', copyFor('support@example.com', raw));
    await until(async () => (await count(db, 'SELECT count(*) FROM receipts')) === 2, 'support\'s copy');
    expect(await db.all('SELECT queue, mailbox FROM cases')).toEqual([{ queue: 'support', mailbox: 'support' }]);
    const conf = (await db.all<{ from_address: string }>("SELECT from_address FROM outbox WHERE kind = 'confirmation'"));
    expect(conf).toEqual([{ from_address: 'support@example.com' }]);
  });

  it('the billing team forwards from the billing@ account To support@, Cc billing@: one case, support\'s, even when billing\'s copy is read first; nothing goes to our own addresses', async () => {
    const { db } = await start('fwd-s', 'fwd-b', { security: { senderAuth: TRUSTED_SENDER_AUTH }, queues: { support: { agents: [{ name: 'Sam Support', address: 'sam@example.com' }] } } });
    const raw = eml({
      from: 'Example Billing <billing@example.com>',
      to: 'support@example.com',
      cc: 'billing@example.com',
      subject: 'Fwd: App crashes on start',
      messageId: 'fwd-1@example.com',
      body: 'Hi support, this one came to billing by mistake.\n\n---------- Forwarded message ---------\nFrom: Jane Customer <jane@customer.example>\n\nSince the update the app crashes.',
    });
    await server.append('fwd-b', copyFor('billing@example.com', raw));
    await until(async () => (await count(db, 'SELECT count(*) FROM receipts')) === 1, 'billing\'s copy');
    await server.append('fwd-s', copyFor('support@example.com', raw));
    await until(async () => (await count(db, 'SELECT count(*) FROM receipts')) === 2, 'support\'s copy');
    expect(await db.all('SELECT outcome FROM receipts ORDER BY id')).toEqual([{ outcome: 'stored' }, { outcome: 'ignored' }]);
    expect(await db.all('SELECT queue, mailbox, requester_address FROM cases')).toEqual([{ queue: 'support', mailbox: 'support', requester_address: 'billing@example.com' }]);
    await until(async () => (await count(db, "SELECT count(*) FROM outbox WHERE kind = 'agent-notification' AND to_address = 'sam@example.com'")) === 1, 'support\'s agent told');
    expect(await count(db, "SELECT count(*) FROM outbox WHERE to_address IN ('billing@example.com', 'support@example.com')")).toBe(0);
  });
});
