import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { eml } from '../helpers/context.js';
import { outboxBehindPostfix, type OutboxBehindPostfix } from '../helpers/postfix-outbox.js';
import { describeWithPostfix, startRelayTo } from '../helpers/postfix-server.js';

/**
 * A real Postfix as casegate's relay, limiting what a client may send in a minute as relays do
 * (smtpd_client_message_rate_limit: MAIL FROM commands per anvil_rate_time_unit — Microsoft 365's
 * "30 messages a minute" is the same kind of limit), and casegate's outgoing.smtp.maxPerMinute set
 * to the same number. Postfix offers DSN, so an email to Ann and her Cc'd boss goes as one
 * transaction per reader (row-attempt.ts). Until 2026-12-07 maxPerMinute counted outbox rows: two
 * emails were three transactions in the minute, and Postfix refused the third ("450 4.7.1 Error:
 * too much mail from 127.0.0.1"). Now each transaction counts (relay-rate.ts): the third waits
 * for the next minute, claimed and unrefused.
 */
describeWithPostfix('a real Postfix that limits messages per minute, and maxPerMinute set to its limit', () => {
  let box: OutboxBehindPostfix;

  beforeAll(async () => {
    box = await outboxBehindPostfix(
      (customerMxPort) =>
        startRelayTo(customerMxPort, {
          // Two messages a minute per client, loopback included (by default $mynetworks is exempt).
          smtpd_client_message_rate_limit: '2',
          anvil_rate_time_unit: '60s',
          smtpd_client_event_limit_exceptions: '',
        }),
      { autoReply: { minIntervalSeconds: 0 }, outgoing: { probeSeconds: 1, authProbeSeconds: 2 } },
      { maxPerMinute: 2 },
    );
  }, 60_000);

  afterAll(async () => {
    await box?.close();
  });

  it('an email to Ann and her Cc\'d boss (two transactions) and one to Bob: two go in the minute, the third waits its turn, nothing refused, held or failed', async () => {
    const { env, postfix, customerMx, worker } = box;
    for (const from of ['ann@customer.example', 'bob@customer.example']) {
      await env.ingest(eml({ from, subject: `Question from ${from}` }));
      if (from.startsWith('ann')) {
        // Her boss copied in (as an agent's reply to a case with participants is): one email, two readers.
        const cc = JSON.stringify([{ address: 'boss@customer.example', name: 'Boss' }]);
        await env.ctx.db.updateTable('outbox').set({ cc_json: cc }).where('to_address', '=', 'ann@customer.example').where('kind', '=', 'confirmation').execute();
      }
    }
    await env.ctx.db.updateTable('outbox').set({ status: 'cancelled' }).where('kind', '!=', 'confirmation').execute();
    await worker.start();
    const refusedByPostfix = async () => /rate limit exceeded/.test(postfix.log()) && (await env.ctx.db.selectFrom('outbox').select('id').where('last_error', 'is not', null).execute()).length > 0;
    // Two transactions relayed and the third waiting for casegate's minute — or (before) refused by Postfix, and that recorded.
    await vi.waitFor(async () => expect((customerMx.messages.length === 2 && worker.waitingForRate === 1) || (await refusedByPostfix())).toBe(true), { timeout: 30_000, interval: 50 });
    // Nothing refused, held or failed for it: no sender hold (a refusal at MAIL FROM holds support@), no error on a row.
    expect(await env.ctx.db.selectFrom('outbox').select(['to_address', 'last_error']).where('last_error', 'is not', null).execute()).toEqual([]);
    expect(await env.ctx.db.selectFrom('transport_health').select(['transport', 'state']).where('transport', 'like', 'sender:%').execute()).toEqual([]);
    expect(await env.ctx.db.selectFrom('events').select('type').where('type', 'in', ['email.failed', 'email.partly-sent']).execute()).toEqual([]);
    expect(postfix.log().split('\n').filter((l) => /rate limit exceeded/.test(l))).toEqual([]);
    expect(customerMx.messages.every((m) => m.envelopeTo.length === 1)).toBe(true);
    // Stopping while it waits: the copy not sent stays queued for its reader (the next start sends it).
    await worker.stop();
    const left = await env.ctx.db.selectFrom('outbox').select(['to_address', 'status', 'pending_rcpt_json']).where('kind', '=', 'confirmation').where('status', '!=', 'sent').execute();
    expect(left).toHaveLength(1);
    expect(left[0]!.status).toBe('queued');
    expect(postfix.log()).not.toMatch(/rate limit exceeded/);
  }, 90_000);
});
