import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
