import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { haveSpamAssassin, spamAssassinScores } from '../helpers/spamassassin.js';

/**
 * The Date header of an email that waited in the outbox (the relay refused it with 4xx for
 * hours, or was down): the time it is handed to the relay, not the time it was queued. A Date
 * hours before the relay's Received line is what spam filters score (SpamAssassin's
 * DATE_IN_PAST_03_06 … _96_XX: +1.0 to +3.4 points), and mail clients that sort by Date file the
 * email hours or days down the inbox, where nobody looks. The Message-ID stays the one minted
 * at queue time (a resend is the same message).
 */

const HOURS = 3_600_000;

let sink: SmtpSink;
let env: TestEnv;
beforeEach(async () => {
  sink = await startSmtpSink();
  env = await testEnv({ outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, retry: { baseSeconds: 60, maxSeconds: 6 * 3600, giveUpHours: 48 } } });
});
afterEach(async () => {
  await env.close();
  await sink.close();
});

/** What the relay puts on top: its Received line, stamped with the time it took the email. */
function relayed(raw: Buffer, at: Date): Buffer {
  return Buffer.concat([Buffer.from(`Received: from casegate.example.com (casegate.example.com [10.0.0.10])\r\n\tby mx.relay.example (Postfix) with ESMTP id 4fAb12;\r\n\t${at.toUTCString().replace('GMT', '+0000')}\r\n`), raw]);
}

describe('the Date of an email the relay took late', () => {
  it('is the time of the attempt that sent it: no DATE_IN_PAST in SpamAssassin; the Message-ID is the queued one', async () => {
    const queuedAt = env.clock.now();
    await env.ingest(eml({ messageId: 'orig@customer.example', subject: 'Printer on fire' }));
    const row = await env.ctx.db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow();
    // The relay refuses everything for five hours (4xx: greylisting, a full queue, maintenance).
    sink.failNext(451, 1000);
    const t = createTransport(env.resolved);
    const w = new OutboxWorker(env.ctx, t);
    try {
      await w.drain();
      for (let h = 0; h < 5; h += 1) {
        env.clock.advance(HOURS);
        await w.drain();
      }
      expect(sink.messages).toHaveLength(0);
      sink.stopFailing();
      env.clock.advance(HOURS);
      await w.drain();
      await w.drain();
    } finally {
      t.close();
    }
    const [m] = await sink.waitFor(1);
    const sentAt = env.clock.now();
    expect(sentAt.getTime() - queuedAt.getTime()).toBeGreaterThanOrEqual(5 * HOURS);
    expect(m!.parsed.messageId).toBe(`<${row.message_id}>`);
    expect(Math.abs(m!.parsed.date!.getTime() - sentAt.getTime())).toBeLessThan(60_000);
    if (haveSpamAssassin()) {
      const [verdict] = (await spamAssassinScores(new Map([['late', relayed(m!.raw, sentAt)]]))).values();
      expect(verdict!.rules.map((r) => r.name).filter((n) => n.startsWith('DATE_IN_'))).toEqual([]);
    }
  });
});
