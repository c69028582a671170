import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockDatabase } from '../helpers/db-locker.js';
import { TEST_BACKEND, testPgUrl } from '../helpers/test-db.js';
import { eml } from '../helpers/context.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

/**
 * Copies of one message arriving at the same instant over parallel SMTP sessions (a sender's MTA
 * retrying on a second connection, a script sending from two workers, one message delivered to
 * support@ and billing@ by two relays). Their pipelines run side by side: each look-up before the
 * commit sees nothing of the other. Exactly one copy may go into a case; every other one ends
 * `ignored` naming it — with every SMTP session answered 250 (nothing lost, acknowledged only
 * after its receipt is committed). On PostgreSQL the copies go to two daemons on one database.
 * So that every copy surely passes its look-ups before any commits (not only on a loaded machine),
 * the database's write lock (SQLite: another process's BEGIN IMMEDIATE; PostgreSQL: a SHARE lock
 * on the cases table) is held while the copies arrive, then given back.
 */
const COPIES = 6;
let a: TestDaemon;
let b: TestDaemon | null = null;

const mailboxes = [
  { name: 'support', addresses: ['support@example.com'] },
  { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' },
];

beforeAll(async () => {
  const config = { mailboxes, autoReply: { minIntervalSeconds: 0 }, security: { senderAuth: { mode: 'none' as const } }, database: { busyTimeoutMs: 10_000 } };
  a = await startTestDaemon(config);
  // PostgreSQL: a second daemon on the same schema (several daemons, docs/postgresql.md).
  if (TEST_BACKEND === 'postgres') b = await startTestDaemon({ ...config, database: { busyTimeoutMs: 10_000, schema: a.daemon.ctx.config.database.schema } });
}, 120_000);

afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

/** The database's writers held back until `release` (see above). */
async function holdWrites(): Promise<{ release(): Promise<void> }> {
  if (TEST_BACKEND === 'postgres') {
    const client = new pg.Client({ connectionString: testPgUrl(), options: `-c search_path=${a.daemon.ctx.config.database.schema}` });
    await client.connect();
    await client.query('BEGIN');
    await client.query('LOCK TABLE cases IN SHARE MODE');
    return { release: async () => void (await client.query('COMMIT'), await client.end()) };
  }
  const locker = lockDatabase(a.daemon.ctx.paths.dbPath, 60_000);
  await locker.locked;
  return { release: async () => void (locker.release(), await locker.released) };
}

/** Send every raw message on a connection of its own, all at once, while writes are held for 2 s; the SMTP answers. */
async function sendAtOnce(mails: readonly { raw: string; from: string; to: string }[]): Promise<string[]> {
  const daemons = b === null ? [a] : [a, b];
  const transports = mails.map((_, i) => daemons[i % daemons.length]!.client());
  const held = await holdWrites();
  try {
    const sent = Promise.all(mails.map((m, i) => transports[i]!.sendMail({ envelope: { from: m.from, to: [m.to] }, raw: m.raw })));
    sent.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2_000));
    await held.release();
    return (await sent).map((i) => i.response);
  } finally {
    for (const t of transports) t.close();
  }
}

async function receiptsFrom(address: string) {
  return a.daemon.ctx.db
    .selectFrom('receipts')
    .select(['id', 'outcome', 'stage', 'reason', 'case_id', 'duplicate_of', 'message_id'])
    .where('from_address', '=', address)
    .orderBy('id')
    .execute();
}

describe('copies of one message at the same instant', () => {
  it('re-sent under new Message-IDs with the same Date over parallel SMTP sessions: one case, every other copy ignored naming it, every session answered 250, one confirmation', async () => {
    const from = 'rita@customer.example';
    const date = 'Mon, 02 Mar 2026 09:00:00 +0000';
    const mails = Array.from({ length: COPIES }, (_, i) => ({ from, to: 'support@example.com', raw: eml({ from: `Rita <${from}>`, subject: 'Export stuck at 99%', body: 'The export has been stuck at 99% since this morning.', date, messageId: `rita-${i}@customer.example`, auth: null }) }));
    const answers = await sendAtOnce(mails);
    for (const answer of answers) expect(answer).toMatch(/^250 /);
    const rows = await receiptsFrom(from);
    expect(rows).toHaveLength(COPIES);
    const stored = rows.filter((r) => r.outcome === 'stored');
    expect(stored).toHaveLength(1);
    const original = stored[0]!;
    for (const r of rows.filter((x) => x !== original)) {
      expect(r).toMatchObject({ outcome: 'ignored', stage: 'resend', case_id: original.case_id, duplicate_of: original.id });
      expect(r.reason).toMatch(new RegExp(`^re-sent copy of receipt ${original.id} \\(case #\\d+\\) under a new Message-ID`));
    }
    expect(await a.daemon.ctx.db.selectFrom('cases').select('id').where('requester_address', '=', from).execute()).toHaveLength(1);
    expect(await a.daemon.ctx.db.selectFrom('outbox').select('kind').where('to_address', '=', from).execute()).toEqual([{ kind: 'confirmation' }]);
  });

  it('a script stamping a new Date on each copy, copies sent at once: one case', async () => {
    const from = 'cron@ops.customer.example';
    const mails = Array.from({ length: COPIES }, (_, i) => ({
      from,
      to: 'support@example.com',
      raw: eml({ from, subject: 'Disk full on db2', body: 'The disk of db2 is full.', date: `Mon, 02 Mar 2026 09:00:0${i} +0000`, messageId: `cron-${i}@ops.customer.example`, auth: null }),
    }));
    for (const answer of await sendAtOnce(mails)) expect(answer).toMatch(/^250 /);
    const rows = await receiptsFrom(from);
    expect(rows.map((r) => r.outcome).sort()).toEqual([...Array<string>(COPIES - 1).fill('ignored'), 'stored']);
    expect(await a.daemon.ctx.db.selectFrom('cases').select('id').where('requester_address', '=', from).execute()).toHaveLength(1);
  });

  it('one Message-ID delivered to support@ and billing@ at the same instant (two relays, parallel sessions): one case, the other copy a duplicate of it', async () => {
    const from = 'sven@customer.example';
    const raw = eml({ from: `Sven <${from}>`, to: 'support@example.com', cc: 'billing@example.com', subject: 'Refund for order 77', body: 'Please refund order 77.', messageId: 'sven-1@customer.example', auth: null });
    const mails = Array.from({ length: COPIES }, (_, i) => ({ from, to: i % 2 === 0 ? 'support@example.com' : 'billing@example.com', raw: `Received: from relay${i}.customer.example by mx.example.com; Mon, 02 Mar 2026 09:00:0${i} +0000\r\n${raw}` }));
    for (const answer of await sendAtOnce(mails)) expect(answer).toMatch(/^250 /);
    const rows = await receiptsFrom(from);
    expect(rows).toHaveLength(COPIES);
    const stored = rows.filter((r) => r.outcome === 'stored');
    expect(stored).toHaveLength(1);
    for (const r of rows.filter((x) => x !== stored[0])) {
      expect(r).toMatchObject({ outcome: 'ignored', case_id: stored[0]!.case_id });
      expect(r.reason).toMatch(new RegExp(`^duplicate( of receipt ${stored[0]!.id}| \\(committed concurrently\\))`));
    }
    expect(await a.daemon.ctx.db.selectFrom('cases').select('id').where('requester_address', '=', from).execute()).toHaveLength(1);
  });

  it('the same message without a Message-ID delivered to support@ and billing@ at the same instant: one case (its copy key), the others duplicates', async () => {
    const from = 'ines@customer.example';
    const raw = eml({ from: `Ines <${from}>`, to: 'support@example.com', cc: 'billing@example.com', subject: 'Double charge', body: 'I was charged twice.', messageId: null, date: 'Mon, 02 Mar 2026 09:00:00 +0000', auth: null });
    const mails = Array.from({ length: 4 }, (_, i) => ({ from, to: i % 2 === 0 ? 'support@example.com' : 'billing@example.com', raw: `Delivered-To: ${i % 2 === 0 ? 'support' : 'billing'}@example.com\r\nReceived: from relay${i}.customer.example by mx.example.com; Mon, 02 Mar 2026 09:00:0${i} +0000\r\n${raw}` }));
    for (const answer of await sendAtOnce(mails)) expect(answer).toMatch(/^250 /);
    const rows = await receiptsFrom(from);
    expect(rows.map((r) => r.outcome).sort()).toEqual(['ignored', 'ignored', 'ignored', 'stored']);
    for (const r of rows.filter((x) => x.outcome === 'ignored')) expect(r.reason).toMatch(/^duplicate/);
    expect(await a.daemon.ctx.db.selectFrom('cases').select('id').where('requester_address', '=', from).execute()).toHaveLength(1);
  });
});
