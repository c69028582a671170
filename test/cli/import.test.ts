import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult } from '../helpers/cli.js';
import { eml, TRUSTED_SENDER_AUTH } from '../helpers/context.js';

/**
 * `casegate import` (issue 13, point 8): a team moving from another tool brings its history as
 * mbox, Maildir or .eml files. Imported oldest first whatever the order in the file, threads by
 * References, cases keep the dates of their mail, nothing is sent (recorded as cancelled) unless
 * --notify, and running it again changes nothing.
 */

let box: CliSandbox;

interface CaseRow {
  number: number;
  subject: string;
  requester_address: string;
  created_at: string;
}

/** An mbox (mboxrd): "From " separator lines, ">From " quoting in bodies. */
function mbox(messages: { from: string; date: string; raw: string }[]): string {
  return messages.map((m) => `From ${m.from} ${m.date}\n${m.raw.replace(/\r\n/g, '\n').replace(/^(>*From )/gm, '>$1')}\n`).join('');
}

beforeAll(() => {
  box = CliSandbox.create({ security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false } });
});
afterAll(() => box.cleanup());

describe('casegate import', () => {
  it('an mbox: oldest first, replies thread into their case, cases keep their dates, nothing sent; a second run imports nothing twice', async () => {
    const first = eml({ from: 'Ann <ann@customer.example>', subject: 'VPN down', messageId: 'vpn-1@customer.example', date: 'Wed, 10 Jan 2024 09:15:00 +0000', body: 'VPN is down.\r\nFrom now on nothing works.\r\n' });
    const other = eml({ from: 'Bob <bob@customer.example>', to: 'billing@example.com', subject: 'Invoice twice', messageId: 'inv-1@customer.example', date: 'Thu, 11 Jan 2024 10:00:00 +0000' });
    const reply = eml({ from: 'Ann <ann@customer.example>', subject: 'Re: VPN down', messageId: 'vpn-2@customer.example', inReplyTo: 'vpn-1@customer.example', references: '<vpn-1@customer.example>', date: 'Fri, 12 Jan 2024 08:00:00 +0000', body: 'Still down.\r\n' });
    // The reply comes first in the file: the import sorts by Date.
    const file = box.write(
      'export.mbox',
      mbox([
        { from: 'ann@customer.example', date: 'Fri Jan 12 08:00:00 2024', raw: reply },
        { from: 'ann@customer.example', date: 'Wed Jan 10 09:15:00 2024', raw: first },
        { from: 'bob@customer.example', date: 'Thu Jan 11 10:00:00 2024', raw: other },
      ]),
    );
    const s = await box.json<{ messages: number; stored: number; newCases: number; duplicates: number; from: string; to: string }>(['import', '--mbox', file, '--json']);
    expect(s).toMatchObject({ messages: 3, stored: 3, newCases: 2, duplicates: 0, from: '2024-01-10T09:15:00.000Z', to: '2024-01-12T08:00:00.000Z' });

    const cases = await box.json<CaseRow[]>(['cases', 'list', '--json']);
    expect(cases.map((c) => [c.subject, c.requester_address, c.created_at]).sort()).toEqual([
      ['Invoice twice', 'bob@customer.example', '2024-01-11T10:00:00.000Z'],
      ['VPN down', 'ann@customer.example', '2024-01-10T09:15:00.000Z'],
    ]);
    const vpn = cases.find((c) => c.subject === 'VPN down')!;
    const shown = await box.json<{ messages: { message_id: string; visible_text: string }[] }>(['cases', 'show', String(vpn.number), '--json']);
    expect(shown.messages.filter((m) => m.message_id.endsWith('@customer.example')).map((m) => m.message_id)).toEqual(['vpn-1@customer.example', 'vpn-2@customer.example']);
    // The mbox's ">From" quoting is undone.
    expect(shown.messages[0]!.visible_text).toContain('\nFrom now on nothing works.');

    // Confirmations were recorded, never sent: cancelled, and no .eml in the outgoing folder.
    const outbox = await box.json<{ kind: string; status: string; last_error: string }[]>(['outbox', 'list', '--all', '--json']);
    expect(outbox.length).toBeGreaterThan(0);
    expect(outbox.every((o) => o.status === 'cancelled' && /historic mail/.test(o.last_error))).toBe(true);
    expect(readdirSync(box.dataDir)).not.toContain('outgoing');

    const again = await box.json<{ stored: number; duplicates: number }>(['import', '--mbox', file, '--json']);
    expect(again).toMatchObject({ stored: 0, duplicates: 3 });
    expect(await box.json<CaseRow[]>(['cases', 'list', '--json'])).toHaveLength(2);
  });

  it('a Maildir (cur/ and new/), with a summary line for people', async () => {
    const md = join(box.dir, 'Maildir');
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(md, sub), { recursive: true });
    writeFileSync(join(md, 'cur', '1704880800.M1P1.host:2,S'), eml({ from: 'Carl <carl@customer.example>', subject: 'Password reset', messageId: 'pw-1@customer.example', date: 'Wed, 10 Jan 2024 10:00:00 +0000' }));
    writeFileSync(join(md, 'new', '1704967200.M2P1.host'), eml({ from: 'Carl <carl@customer.example>', subject: 'Re: Password reset', messageId: 'pw-2@customer.example', inReplyTo: 'pw-1@customer.example', references: '<pw-1@customer.example>', date: 'Thu, 11 Jan 2024 10:00:00 +0000' }));
    const r = await box.run(['import', '--maildir', md]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(/^imported 2 message\(s\) in [\d.]+ s \(2024-01-10 … 2024-01-11\): 2 stored \(1 new cases\), 0 already there, 0 ignored, 0 quarantined; nothing sent \(historic mail\)$/m);
    // Quiet in scripts: no progress bar when stderr is not a terminal.
    expect(r.stderr).not.toMatch(/import: importing \[/);
  });

  it('--notify: a folder of .eml files whose confirmations are queued to go out', async () => {
    const dir = join(box.dir, 'emls');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.eml'), eml({ from: 'Dora <dora@customer.example>', subject: 'Laptop broken', messageId: 'lap-1@customer.example', date: 'Mon, 15 Jan 2024 10:00:00 +0000' }));
    const s = await box.json<{ newCases: number }>(['import', '--eml', dir, '--notify', '--json']);
    expect(s.newCases).toBe(1);
    const outbox = await box.json<{ kind: string; status: string; to_address: string }[]>(['outbox', 'list', '--all', '--json']);
    expect(outbox.filter((o) => o.to_address === 'dora@customer.example')).toEqual([expect.objectContaining({ kind: 'confirmation', status: 'queued' })]);
  });

  it('a Date header in the future (a broken clock, a forged header) dates the case by its mbox line, never after now', async () => {
    const future = eml({ from: 'Fay <fay@customer.example>', subject: 'From the future', messageId: 'future-1@customer.example', date: 'Fri, 01 Jan 2100 10:00:00 +0000' });
    const file = box.write('future.mbox', mbox([{ from: 'fay@customer.example', date: 'Tue Feb  6 09:00:00 2024', raw: future }]));
    const s = await box.json<{ stored: number }>(['import', '--mbox', file, '--json']);
    expect(s.stored).toBe(1);
    const cases = await box.json<CaseRow[]>(['cases', 'list', '--json']);
    expect(cases.find((c) => c.subject === 'From the future')?.created_at).toBe('2024-02-06T09:00:00.000Z');
  });

  it('a folder that is no Maildir, a file that is not there or an unknown mailbox: one line each, exit 1, no stack trace', async () => {
    const notMaildir = await box.run(['import', '--maildir', box.dir]);
    expect(notMaildir.code, describeResult(notMaildir)).toBe(1);
    expect(notMaildir.stderr).toBe(`casegate import: ${box.dir} is not a Maildir (no cur/ or new/)\n`);
    const missing = await box.run(['import', '--mbox', `${box.dir}/nope.mbox`]);
    expect(missing.code, describeResult(missing)).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^casegate: cannot open ${box.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/nope\\.mbox: ENOENT \\(no such file or directory\\)`));
    const mailbox = await box.run(['import', '--maildir', box.dir, '--mailbox', 'nope']);
    expect(mailbox.code, describeResult(mailbox)).toBe(1);
    expect(mailbox.stderr).toMatch(/^casegate import: no mailbox "nope" \(mailboxes: [^)]+\)\n$/);
    for (const r of [notMaildir, missing, mailbox]) expect(r.stderr).not.toMatch(/ {4}at /);
  });

  it('refuses no source or two sources', async () => {
    const r = await box.run(['import']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/give exactly one of --mbox FILE, --maildir DIR, --eml DIR/);
  });
});

describe('casegate import without sender authentication (security.senderAuth.mode none, a fresh install)', () => {
  let plain: CliSandbox;
  beforeAll(() => {
    plain = CliSandbox.create({ jobs: { enabled: false } });
  });
  afterAll(() => plain.cleanup());

  it('replies from the case’s requester still thread by References; a stranger’s reply does not', async () => {
    const first = eml({ from: 'Ann <ann@customer.example>', subject: 'VPN down', messageId: 'n-vpn-1@customer.example', date: 'Wed, 10 Jan 2024 09:15:00 +0000', auth: null });
    const reply = eml({ from: 'Ann <ann@customer.example>', subject: 'Re: VPN down', messageId: 'n-vpn-2@customer.example', inReplyTo: 'n-vpn-1@customer.example', references: '<n-vpn-1@customer.example>', date: 'Fri, 12 Jan 2024 08:00:00 +0000', body: 'Still down.\r\n', auth: null });
    const stranger = eml({ from: 'Eve <eve@elsewhere.example>', subject: 'Re: VPN down', messageId: 'n-vpn-3@elsewhere.example', inReplyTo: 'n-vpn-1@customer.example', references: '<n-vpn-1@customer.example>', date: 'Sat, 13 Jan 2024 08:00:00 +0000', auth: null });
    const file = plain.write(
      'plain.mbox',
      mbox([
        { from: 'ann@customer.example', date: 'Wed Jan 10 09:15:00 2024', raw: first },
        { from: 'ann@customer.example', date: 'Fri Jan 12 08:00:00 2024', raw: reply },
        { from: 'eve@elsewhere.example', date: 'Sat Jan 13 08:00:00 2024', raw: stranger },
      ]),
    );
    const s = await plain.json<{ stored: number; newCases: number }>(['import', '--mbox', file, '--json']);
    expect(s).toMatchObject({ stored: 3, newCases: 2 });
    const cases = await plain.json<CaseRow[]>(['cases', 'list', '--json']);
    expect(cases.map((c) => c.requester_address).sort()).toEqual(['ann@customer.example', 'eve@elsewhere.example']);
  });
});

describe('casegate import of a large export', () => {
  it('holds one message at a time, not the whole export: nothing of the file stays in memory while it is imported', async () => {
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { testEnv } = await import('../helpers/context.js');
    const { importMail } = await import('../../src/ops/import-mail.js');
    const env = await testEnv({ security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false } });
    try {
      const line = `${'x'.repeat(76)}\n`;
      const body = line.repeat(Math.floor((900 * 1024) / line.length)); // just under the in-memory size
      const file = join(env.dir, 'export.mbox');
      writeFileSync(
        file,
        mbox(
          Array.from({ length: 60 }, (_, i) => ({
            from: `old${i}@customer.example`,
            date: 'Mon Jan  1 00:00:00 2024',
            raw: `From: old${i}@customer.example\nTo: support@example.com\nSubject: Old ${i}\nMessage-ID: <old-${i}@customer.example>\nDate: Mon, 1 Jan 2024 10:${String(i % 60).padStart(2, '0')}:00 +0000\n\n${body}`,
          })),
        ),
      );
      gc();
      const before = process.memoryUsage().arrayBuffers;
      let held: number | null = null;
      const noBar = { tick: () => undefined, setTotal: () => undefined, stop: () => undefined };
      const summary = await importMail(env.ctx, { kind: 'mbox', path: file }, { notify: false }, (label) => {
        if (label === 'importing') {
          // Every message read, none imported yet: what the import holds of the 54 MB.
          gc();
          held = process.memoryUsage().arrayBuffers - before;
        }
        return noBar;
      });
      expect(summary.stored).toBe(60);
      expect(held).not.toBeNull();
      expect(held!, `${(held! / 1e6).toFixed(1)} MB held after reading 54 MB of mail`).toBeLessThan(10 * 1024 * 1024);
    } finally {
      await env.close();
    }
  }, 120_000);
});
