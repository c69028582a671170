import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workFromCli } from '../../src/cases/case-commands.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { mintMessageId } from '../../src/cases/thread-token.js';
import { mxHeaders, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { eventually, sentTo, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { headline } from '../helpers/headline.js';

/**
 * Mail From one of our own addresses (the loop guard's last rule), end to end: the daemon's SMTP
 * listener takes it (behind "our MX", whose Authentication-Results security.senderAuth
 * trusted-header believes), a real SMTP sink gets what casegate sends.
 */
let env: TestDaemon;

beforeAll(async () => {
  env = await startTestDaemon({
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'] },
      { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' },
    ],
    queues: {
      support: { agents: [{ name: 'Sam Support', address: 'sam@example.com' }] },
      finance: { agents: [{ name: 'Fiona Finance', address: 'fiona@example.com' }] },
    },
    security: { senderAuth: TRUSTED_SENDER_AUTH },
    autoReply: { minIntervalSeconds: 0 },
  });
});

afterAll(async () => {
  await env.stop();
});

/** The billing team's forward of a customer's mail, sent with the billing@ account from a mail client. */
function forward(opts: { auth: 'pass' | 'fail' | 'none' | null; id: string; to?: string; extra?: string[] }): string {
  return [
    ...(opts.auth !== null ? mxHeaders('example.com', opts.auth) : []),
    'From: Example Billing <billing@example.com>',
    `To: ${opts.to ?? 'support@example.com'}`,
    'Subject: Fwd: App crashes on start',
    `Message-ID: <${opts.id}@mail.example.com>`,
    'Date: Mon, 02 Mar 2026 08:59:00 +0000',
    ...(opts.extra ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hi support, this one came to billing by mistake. Could you take it?',
    '',
    '---------- Forwarded message ---------',
    'From: Jane Customer <jane@customer.example>',
    'Subject: App crashes on start',
    '',
    'Since the update the app crashes when I open it.',
    '',
  ].join('\r\n');
}

async function send(raw: string, to: string, from = 'billing@example.com'): Promise<string> {
  return (await env.client().sendMail({ envelope: { from, to: [to] }, raw })).response;
}

async function lastReceipt(): Promise<{ outcome: string; reason: string }> {
  return env.daemon.ctx.db.selectFrom('receipts').select(['outcome', 'reason']).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
}

/** The message without the header field `name` (folded lines included). */
function withoutHeader(raw: string, name: string): string {
  return raw.replace(new RegExp(`^${name}:[^\\r\\n]*(\\r\\n[ \\t][^\\r\\n]*)*\\r\\n`, 'gim'), '');
}

/** Nothing casegate sent went to one of our own mailboxes. */
function nothingToOurselves(): void {
  expect(sentTo(env.sink, 'billing@example.com')).toHaveLength(0);
  expect(sentTo(env.sink, 'support@example.com')).toHaveLength(0);
}

describe('mail From one of our own addresses', () => {
  it('a person forwarding from the billing@ account to support@ (authenticated, no mark of ours): a case support sees; our own address never gets mail', async () => {
    const response = await send(forward({ auth: 'pass', id: 'fwd-1' }), 'support@example.com');
    expect(response).toMatch(/Stored in case 10001/);
    const c = (await caseByNumber(env.daemon.ctx.db, 10001))!;
    expect([c.queue, c.requester_address]).toEqual(['support', 'billing@example.com']);
    // Support's agent is told, with the forwarded text.
    await eventually(() => expect(sentTo(env.sink, 'sam@example.com')).toHaveLength(1));
    expect(sentTo(env.sink, 'sam@example.com')[0]!.parsed.text).toContain('Since the update the app crashes when I open it.');
    // Sam brings the customer in with #cc and answers: Jane gets it From support@; billing@ nothing.
    await workFromCli(env.daemon.ctx, 10001, { commands: '#cc jane@customer.example', text: 'Hello Jane, we are looking into the crash.', agent: 'Sam Support' });
    await eventually(() => expect(sentTo(env.sink, 'jane@customer.example')).toHaveLength(1));
    const toJane = sentTo(env.sink, 'jane@customer.example')[0]!;
    expect(toJane.parsed.from?.value[0]?.address).toBe('support@example.com');
    expect(headline(toJane.parsed)).toContain('we are looking into the crash');
    nothingToOurselves();
  });

  it('unauthenticated or forged mail From our address stays ignored (a loop), with the reason', async () => {
    for (const [auth, id, why] of [
      [null, 'fwd-2', /not authenticated \(Authentication-Results of mx\.example\.com: no result\)/],
      ['none', 'fwd-3', /not authenticated/],
      ['fail', 'fwd-4', /not authenticated \(.*dmarc=fail/],
    ] as const) {
      expect(await send(forward({ auth, id }), 'support@example.com')).toMatch(/Accepted \(ignored\)/);
      const r = await lastReceipt();
      expect(r.reason).toMatch(/^loop: sent from our own address billing@example\.com — /);
      expect(r.reason).toMatch(why);
    }
    expect(await caseByNumber(env.daemon.ctx.db, 10002)).toBeUndefined();
  });

  it('authenticated, but only a Bcc copy, or to its own mailbox: ignored as before (a shop\'s archive copy, a note to self)', async () => {
    const archive = forward({ auth: 'pass', id: 'fwd-5', to: 'jane@customer.example' });
    expect(await send(archive, 'support@example.com')).toMatch(/Accepted \(ignored\)/);
    expect((await lastReceipt()).reason).toMatch(/not addressed \(To\/Cc\) to another of our mailboxes/);
    expect(await send(forward({ auth: 'pass', id: 'fwd-6', to: 'billing@example.com' }), 'billing@example.com')).toMatch(/Accepted \(ignored\)/);
    expect(await caseByNumber(env.daemon.ctx.db, 10002)).toBeUndefined();
  });

  it('our own mail coming back to our own mailbox is still a loop: a confirmation in billing@\'s mailbox, with or without our headers', async () => {
    // A customer writes to support@ (To and Cc billing@ would be one case); casegate confirms.
    const info = await env.client().sendMail({ from: 'Kai Kunde <kai@customer.example>', to: 'support@example.com', subject: 'Login broken', text: 'I cannot log in.', headers: Object.fromEntries(mxHeaders('customer.example', 'pass').map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 2)])) });
    expect(info.response).toMatch(/Stored in case 10002/);
    await eventually(() => expect(sentTo(env.sink, 'kai@customer.example')).toHaveLength(1));
    const confirmation = sentTo(env.sink, 'kai@customer.example')[0]!.raw.toString('latin1');
    // The same confirmation, addressed to billing@ (a customer address that is ours after all, a
    // forwarding rule…), DKIM-signed by us: our MX says it passes for example.com.
    const toBilling = [...mxHeaders('example.com', 'pass'), confirmation.replace(/^To: .*$/m, 'To: billing@example.com')].join('\r\n');
    expect(await send(toBilling, 'billing@example.com', 'support@example.com')).toMatch(/Accepted \(ignored\)/);
    expect((await lastReceipt()).reason).toBe('loop: carries our instance mark (X-Casegate-Instance)');
    // Sam's notification of that case, in billing@'s mailbox (his address forwards there), through
    // a relay that drops X- headers: our signed Message-ID still tells.
    await eventually(() => expect(sentTo(env.sink, 'sam@example.com', /10002/)).toHaveLength(1));
    const notification = sentTo(env.sink, 'sam@example.com', /10002/)[0]!.raw.toString('latin1');
    const stripped = [...mxHeaders('example.com', 'pass'), notification.replace(/^To: .*$/m, 'To: billing@example.com')].join('\r\n').replace(/^X-(Casegate-Instance|Loop): .*\r\n/gim, '');
    expect(stripped).not.toMatch(/^X-(Casegate-Instance|Loop):/im);
    expect(await send(stripped, 'billing@example.com', 'support@example.com')).toMatch(/Accepted \(ignored\)/);
    expect((await lastReceipt()).reason).toBe('loop: our own outgoing message');
    // …and one that also rewrites the Message-ID (as some sending services do): it says it is
    // automatic. (Another notification than the one above: its Date differs, or it would be that one's duplicate.)
    let rewritten = stripped;
    for (const name of ['Date', 'Message-ID', 'In-Reply-To', 'References']) rewritten = withoutHeader(rewritten, name);
    rewritten = rewritten.replace(/^From: /m, 'Date: Mon, 02 Mar 2026 10:30:00 +0000\r\nMessage-ID: <0100018e-rewritten@email.example>\r\nFrom: ');
    expect(rewritten).not.toMatch(/c10002\./);
    expect(await send(rewritten, 'billing@example.com', 'support@example.com')).toMatch(/Accepted \(ignored\)/);
    expect((await lastReceipt()).reason).toMatch(/^loop: sent from our own address support@example\.com — it is automatic mail \(Auto-Submitted: auto-generated\)$/);
    // A person's reply from the billing@ account to our mail (a Message-ID we signed in its references): ignored as ours.
    const signed = mintMessageId(10002, env.daemon.ctx.secret, env.daemon.ctx.config.instance.domain);
    expect(await send(forward({ auth: 'pass', id: 'fwd-7', extra: [`In-Reply-To: <${signed}>`, `References: <${signed}>`] }), 'support@example.com')).toMatch(/Accepted \(ignored\)/);
    expect((await lastReceipt()).reason).toMatch(/refers to a Message-ID we signed/);
    expect(await caseByNumber(env.daemon.ctx.db, 10003)).toBeUndefined();
    nothingToOurselves();
  });
});
