import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Daemon } from '../../src/main.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import type { SmtpSink } from '../helpers/smtp-sink.js';

/** End to end: a customer's MTA speaks real SMTP to the running daemon; confirmations reach a real SMTP sink. */
let env: TestDaemon;
let sink: SmtpSink;
let daemon: Daemon;

function client() {
  return env.client();
}

beforeAll(async () => {
  env = await startTestDaemon({
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'] },
      { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' },
    ],
    listener: { maxMessageBytes: 200_000 },
    database: { busyTimeoutMs: 200 },
  });
  ({ sink, daemon } = env);
});

afterAll(async () => {
  await env.stop();
});

describe('embedded SMTP listener, end to end', () => {
  it('turns an email into a case and delivers the confirmation; the reply threads into the same case', async () => {
    const info = await client().sendMail({
      from: 'Jane Customer <jane@customer.example>',
      to: 'billing@example.com',
      subject: 'Invoice 42 is wrong',
      text: 'The amount on invoice 42 is wrong.',
      messageId: '<first@customer.example>',
    });
    expect(info.response).toMatch(/^250 .*Stored in case 10001/);
    const [conf] = await sink.waitFor(1);
    expect(conf!.envelopeTo).toEqual(['jane@customer.example']);
    expect(conf!.parsed.subject).toBe('[Case #10001] Re: Invoice 42 is wrong');
    expect(conf!.parsed.text).toContain('We have received your request and opened case 10001');
    expect(conf!.parsed.from?.value[0]?.address).toBe('billing@example.com');
    expect(conf!.parsed.inReplyTo).toBe('<first@customer.example>');
    const c = (await caseByNumber(daemon.ctx.db, 10001))!;
    expect(c.queue).toBe('finance');

    // The customer answers the confirmation (their client keeps In-Reply-To, rewrites the subject).
    const reply = await client().sendMail({
      from: 'jane@customer.example',
      to: 'billing@example.com',
      subject: 'RE: invoice',
      text: 'Here is the corrected amount: 12.00\n\nOn Mon, Support wrote:\n> We received your request',
      inReplyTo: conf!.parsed.messageId!,
      references: [conf!.parsed.messageId!],
    });
    expect(reply.response).toMatch(/Stored in case 10001/);
    const msgs = await messagesOfCase(daemon.ctx.db, c.id);
    const last = msgs.at(-1)!;
    expect(last.thread_rule).toBe('signed-reference');
    expect(last.visible_text).toContain('corrected amount');
    expect(last.visible_text).not.toContain('We received your request');
    // No second confirmation for a reply.
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.messages).toHaveLength(1);
  });

  it('answers 550 for a recipient we do not serve', async () => {
    await expect(client().sendMail({ from: 'a@b.example', to: 'someone@elsewhere.example', subject: 'x', text: 'x' })).rejects.toMatchObject({ responseCode: 550 });
  });

  it('answers 552 above the size limit and stores nothing', async () => {
    const before = await daemon.ctx.db.selectFrom('receipts').select('id').execute();
    await expect(
      client().sendMail({ from: 'a@b.example', to: 'support@example.com', subject: 'big', text: 'x'.repeat(300_000) }),
    ).rejects.toMatchObject({ responseCode: 552 });
    const after = await daemon.ctx.db.selectFrom('receipts').select('id').execute();
    expect(after).toHaveLength(before.length);
  });

  it('answers 451 while the database is locked, and 250 once it is free (the MTA retries)', async () => {
    // Another process holds the database (SQLite: its write lock; PostgreSQL: the receipts table) longer than busyTimeoutMs.
    const d = daemon.ctx.config.database;
    const other = d.driver === 'postgres' ? new pg.Client({ connectionString: d.url!, options: `-c search_path=${d.schema}` }) : null;
    const sqlite = other === null ? new SQLite(daemon.ctx.paths.dbPath) : null;
    if (other !== null) {
      await other.connect();
      await other.query('BEGIN');
      await other.query('LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE');
    } else sqlite!.exec('BEGIN EXCLUSIVE');
    try {
      await expect(
        client().sendMail({ from: 'x@customer.example', to: 'support@example.com', subject: 'locked', text: 'x', messageId: '<locked@customer.example>' }),
      ).rejects.toMatchObject({ responseCode: 451 });
    } finally {
      if (other !== null) {
        await other.query('ROLLBACK');
        await other.end();
      } else {
        sqlite!.exec('ROLLBACK');
        sqlite!.close();
      }
    }
    const info = await client().sendMail({ from: 'x@customer.example', to: 'support@example.com', subject: 'locked', text: 'x', messageId: '<locked@customer.example>' });
    expect(info.response).toMatch(/^250 .*Stored in case/);
  });
});
