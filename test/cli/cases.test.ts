import { peekConfig } from '../helpers/db-peek.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml, writeConfig } from '../helpers/context.js';
import { CliSandbox, DEFAULT_TEST_CONFIG, describeResult } from '../helpers/cli.js';

/** `casegate cases list` / `cases show` after real ingests, as an agent or admin reads them. */

interface CaseJson {
  number: number;
  status: string;
  subject: string;
  requester_address: string;
  requester_name: string;
  queue: string;
  mailbox: string;
}
interface CaseDetailJson {
  case: CaseJson;
  participants: { address: string; role: string }[];
  messages: { direction: string; from_address: string; subject: string; visible_text: string; thread_rule: string; attachments: unknown[]; [k: string]: unknown }[];
  events: { type: string; actor: string; reason: string }[];
  outbox: { kind: string; status: string; to_address: string; subject: string; [k: string]: unknown }[];
}

const VISIBLE = 'VISIBLE-7f3a: the printer in room 4 is on fire since this morning.';
const QUOTED = 'QUOTED-HISTORY-9c2e an older answer from last year';

describe('casegate cases list / show', () => {
  let box: CliSandbox;
  beforeAll(async () => {
    box = CliSandbox.create();
    const files = [
      box.write(
        'jane.eml',
        eml({
          from: 'Jane Customer <jane@customer.example>',
          cc: 'Boss <boss@customer.example>',
          subject: 'Printer on fire',
          messageId: 'jane-1@customer.example',
          body: `${VISIBLE}\r\nPlease help.\r\n\r\nOn Mon, 1 Jan 2025 at 10:00, Support <support@example.com> wrote:\r\n> ${QUOTED}\r\n> and more of it\r\n`,
        }),
      ),
      box.write('bob.eml', eml({ from: 'Bob <bob@customer.example>', to: 'billing@example.com', subject: 'Invoice 42 is wrong', messageId: 'bob-1@customer.example' })),
      box.write('carol.eml', eml({ from: 'carol@other.example', subject: 'VPN down', messageId: 'carol-1@other.example' })),
    ];
    const r = await box.run(['ingest', ...files]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout.match(/stored \(case \d+\)/g)).toHaveLength(3);
  });
  afterAll(() => box.cleanup());

  it('cases list --json: newest first, with number, status, subject and requester', async () => {
    const rows = await box.json<CaseJson[]>(['cases', 'list', '--json']);
    expect(rows.map((c) => [c.number, c.status, c.subject, c.requester_address, c.queue])).toEqual([
      [10003, 'new', 'VPN down', 'carol@other.example', 'support'],
      [10002, 'new', 'Invoice 42 is wrong', 'bob@customer.example', 'finance'],
      [10001, 'new', 'Printer on fire', 'jane@customer.example', 'support'],
    ]);
  });

  it('cases list (text): a header row, then one row per case', async () => {
    const r = await box.run(['cases', 'list']);
    expect(r.code, describeResult(r)).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe('(times in UTC (jobs.timezone; --utc for UTC))');
    // Issue 10 added the OWNER column.
    expect(lines[0]).toMatch(/^CASE\s+STATUS\s+PRIORITY\s+QUEUE\s+OWNER\s+REQUESTER\s+UPDATED\s+SUBJECT$/);
    expect(lines[1]).toMatch(/^10003\s+new\s+\S+\s+support\s+-\s+carol@other\.example\s+.*VPN down$/);
    expect(lines[3]).toMatch(/^10001\s.*Printer on fire$/);
  });

  it('--queue, --limit and --status filter (several statuses at once)', async () => {
    const [finance, limited] = await Promise.all([box.json<CaseJson[]>(['cases', 'list', '--json', '--queue', 'finance']), box.json<CaseJson[]>(['cases', 'list', '--json', '--limit', '2'])]);
    expect(finance.map((c) => c.number)).toEqual([10002]);
    expect(limited.map((c) => c.number)).toEqual([10003, 10002]);

    // No CLI command changes a status yet: an agent resolves case 10003 directly in the database.
    const db = peekConfig(box.configPath);
    try {
      await db.run("UPDATE cases SET status = 'resolved', resolved_at = ? WHERE number = 10003", new Date().toISOString());
    } finally {
      await db.close();
    }
    const [onlyNew, resolved, both] = await Promise.all([
      box.json<CaseJson[]>(['cases', 'list', '--json', '--status', 'new']),
      box.json<CaseJson[]>(['cases', 'list', '--json', '--status', 'resolved']),
      box.json<CaseJson[]>(['cases', 'list', '--json', '--status', 'new', 'resolved', '--queue', 'support', '--limit', '5']),
    ]);
    expect(onlyNew.map((c) => c.number)).toEqual([10002, 10001]);
    expect(resolved.map((c) => c.number)).toEqual([10003]);
    expect(both.map((c) => [c.number, c.status])).toEqual([
      [10003, 'resolved'],
      [10001, 'new'],
    ]);
  });

  it('--overdue and --due-within: the cases whose SLA target is missed, or due soon, with a DUE column (an agent’s morning)', async () => {
    const at = (min: number) => new Date(Date.now() + min * 60_000).toISOString();
    // Read once: computed again at the assertion, it named the next minute when one began between.
    const overdue = at(-60);
    const db = peekConfig(box.configPath);
    try {
      await db.run('UPDATE cases SET first_response_due_at = ? WHERE number = 10001', overdue);
      await db.run('UPDATE cases SET first_response_due_at = ?, resolution_due_at = ? WHERE number = 10002', at(90), at(600));
      await db.run("UPDATE cases SET status = 'resolved', resolution_due_at = ? WHERE number = 10003", at(-60)); // resolved: nothing is due
    } finally {
      await db.close();
    }
    const nums = async (...args: string[]) => (await box.json<CaseJson[]>(['cases', 'list', '--json', ...args])).map((c) => c.number);
    expect(await nums('--overdue')).toEqual([10001]);
    expect(await nums('--due-within', '2h')).toEqual([10002, 10001]);
    expect(await nums('--due-within', '30m', '--queue', 'finance')).toEqual([]);
    const r = await box.run(['cases', 'list', '--due-within', '1d']);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CASE\s+STATUS\s+PRIORITY\s+QUEUE\s+OWNER\s+REQUESTER\s+UPDATED\s+DUE\s+SUBJECT$/);
    // The default jobs.timezone is UTC: the times say so.
    expect(lines[2]).toContain(`${overdue.slice(0, 16).replace('T', ' ')} UTC 1st`);
    expect(lines.at(-1)).toBe('(times in UTC (jobs.timezone; --utc for UTC))');
    const bad = await box.run(['cases', 'list', '--due-within', 'soon']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/--due-within.*"soon" is no time like 30m, 2h or 1d\.$/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an unknown --status is rejected with the allowed choices', async () => {
    const r = await box.run(['cases', 'list', '--status', 'bogus']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bogus/);
    expect(r.stderr).toMatch(/Allowed choices are new, open, pending, on_hold, resolved, closed/);
  });

  it('cases show 10001 (text): the visible text (not the quoted history), participants, events and the queued confirmation', async () => {
    const r = await box.run(['cases', 'show', '10001']);
    expect(r.code, describeResult(r)).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^Case 10001: Printer on fire\n/);
    expect(out).toContain('requester Jane Customer <jane@customer.example>');
    expect(out).toMatch(/participants: jane@customer\.example \(requester\), boss@customer\.example \(cc\)/);
    // The thread: the customer's message with only what they wrote this time.
    expect(out).toMatch(/--- ← \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC jane@customer\.example \[new\]/);
    expect(out).toContain(VISIBLE);
    expect(out).not.toContain('QUOTED-HISTORY');
    // … and our confirmation, queued (the CLI does not send).
    expect(out).toMatch(/--- → \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC support@example\.com \[[^\]]*\] queued\n\s+Subject: \[Case #10001\] .*Printer on fire/);
    const events = out.slice(out.indexOf('\nEvents:\n'));
    expect(events).toMatch(/case\.created\s+customer:jane@customer\.exampl/);
    expect(events).toMatch(/email\.queued/);
    expect(out).toMatch(/Outgoing mail:\n\s+#\d+ confirmation\s+queued\s+to jane@customer\.example attempts 0/);
  });

  it('cases show --json: case, messages (visible text, no raw bodies), events, outbox and participants', async () => {
    const d = await box.json<CaseDetailJson>(['cases', 'show', '10001', '--json']);
    // Issue 5 added `tags` (set by routing rules) next to the case; issue 14 `bouncing` (addresses of the case that bounced hard); `unverifiedBounces` (reports nothing proves a mail system wrote); `slaMoves` (the calendars measured before each queue move, 0033).
    expect(Object.keys(d).sort()).toEqual(['bouncing', 'case', 'events', 'linkedTo', 'mergedInto', 'messages', 'outbox', 'participants', 'slaMoves', 'tags', 'unverifiedBounces']);
    expect(d.case).toMatchObject({ number: 10001, status: 'new', subject: 'Printer on fire', requester_address: 'jane@customer.example', requester_name: 'Jane Customer' });
    expect(d.participants.map((p) => [p.address, p.role])).toEqual([
      ['jane@customer.example', 'requester'],
      ['boss@customer.example', 'cc'],
    ]);
    const inbound = d.messages.filter((m) => m.direction === 'in');
    expect(inbound).toHaveLength(1);
    expect(inbound[0]!.visible_text).toContain(VISIBLE);
    expect(inbound[0]!.visible_text).not.toContain('QUOTED-HISTORY');
    for (const m of d.messages) {
      expect(m).not.toHaveProperty('text');
      expect(m).not.toHaveProperty('html');
    }
    expect(d.events.map((e) => e.type)).toEqual(expect.arrayContaining(['case.created', 'email.queued']));
    expect(d.outbox).toHaveLength(1);
    expect(d.outbox[0]).toMatchObject({ kind: 'confirmation', status: 'queued', to_address: 'jane@customer.example' });
    expect(d.outbox[0]!.subject).toMatch(/^\[Case #10001\] /);
    expect(d.outbox[0]).not.toHaveProperty('text');
    // "#10001" is accepted as well.
    const hash = await box.json<CaseDetailJson>(['cases', 'show', '#10002', '--json']);
    expect(hash.case.number).toBe(10002);
  });

  it('cases show 99999 → exit 1, a message on stderr, nothing on stdout (also with --json)', async () => {
    const runs = await Promise.all([box.run(['cases', 'show', '99999']), box.run(['cases', 'show', '99999', '--json'])]);
    for (const r of runs) {
      expect(r.code, describeResult(r)).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('no case 99999\n');
    }
  });
});

describe('casegate cases show: a long message', () => {
  let box: CliSandbox;
  beforeAll(async () => {
    box = CliSandbox.create();
    const body = Array.from({ length: 60 }, (_, i) => `log line ${i + 1}: sync failed`).join('\r\n');
    const r = await box.run(['ingest', box.write('long.eml', eml({ subject: 'Sync log', messageId: 'long-1@customer.example', body }))]);
    expect(r.code, describeResult(r)).toBe(0);
  });
  afterAll(() => box.cleanup());

  it('says how many lines it left out, and --full prints them all', async () => {
    const short = await box.run(['cases', 'show', '10001']);
    expect(short.stdout).toContain('    log line 40: sync failed\n    … 20 more lines (casegate cases show 10001 --full)\n');
    expect(short.stdout).not.toContain('log line 41:');
    const full = await box.run(['cases', 'show', '10001', '--full']);
    expect(full.code, describeResult(full)).toBe(0);
    expect(full.stdout).toContain('    log line 60: sync failed\n');
    expect(full.stdout).not.toContain('more lines (casegate cases show');
  });
});

describe('casegate cases show / list: times in the team’s zone', () => {
  let box: CliSandbox;
  const CREATED = '2026-12-07T13:00:05.000Z';
  beforeAll(async () => {
    box = CliSandbox.create({ jobs: { timezone: 'Europe/Berlin' } });
    const r = await box.run(['ingest', box.write('a.eml', eml({ subject: 'Printer', messageId: 'tz-1@customer.example' }))]);
    expect(r.code, describeResult(r)).toBe(0);
    const db = peekConfig(box.configPath);
    try {
      await db.run('UPDATE cases SET created_at = ?, updated_at = ?, first_response_due_at = ? WHERE number = 10001', CREATED, CREATED, '2026-12-07T16:00:00.000Z');
    } finally {
      await db.close();
    }
  });
  afterAll(() => box.cleanup());

  it('jobs.timezone Europe/Berlin: an agent in Berlin reads 14:00 CET, with --utc 13:00 UTC; --json stays ISO-8601 UTC', async () => {
    const show = await box.run(['cases', 'show', '10001']);
    expect(show.code, describeResult(show)).toBe(0);
    expect(show.stdout).toContain('created 2026-12-07 14:00:05 CET · updated 2026-12-07 14:00:05 CET');
    expect(show.stdout).toContain('due: first response 2026-12-07 17:00 CET');
    expect(show.stdout).toContain('(times in Europe/Berlin (jobs.timezone; --utc for UTC))');
    const utc = await box.run(['cases', 'show', '10001', '--utc']);
    expect(utc.stdout).toContain('created 2026-12-07 13:00:05 UTC');
    expect(utc.stdout).toContain('(times in UTC)');
    const json = await box.json<{ case: { created_at: string } }>(['cases', 'show', '10001', '--json']);
    expect(json.case.created_at).toBe(CREATED);
    const list = await box.run(['cases', 'list', '--due-within', '100000d']);
    expect(list.stdout.split('\n')[1]).toMatch(/ 2026-12-07 14:00 CET +2026-12-07 17:00 CET 1st +Printer$/);
    const outbox = await box.run(['outbox', 'list', '--all']);
    expect(outbox.stdout).toMatch(/ CET /);
    expect(outbox.stdout).toContain('(times in Europe/Berlin (jobs.timezone; --utc for UTC))');
  });

  it('jobs.timezone left at UTC, every queue’s calendar in one zone: that zone', async () => {
    writeConfig(box.dir, { ...DEFAULT_TEST_CONFIG, sla: { calendars: { berlin: { zone: 'Europe/Berlin' } }, defaultCalendar: 'berlin' } });
    const show = await box.run(['cases', 'show', '10001']);
    expect(show.stdout).toContain('created 2026-12-07 14:00:05 CET');
    expect(show.stdout).toContain('(times in Europe/Berlin (the queues’ business calendar; --utc for UTC))');
  });
});
