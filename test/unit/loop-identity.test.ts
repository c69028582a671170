import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { instanceMark, threadSecret } from '../../src/cases/thread-token.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { carriesLoopId } from '../../src/pipeline/stages/loop-guard.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * Our own mail is recognised by what identifies this installation — our instance mark, our whole
 * X-Loop value, our signed Message-ID — and nothing less: another casegate (a vendor's help desk,
 * a sister installation on the same domain) and a list whose X-Loop merely contains our value are
 * not our loop.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv({ autoReply: { minIntervalSeconds: 0 } });
});
afterEach(async () => {
  await env.close();
});

async function outbox() {
  return env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}

describe('X-Loop is compared whole, entry by entry', () => {
  it.each([
    ['a longer domain', 'casegate@support.example.com.au'],
    ['a longer local part', 'team-casegate@support.example.com'],
    ['a sub-domain', 'casegate@eu.support.example.com'],
    ['a list and a look-alike', 'list@lists.example, billing-casegate@support.example.com'],
    ['our value inside a word', 'xcasegate@support.example.community'],
  ])('a human mail whose X-Loop has %s is a new case, answered', async (_what, xLoop) => {
    const sender = `jane.${Math.random().toString(36).slice(2)}@customer.example`;
    const out = await env.ingest(eml({ from: `Jane <${sender}>`, headers: { 'X-Loop': xLoop } }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    expect((await outbox()).map((r) => [r.kind, r.to_address])).toEqual([['confirmation', sender]]);
  });

  it.each([
    ['exactly', ['casegate@support.example.com']],
    ['in another case and spacing', ['  CaseGate@Support.Example.COM ']],
    ['in angle brackets with a name', ['Support Desk <casegate@support.example.com>']],
    ['as one entry of a list', ['list@lists.example, casegate@support.example.com']],
    ['in the second of two fields', ['list@lists.example', 'casegate@support.example.com (casegate)']],
  ])('our X-Loop %s is our own mail', async (_what, fields) => {
    const headers = fields.map((v) => `X-Loop: ${v}`).join('\r\n');
    const raw = eml({}).replace('MIME-Version: 1.0', `${headers}\r\nMIME-Version: 1.0`);
    const out = await env.ingest(raw);
    expect(out).toMatchObject({ kind: 'ignored', reason: 'loop: carries our X-Loop header' });
    expect(await outbox()).toHaveLength(0);
  });

  it('compares the IDN spelling of the domain, not its bytes', () => {
    expect(carriesLoopId(['casegate@xn--bcher-kva.example'], 'casegate@bücher.example')).toBe(true);
    expect(carriesLoopId(['casegate@bücher.example'], 'casegate@xn--bcher-kva.example')).toBe(true);
    expect(carriesLoopId(['casegate@xn--bcher-kva.example.net'], 'casegate@bücher.example')).toBe(false);
  });
});

describe('another casegate installation is not our loop', () => {
  /** Mail another casegate sends: its own X-Loop and mark, our header names. */
  function fromOtherCasegate(o: { inReplyTo?: string; loop?: string; mark?: string; subject?: string; autoSubmitted?: string }) {
    const other = threadSecret('vendor-secret-0123456789abcdef-0123456789', [], env.clock);
    return eml({
      from: 'Vendor Support <support@vendor.example>',
      to: 'support@example.com',
      subject: o.subject ?? '[Case #123] We received your request: Printer firmware crash',
      messageId: `c123.0123456789ab.abcd.0123456789ab@${o.loop?.split('@')[1] ?? 'vendor.example'}`,
      ...(o.inReplyTo !== undefined ? { inReplyTo: o.inReplyTo } : {}),
      headers: {
        'X-Loop': o.loop ?? 'casegate@vendor.example',
        'X-Casegate-Instance': o.mark ?? instanceMark(other, 'vendor.example'),
        'X-Casegate-Case': '123',
        'Auto-Submitted': o.autoSubmitted ?? 'auto-replied',
        Precedence: 'bulk',
      },
      body: 'Thank you for contacting Vendor Support. Your request has been received and is case 123.',
    });
  }

  it("a vendor's confirmation answering our mail joins our case as automated mail, and is not answered", async () => {
    const first = await env.ingest(eml({ subject: 'Printer firmware crash' }));
    expect(first).toMatchObject({ kind: 'stored', created: true });
    const ours = (await outbox())[0]!;
    const out = await env.ingest(fromOtherCasegate({ inReplyTo: ours.message_id }));
    expect(out).toMatchObject({ kind: 'stored', created: false, caseNumber: first.kind === 'stored' ? first.caseNumber : -1 });
    const caseId = first.kind === 'stored' ? first.caseId : -1;
    const last = (await messagesOfCase(env.ctx.db, caseId)).at(-1)!;
    expect(last).toMatchObject({ from_address: 'support@vendor.example', thread_rule: 'signed-reference', automated: 'auto-reply' });
    expect((await eventsOfCase(env.ctx.db, caseId)).map((e) => e.type)).toContain('message.automated');
    // Nothing more went out: no answer to a machine, no notification loop between two desks.
    expect((await outbox()).map((r) => r.kind)).toEqual(['confirmation']);
  });

  it('its status mail about no case of ours ends as automated mail belonging to no case, not as our loop', async () => {
    const out = await env.ingest(fromOtherCasegate({}));
    expect(out.kind).toBe('ignored');
    expect(out.reason).toMatch(/^auto-reply \(.*\) that belongs to no case$/);
    expect(await outbox()).toHaveLength(0);
  });

  it('its auto-generated mail opens a case nobody answers automatically', async () => {
    const out = await env.ingest(fromOtherCasegate({ autoSubmitted: 'auto-generated', subject: '[Case #123] Status: resolved' }));
    expect(out).toMatchObject({ kind: 'stored', created: true });
    expect(await outbox()).toHaveLength(0);
  });

  it('a sister installation on our domain (same X-Loop, its own mark) is not our loop', async () => {
    const first = await env.ingest(eml({ subject: 'Printer firmware crash' }));
    const ours = (await outbox())[0]!;
    const sister = threadSecret('sister-secret-0123456789abcdef-0123456789', [], env.clock);
    const out = await env.ingest(fromOtherCasegate({ inReplyTo: ours.message_id, loop: 'casegate@support.example.com', mark: instanceMark(sister, 'support.example.com') }));
    expect(out).toMatchObject({ kind: 'stored', created: false, caseNumber: first.kind === 'stored' ? first.caseNumber : -1 });
    expect((await outbox()).map((r) => r.kind)).toEqual(['confirmation']);
  });

  it('our own mail is ours by its mark even when a relay replaced its Message-ID and dropped X-Loop', async () => {
    await env.ingest(eml({ subject: 'Printer firmware crash' }));
    const headers = JSON.parse((await outbox())[0]!.headers_json) as Record<string, string>;
    expect(headers['X-Casegate-Instance']).toBe(instanceMark(env.ctx.secret, 'support.example.com'));
    const out = await env.ingest(eml({ from: 'Example Support <helpdesk@relay.example>', headers: { 'X-Casegate-Instance': headers['X-Casegate-Instance']!, 'Auto-Submitted': 'auto-replied' } }));
    expect(out).toMatchObject({ kind: 'ignored', reason: 'loop: carries our instance mark (X-Casegate-Instance)' });
  });
});
