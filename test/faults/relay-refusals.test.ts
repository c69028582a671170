import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { outboxBehindPostfix, type OutboxBehindPostfix } from '../helpers/postfix-outbox.js';
import { describeWithPostfix, startAccessRelay } from '../helpers/postfix-server.js';

/**
 * A real Postfix as casegate's relay refuses some recipients of one email at RCPT TO (its
 * check_recipient_access table: one for good, 554; one for now, 450) and takes it for the
 * customer: the customer gets it once; the one refused for good is named on the case and its
 * owner hears; the one refused for now gets the same email (same Message-ID) later, alone, once
 * the relay takes it — nobody twice.
 */
describeWithPostfix('a real Postfix relay refusing some recipients of an email', () => {
  let box: OutboxBehindPostfix;
  let access: string;

  beforeAll(async () => {
    box = await outboxBehindPostfix(
      async (customerMxPort) => {
        const relay = await startAccessRelay('recipient', 'boss@customer.example REJECT no such colleague\nann@customer.example 450 4.2.1 mailbox busy, try later\n', customerMxPort);
        access = relay.access;
        return relay.postfix;
      },
      { queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } }, outgoing: { retry: { baseSeconds: 30, maxSeconds: 600, giveUpHours: 48 } } },
    );
  }, 60_000);

  afterAll(async () => {
    await box?.close();
  });

  it('the customer gets it once; the refused Cc is named and its owner told; the deferred Cc gets it later, alone, once', async () => {
    const { env, postfix, customerMx } = box;
    await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Printer on fire', messageId: 'jane-1@customer.example' }));
    // The agents' notice of the new case is not what this is about.
    await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', '!=', 'confirmation').execute();
    const cc = [{ address: 'boss@customer.example', name: 'Boss' }, { address: 'ann@customer.example', name: 'Ann' }];
    await env.ctx.db.updateTable('outbox').set({ cc_json: JSON.stringify(cc) }).where('kind', '=', 'confirmation').execute();

    await box.worker.drain();
    const jane = await customerMx.waitFor(1, 20_000);
    expect(jane.map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    const row = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'confirmation').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'queued', attempts: 1, pending_rcpt_json: '["ann@customer.example"]' });
    expect(row.last_error).toMatch(/ann@customer\.example \(450 4\.2\.1 .*mailbox busy/);
    const events = await env.ctx.db.selectFrom('events').select(['type', 'reason']).where('type', 'in', ['email.partly-sent', 'bounce.notice-sent']).orderBy('id').execute();
    expect(events).toEqual([
      { type: 'email.partly-sent', reason: expect.stringMatching(/refused for now: ann@customer\.example .*; not delivered to boss@customer\.example \(554 5\.7\.1 .*no such colleague\)/) },
      { type: 'bounce.notice-sent', reason: 'boss@customer.example was refused by the relay: told ben@example.com' },
    ]);

    // Ann's mailbox takes mail again: the next attempt goes to her alone.
    writeFileSync(access, 'boss@customer.example REJECT no such colleague\n');
    await postfix.reload();
    // A new connection (the pooled one's smtpd keeps the table it read).
    await box.reconnect();
    env.clock.advance(30_000);
    await box.worker.drain();
    const all = await customerMx.waitFor(2, 20_000);
    expect(all.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    expect(all[1]!.parsed.messageId).toBe(all[0]!.parsed.messageId);
    expect(await env.ctx.db.selectFrom('outbox').select(['status', 'attempts']).where('kind', '=', 'confirmation').executeTakeFirstOrThrow()).toEqual({ status: 'sent', attempts: 2 });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(customerMx.messages).toHaveLength(2);
  }, 120_000);
});
