import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { eml } from '../helpers/context.js';
import { outboxBehindPostfix, type OutboxBehindPostfix } from '../helpers/postfix-outbox.js';
import { describeWithPostfix, startAccessRelay } from '../helpers/postfix-server.js';

/**
 * A real Postfix as casegate's relay refuses one mailbox's From address (check_sender_access, as
 * reject_sender_login_mismatch would: "554 5.7.1 <billing@…>: Sender address rejected: not owned
 * by user" — at RCPT TO, Postfix's default smtpd_delay_reject) while it relays the other mailbox's
 * mail. The sender's emails are held, not failed (sender-holds.ts); once the relay lets it send,
 * they go, each once.
 */
describeWithPostfix('a real Postfix relay refusing one mailbox\'s sender', () => {
  let box: OutboxBehindPostfix;
  let access: string;

  beforeAll(async () => {
    box = await outboxBehindPostfix(
      async (customerMxPort) => {
        const relay = await startAccessRelay('sender', 'billing@example.com REJECT not owned by user casegate\n', customerMxPort);
        access = relay.access;
        return relay.postfix;
      },
      { autoReply: { minIntervalSeconds: 0 }, outgoing: { probeSeconds: 1, authProbeSeconds: 2 } },
    );
  }, 60_000);

  afterAll(async () => {
    await box?.close();
  });

  it('billing@ is held (queued, its row names the refusal), support@ is relayed; allowed at the relay, billing\'s go once each', async () => {
    const { env, postfix, customerMx } = box;
    for (const [from, mailbox] of [['ann@customer.example', 'billing'], ['bob@customer.example', 'billing'], ['jane@customer.example', 'support']] as const) {
      await env.ingest(eml({ from, subject: `Question from ${from}`, to: `${mailbox}@example.com` }), { mailbox });
    }
    await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', '!=', 'confirmation').execute();
    await box.worker.drain();
    const rows = () => env.ctx.db.selectFrom('outbox').select(['to_address', 'status', 'last_error']).where('kind', '=', 'confirmation').orderBy('id').execute();
    expect(await rows()).toEqual([
      { to_address: 'ann@customer.example', status: 'queued', last_error: expect.stringMatching(/554 5\.7\.1 <billing@example\.com>: Sender address rejected: not owned by user casegate/) },
      { to_address: 'bob@customer.example', status: 'queued', last_error: expect.anything() },
      { to_address: 'jane@customer.example', status: 'sent', last_error: null },
    ]);
    expect((await customerMx.waitFor(1, 20_000)).map((m) => m.envelopeTo)).toEqual([['jane@customer.example']]);
    const held = await env.ctx.db.selectFrom('transport_health').select(['state', 'last_error_class']).where('transport', '=', 'sender:billing@example.com').executeTakeFirstOrThrow();
    expect(held).toEqual({ state: 'paused', last_error_class: 'sender' });

    writeFileSync(access, '');
    await postfix.reload();
    // A new connection (the pooled one's smtpd keeps the table it read); the holds are the worker's.
    await box.reconnect();
    await box.worker.start();
    await vi.waitFor(async () => expect((await rows()).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']), { timeout: 20_000, interval: 200 });
    const all = await customerMx.waitFor(3, 20_000);
    expect(all.map((m) => m.envelopeTo[0]).sort()).toEqual(['ann@customer.example', 'bob@customer.example', 'jane@customer.example']);
    expect(await env.ctx.db.selectFrom('events').select('type').where('type', '=', 'email.failed').execute()).toEqual([]);
  }, 90_000);
});
