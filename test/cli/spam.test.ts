import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { peekConfig } from '../helpers/db-peek.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { CliSandbox, describeResult } from '../helpers/cli.js';
import { haveSpamAssassin } from '../helpers/spamassassin.js';

/**
 * Spam backscatter (issue 9 item 8), as it happens on a real system: mail passes a real
 * SpamAssassin (our "MX"), then `casegate ingest`. Suspected spam is stored but not answered and
 * not listed by default; `casegate cases ham N` releases it and the held confirmation goes out.
 * SpamAssassin also removes X-Spam-* headers a sender forged, which is why only the MX's verdict
 * (the topmost header) counts.
 */

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

/** Run a message through SpamAssassin as an MX filter would (local tests only, no network). */
function throughSpamAssassin(dir: string, raw: string): string {
  const r = spawnSync('spamassassin', ['-L', '-p', join(dir, 'sa-prefs'), '--siteconfigpath', '/etc/spamassassin'], { input: raw, encoding: 'latin1', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`spamassassin exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

interface CaseJson {
  number: number;
  subject: string;
  requester_address: string;
  spam: number;
}

describe.runIf(haveSpamAssassin())('suspected spam through a real SpamAssassin and the CLI', () => {
  let box: CliSandbox;
  let spamFiltered = '';
  let forgedFiltered = '';

  beforeAll(async () => {
    box = CliSandbox.create({ autoReply: { perSenderPerHour: 10 } });
    spamFiltered = throughSpamAssassin(
      box.dir,
      eml({ from: 'Prize Desk <winner@prize-desk.example>', subject: 'You have won', messageId: 'spam-1@prize-desk.example', body: `Claim your prize now.\r\n${GTUBE}\r\n` }),
    );
    // A customer whose own client (or a joker) put spam headers in: SpamAssassin replaces them with its own verdict.
    forgedFiltered = throughSpamAssassin(
      box.dir,
      eml({
        from: 'Jane Customer <jane@customer.example>',
        subject: 'Printer on fire',
        messageId: 'jane-1@customer.example',
        headers: { 'X-Spam-Flag': 'YES', 'X-Spam-Status': 'Yes, score=99.0 required=5.0' },
        body: 'Hello, the printer in room 4 is on fire.\r\nPlease help.\r\n',
      }),
    );
    const r = await box.run(['ingest', box.write('spam.eml', spamFiltered), box.write('jane.eml', forgedFiltered)]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout.match(/stored \(case \d+\)/g), describeResult(r)).toHaveLength(2);
  }, 300_000);
  afterAll(() => box?.cleanup());

  async function outbox(): Promise<{ case_id: number; kind: string; to_address: string }[]> {
    const db = peekConfig(box.configPath);
    try {
      return await db.all<{ case_id: number; kind: string; to_address: string }>('select case_id, kind, to_address from outbox order by id');
    } finally {
      await db.close();
    }
  }

  it('SpamAssassin marked the spam and stripped the forged headers of the customer mail', () => {
    expect(spamFiltered).toMatch(/^X-Spam-Flag: YES/m);
    expect(forgedFiltered).toMatch(/^X-Spam-Status: No,/m);
    expect(forgedFiltered).not.toMatch(/^X-Spam-Flag: YES/m);
  });

  it('stores the spam marked, sends it no confirmation, and answers the customer', async () => {
    const detail = await box.json<{ case: CaseJson; events: { type: string; reason: string }[] }>(['cases', 'show', '10001', '--json']);
    expect(detail.case.requester_address).toBe('winner@prize-desk.example');
    expect(detail.case.spam).toBe(1);
    const types = detail.events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['case.created', 'message.spam-suspected', 'assignment.skipped', 'auto-reply.held']));
    expect(detail.events.find((e) => e.type === 'message.spam-suspected')?.reason).toMatch(/X-Spam-Flag: YES/);
    expect((await outbox()).map((o) => [o.kind, o.to_address])).toEqual([['confirmation', 'jane@customer.example']]);
  });

  it('keeps suspected spam out of the default list; --spam shows it', async () => {
    const list = await box.json<CaseJson[]>(['cases', 'list', '--json']);
    expect(list.map((c) => c.number)).toEqual([10002]);
    const spam = await box.json<CaseJson[]>(['cases', 'list', '--spam', '--json']);
    expect(spam.map((c) => [c.number, c.requester_address])).toEqual([[10001, 'winner@prize-desk.example']]);
    const text = await box.run(['cases', 'show', '10001']);
    expect(text.stdout).toContain('SUSPECTED SPAM');
  });

  it('cases ham N: back in the list, the held confirmation goes out, with an event', async () => {
    const r = await box.run(['cases', 'ham', '10001']);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toContain('case 10001 marked ham; confirmation queued to winner@prize-desk.example');
    expect((await outbox()).map((o) => [o.kind, o.to_address])).toEqual([
      ['confirmation', 'jane@customer.example'],
      ['confirmation', 'winner@prize-desk.example'],
    ]);
    const list = await box.json<CaseJson[]>(['cases', 'list', '--json']);
    expect(list.map((c) => c.number)).toEqual([10002, 10001]);
    const detail = await box.json<{ events: { type: string; actor: string }[] }>(['cases', 'show', '10001', '--json']);
    expect(detail.events.find((e) => e.type === 'case.ham')?.actor).toMatch(/^cli:/);
    expect(detail.events.map((e) => e.type)).toContain('auto-reply.released');
  });

  it('cases ham on a case that is not suspected spam, or twice, is a usage error (exit 1)', async () => {
    for (const n of ['10002', '10001']) {
      const r = await box.run(['cases', 'ham', n]);
      expect(r.code, describeResult(r)).toBe(1);
      expect(r.stderr).toContain(`case ${n} is not marked as suspected spam`);
    }
    expect((await outbox())).toHaveLength(2);
  });
});
