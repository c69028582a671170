import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, rememberedChildren, setLogLevel } from '../../src/log.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * The lines written while a message is processed — by the SLA clocks, assignment, staff mail and
 * the other modules the stages call — name that message (log.ts, inMessageScope), also when several
 * messages are processed at once; lines written after it ended name none.
 */
describe('log lines name the message they are about', () => {
  let env: TestEnv | undefined;
  afterEach(async () => {
    await env?.close();
    env = undefined;
  });

  it('eight messages at once: every line about a case carries the Message-ID of the message that opened it', async () => {
    env = await testEnv({ queues: { support: { agents: [{ address: 'agent@example.com', name: 'Agent' }], assignment: 'round-robin' } } });
    const raw: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (l: string) => void raw.push(l) } });
    (env.ctx as { log: unknown }).log = log;
    const ids = Array.from({ length: 8 }, (_, i) => `scope-${i}@customer.example`);
    const outcomes = await Promise.all(ids.map((id, i) => env!.ingest(eml({ from: `Customer ${i} <c${i}@customer.example>`, subject: `Question ${i}`, messageId: id, body: 'Hello\r\n' }))));
    expect(outcomes.map((o) => o.kind)).toEqual(ids.map(() => 'stored'));

    const lines = raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    const caseOf = new Map<unknown, unknown>(lines.filter((l) => l['msg'] === 'message stored').map((l) => [l['messageId'], l['caseNumber']]));
    expect([...caseOf.keys()].sort()).toEqual([...ids].sort());
    const aboutCases = lines.filter((l) => typeof l['caseNumber'] === 'number');
    const decisions = new Set(aboutCases.map((l) => l['msg']));
    expect([...decisions]).toEqual(expect.arrayContaining(['sla clocks started', 'case assigned', 'message stored']));
    for (const l of aboutCases) expect(caseOf.get(l['messageId']), JSON.stringify(l)).toBe(l['caseNumber']);
    for (const l of raw) expect(l.match(/"messageId":/g)?.length ?? 0, l).toBeLessThanOrEqual(1);

    // After its outcome, a message's context names nobody: an outgoing email's own lines keep
    // their own Message-ID.
    raw.length = 0;
    log.child({ messageId: 'outgoing@casegate.example' }).info('email sent');
    log.info('idle');
    expect(raw.map((l) => JSON.parse(l) as Record<string, unknown>).map((l) => l['messageId'])).toEqual(['outgoing@casegate.example', undefined]);
  });

  it('a root logger does not remember every child logger ever made (one per email sent, per message, per web request)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const log = createLogger({ level: 'info', destination: { write: () => undefined } });
    const kept = log.child({ component: 'outbox' });
    // 50,000 short-lived children (and grandchildren), as a daemon makes them over a few hours.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 5_000; i++) log.child({ outboxId: i }).child({ messageId: `m${i}` });
      // (a WeakRef's target lives to the end of the job that made it)
      await new Promise((r) => setImmediate(r));
      gc();
    }
    // It remembered all 50,001 (an idle daemon's heap grew ~9 WeakRefs a second under load, for good).
    expect(rememberedChildren(log)).toBeLessThan(25_000);
    // The children still in use are still reached by a reload's level change.
    setLogLevel(log, 'warn');
    expect(kept.level).toBe('warn');
    expect(kept.child({ caseId: 1 }).level).toBe('warn');
  });
});

