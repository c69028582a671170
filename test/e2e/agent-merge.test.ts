import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventually, sentTo, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { mxHeaderFields, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { headline } from '../helpers/headline.js';

/**
 * `#merge N` end to end: the daemon's SMTP listener takes the customer's two mails and the agent's
 * answer to a notification, a real SMTP sink gets what casegate sends.
 */
let env: TestDaemon;

beforeAll(async () => {
  env = await startTestDaemon({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    queues: { support: { agents: [{ name: 'Sam Support', address: 'sam@example.com' }] } },
    // Our MX's verdict is trusted: Sam's mail passes, which proves him for the case he merges into
    // too (an answer to a notification alone proves him only for its own case).
    security: { senderAuth: TRUSTED_SENDER_AUTH },
  });
});

afterAll(async () => {
  await env.stop();
});

describe('#merge by email', () => {
  it('the agent answers the notification of the second case with #merge: the customer hears on the first, at both addresses; a refusal comes back in words', async () => {
    const { ctx } = env.daemon;
    const open = async (from: string, subject: string): Promise<number> => {
      const info = await env.client().sendMail({ from, to: 'support@example.com', subject, text: `${subject}: the printer in room 4.` });
      const n = Number(/Stored in case (\d+)/.exec(info.response)?.[1]);
      await eventually(() => expect(sentTo(env.sink, 'sam@example.com', new RegExp(`${n}`))).toHaveLength(1));
      return n;
    };
    const first = await open('Jane Customer <jane@customer.example>', 'Printer on fire');
    const second = await open('Jane at home <jane.private@home.example>', 'Still burning');
    const notification = sentTo(env.sink, 'sam@example.com', new RegExp(`${second}`))[0]!;
    expect(notification.parsed.text).toContain('#merge');
    const answerWith = (text: string) =>
      env.client().sendMail({
        from: 'Sam Support <sam@example.com>',
        to: notification.parsed.replyTo?.value[0]?.address ?? 'support@example.com',
        subject: `Re: ${notification.parsed.subject ?? ''}`,
        text,
        inReplyTo: notification.parsed.messageId!,
        references: [notification.parsed.messageId!],
        headers: mxHeaderFields('example.com', 'pass'),
      });

    // A case that does not exist: Sam is told, nothing changes.
    expect((await answerWith('#merge 10099\nWe go on in your first case.')).response).toMatch(/^250 /);
    await eventually(() => expect(sentTo(env.sink, 'sam@example.com').some((m) => (m.parsed.text ?? '').includes('there is no case 10099'))).toBe(true));
    expect((await caseByNumber(ctx.db, second))!.merged_into).toBeNull();

    const before = sentTo(env.sink, 'jane@customer.example').length;
    const done = await answerWith(`#merge [Case #${first}]\nJane, we go on with this in your first case.`);
    expect(done.response).toMatch(new RegExp(`Stored in case ${first}`)); // where the agent's mail is now
    expect((await caseByNumber(ctx.db, second))!).toMatchObject({ status: 'closed', merged_into: (await caseByNumber(ctx.db, first))!.id });
    await eventually(() => expect(sentTo(env.sink, 'jane@customer.example')).toHaveLength(before + 1));
    const reply = sentTo(env.sink, 'jane@customer.example').at(-1)!;
    expect(headline(reply.parsed)).toContain('we go on with this in your first case');
    expect(reply.parsed.subject).toContain(`[Case #${first}]`);
    // Her home address has the same email (a copy, or Cc).
    await eventually(() => expect(sentTo(env.sink, 'jane.private@home.example').some((m) => headline(m.parsed).includes('we go on with this in your first case'))).toBe(true));
  });
});
