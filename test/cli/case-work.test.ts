import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { childEnv, CLI_JS, CliSandbox, describeResult, type CliResult } from '../helpers/cli.js';

/**
 * `casegate cases …` as agents use it, as a real child process on a real SQLite file: replying,
 * notes, every status command, tags, list filters, terminal output, and every error path (one
 * line on stderr, exit 1, never a stack trace).
 */

interface Detail {
  case: { number: number; status: string; priority: string; owner: string | null; first_response_at: string | null };
  tags: string[];
  messages: { id: number; direction: string; internal: number; author: string | null; visible_text: string; outbox_id: number | null; attachments: { filename: string; content_type: string; size: number }[] }[];
  events: { type: string; actor: string; reason: string }[];
  outbox: { id: number; kind: string; to_address: string; cc_json: string; from_name: string; subject: string; status: string }[];
}
interface Work {
  case: number;
  status: string;
  priority: string;
  owner: string | null;
  done: string[];
  repliedTo: string[];
  statusEmail: boolean;
}

const CONFIG = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: {
    support: {
      agents: [
        { name: 'Anna Lead', address: 'anna@example.com', role: 'lead' as const },
        { name: 'Ben Agent', address: 'ben@example.com' },
        { name: 'Carla Agent', address: 'carla@example.com' },
      ],
    },
  },
  templates: { watch: false },
};

let box: CliSandbox;
async function detail(n = 10001): Promise<Detail> {
  return box.json<Detail>(['cases', 'show', String(n), '--json']);
}
function oneLineError(r: CliResult, re: RegExp): void {
  expect(r.code, describeResult(r)).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr, describeResult(r)).toMatch(re);
  expect(r.stderr.trimEnd().split('\n'), describeResult(r)).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  box = CliSandbox.create(CONFIG);
  const mails = [
    eml({ from: 'Jane Customer <jane@customer.example>', cc: 'Boss <boss@customer.example>', subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'Certificate expired.' }),
    eml({ from: 'bob@customer.example', subject: 'Printer jam', messageId: 'bob-1@customer.example' }),
    // Hostile: ESC sequences in the subject (encoded word) and the body.
    eml({ from: 'eve@evil.example', subject: '=?utf-8?B?' + Buffer.from('Hi \x1b]0;pwned\x07\x1b[31mRED').toString('base64') + '?=', messageId: 'eve-1@evil.example', body: 'Body \x1b[2J cleared \u202e reversed' }),
  ];
  const files = mails.map((m, i) => box.write(`m${i}.eml`, m));
  const r = await box.run(['ingest', ...files]);
  expect(r.code, describeResult(r)).toBe(0);
});
afterAll(() => box.cleanup());

describe('cases reply / note', () => {
  it('reply --message --attach --agent: to the customer and the CC, From the agent’s name, in the customer’s thread, with the file; first response', async () => {
    const pdf = box.write('guide.pdf', '%PDF-1.4 guide');
    const out = await box.json<Work>(['cases', 'reply', '10001', '--message', 'Please install the new certificate (guide attached).', '--attach', pdf, '--agent', 'Ben', '--json']);
    expect(out).toMatchObject({ case: 10001, status: 'open', owner: 'ben@example.com', repliedTo: ['jane@customer.example', 'boss@customer.example'] });
    const d = await detail();
    const reply = d.outbox.find((o) => o.kind === 'agent-reply')!;
    expect(reply).toMatchObject({ to_address: 'jane@customer.example', from_name: 'Ben Agent', subject: '[Case #10001] Re: VPN broken', status: 'queued' });
    expect(JSON.parse(reply.cc_json)).toEqual([{ address: 'boss@customer.example', name: 'Boss' }]);
    const msg = d.messages.find((m) => m.outbox_id === reply.id)!;
    expect(msg).toMatchObject({ direction: 'out', internal: 0, author: 'ben@example.com' });
    expect(msg.attachments).toEqual([expect.objectContaining({ filename: 'guide.pdf', content_type: 'application/pdf', size: 14 })]);
    expect(d.case.first_response_at).not.toBeNull();
    expect(d.events.map((e) => e.type)).toEqual(expect.arrayContaining(['agent.replied', 'case.first-response']));
  });

  it('reply with the text from $EDITOR (a real editor process) and from --file', { timeout: 300_000 }, async () => {
    const editor = box.write('fake-editor.sh', '#!/bin/sh\nprintf "Written in my editor.\\n" > "$1"\n');
    chmodSync(editor, 0o755);
    const r = await box.run(['cases', 'reply', '10002', '--agent', 'carla@example.com'], { env: { EDITOR: editor, VISUAL: undefined } });
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(/^case 10002 \(open, normal, owner carla@example\.com\): .*reply sent to bob@customer\.example/);
    const file = box.write('answer.txt', 'From a file.\n');
    await box.json(['cases', 'reply', '10002', '--file', file, '--json'], { env: { CASEGATE_AGENT: 'Carla' } });
    const d = await detail(10002);
    expect(d.messages.filter((m) => m.direction === 'out' && m.author === 'carla@example.com').map((m) => m.visible_text)).toEqual([
      expect.stringContaining('Written in my editor.'),
      expect.stringContaining('From a file.'),
    ]);
  });

  it('note: internal, with its file, shown as [INTERNAL] by cases show; nothing to the customer', { timeout: 300_000 }, async () => {
    const log = box.write('debug.log', 'trace');
    const before = (await detail()).outbox.length;
    await box.json(['cases', 'note', '10001', '--message', 'Customer is on client 4.2 INTERNAL-ONLY', '--attach', log, '--agent', 'Anna', '--json']);
    const d = await detail();
    expect(d.outbox).toHaveLength(before);
    const note = d.messages.find((m) => m.visible_text.includes('INTERNAL-ONLY'))!;
    expect(note).toMatchObject({ internal: 1, author: 'anna@example.com' });
    expect(note.attachments.map((a) => a.filename)).toEqual(['debug.log']);
    const r = await box.run(['cases', 'show', '10001']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[cli\] \[INTERNAL\]\n\s+Subject: Note on case 10001\n\s+Customer is on client 4\.2 INTERNAL-ONLY/);
    expect(r.stdout).toMatch(/→ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC support@example\.com for ben@example\.com \[outgoing\] queued\n\s+Subject: \[Case #10001\] Re: VPN broken\n\s+To: jane@customer\.example · Cc: boss@customer\.example/);
  });
});

describe('saved replies', () => {
  it('templates replies lists them (--show: one rendered with sample data); reply --saved puts one after the --message text, "#saved" lines in it too; an unknown name: one line, nothing sent', { timeout: 300_000 }, async () => {
    expect(await box.json(['templates', 'replies', '--lang', 'de', '--json'])).toEqual({ queue: 'support', language: 'de', replies: ['need-details', 'need-logs', 'please-confirm'] });
    expect(await box.json(['templates', 'replies', '--show', 'Need-Logs', '--lang', 'de', '--json'])).toMatchObject({ name: 'need-logs', text: expect.stringMatching(/^um herauszufinden, was in Vorgang 10042/) });
    const before = (await detail(10002)).outbox.filter((o) => o.kind === 'agent-reply').length;
    oneLineError(await box.run(['cases', 'reply', '10002', '--message', 'Hi Bob,\n\n#saved need-log', '--agent', 'Carla']), /there is no saved reply "need-log" for case 10002 \(saved replies: need-details, need-logs, please-confirm\)/);
    await box.json(['cases', 'reply', '10002', '--message', 'Hi Bob,\n\n#saved need-logs', '--saved', 'please-confirm', '--agent', 'Carla', '--json']);
    const d = await detail(10002);
    expect(d.outbox.filter((o) => o.kind === 'agent-reply')).toHaveLength(before + 1);
    const text = d.messages.filter((m) => m.direction === 'out' && m.author === 'carla@example.com').at(-1)!.visible_text;
    expect(text).toMatch(/Hi Bob,\n\nto find out what goes wrong in case 10002 \("Printer jam"\)[\s\S]*attach the files\.\n\nwe believe the problem of case 10002 is solved now/);
    expect(text).not.toContain('#saved');
  });
});

describe('status commands', () => {
  // Many CLI runs in a row (each a cold Node start): generous hang guard on a loaded machine.
  it('pending, hold, open, resolve, reopen, close, bug, call and tag: each changes the case and tells the customer per cases.customerUpdates', { timeout: 600_000 }, async () => {
    const kinds = async () => (await detail()).outbox.filter((o) => o.to_address === 'jane@customer.example').map((o) => o.kind);
    const steps: [string[], string, string | null][] = [
      [['pending', '10001', '--message', 'Which client version?'], 'pending', 'agent-reply'],
      [['open', '10001'], 'open', null],
      [['hold', '10001', '--expected', '3–5 business days'], 'on_hold', 'status-changed'],
      [['resolve', '10001'], 'resolved', 'status-changed'],
      [['reopen', '10001'], 'open', 'status-changed'],
      [['bug', '10001', 'months', '--message', 'Workaround: use TLS 1.2.'], 'resolved', 'agent-reply'],
      [['close', '10001'], 'closed', 'status-changed'],
    ];
    // Nothing else changes the case between two steps: what one step saw after is the next one's before.
    let before = await kinds();
    for (const [args, status, mail] of steps) {
      const out = await box.json<Work>(['cases', ...args, '--agent', 'ben', '--json']);
      expect(out.status, args.join(' ')).toBe(status);
      const after = await kinds();
      expect(after.slice(before.length), args.join(' ')).toEqual(mail === null ? [] : [mail]);
      before = after;
    }
    const out = await box.json<Work>(['cases', 'call', '10002', 'tomorrow', '10:00', '--agent', 'Anna', '--json']);
    expect(out.done.join('; ')).toMatch(/call requested \(tomorrow 10:00\), tagged call; carla@example\.com notified/);
    await box.json(['cases', 'tag', '10002', 'vpn', 'Key-Account', '--json']);
    expect((await detail(10002)).tags).toEqual(['call', 'key-account', 'vpn']);
    expect((await detail()).tags).toEqual(['bug']);
  });

  it('priority (a raise tells the customer), assign and escalate', { timeout: 300_000 }, async () => {
    const r = await box.run(['cases', 'priority', '10003', 'urgent', '--reason', 'CEO']);
    expect(r.stdout).toBe('case 10003 priority is now urgent; customer told\n');
    const a = await box.run(['cases', 'assign', '10003', 'Carla']);
    expect(a.stdout).toMatch(/^case 10003 assigned to Carla Agent/);
    const e = await box.run(['cases', 'escalate', '10003']);
    expect(e.stdout).toMatch(/^case 10003 escalated from level 0 to 1; alert to anna@example\.com, carla@example\.com/);
  });

  it('cc and uncc: who is copied on the case’s mail', { timeout: 300_000 }, async () => {
    const add = await box.run(['cases', 'cc', '10003', 'Colleague@Customer.example', 'it@customer.example']);
    expect(add.stdout, describeResult(add)).toMatch(/^case 10003 \(.*\): colleague@customer\.example now copied; it@customer\.example now copied\n$/);
    const people = async () => (await box.json<{ participants: { address: string; role: string }[] }>(['cases', 'show', '10003', '--json'])).participants.filter((p) => p.role === 'cc').map((p) => p.address);
    expect(await people()).toEqual(expect.arrayContaining(['colleague@customer.example', 'it@customer.example']));
    const rm = await box.json<Work>(['cases', 'uncc', '10003', 'it@customer.example', '--json']);
    expect(rm.done).toEqual(['it@customer.example no longer copied']);
    expect(await people()).not.toContain('it@customer.example');
    const r = await box.json<Work>(['cases', 'reply', '10003', '--message', 'Copied you in.', '--json']);
    expect(r.repliedTo).toContain('colleague@customer.example');
    oneLineError(await box.run(['cases', 'uncc', '10003', 'eve@evil.example']), /eve@evil\.example is the requester of case 10003: the requester stays/);
    oneLineError(await box.run(['cases', 'cc', '10003', 'support@example.com']), /support@example\.com is one of our own addresses/);
    oneLineError(await box.run(['cases', 'cc', '10003', 'nonsense']), /"nonsense" is not an email address/);
  });
});

describe('cases list', () => {
  it('filters: --owner, --mine (--agent / CASEGATE_AGENT), --unowned, --tag, --priority, --active, --escalated; most urgent first', { timeout: 600_000 }, async () => {
    const nums = async (...args: string[]) => (await box.json<{ number: number }[]>(['cases', 'list', '--json', ...args])).map((c) => c.number);
    expect(await nums()).toEqual([10003, 10002, 10001]);
    expect(await nums('--owner', 'Ben Agent')).toEqual([10001]);
    expect(await nums('--mine', '--agent', 'carla')).toEqual([10003, 10002]);
    expect((await box.json<{ number: number }[]>(['cases', 'list', '--json', '--mine'], { env: { CASEGATE_AGENT: 'ben@example.com' } })).map((c) => c.number)).toEqual([10001]);
    expect(await nums('--tag', 'vpn')).toEqual([10002]);
    expect(await nums('--priority', 'URGENT')).toEqual([10003]);
    expect(await nums('--active')).toEqual([10003, 10002]);
    expect(await nums('--escalated')).toEqual([10003]);
    expect(await nums('--unowned')).toEqual([]);
  });

  it('a width-aware table: --width, and the terminal’s width on a TTY; plain full rows in a pipe', { timeout: 300_000 }, async () => {
    const narrow = await box.run(['cases', 'list', '--width', '70']);
    expect(narrow.code, describeResult(narrow)).toBe(0);
    for (const l of narrow.stdout.trimEnd().split('\n')) expect(Array.from(l).length, l).toBeLessThanOrEqual(70);
    expect(narrow.stdout.split('\n')[0]).toMatch(/^CASE\s+STATUS\s+PRIORITY\s+OWNER\s+SUBJECT$/);
    const wide = await box.run(['cases', 'list']);
    expect(wide.stdout.split('\n')[0]).toMatch(/^CASE\s+STATUS\s+PRIORITY\s+QUEUE\s+OWNER\s+REQUESTER\s+UPDATED\s+SUBJECT$/);
    expect(wide.stdout).toContain('Carla Agent');
    // A real pseudo-terminal of 60 columns (util-linux script).
    const tty = spawnSync('script', ['-qec', `stty cols 60; '${process.execPath}' '${CLI_JS}' --config '${box.configPath}' cases list`, '/dev/null'], { cwd: box.dir, env: childEnv({ HOME: box.dir }), encoding: 'utf8', timeout: 60_000 });
    const rows = tty.stdout.replace(/\r/g, '').trimEnd().split('\n');
    // Three cases and the line naming the zone of the times.
    expect(rows.length, `${tty.stdout}\n${tty.stderr}`).toBe(5);
    for (const l of rows) expect(Array.from(l).length, l).toBeLessThanOrEqual(60);
  });

  it('control characters from mail never reach the terminal raw (list and show)', { timeout: 300_000 }, async () => {
    const list = await box.run(['cases', 'list']);
    const show = await box.run(['cases', 'show', '10003']);
    for (const r of [list, show]) {
      expect(r.code, describeResult(r)).toBe(0);
      // eslint-disable-next-line no-control-regex
      expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    }
    // (The parser already drops controls from subjects; bodies keep them and are made visible here.)
    expect(list.stdout).toContain('Hi ]0;pwned');
    expect(show.stdout).toContain('Body ␛[2J cleared \ufffd reversed');
  });
});

describe('errors: one line, exit 1, never a stack trace', () => {
  it.each<[string, string[], RegExp, Record<string, string | undefined>?]>([
    ['not a case number', ['cases', 'reply', 'abc', '--message', 'x'], /^casegate cases: not a case number: "abc"$/m],
    ['no such case', ['cases', 'resolve', '99999'], /^casegate cases: no case 99999$/m],
    ['no such case (show)', ['cases', 'show', '99999'], /^no case 99999$/m],
    ['unknown agent', ['cases', 'reply', '10002', '--message', 'x', '--agent', 'Zoe'], /--agent "Zoe" is not an agent of queue support/],
    ['reopen an open case', ['cases', 'reopen', '10002'], /case 10002 is open, not resolved or closed: nothing to reopen/],
    ['bad bug timeline', ['cases', 'bug', '10002', 'soon'], /#bug needs when a fix is expected/],
    ['bad tag', ['cases', 'tag', '10002', 'no spaces!'], /#tag needs one name/],
    ['bad priority', ['cases', 'priority', '10002', 'critical'], /"critical" is not a priority level \(urgent, high, normal, low\)/],
    ['unknown assignee', ['cases', 'assign', '10002', 'Zoe'], /"Zoe" is not an agent of queue support/],
    ['move to an unknown queue', ['cases', 'move', '10002', 'nowhere'], /no queue "nowhere" \(queues: /],
    ['move to its own queue', ['cases', 'move', '10002', 'support'], /case 10002 is in queue support already/],
    ['no text and no editor', ['cases', 'reply', '10002'], /no text: give --message <text>, --file <path> or set \$EDITOR/, { EDITOR: undefined, VISUAL: undefined }],
    ['empty text', ['cases', 'note', '10002', '--message', '  '], /empty note: nothing stored/],
    ['missing --file', ['cases', 'reply', '10002', '--file', 'nope.txt'], /cannot read --file nope\.txt: ENOENT/],
    ['missing --attach', ['cases', 'reply', '10002', '--message', 'x', '--attach', 'nope.pdf'], /cannot attach nope\.pdf: ENOENT/],
    ['--mine without an agent', ['cases', 'list', '--mine'], /--mine needs to know who you are/, { CASEGATE_AGENT: undefined }],
    ['unknown --owner', ['cases', 'list', '--owner', 'Zoe'], /--owner: "Zoe" is no agent of any queue/],
    ['bad --priority filter', ['cases', 'list', '--priority', 'bogus'], /--priority: "bogus" is not a priority level/],
    ['bad --limit', ['cases', 'list', '--limit', '0'], /--limit must be a positive whole number/],
    ['bad --status', ['cases', 'list', '--status', 'bogus'], /Allowed choices are new, open, pending, on_hold, resolved, closed/],
    ['an editor that fails', ['cases', 'reply', '10002'], /the editor \(false\) exited with 1: nothing sent/, { EDITOR: 'false', VISUAL: undefined }],
  ])('%s', async (_what, args, re, env) => {
    const r = await box.run(args, env !== undefined ? { env } : {});
    oneLineError(r, re);
  });

  it('--json does not change an error into output', async () => {
    oneLineError(await box.run(['cases', 'close', '99999', '--json']), /no case 99999/);
  });

  it('a reply no customer address may get (the requester writes from postmaster@): refused, nothing done', async () => {
    const f = box.write('shop.eml', eml({ from: 'Shop <postmaster@shop.example>', subject: 'Invoice charged twice', messageId: 'shop-1@shop.example', body: 'Why was invoice 4711 charged twice?' }));
    expect((await box.run(['ingest', f])).code).toBe(0);
    const number = String((await box.json<{ number: number; subject: string }[]>(['cases', 'list', '--json'])).find((c) => c.subject === 'Invoice charged twice')!.number);
    const before = await detail(Number(number));
    oneLineError(await box.run(['cases', 'pending', number, '--message', 'We refunded it, please confirm.', '--agent', 'Ben', '--json']), /your reply cannot be sent: no customer address of case \d+ may get mail \(postmaster@shop\.example: address is a postmaster address\)/);
    const after = await detail(Number(number));
    expect(after.case).toEqual(before.case);
    expect(after.events.length).toBe(before.events.length);
  });
});
