import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { CliSandbox, describeResult } from '../helpers/cli.js';
import { peekConfig } from '../helpers/db-peek.js';

/**
 * `casegate cases merge` as an agent uses it on a customer who wrote twice (once from another
 * address): real ingests into a real database (SQLite, or PostgreSQL in its pass), the built CLI.
 */

interface Detail {
  case: { number: number; status: string; merged_into: number | null };
  mergedInto: number | null;
  tags: string[];
  participants: { address: string; role: string }[];
  messages: { direction: string; from_address: string; internal: number }[];
  events: { type: string; reason: string }[];
  outbox: { kind: string; message_id: string }[];
}

const CONFIG = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
  templates: { watch: false },
  autoReply: { minIntervalSeconds: 0 },
  // Our MX's verdict on the sender is trusted: a participant's subject tag places their mail.
  security: { senderAuth: TRUSTED_SENDER_AUTH },
  jobs: { survey: { enabled: true, afterHours: 0 } },
};

describe('casegate cases merge', () => {
  let box: CliSandbox;
  const detail = (n: number): Promise<Detail> => box.json<Detail>(['cases', 'show', String(n), '--json']);
  const ingest = async (name: string, raw: string): Promise<string> => {
    const r = await box.run(['ingest', box.write(name, raw)]);
    expect(r.code, describeResult(r)).toBe(0);
    return r.stdout;
  };
  let sourceConfirmation = '';

  beforeAll(async () => {
    box = CliSandbox.create(CONFIG);
    await ingest('a.eml', eml({ from: 'Jane Customer <jane@customer.example>', subject: 'Printer on fire', messageId: 'a1@customer.example', body: 'The printer in room 4 is on fire.' }));
    await ingest('b.eml', eml({ from: 'Jane at home <jane.private@home.example>', subject: 'Still burning', messageId: 'b1@home.example', body: 'Writing from home: the printer still burns.' }));
    await ingest('c.eml', eml({ from: 'olga@other.example', subject: 'VPN down', messageId: 'c1@other.example' }));
    for (const args of [
      ['cases', 'tag', '10002', 'hardware'],
      ['cases', 'note', '10002', '--agent', 'ben@example.com', '--message', 'Same printer as 10001?'],
      ['cases', 'resolve', '10001', '--agent', 'ben@example.com', '--message', 'The fire brigade came.'],
    ]) {
      const r = await box.run(args);
      expect(r.code, describeResult(r)).toBe(0);
    }
    sourceConfirmation = (await detail(10002)).outbox.find((o) => o.kind === 'confirmation')!.message_id;
    expect(sourceConfirmation).not.toBe('');
  });
  afterAll(() => box.cleanup());

  it('moves messages, mail, people and tags; closes the merged case quietly; an active case merged in opens the ended one again', async () => {
    const before = { target: await detail(10001), source: await detail(10002) };
    const r = await box.run(['cases', 'merge', '10002', '10001', '--reason', 'same printer']);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toBe(
      `case 10002 merged into case 10001: ${before.source.messages.length} message(s), ${before.source.outbox.length} outgoing email(s), 1 participant(s), 1 tag(s) moved; case 10002 closed\n`,
    );
    const target = await detail(10001);
    // Resolved before; an active case merged in: the matter goes on.
    expect(target.case.status).toBe('open');
    expect(target.messages).toHaveLength(before.target.messages.length + before.source.messages.length);
    expect(target.messages.filter((m) => m.direction === 'in').map((m) => m.from_address)).toEqual(['jane@customer.example', 'jane.private@home.example', 'ben@example.com']);
    expect(target.outbox).toHaveLength(before.target.outbox.length + before.source.outbox.length);
    expect(target.participants.map((p) => [p.address, p.role])).toContainEqual(['jane.private@home.example', 'cc']);
    expect(target.tags).toContain('hardware');
    expect(target.events.find((e) => e.type === 'case.merged-in')?.reason).toMatch(/^case 10002 merged in: .* \(same printer\)$/);
    const source = await detail(10002);
    expect(source.case.status).toBe('closed');
    expect(source.mergedInto).toBe(10001);
    expect(source.messages).toEqual([]);
    expect(source.events.find((e) => e.type === 'case.merged')?.reason).toMatch(/^merged into case 10001: /);
    // Closed without a word: no email was queued by the merge.
    expect(target.outbox.filter((o) => !before.target.outbox.concat(before.source.outbox).some((b) => b.message_id === o.message_id))).toEqual([]);
    const shown = await box.run(['cases', 'show', '10002']);
    expect(shown.stdout).toContain('MERGED into case 10001');
  });

  it('mail that names the merged case goes on in the case it was merged into', async () => {
    // A reply to the merged case's confirmation (our signed Message-ID).
    const reply = await ingest('reply.eml', eml({ from: 'jane.private@home.example', subject: 'Re: Still burning', messageId: 'b2@home.example', inReplyTo: sourceConfirmation, body: 'It is out now.' }));
    expect(reply).toContain('stored (case 10001)');
    // Its subject tag, from a participant.
    const tagged = await ingest('tag.eml', eml({ from: 'jane.private@home.example', subject: '[Case #10002] one more thing', messageId: 'b3@home.example', body: 'The toner too.' }));
    expect(tagged).toContain('stored (case 10001)');
    // From a stranger, the tag is a claim and opens a new case linked to the one that goes on.
    const stranger = await ingest('stranger.eml', eml({ from: 'mallory@evil.example', subject: '[Case #10002] let me in', messageId: 'm1@evil.example' }));
    expect(stranger).toMatch(/stored \(case 10004\)/);
    expect((await box.json<{ case: { linked_case_id: number | null } }>(['cases', 'show', '10004', '--json'])).case.linked_case_id).not.toBeNull();
    expect((await detail(10002)).messages).toEqual([]);
  });

  it('refuses: itself, a case merged already, into a case that continues as it, unknown cases', async () => {
    for (const [args, re] of [
      [['10001', '10001'], /case 10001 cannot be merged into itself/],
      [['10002', '10003'], /case 10002 was merged already/],
      [['10001', '10002'], /case 10001 cannot be merged into itself \(case 10002 continues as it\)/],
      [['10003', '99999'], /no case 99999/],
    ] as const) {
      const r = await box.run(['cases', 'merge', ...args]);
      expect(r.code, describeResult(r)).toBe(1);
      expect(r.stderr).toMatch(re);
    }
    expect((await detail(10003)).case.status).toBe('new');
    // Suspected spam (our MX's verdict) merged into a real case would make its sender a participant there.
    await ingest('spam.eml', eml({ from: 'winner@prize-desk.example', subject: 'You have won', messageId: 's1@prize-desk.example', body: 'Claim your prize.' }));
    const spamCase = (await box.json<{ number: number }[]>(['cases', 'list', '--json', '--requester', 'winner@prize-desk.example']))[0]!.number;
    const db = peekConfig(box.configPath);
    try {
      await db.run('update cases set spam = 1 where number = ?', spamCase);
    } finally {
      await db.close();
    }
    const spam = await box.run(['cases', 'merge', String(spamCase), '10003']);
    expect(spam.code, describeResult(spam)).toBe(1);
    expect(spam.stderr).toMatch(new RegExp(`case ${spamCase} is suspected spam: merged, its sender would get case 10003's mail`));
    expect((await detail(10003)).participants.map((p) => p.address)).not.toContain('winner@prize-desk.example');
  });

  it('the merge that closed a case asks nobody for a rating: the survey goes to cases that ended', async () => {
    const closed = await box.run(['cases', 'close', '10003', '--agent', 'ben@example.com', '--message', 'VPN is back.']);
    expect(closed.code, describeResult(closed)).toBe(0);
    const r = await box.run(['jobs', 'run', 'survey']);
    expect(r.code, describeResult(r)).toBe(0);
    const surveyed = async (n: number): Promise<number> => (await detail(n)).outbox.filter((o) => o.kind === 'survey').length;
    expect(await surveyed(10003)).toBe(1);
    expect(await surveyed(10002)).toBe(0);
    expect(await surveyed(10001)).toBe(0);
  });

  it('whom an agent took off the merged case stays off the case that goes on: a customer\'s answer to all does not copy them back in', async () => {
    const number = (out: string): string => /stored \(case (\d+)\)/.exec(out)![1]!;
    // Kim copied a colleague who has left; Ben took him off; Kim wrote again, and Ben merged.
    const m = number(await ingest('k1.eml', eml({ from: 'Kim <kim@corp.example>', cc: 'Xavier <xavier@corp.example>', subject: 'Badge reader broken', messageId: 'k1@corp.example', body: 'The badge reader at gate 2 is dead.' })));
    expect((await detail(Number(m))).participants.map((p) => p.address)).toContain('xavier@corp.example');
    const uncc = await box.run(['cases', 'uncc', m, 'xavier@corp.example']);
    expect(uncc.code, describeResult(uncc)).toBe(0);
    const n = number(await ingest('k2.eml', eml({ from: 'Kim <kim@corp.example>', subject: 'Gate 2 again', messageId: 'k2@corp.example', body: 'Still no way in at gate 2.' })));
    const merged = await box.run(['cases', 'merge', m, n]);
    expect(merged.code, describeResult(merged)).toBe(0);
    expect((await detail(Number(n))).participants.map((p) => p.address)).not.toContain('xavier@corp.example');
    // Kim answers all to the first case's mail thread, which named Xavier.
    const again = await ingest('k3.eml', eml({ from: 'Kim <kim@corp.example>', cc: 'Xavier <xavier@corp.example>', subject: `Re: [Case #${m}] Badge reader broken`, messageId: 'k3@corp.example', body: 'Any news?' }));
    expect(again).toContain(`stored (case ${n})`);
    const after = await detail(Number(n));
    expect(after.participants.map((p) => p.address)).not.toContain('xavier@corp.example');
    expect(after.events.find((e) => e.type === 'participant.not-added')?.reason).toMatch(/^xavier@corp\.example was taken off the case by an agent/);
    // An agent may copy him in again on the case that goes on.
    const cc = await box.run(['cases', 'cc', n, 'xavier@corp.example']);
    expect(cc.code, describeResult(cc)).toBe(0);
    expect((await detail(Number(n))).participants.map((p) => p.address)).toContain('xavier@corp.example');
  });

  it('a purge of the merged case (closed) later leaves the case that goes on whole: its messages, their receipts and raw mail', async () => {
    const before = await detail(10001);
    const r = await box.run(['purge', '--closed-before', '2999-01-01']);
    expect(r.code, describeResult(r)).toBe(0);
    expect((await box.run(['cases', 'show', '10002'])).code).toBe(1);
    const after = await detail(10001);
    expect(after.messages).toEqual(before.messages);
    const db = peekConfig(box.configPath);
    try {
      const orphans = await db.all('select m.id from messages m left join receipts r on r.id = m.receipt_id where m.receipt_id is not null and r.id is null');
      expect(orphans).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
