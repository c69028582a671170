import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { generateDkimKey } from '../../src/mail-out/dkim.js';
import { writeConfig } from '../helpers/context.js';
import { eventually, sentTo, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { dnsStub } from '../helpers/outgoing-samples.js';

/**
 * A DKIM key rotation on the running daemon (SIGHUP): the new selector named in
 * outgoing.dkim.keys. A key that cannot be read (not made yet, a typo, a file the daemon's user
 * cannot read) refuses the reload, loudly, like any configuration error — and the daemon goes on
 * sending, signed with the key it had. A good one signs the next email.
 */

let d: TestDaemon | null = null;
afterEach(async () => {
  await d?.stop();
  d = null;
});

describe('DKIM key rotation by reload', () => {
  it('a configured key that cannot be read refuses the reload and the outbox keeps sending (old key); a readable one signs from then on', async () => {
    const base: ConfigInput = { mailboxes: [{ name: 'support', addresses: ['support@example.com'] }], listener: { port: 0 }, autoReply: { minIntervalSeconds: 0 } };
    d = await startTestDaemon(base);
    const dataDir = d.daemon.ctx.paths.dataDir;
    const old = generateDkimKey(dataDir, 'example.com', 's2026');
    const records = new Map([['s2026._domainkey.example.com', old.record]]);
    const send = async (n: number): Promise<void> => {
      await d!.client().sendMail({ from: `Jane <jane${n}@customer.example>`, to: 'support@example.com', subject: `Question ${n}`, text: 'Hello', messageId: `<q${n}@customer.example>` });
      await eventually(() => expect(sentTo(d!.sink, `jane${n}@customer.example`)).toHaveLength(1), 100);
    };
    const selectorOf = async (n: number): Promise<string[]> => {
      const raw = sentTo(d!.sink, `jane${n}@customer.example`)[0]!.raw;
      const v = await dkimVerify(raw, { resolver: dnsStub(records) as never });
      return v.results.map((r) => `${r.status.result} ${r.selector}`);
    };
    await send(1);
    expect(await selectorOf(1)).toEqual(['pass s2026']);

    // The new selector named before its key exists.
    const smtp = { transport: 'smtp' as const, smtp: { host: '127.0.0.1', port: d.sink.port, secure: false }, sweepSeconds: 1 };
    writeConfig(d.dir, { ...base, templates: { watch: false }, outgoing: { ...smtp, dkim: { keys: [{ domain: 'example.com', selector: 's2027' }] } } });
    const refused = await d.daemon.reload();
    expect(refused.ok, JSON.stringify(refused)).toBe(false);
    expect(refused.problems?.join('\n')).toMatch(/outgoing\.dkim\.keys.*s2027|example\.com\.s2027\.pem/);
    await send(2);
    expect(await selectorOf(2)).toEqual(['pass s2026']);

    // Made and named: it signs the next email.
    const next = generateDkimKey(dataDir, 'example.com', 's2027');
    records.set('s2027._domainkey.example.com', next.record);
    const done = await d.daemon.reload();
    expect(done.ok, JSON.stringify(done)).toBe(true);
    await send(3);
    expect(await selectorOf(3)).toEqual(['pass s2027']);
  }, 90_000);
});
