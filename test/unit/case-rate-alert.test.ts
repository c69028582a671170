import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeContext, createContext, type AppContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { alertCaseRate } from '../../src/pipeline/case-rate-alert.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * A distributed flood (flood F6 of hunt 9): many unrelated senders, no List-Id, each under every
 * per-sender limit. The mailbox's new-case rate alerts the admin once an hour
 * (alerts.newCasesPerMailboxPerHour); every message is still a case.
 */
let env: TestEnv;
const runs = join(mkdtempSync(join(tmpdir(), 'casegate-case-rate-')), 'alert-runs.txt');
beforeAll(async () => {
  env = await testEnv({ instance: { adminAddress: 'admin@example.com' }, alerts: { newCasesPerMailboxPerHour: 3, command: `printf '%s|%s\\n' "$CASEGATE_ALERT_KIND" "$CASEGATE_ALERT_SUBJECT" >> "${runs}"` } });
});
afterAll(async () => {
  await env.close();
  rmSync(join(runs, '..'), { recursive: true, force: true });
});

const alerts = () => env.ctx.db.selectFrom('outbox').select(['to_address', 'subject', 'text']).where('kind', '=', 'case-rate-alert').orderBy('id').execute();
const flood = async (n: number, mailbox = 'support', tag = '') => {
  const outs = [];
  for (let i = 0; i < n; i++) {
    const to = mailbox === 'support' ? 'support@example.com' : 'billing@example.com';
    outs.push(await env.ingest(eml({ from: `bot${tag}${i}@spam${i}.example`, to, subject: `Offer ${tag}${i}`, body: `Cheap pills ${i}` }), { mailbox }));
    env.clock.advance(60_000);
  }
  return outs;
};

describe('new cases per mailbox per hour', () => {
  it('more than the limit within an hour: one case-rate-alert to the admin (and alerts.command), none for the rest of the hour, none for another mailbox under the limit; every message is a case; an hour later a flood still going alerts again', async () => {
    const outs = await flood(6);
    expect(outs.map((o) => o.kind === 'stored' && o.created)).toEqual(Array(6).fill(true));
    const sent = await alerts();
    expect(sent.map((a) => [a.to_address, a.subject])).toEqual([['admin@example.com', '[casegate] 4 new cases within an hour in mailbox support']]);
    expect(sent[0]!.text).toContain('from 4 different sender(s)');
    expect(sent[0]!.text).toMatch(/#10004 {2}bot3@spam3\.example {2}Offer 3/);
    expect(sent[0]!.text).toContain('Nothing was held or dropped');
    await expect.poll(() => existsSync(runs) && readFileSync(runs, 'utf8')).toBe('case-rate-alert|[casegate] 4 new cases within an hour in mailbox support\n');
    const events = await env.ctx.db.selectFrom('events').select(['reason', 'data_json']).where('type', '=', 'mailbox.case-rate-alert').execute();
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.data_json)).toMatchObject({ mailbox: 'support', cases: 4, limit: 3, senders: 4 });

    // Another mailbox under its limit meanwhile: nothing.
    await flood(3, 'billing', 'b');
    expect(await alerts()).toHaveLength(1);

    // An hour after the alert, the flood still going: a second one.
    env.clock.advance(60 * 60_000);
    await flood(4, 'support', 'late');
    expect((await alerts()).map((a) => a.subject)).toEqual(['[casegate] 4 new cases within an hour in mailbox support', '[casegate] 4 new cases within an hour in mailbox support']);
  });
});

describe('alerts.command without an admin address', () => {
  let quiet: TestEnv;
  const dump = join(mkdtempSync(join(tmpdir(), 'casegate-case-rate-')), 'alert-stdin.txt');
  beforeAll(async () => {
    quiet = await testEnv({ alerts: { newCasesPerMailboxPerHour: 1, command: `cat >> "${dump}"` } });
  });
  afterAll(async () => {
    await quiet?.close();
    rmSync(join(dump, '..'), { recursive: true, force: true });
  });

  it('gets the alert with a signed link in a quoted subject cut, as in our mail (chat readers are not the link’s owner)', async () => {
    const token = '10001.c.tb9l00.tct500.1f9bc19778e8528f2ca2894c';
    for (const i of [1, 2]) {
      expect(await quiet.ingest(eml({ from: `bot${i}@spam${i}.example`, subject: `See https://help.example.com/c/${token} ${i}`, body: 'x' }))).toMatchObject({ kind: 'stored', created: true });
      quiet.clock.advance(60_000);
    }
    await expect.poll(() => existsSync(dump) && readFileSync(dump, 'utf8')).toContain('See https://help.example.com/c/… 2');
    expect(readFileSync(dump, 'utf8')).not.toContain(token);
  });
});

describe('two daemons on one database', () => {
  let off: TestEnv;
  const contexts: AppContext[] = [];
  beforeAll(async () => {
    // The cases come in with the alert off; then two daemons with a limit of 2 check at once.
    off = await testEnv({ instance: { adminAddress: 'admin@example.com' }, alerts: { newCasesPerMailboxPerHour: 0 } });
    const on = { ...off.resolved, config: { ...off.resolved.config, alerts: { ...off.resolved.config.alerts, newCasesPerMailboxPerHour: 2 } } };
    for (let i = 0; i < 2; i++) contexts.push(await createContext({ resolved: on, log: silentLogger(), clock: off.clock }));
  });
  afterAll(async () => {
    for (const c of contexts) await closeContext(c).catch(() => undefined);
    await off?.close();
  });

  it('raise one alert when both find the mailbox over its limit at the same moment', async () => {
    for (let i = 0; i < 3; i++) expect(await off.ingest(eml({ from: `bot${i}@spam${i}.example`, subject: `Offer ${i}`, body: `Cheap ${i}` }))).toMatchObject({ kind: 'stored', created: true });
    const raised = await Promise.all(contexts.map((c) => alertCaseRate(c, 'support')));
    expect(raised.filter((r) => r)).toHaveLength(1);
    const sent = await off.ctx.db.selectFrom('outbox').select('subject').where('kind', '=', 'case-rate-alert').execute();
    expect(sent.map((s) => s.subject)).toEqual(['[casegate] 3 new cases within an hour in mailbox support']);
    // Within the hour neither raises another (the one that alerted remembers it, the other reads it).
    expect(await Promise.all(contexts.map((c) => alertCaseRate(c, 'support')))).toEqual([false, false]);
  });
});
