import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaseCommandError, moveFromCli, workFromCli } from '../../src/cases/case-commands.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { eventually, sentTo, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { headline } from '../helpers/headline.js';

/**
 * `casegate cases move`: a case that landed in the wrong queue goes to the right team, end to end
 * (the daemon's SMTP listener takes the customer's mail, a real SMTP sink what casegate sends).
 */
let env: TestDaemon;

beforeAll(async () => {
  env = await startTestDaemon({
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'] },
      { name: 'billing', addresses: ['billing@example.com'], queue: 'finance', fromName: 'Example Billing' },
    ],
    queues: {
      support: { agents: [{ name: 'Sam Support', address: 'sam@example.com' }] },
      finance: { agents: [{ name: 'Fiona Finance', address: 'fiona@example.com' }], assignment: 'fixed', fixedOwner: 'Fiona Finance', calendar: 'berlin', slaPolicy: 'money' },
      // No mailbox feeds it: its cases keep the mailbox (and From) they had.
      experts: { agents: [{ name: 'Ed Expert', address: 'ed@example.com' }] },
    },
    sla: {
      calendars: { berlin: { zone: 'Europe/Berlin', hours: { 'mon-fri': '08:00-16:00' } } },
      policies: { money: { targets: { normal: { firstResponse: '4h', resolution: '24h' } } } },
    },
  });
});

afterAll(async () => {
  await env.stop();
});

describe('moving a case to another queue', () => {
  it('the new queue\'s agents, SLA and mailbox take over; the customer\'s reply to earlier mail still threads', async () => {
    const { ctx } = env.daemon;
    const info = await env.client().sendMail({ from: 'Jane Customer <jane@customer.example>', to: 'support@example.com', subject: 'Charged twice', text: 'My card was charged twice for order 77.', messageId: '<charged@customer.example>' });
    expect(info.response).toMatch(/Stored in case 10001/);
    await eventually(() => expect(sentTo(env.sink, 'jane@customer.example')).toHaveLength(1));
    const confirmation = sentTo(env.sink, 'jane@customer.example')[0]!;
    expect(confirmation.parsed.from?.value[0]?.address).toBe('support@example.com');
    expect((await caseByNumber(ctx.db, 10001))!.first_response_due_at).toBeNull(); // support has no SLA policy
    await eventually(() => expect(sentTo(env.sink, 'sam@example.com')).toHaveLength(1)); // support's new case

    const out = await moveFromCli(ctx, 10001, 'finance', { reason: 'a billing question', actor: 'cli:lead' });
    expect(out.summary).toContain('queue support → finance');
    expect(out.summary).toContain('customer told');
    expect(out.customerTold).toBe(true);
    const moved = (await caseByNumber(ctx.db, 10001))!;
    expect([moved.queue, moved.mailbox, moved.owner]).toEqual(['finance', 'billing', 'fiona@example.com']);
    expect(moved.first_response_due_at).not.toBeNull(); // the finance policy's clock
    const events = await eventsOfCase(ctx.db, moved.id);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['case.moved', 'sla.recomputed', 'case.assigned']));
    // Fiona (fixed owner of finance) is told; Sam of support hears no more of it.
    await eventually(() => expect(sentTo(env.sink, 'fiona@example.com')).toHaveLength(1));
    // Jane is told, From billing@, in her thread, with the case's one subject: her next mail comes from there.
    await eventually(() => expect(sentTo(env.sink, 'jane@customer.example')).toHaveLength(2));
    const notice = sentTo(env.sink, 'jane@customer.example')[1]!;
    expect(notice.parsed.from?.value[0]?.address).toBe('billing@example.com');
    expect(notice.parsed.subject).toBe(confirmation.parsed.subject);
    expect(headline(notice.parsed)).toContain('From now on our emails about it come from billing@example.com instead of support@example.com');
    expect(notice.parsed.inReplyTo).toBe('<charged@customer.example>');

    // The customer answers the support@ confirmation: it threads, and the new owner hears of it.
    const reply = await env.client().sendMail({
      from: 'jane@customer.example',
      to: 'support@example.com',
      subject: 'Re: Charged twice',
      text: 'Here is the statement.',
      inReplyTo: confirmation.parsed.messageId!,
      references: [confirmation.parsed.messageId!],
    });
    expect(reply.response).toMatch(/Stored in case 10001/);
    expect((await messagesOfCase(ctx.db, moved.id)).filter((m) => m.direction === 'in').at(-1)!.thread_rule).toBe('signed-reference');
    await eventually(() => expect(sentTo(env.sink, 'fiona@example.com')).toHaveLength(2));
    expect(sentTo(env.sink, 'fiona@example.com')[1]!.parsed.from?.value[0]?.address).toBe('billing@example.com');
    expect(sentTo(env.sink, 'sam@example.com')).toHaveLength(1);

    // And she answers the billing@ notice: it threads too.
    const second = await env.client().sendMail({
      from: 'jane@customer.example',
      to: 'billing@example.com',
      subject: `Re: ${notice.parsed.subject ?? ''}`,
      text: 'Thanks, and here is the receipt.',
      inReplyTo: notice.parsed.messageId!,
      references: [notice.parsed.messageId!],
    });
    expect(second.response).toMatch(/Stored in case 10001/);
    expect((await messagesOfCase(ctx.db, moved.id)).filter((m) => m.direction === 'in').at(-1)!.thread_rule).toBe('signed-reference');
    await eventually(() => expect(sentTo(env.sink, 'fiona@example.com')).toHaveLength(3));

    // Fiona answers: From billing@ now.
    await workFromCli(ctx, 10001, { text: 'We refunded the second charge.', agent: 'Fiona Finance' });
    await eventually(() => expect(sentTo(env.sink, 'jane@customer.example')).toHaveLength(3));
    expect(sentTo(env.sink, 'jane@customer.example')[2]!.parsed.from?.value[0]?.address).toBe('billing@example.com');
    expect(headline(sentTo(env.sink, 'jane@customer.example')[2]!.parsed)).toContain('We refunded the second charge.');
  });

  it('an agent moves it by email: #queue finance in their answer to the notification', async () => {
    const { ctx } = env.daemon;
    const info = await env.client().sendMail({ from: 'Bob Buyer <bob@customer.example>', to: 'support@example.com', subject: 'Invoice address', text: 'Please put our new address on the invoices.', messageId: '<address@customer.example>' });
    const n = Number(/Stored in case (\d+)/.exec(info.response)?.[1]);
    await eventually(() => expect(sentTo(env.sink, 'sam@example.com', new RegExp(`${n}`))).toHaveLength(1));
    const notification = sentTo(env.sink, 'sam@example.com', new RegExp(`${n}`))[0]!;
    const answer = await env.client().sendMail({
      from: 'Sam Support <sam@example.com>',
      to: notification.parsed.replyTo?.value[0]?.address ?? 'support@example.com',
      subject: `Re: ${notification.parsed.subject ?? ''}`,
      text: '#queue finance\n#tag address-change',
      inReplyTo: notification.parsed.messageId!,
      references: [notification.parsed.messageId!],
    });
    expect(answer.response).toMatch(/^250 /);
    const moved = (await caseByNumber(ctx.db, n))!;
    expect([moved.queue, moved.mailbox, moved.owner]).toEqual(['finance', 'billing', 'fiona@example.com']);
    // Bob is told (confirmation From support@, then the notice From billing@).
    await eventually(() => expect(sentTo(env.sink, 'bob@customer.example')).toHaveLength(2));
    expect(sentTo(env.sink, 'bob@customer.example')[1]!.parsed.from?.value[0]?.address).toBe('billing@example.com');
    expect(headline(sentTo(env.sink, 'bob@customer.example')[1]!.parsed)).toContain('instead of support@example.com');
    // Fiona (the new owner, told by mail From billing@) answers with a queue that does not exist.
    await eventually(() => expect(sentTo(env.sink, 'fiona@example.com', new RegExp(`${n}`))).toHaveLength(1));
    const told = sentTo(env.sink, 'fiona@example.com', new RegExp(`${n}`))[0]!;
    expect(told.parsed.from?.value[0]?.address).toBe('billing@example.com');
    const bad = await env.client().sendMail({ from: 'Fiona Finance <fiona@example.com>', to: 'billing@example.com', subject: `Re: ${told.parsed.subject ?? ''}`, text: '#queue nowhere', inReplyTo: told.parsed.messageId! });
    expect(bad.response).toMatch(/^250 /);
    await eventually(() => expect(sentTo(env.sink, 'fiona@example.com').some((m) => (m.parsed.text ?? '').includes('no queue "nowhere"'))).toBe(true));
    expect((await caseByNumber(ctx.db, n))!.queue).toBe('finance');
  });

  it('a quiet move (#queue finance quiet, --quiet) and a move within one mailbox tell the customer nothing', async () => {
    const { ctx } = env.daemon;
    const open = async (from: string, subject: string): Promise<number> => {
      const info = await env.client().sendMail({ from, to: 'support@example.com', subject, text: `${subject}, please.` });
      const n = Number(/Stored in case (\d+)/.exec(info.response)?.[1]);
      await eventually(() => expect(sentTo(env.sink, from)).toHaveLength(1)); // the confirmation
      await eventually(() => expect(sentTo(env.sink, 'sam@example.com', new RegExp(`${n}`))).toHaveLength(1));
      return n;
    };
    // By email, quiet: Sam explains it himself in his reply (From billing@ now).
    const n1 = await open('carl@customer.example', 'Refund for order 12');
    const notification = sentTo(env.sink, 'sam@example.com', new RegExp(`${n1}`))[0]!;
    const answer = await env.client().sendMail({
      from: 'Sam Support <sam@example.com>',
      to: 'support@example.com',
      subject: `Re: ${notification.parsed.subject ?? ''}`,
      text: '#queue finance quiet\n\nOur billing team will take care of your refund from now on.',
      inReplyTo: notification.parsed.messageId!,
      references: [notification.parsed.messageId!],
    });
    expect(answer.response).toMatch(/^250 /);
    expect((await caseByNumber(ctx.db, n1))!.queue).toBe('finance');
    await eventually(() => expect(sentTo(env.sink, 'carl@customer.example')).toHaveLength(2));
    const mails = sentTo(env.sink, 'carl@customer.example');
    expect(headline(mails[1]!.parsed)).toContain('Our billing team will take care of your refund');
    expect(mails.some((m) => headline(m.parsed).includes('From now on our emails'))).toBe(false);
    const event = (await eventsOfCase(ctx.db, (await caseByNumber(ctx.db, n1))!.id)).find((e) => e.type === 'case.moved')!;
    expect(event.reason).toContain('customer not told (quiet)');

    // On the command line, --quiet.
    const n2 = await open('dora@customer.example', 'Invoice copy');
    const quiet = await moveFromCli(ctx, n2, 'finance', { quiet: true });
    expect(quiet.customerTold).toBe(false);
    expect(quiet.summary).toContain('customer not told (quiet)');

    // To a queue no mailbox feeds: From, subject and case number stay; nothing to tell.
    const n3 = await open('erik@customer.example', 'Strange crash');
    const within = await moveFromCli(ctx, n3, 'experts');
    expect([within.caseRow.queue, within.caseRow.mailbox, within.customerTold]).toEqual(['experts', 'support', false]);
    expect(within.summary).not.toContain('customer');
    await eventually(() => expect(sentTo(env.sink, 'ed@example.com', new RegExp(`${n3}`))).toHaveLength(1)); // the new team is told
    expect(sentTo(env.sink, 'dora@customer.example')).toHaveLength(1);
    expect(sentTo(env.sink, 'erik@customer.example')).toHaveLength(1);
  });

  it('refuses an unknown queue and the queue the case is in', async () => {
    await expect(moveFromCli(env.daemon.ctx, 10001, 'nowhere')).rejects.toThrow(CaseCommandError);
    await expect(moveFromCli(env.daemon.ctx, 10001, 'finance')).rejects.toThrow(/already/);
  });
});
