import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { writeConfig } from '../helpers/context.js';
import { startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { parseExposition, type Exposition } from '../helpers/prom-text.js';
import { freshSchema, testPgUrl } from '../helpers/test-db.js';
import { startDaemon, type Daemon } from '../../src/main.js';
import { silentLogger } from '../../src/log.js';
import { imapOf, until } from '../imap/imap-env.js';

/**
 * Two daemons on one PostgreSQL: one reads the mailbox (its lease), the other stands by. Both are
 * scraped by Prometheus, and both must tell the mailbox's state as /healthz does (the state its
 * reader recorded): the standby said `casegate_mailbox_up 0` (and no state at all) for a mailbox
 * that was idling fine — an alert on it fired for good on every standby — and a daemon whose
 * lease was taken over kept the state it had last seen.
 */

let dovecot: DovecotServer;
let root: string;
const daemons: Daemon[] = [];

function config(dataDir: string, schema: string): ConfigInput {
  return {
    dataDir,
    mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: imapOf(dovecot, 'support', { pollSeconds: 2 }) }],
    database: { url: testPgUrl(), schema, leaseSeconds: 3 },
    listener: { enabled: false },
    ops: { enabled: true, port: 0 },
    outgoing: { transport: 'file', sweepSeconds: 1 },
    templates: { watch: false },
    jobs: { enabled: false },
  };
}

async function start(name: string, schema: string): Promise<Daemon> {
  const dir = join(root, name);
  mkdirSync(dir);
  const d = await startDaemon({ resolved: writeConfig(dir, config(join(root, 'data'), schema)), log: silentLogger() });
  daemons.push(d);
  return d;
}

async function scrape(d: Daemon): Promise<Exposition> {
  const res = await fetch(`http://127.0.0.1:${d.ops!.port}/metrics`);
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

beforeAll(async () => {
  dovecot = await startDovecot({ users: [{ user: 'support', password: 'pw-support' }] });
  root = mkdtempSync(join(tmpdir(), 'casegate-mailbox-metrics-'));
}, 60_000);

afterAll(async () => {
  for (const d of daemons) await d.stop();
  await dovecot?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('mailbox metrics with two daemons', () => {
  it('the standby reports the mailbox its peer reads as up and idling, with the time of its last successful check', async () => {
    const schema = freshSchema();
    const a = await start('a', schema);
    await until(() => a.imap.watchers[0]?.state === 'idling', 'A to idle');
    const b = await start('b', schema);
    // B waits for the lease A keeps renewing.
    await new Promise((r) => setTimeout(r, 1000));
    expect(b.imap.watchers[0]?.state).toBeNull();
    for (const d of [a, b]) {
      const m = await scrape(d);
      expect(m.value('casegate_mailbox_up', { mailbox: 'support' })).toBe(1);
      expect(m.value('casegate_mailbox_state', { mailbox: 'support', state: 'idling' })).toBe(1);
      expect(m.value('casegate_health_check_ok', { check: 'mailbox:support' })).toBe(1);
      const last = m.value('casegate_mailbox_last_success_timestamp_seconds', { mailbox: 'support' });
      expect(Date.now() / 1000 - last).toBeLessThan(10);
    }

    // A stops (its lease released): B takes the mailbox over and both views follow.
    await a.stop();
    await until(() => b.imap.watchers[0]?.state === 'idling', 'B to idle');
    const m = await scrape(b);
    expect(m.value('casegate_mailbox_up', { mailbox: 'support' })).toBe(1);
  }, 60_000);
});
