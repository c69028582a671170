import { peekDb, type DbPeek } from '../helpers/db-peek.js';
import { afterEach, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { imapOf, removeDir, runDaemon, until, type LogLine, type RunningDaemon } from '../imap/imap-env.js';


/** Child processes start slowly on a loaded 2-core machine: a generous hang guard, not a speed target. */
const TIMEOUT_MS = 180_000;
/**
 * Issue 8.5 (IMAP part): the private Dovecot is stopped long enough for the reconnect backoff to
 * grow, then started again. The mailbox is back within 5 s of the server (not when the grown
 * backoff ends), and the backoff starts over after a successful login and fetch (not only after a
 * 60 s session), so the next outage begins with a 1 s wait again.
 */

let server: DovecotServer | null = null;
let d: RunningDaemon | null = null;
let db: DbPeek | null = null;

afterEach(async () => {
  await d?.stop();
  await db?.close();
  db = null;
  if (d !== null) removeDir(d.dir);
  d = null;
  await server?.stop();
  server = null;
});

async function health(): Promise<{ state: string; failing_since: string | null } | undefined> {
  db ??= peekDb(d!.resolved);
  return db.get<{ state: string; failing_since: string | null }>("SELECT state, failing_since FROM mailbox_health WHERE mailbox = 'support'");
}

function failures(from = 0): (LogLine & { attempt: number; retryInMs: number })[] {
  return d!.lines.slice(from).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('IMAP mailbox support failed:')) as (LogLine & { attempt: number; retryInMs: number })[];
}

describeWithDovecot('IMAP reconnect after an outage', () => {
  it('reconnects within 5 s of the server coming back, and starts the backoff over after a working session', async () => {
    server = await startDovecot({ users: [{ user: 'support', password: 'pw-support' }] });
    d = await runDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(server, 'support', { reconnectMinSeconds: 1, reconnectMaxSeconds: 60 }) }] });
    await until(async () => (await health())?.state === 'idling', 'the mailbox to idle');

    // A 16 s outage: the waits grow 1, 2, 4, 8, 16 s.
    await server.down();
    await until(() => failures().some((l) => l.retryInMs >= 8_000), 'the backoff to reach 8 s', 40_000);
    await new Promise((r) => setTimeout(r, 1_500));
    const grown = failures().at(-1)!;
    const upAt = Date.now();
    await server.up();
    await until(async () => { const h = await health(); return h?.state === 'idling' && h.failing_since === null; }, 'the mailbox back after the restart', 30_000);
    const backAfterMs = Date.now() - upAt;
    console.log(`[imap-reconnect] backoff had grown to ${grown.retryInMs} ms (attempt ${grown.attempt}); mailbox idling again ${backAfterMs} ms after Dovecot was up`);
    expect(grown.retryInMs).toBeGreaterThanOrEqual(8_000);
    expect(backAfterMs).toBeLessThanOrEqual(5_000);
    expect(d.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('IMAP server of mailbox support is reachable again; reconnecting now'))).toBe(true);

    // Mail sent after the restart is processed.
    await server.append('support', eml({ subject: 'After the outage', messageId: 'after-outage@customer.example' }));
    await until(async () => (await db!.get<{ n: number }>('SELECT count(*) AS n FROM cases'))!.n === 1, 'the case');

    // A second outage, seconds after the first: the backoff starts again at 1 s.
    const mark = d.lines.length;
    await server.down();
    await until(() => failures(mark).length >= 1, 'the first failure of the second outage');
    const first = failures(mark)[0]!;
    expect(first.attempt).toBe(1);
    // reconnectMinSeconds less up to a quarter at random (several sessions dropped together do not come back together).
    expect(first.retryInMs).toBeGreaterThanOrEqual(750);
    expect(first.retryInMs).toBeLessThanOrEqual(1_000);
    await server.up();
    await until(async () => (await health())?.state === 'idling', 'back again', 30_000);
  }, TIMEOUT_MS);

  it('mailboxes dropped together by a server restart do not retry in lockstep', async () => {
    const names = ['m1', 'm2', 'm3', 'm4', 'm5'];
    server = await startDovecot({ users: names.map((n) => ({ user: n, password: `pw-${n}` })) });
    d = await runDaemon({ mailboxes: names.map((n) => ({ name: n, addresses: [`${n}@example.com`], imap: imapOf(server!, n, { reconnectMinSeconds: 1, reconnectMaxSeconds: 60 }) })) });
    db ??= peekDb(d.resolved);
    await until(async () => (await db!.get<{ n: number }>("SELECT count(*) AS n FROM mailbox_health WHERE state = 'idling'"))!.n === names.length, 'every mailbox idling');
    const mark = d.lines.length;
    await server.down();
    const firsts = await until(() => {
      const f = names.map((n) => d!.lines.slice(mark).find((l) => typeof l.msg === 'string' && l.msg.startsWith(`IMAP mailbox ${n} failed:`)) as (LogLine & { retryInMs: number }) | undefined);
      return f.every((l) => l !== undefined) ? f.map((l) => l!.retryInMs) : undefined;
    }, 'a failure line from every mailbox');
    console.log(`[imap-reconnect] first waits after the server went away: ${firsts.join(', ')} ms`);
    for (const ms of firsts) expect(ms).toBeGreaterThanOrEqual(750), expect(ms).toBeLessThanOrEqual(1_000);
    expect(new Set(firsts).size).toBeGreaterThan(1);
    await server.up();
  }, TIMEOUT_MS);
});
