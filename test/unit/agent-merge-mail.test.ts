import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { caseByNumber, participants } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { eml, mxHeaderFields, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply, type Original } from '../helpers/mail-clients.js';

/**
 * `#merge N` in an agent's mail: the case the mail belongs to is merged into case N, with the
 * rules of `casegate cases merge` (cases/case-merge.ts); a refusal comes back in the command-error
 * email. The whole pipeline on a fresh database (SQLite, or PostgreSQL in its pass); what
 * customers and agents get is read from the outbox.
 */

const CONFIG: ConfigInput = {
  mailboxes: [
    { name: 'support', addresses: ['support@example.com'] },
    { name: 'billing', addresses: ['billing@example.com'], queue: 'finance' },
    { name: 'feedback', addresses: ['feedback@example.com'] },
  ],
  queues: {
    support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] },
    finance: { agents: [{ name: 'Fiona', address: 'fiona@example.com' }] },
    feedback: { feedback: true },
  },
  autoReply: { minIntervalSeconds: 0 },
};

let env: TestEnv;
let tplDir: string;
beforeEach(async () => {
  // A feedback queue needs its own thank-you (docs/cases.md, "Feedback queues").
  tplDir = mkdtempSync(join(tmpdir(), 'casegate-tpl-'));
  mkdirSync(join(tplDir, 'feedback'));
  writeFileSync(join(tplDir, 'feedback', 'confirmation.subject.hbs'), 'Thank you for your feedback\n');
  writeFileSync(join(tplDir, 'feedback', 'confirmation.text.hbs'), 'Thank you for your feedback.\n');
  writeFileSync(join(tplDir, 'feedback', 'confirmation.html.hbs'), '<p>Thank you for your feedback.</p>\n');
  env = await testEnv({ ...CONFIG, templates: { watch: false, dir: tplDir } });
});
afterEach(async () => {
  await env.close();
  rmSync(tplDir, { recursive: true, force: true });
});

async function outbox(): Promise<OutboxRow[]> {
  return env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
}
async function toAddress(address: string, kind: string): Promise<OutboxRow[]> {
  return (await outbox()).filter((o) => o.to_address === address && o.kind === kind);
}
async function caseNo(n: number) {
  return (await caseByNumber(env.ctx.db, n))!;
}
async function ingest(raw: string, mailbox?: string): Promise<number> {
  const out = await env.ingest(raw, mailbox !== undefined ? { mailbox } : {});
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  return out.caseNumber;
}

/** A customer's new case; returns its number and the notification `agent` got about it. */
async function newCase(from: string, subject: string, o: { to?: string; mailbox?: string; agent?: string; headers?: Record<string, string> } = {}): Promise<{ n: number; note: Original }> {
  const n = await ingest(eml({ from, to: o.to ?? 'support@example.com', subject, body: `${subject}, please help.`, ...(o.headers !== undefined ? { headers: o.headers } : {}) }), o.mailbox);
  const mine = (await toAddress(o.agent ?? 'ben@example.com', 'agent-notification')).filter((x) => x.subject.includes(`#${n}]`));
  const note = mine[0]!;
  return { n, note: { messageId: note.message_id, subject: note.subject, text: note.text, fromName: note.from_name, fromAddress: note.from_address, references: note.references_text?.match(/[^<>\s]+/g) ?? [] } };
}

let seq = 0;
/** Ben answers a notification (DMARC pass by our MX unless `auth` says otherwise). */
function answer(orig: Original, body: string, o: { from?: string; auth?: 'pass' | 'none' } = {}): string {
  return clientReply(orig, {
    style: 'thunderbird',
    from: o.from ?? 'Ben Agent <ben@example.com>',
    to: `Example Support <${orig.fromAddress}>`,
    body,
    messageId: `agent-merge-${++seq}@example.com`,
    headers: mxHeaderFields('example.com', o.auth ?? 'pass'),
  });
}

describe('#merge by email', () => {
  it('merges the case the answer belongs to into the named one; the text is a reply to the customers of the case that goes on', async () => {
    const first = await newCase('Jane Customer <jane@customer.example>', 'Printer on fire');
    const second = await newCase('Jane at home <jane.private@home.example>', 'Still burning');
    expect(second.note.text).toContain('#cc #queue #files #merge'); // the notification's list of commands
    // Stored where the agent's mail is now (the outcome, its log line, the SMTP answer).
    const out = await env.ingest(answer(second.note, '#merge [Case #10001]\n\nJane, we go on with this in your first case.'));
    expect(out).toMatchObject({ kind: 'stored', caseNumber: first.n });
    expect(await toAddress('ben@example.com', 'command-error')).toEqual([]);
    const source = await caseNo(second.n);
    const target = await caseNo(first.n);
    expect(source.status).toBe('closed');
    expect(source.merged_into).toBe(target.id);
    // Everything moved, the agent's mail too; Jane's home address is copied on the case now.
    expect(await messagesOfCase(env.ctx.db, source.id)).toEqual([]);
    expect((await messagesOfCase(env.ctx.db, target.id)).filter((m) => m.direction === 'in').map((m) => m.from_address)).toEqual(['jane@customer.example', 'jane.private@home.example', 'ben@example.com']);
    expect((await participants(env.ctx.db, target.id)).map((p) => [p.address, p.role])).toContainEqual(['jane.private@home.example', 'cc']);
    const merged = (await eventsOfCase(env.ctx.db, source.id)).find((e) => e.type === 'case.merged')!;
    expect(merged.actor).toBe('agent:ben@example.com');
    expect(merged.reason).toContain('(#merge [Case #10001] by Ben Agent)');
    // The agent's mail's receipt names the case its message is in, as the outcome does.
    const receipt = await env.ctx.db.selectFrom('receipts').select(['case_id', 'message_row_id']).where('id', '=', (out as { receiptId: number }).receiptId).executeTakeFirstOrThrow();
    expect(receipt.case_id).toBe(target.id);
    expect((await messagesOfCase(env.ctx.db, target.id)).map((m) => m.id)).toContain(receipt.message_row_id);
    // The reply went out on 10001, to Jane at work with her home address copied.
    const reply = (await toAddress('jane@customer.example', 'agent-reply'))[0]!;
    expect(reply.subject).toContain('[Case #10001]');
    expect(reply.text).toContain('we go on with this in your first case');
    expect((JSON.parse(reply.cc_json) as { address: string }[]).map((a) => a.address)).toEqual(['jane.private@home.example']);
    expect(target.first_response_at).not.toBeNull();
    expect(await toAddress('jane.private@home.example', 'agent-reply')).toEqual([]);
  });

  it('with #note the text is an internal note on the case that goes on; "#merge 10001" and "#merge #10001" are the same', async () => {
    const first = await newCase('Jane Customer <jane@customer.example>', 'Printer on fire');
    const second = await newCase('Jane at home <jane.private@home.example>', 'Still burning');
    const third = await newCase('Jane Customer <jane@customer.example>', 'Printer again');
    await ingest(answer(second.note, '#note\n#merge 10001\nSame printer as in 10001.'));
    await ingest(answer(third.note, '#merge #10001'));
    for (const n of [second.n, third.n]) expect((await caseNo(n)).merged_into).toBe((await caseNo(first.n)).id);
    const target = await caseNo(first.n);
    expect((await eventsOfCase(env.ctx.db, target.id)).map((e) => e.type)).toEqual(expect.arrayContaining(['case.merged-in', 'note.added']));
    expect(await toAddress('jane@customer.example', 'agent-reply')).toEqual([]);
    expect(await toAddress('jane.private@home.example', 'agent-reply')).toEqual([]);
    expect(await toAddress('ben@example.com', 'command-error')).toEqual([]);
  });

  it('the reply of a merge goes to the people of both cases: the case going on has only an address that may not get mail, the merged one has Jane', async () => {
    const shop = await newCase('Shop <postmaster@shop.example>', 'Invoice charged twice');
    const jane = await newCase('Jane Customer <jane@customer.example>', 'Invoice charged twice, again');
    await ingest(answer(jane.note, `#merge ${shop.n}\n\nJane, we refunded it.`));
    expect(await toAddress('ben@example.com', 'command-error')).toEqual([]);
    expect((await caseNo(jane.n)).merged_into).toBe((await caseNo(shop.n)).id);
    expect((await toAddress('jane@customer.example', 'agent-reply'))[0]!.text).toContain('we refunded it');
    // Neither case has anyone who may get it: refused in words, nothing merged, the mail's Cc not enrolled.
    const into = await newCase('Shop two <postmaster@shop-two.example>', 'Invoice robot');
    const other = await newCase('Shop three <postmaster@shop-three.example>', 'Invoice robot again');
    await ingest(clientReply(other.note, { style: 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', cc: 'Robot two <mailer-daemon@shop.example>', body: `#merge ${into.n}\nRELAY-ME-NOT`, messageId: 'agent-merge-nobody@example.com', headers: mxHeaderFields('example.com', 'pass') }));
    expect((await toAddress('ben@example.com', 'command-error')).at(-1)!.text).toContain('your reply cannot be sent');
    expect((await caseNo(other.n)).merged_into).toBeNull();
    expect((await participants(env.ctx.db, (await caseNo(other.n)).id)).map((p) => p.address)).not.toContain('mailer-daemon@shop.example');
  });

  it('refusals come back in words in the command-error email, and nothing is merged', async () => {
    const first = await newCase('Jane Customer <jane@customer.example>', 'Printer on fire');
    const second = await newCase('Jane at home <jane.private@home.example>', 'Still burning');
    const billing = await newCase('Bob <bob@customer.example>', 'Invoice twice', { to: 'billing@example.com', mailbox: 'billing', agent: 'fiona@example.com' });
    const praise = await ingest(eml({ from: 'fan@customer.example', to: 'feedback@example.com', subject: 'Great app' }), 'feedback');
    expect((await caseNo(praise)).kind).toBe('feedback');
    const spamNo = await ingest(eml({ from: 'Spammer <win@lottery.example>', subject: 'You won', headers: { 'X-Spam-Flag': 'YES' } }));
    expect((await caseNo(spamNo)).spam).toBe(1);
    const cases: [string, RegExp][] = [
      ['#merge 10099\nRELAY-ME-NOT', /there is no case 10099/],
      [`#merge ${second.n}\nRELAY-ME-NOT`, new RegExp(`case ${second.n} cannot be merged into itself`)],
      [`#merge ${praise}\nRELAY-ME-NOT`, /feedback is not merged/],
      [`#merge ${spamNo}\nRELAY-ME-NOT`, new RegExp(`case ${spamNo} is suspected spam: release it first`)],
      [`#merge ${billing.n}\nRELAY-ME-NOT`, new RegExp(`case ${billing.n} belongs to queue finance, and ben@example.com is no agent of it`)],
      [`#merge ${first.n}\n#resolve\nRELAY-ME-NOT`, /#merge 10001 stands alone/],
      ['#merge soon\nRELAY-ME-NOT', /#merge needs the number of the case/],
    ];
    for (const [body, why] of cases) {
      const before = (await toAddress('ben@example.com', 'command-error')).length;
      await ingest(answer(second.note, body));
      const errs = await toAddress('ben@example.com', 'command-error');
      expect(errs, body).toHaveLength(before + 1);
      expect(errs.at(-1)!.text, body).toMatch(why);
      expect(errs.at(-1)!.text).toContain('#merge <case>'); // the syntax lists it
      expect(errs.at(-1)!.text).toContain('RELAY-ME-NOT'); // their text comes back
    }
    // Refused: nothing done — not even the Cc of the agent's mail joins the case.
    const before = (await toAddress('ben@example.com', 'command-error')).length;
    await ingest(clientReply(second.note, { style: 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', cc: 'Boss <boss@home.example>', body: '#merge 10099\nRELAY-ME-NOT', messageId: 'agent-merge-cc@example.com', headers: mxHeaderFields('example.com', 'pass') }));
    expect(await toAddress('ben@example.com', 'command-error')).toHaveLength(before + 1);
    expect((await participants(env.ctx.db, (await caseNo(second.n)).id)).map((p) => p.address)).not.toContain('boss@home.example');
    expect((await caseNo(second.n))).toMatchObject({ merged_into: null, status: 'new' });
    expect(await toAddress('jane.private@home.example', 'agent-reply')).toEqual([]);
    expect((await eventsOfCase(env.ctx.db, (await caseNo(second.n)).id)).filter((e) => e.type === 'command.rejected')).toHaveLength(cases.length + 1);

    // Merged: an answer to the old notification threads into 10001, and naming 10002 there is "itself".
    await ingest(answer(second.note, `#merge ${first.n}`));
    expect((await caseNo(second.n)).merged_into).toBe((await caseNo(first.n)).id);
    await ingest(answer(second.note, `#merge ${second.n}`));
    expect((await toAddress('ben@example.com', 'command-error')).at(-1)!.text).toContain(`case ${first.n} cannot be merged into itself (case ${second.n} continues as it)`);
  });

  it('an answer proven only for its own case (no sender authentication) cannot merge into another', async () => {
    const first = await newCase('Jane Customer <jane@customer.example>', 'Printer on fire');
    const second = await newCase('Jane at home <jane.private@home.example>', 'Still burning');
    // Proven for 10002 (it answers our mail to Ben about it): a reply there works …
    await ingest(answer(second.note, '#tag printer', { auth: 'none' }));
    expect(await toAddress('ben@example.com', 'command-error')).toEqual([]);
    // … but nothing proves Ben for 10001.
    await ingest(answer(second.note, `#merge ${first.n}`, { auth: 'none' }));
    expect((await toAddress('ben@example.com', 'command-error')).at(-1)!.text).toContain(`your email proves who you are for case ${second.n} only`);
    expect((await caseNo(second.n)).merged_into).toBeNull();
  });

  it('after a merge, answering the old notification of the merged case (no sender authentication) works the case it went into — not a stranger’s mail', async () => {
    const first = await newCase('Jane Customer <jane@customer.example>', 'Printer on fire');
    const second = await newCase('Jane at home <jane.private@home.example>', 'Still burning');
    await ingest(answer(second.note, '#note\n#merge 10001\nSame printer as in 10001.'));
    expect((await caseNo(second.n)).merged_into).toBe((await caseNo(first.n)).id);
    // Later, from his phone (mode none: only the reply to our mail proves him), Ben answers the notification of 10002 he still holds.
    await ingest(answer(second.note, 'Hi Jane, a technician comes at 3 pm.', { auth: 'none' }));
    expect(await toAddress('ben@example.com', 'unproven-staff')).toEqual([]);
    const sent = [...(await toAddress('jane@customer.example', 'agent-reply')), ...(await toAddress('jane.private@home.example', 'agent-reply'))];
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((o) => o.subject.startsWith(`[Case #${first.n}]`) && o.text.includes('a technician comes at 3 pm'))).toBe(true);
    expect((await caseNo(first.n)).first_response_at).not.toBeNull();
  });
});
