import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult } from '../helpers/cli.js';
import { eml, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { peekConfig, type DbPeek } from '../helpers/db-peek.js';
import { TEST_BACKEND } from '../helpers/test-db.js';

/**
 * `casegate purge` (issue 13, point 6): retention of closed cases and GDPR erasure by requester,
 * with the blobs their rows named — unless another row still names them (content-addressed,
 * shared) — and one audit event per batch that names no person. On both backends: the checks read
 * every row of every table of casegate's database (SQLite file or PostgreSQL schema).
 */

let box: CliSandbox;
const SHARED = 'the same log file, attached by two customers\n'.repeat(50);

function withAttachment(from: string, subject: string, id: string, content: string, cc?: string): string {
  const b = 'BOUNDARY42';
  const head = eml({ from, subject, messageId: id, ...(cc !== undefined ? { cc } : {}), headers: { 'Content-Type': `multipart/mixed; boundary="${b}"` }, body: '' }).replace(/Content-Type: text\/plain[^\r\n]*\r\n/, '');
  const top = head.slice(0, head.indexOf('\r\n\r\n'));
  return `${top}\r\n\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the log.\r\n--${b}\r\nContent-Type: text/plain; name="log.txt"\r\nContent-Disposition: attachment; filename="log.txt"\r\n\r\n${content}\r\n--${b}--\r\n`;
}

/** A look into the sandbox's database; closed by the caller. */
function db(): DbPeek {
  return peekConfig(box.configPath);
}

async function withDb<T>(fn: (d: DbPeek) => Promise<T>): Promise<T> {
  const d = db();
  try {
    return await fn(d);
  } finally {
    await d.close();
  }
}

/** Every blob a row names. */
async function namedBlobs(): Promise<Set<string>> {
  const rows = await withDb((d) => d.all<{ s: string }>('select raw_sha256 as s from messages where raw_sha256 is not null union select raw_sha256 from receipts union select sha256 from attachments'));
  return new Set(rows.map((x) => x.s));
}

function blobFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) {
        if (e !== 'tmp') walk(p);
      } else out.push(e);
    }
  };
  walk(join(box.dataDir, 'blobs'));
  return out;
}

/** Every row of every table, as text (to prove an address is gone everywhere). */
async function everything(): Promise<string> {
  return withDb(async (d) => {
    const out: string[] = [];
    for (const t of await d.tables()) out.push(JSON.stringify(await d.all(`select * from "${t}"`)));
    return out.join('\n');
  });
}

beforeAll(async () => {
  box = CliSandbox.create({ security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false } });
  const files = [
    box.write('a1.eml', withAttachment('Ann <ann@customer.example>', 'Old problem', 'a1@customer.example', SHARED)),
    box.write('b1.eml', withAttachment('Bob <bob@customer.example>', 'Bob needs help', 'b1@customer.example', SHARED, 'Ann <ann@customer.example>')),
    box.write('a2.eml', eml({ from: 'Ann <ann@customer.example>', subject: 'Another question', messageId: 'a2@customer.example', body: 'My Zqxjkvwords router blinks.' })),
    box.write('c1.eml', eml({ from: 'Carl <carl@customer.example>', subject: 'Ancient history', messageId: 'c1@customer.example' })),
  ];
  const r = await box.run(['ingest', ...files]);
  expect(r.code, describeResult(r)).toBe(0);
  // Two cases were closed long ago; their files are old (purge keeps blobs written minutes ago).
  await withDb((d) => d.run("update cases set status = 'closed', closed_at = '2023-03-01T10:00:00.000Z' where subject in ('Old problem', 'Ancient history')"));
  const old = new Date('2023-03-01T10:00:00Z');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else utimesSync(p, old, old);
    }
  };
  walk(join(box.dataDir, 'blobs'));
}, 60_000);

afterAll(() => box.cleanup());

interface PurgeJson {
  dryRun: boolean;
  cases: number;
  caseNumbers: number[];
  messages: number;
  attachments: number;
  blobsDeleted: number;
  blobsShared: number;
  blobsRecent: number;
}

describe('casegate purge', () => {
  it('--dry-run counts and changes nothing', async () => {
    const before = blobFiles().length;
    const r = await box.json<PurgeJson>(['purge', '--closed-before', '2024-01-01', '--dry-run', '--json']);
    expect(r).toMatchObject({ dryRun: true, cases: 2, messages: expect.any(Number), blobsShared: 1 });
    expect(r.blobsDeleted).toBeGreaterThan(0);
    expect(await box.json<unknown[]>(['cases', 'list', '--json'])).toHaveLength(4);
    expect(blobFiles()).toHaveLength(before);
    expect(await everything()).not.toContain('purge.closed-before');
  });

  it('--closed-before removes old closed cases and their blobs, keeps a blob another case still uses, leaves an audit event without personal data', async () => {
    const r = await box.json<PurgeJson>(['purge', '--closed-before', '2024-01-01', '--json']);
    expect(r).toMatchObject({ dryRun: false, cases: 2, blobsShared: 1, blobsRecent: 0 });
    const left = await box.json<{ subject: string }[]>(['cases', 'list', '--json']);
    expect(left.map((c) => c.subject).sort()).toEqual(['Another question', 'Bob needs help']);
    // Bob's attachment (the same bytes as Ann's purged one) is still there and readable.
    const att = await withDb((d) => d.all<{ sha256: string }>('select sha256 from attachments'));
    expect(att).toHaveLength(1);
    const s = att[0]!.sha256;
    expect(existsSync(join(box.dataDir, 'blobs', s.slice(0, 2), s))).toBe(true);
    // Every blob a row names exists; nothing the purged rows alone named does.
    expect(new Set(blobFiles())).toEqual(await namedBlobs());
    const audit = await withDb((d) => d.all<{ actor: string; reason: string; data_json: string }>("select actor, reason, data_json from events where type = 'purge.closed-before'"));
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor).toMatch(/^cli:/);
    expect(JSON.parse(audit[0]!.data_json)).toMatchObject({ cases: 2, caseNumbers: r.caseNumbers });
    expect(`${audit[0]!.reason} ${audit[0]!.data_json}`).not.toMatch(/@|Old problem|Ancient/);
  });

  it('--requester erases an address everywhere: its cases, its participation in others, its receipts and emails; the audit names nobody', async () => {
    expect(await everything()).toContain('ann@customer.example');
    // Case-less events: one names Ann, one names Joann (whose address contains Ann's).
    await withDb(async (d) => {
      for (const who of ['ann', 'joann']) await d.run("insert into events (case_id, type, actor, reason, data_json, created_at) values (null, 'sender.rate-limited', 'system', ?, '{}', '2026-01-01T00:00:00.000Z')", `too much mail from ${who}@customer.example.`);
      // Bob's confirmation went to Bob; the relay refused its copy to Ann for now (it is still to go to her alone).
      await d.run("update outbox set pending_rcpt_json = '[\"ann@customer.example\"]', status = 'queued' where to_address = 'bob@customer.example'");
      // An agent's reply on Bob's case still to go, To Ann (the requester could not get mail), Bob on the Cc with his own copy
      // — held by a sender right now (claimed: waiting its turn behind a slow relay); it reads the readers again before each send.
      await d.run(
        `insert into outbox (case_id, kind, auto_reply, from_address, from_name, to_address, to_name, reply_to, subject, message_id, headers_json, cc_json, text, html, status, attempts, next_attempt_at, created_at, queued_at, copies_json, claimed_by, claim_expires_at)
         select case_id, 'agent-reply', 0, from_address, from_name, 'ann@customer.example', 'Ann', reply_to, subject, 'handed-on@support.example', headers_json, '[{"address":"bob@customer.example","name":"Bob"}]', 'for ann@customer.example', '<p>for ann@customer.example</p>', 'queued', 0, next_attempt_at, created_at, queued_at, '[{"address":"bob@customer.example","text":"for Bob","html":"<p>for Bob</p>"}]', 'another-daemon', '2999-01-01T00:00:00.000Z'
         from outbox where to_address = 'bob@customer.example'`,
      );
    });
    const r = await box.json<PurgeJson>(['purge', '--requester', 'ANN@customer.example', '--json']);
    expect(r).toMatchObject({ cases: 1 });
    expect((await everything()).replaceAll('joann@customer.example', 'JOANN')).not.toContain('ann@customer.example');
    const kept = await withDb((d) => d.all<{ reason: string }>("select reason from events where type = 'sender.rate-limited'"));
    expect(kept.map((e) => e.reason)).toEqual(['too much mail from joann@customer.example.']);
    const left = await box.json<{ subject: string }[]>(['cases', 'list', '--json']);
    expect(left.map((c) => c.subject)).toEqual(['Bob needs help']);
    // Bob's email is never sent to her now: withdrawn, with nobody left to go to.
    expect(await withDb((d) => d.all("select status, pending_rcpt_json from outbox where to_address = 'bob@customer.example' and kind <> 'agent-reply'"))).toEqual([{ status: 'cancelled', pending_rcpt_json: '[]' }]);
    // The reply to Ann and Bob still goes to Bob — now its To, with his own copy — never to her.
    expect(await withDb((d) => d.all("select to_address, to_name, cc_json, copies_json, text, status from outbox where message_id = 'handed-on@support.example'"))).toEqual([
      { to_address: 'bob@customer.example', to_name: 'Bob', cc_json: '[]', copies_json: null, text: 'for Bob', status: 'queued' },
    ]);
    const audit = await withDb((d) => d.all<{ reason: string; data_json: string }>("select reason, data_json from events where type = 'purge.erasure'"));
    expect(audit).toHaveLength(1);
    expect(audit[0]!.reason).toMatch(/^erasure on request: 1 case\(s\)/);
    // Ann's raw mail is gone from the blob store.
    expect(new Set(blobFiles())).toEqual(await namedBlobs());
    // Her words are not found, and not left in the search index's part of the file either (FTS5
    // keeps a deleted message's words until its segments are merged; only the index holds them in
    // lower case).
    expect(await box.json<unknown[]>(['cases', 'list', '--json', '--search', 'zqxjkvwords'])).toEqual([]);
    if (TEST_BACKEND === 'sqlite') {
      for (const file of [box.dbPath, `${box.dbPath}-wal`].filter((f) => existsSync(f))) expect([file, readFileSync(file).includes('zqxjkvwords')]).toEqual([file, false]);
    }
  });

  it('--orphans removes blob files no row names, in either layout (a store written before 2026-12-05 has <aa>/<bb>/<sha256>), keeps recent ones and named ones, and stale temp files go', async () => {
    const blobs = join(box.dataDir, 'blobs');
    const old = new Date('2023-03-01T10:00:00Z');
    const put = (rel: string, content: string, at: Date | null): string => {
      const p = join(blobs, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
      if (at !== null) utimesSync(p, at, at);
      return p;
    };
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => x.repeat(64)) as [string, string, string, string];
    const orphans = [put(`aa/${a}`, 'orphan', old), put(`bb/bb/${b}`, 'orphan, earlier layout', old), put(`cc/${c}`, 'in both layouts', old), put(`cc/cc/${c}`, 'in both layouts', old)];
    const recent = put(`dd/${d}`, 'written a moment ago', null);
    const staleTemp = put('tmp/4242-0123456789ab-0', 'a write that never finished', old);
    // A blob a row names, in the earlier layout: kept, and still read from there.
    const named = [...(await namedBlobs())][0]!;
    const earlier = join(blobs, named.slice(0, 2), named.slice(2, 4), named);
    mkdirSync(dirname(earlier), { recursive: true });
    renameSync(join(blobs, named.slice(0, 2), named), earlier);
    const content = readFileSync(earlier);

    const r = await box.json<PurgeJson>(['purge', '--orphans', '--json']);
    expect(r).toMatchObject({ dryRun: false, cases: 0, blobsDeleted: 3, blobsRecent: 1 });
    for (const p of [...orphans, staleTemp]) expect(existsSync(p), p).toBe(false);
    expect(existsSync(recent)).toBe(true);
    expect(readFileSync(earlier).equals(content)).toBe(true);
    expect(new Set(blobFiles())).toEqual(new Set([...(await namedBlobs()), d]));
    const audit = await withDb((db) => db.all<{ reason: string }>("select reason from events where type = 'purge.orphans'"));
    expect(audit.map((e) => e.reason)).toEqual(['unused blob files removed: 3']);
  });

  it('asks for exactly one kind of purge', async () => {
    const r = await box.run(['purge', '--closed-before', '2024-01-01', '--requester', 'x@y.example']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/give exactly one of --closed-before DATE, --requester ADDRESS, --orphans/);
    // One line, exit 1: a usage problem, no stack trace.
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('casegate purge: give exactly one of --closed-before DATE, --requester ADDRESS, --orphans\n');
    const none = await box.run(['purge']);
    expect([none.code, none.stderr]).toEqual([1, 'casegate purge: give exactly one of --closed-before DATE, --requester ADDRESS, --orphans\n']);
  });

  it('--requester takes one plain address: a typo is refused, not an erasure that "removed: 0 case(s)"', async () => {
    for (const bad of ['jane', 'jane@customer,example', 'Jane <jane@customer.example>', 'jane@customer.example bob@customer.example']) {
      const r = await box.run(['purge', '--requester', bad]);
      expect([r.code, r.stderr], bad).toEqual([1, `casegate purge: --requester takes one plain email address like jane@customer.example, got "${bad}"\n`]);
    }
  });

  it('--closed-before takes ISO dates or "90d", never what Date would guess ("12" is not December 2001)', async () => {
    for (const bad of ['notadate', '12', 'Dec 1', '2026-02-30']) {
      const r = await box.run(['purge', '--closed-before', bad, '--dry-run']);
      expect(r.code, bad).toBe(1);
      expect(r.stderr).toBe(`casegate purge: --closed-before takes a date (2024-01-01), a date-time (2024-01-01T08:00) or 90d, got "${bad}"\n`);
    }
    const ago = await box.json<PurgeJson>(['purge', '--closed-before', '36500d', '--dry-run', '--json']);
    expect(ago).toMatchObject({ dryRun: true, cases: 0 });
  });
  it('--requester erases an internationalised address under either spelling: the punycode a bounce or a mail log shows finds what her client wrote in Unicode', async () => {
    const r0 = await box.run(['ingest', box.write('m1.eml', eml({ from: 'Jörg Müller <müller@bücher.example>', subject: 'Rechnung falsch', messageId: 'm1@bücher.example', body: 'Die Rechnung stimmt nicht.' }))]);
    expect(r0.code, describeResult(r0)).toBe(0);
    expect(await everything()).toContain('müller@bücher.example');
    const r = await box.json<PurgeJson>(['purge', '--requester', 'MÜLLER@xn--bcher-kva.example', '--json']);
    expect(r).toMatchObject({ cases: 1 });
    const left = await everything();
    expect(left).not.toContain('müller@bücher.example');
    expect(left).not.toContain('xn--bcher-kva');
  });
});

describe('casegate purge --requester: what our own mail copied of her', () => {
  it('erases her words from staff notifications about other cases and her address from their history; their own mail and events stay', async () => {
    const own = CliSandbox.create({ security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false }, autoReply: { minIntervalSeconds: 0 }, queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } } });
    try {
      const run = async (args: string[], stdin?: string): Promise<void> => {
        const r = await own.run(args, stdin !== undefined ? { stdin } : {});
        expect(r.code, describeResult(r)).toBe(0);
      };
      await run(['ingest'], eml({ from: 'Bob <bob@customer.example>', cc: 'Ann Smith <ann@customer.example>', subject: 'Bob needs help', messageId: 'b1@customer.example' }));
      await run(['cases', 'assign', '10001', 'ben@example.com']);
      // Ann (copied) answers in Bob's case: Ben is notified with her words.
      await run(['ingest'], eml({ from: 'Ann Smith <ann@customer.example>', subject: 'Re: [Case #10001] Bob needs help', messageId: 'a1@customer.example', inReplyTo: 'b1@customer.example', body: 'My private phone is 555-0199.' }));
      await run(['cases', 'reply', '10001', '--message', 'Hello Bob, we are on it.', '--agent', 'ben@example.com']);
      await run(['ingest'], eml({ from: 'Carl <carl@customer.example>', subject: 'Carl asks', messageId: 'c1@customer.example' }));
      await run(['cases', 'cc', '10002', 'ann@customer.example', '--agent', 'ben@example.com']);
      const all = async (): Promise<string> => {
        const d = peekConfig(own.configPath);
        try {
          const out: string[] = [];
          for (const t of await d.tables()) out.push(JSON.stringify(await d.all(`select * from "${t}"`)));
          return out.join('\n');
        } finally {
          await d.close();
        }
      };
      expect(await all()).toContain('555-0199');
      await run(['purge', '--requester', 'ann@customer.example']);
      const left = await all();
      expect(left).not.toMatch(/ann@customer\.example|Ann Smith|555-0199/);
      // Bob's case keeps its history: his message, Ben's reply, the events (without her address).
      const bob = await own.json<{ messages: { text?: string; visibleText?: string }[]; events: { type: string; reason: string }[] }>(['cases', 'show', '10001', '--json']);
      expect(JSON.stringify(bob.messages)).toContain('we are on it');
      expect(bob.events.some((e) => e.type === 'agent.replied')).toBe(true);
      const carl = await own.json<{ events: { type: string; reason: string }[] }>(['cases', 'show', '10002', '--json']);
      expect(carl.events.find((e) => e.type === 'participant.added')?.reason).toMatch(/^\(erased\) is copied/);
    } finally {
      own.cleanup();
    }
  }, 60_000);
});
