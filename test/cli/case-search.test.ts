import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { CliSandbox, describeResult } from '../helpers/cli.js';

/**
 * `casegate cases list --search` and `--requester` as an agent looks for a case: real ingests and
 * a note into a real database (SQLite, or PostgreSQL in its pass), the built CLI.
 */

interface Row {
  number: number;
  match: { message: number; from: string; excerpt: string } | null;
}

const CONFIG = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
  templates: { watch: false },
  autoReply: { minIntervalSeconds: 0 },
};

describe('casegate cases list --search / --requester', () => {
  let box: CliSandbox;
  const numbers = async (...args: string[]): Promise<number[]> => (await box.json<Row[]>(['cases', 'list', '--json', ...args])).map((r) => r.number);

  beforeAll(async () => {
    box = CliSandbox.create(CONFIG);
    const files = [
      box.write(
        'jane.eml',
        eml({
          from: 'Jane Customer <jane@customer.example>',
          subject: 'Printer on fire',
          messageId: 'jane-1@customer.example',
          body: 'The HP LaserJet in room 4 smokes since this morning.\r\n\r\nOn Mon, 1 Jan 2025 at 10:00, Support <support@example.com> wrote:\r\n> QUOTEDONLY-3b1d an older answer\r\n',
        }),
      ),
      box.write(
        'juergen.eml',
        eml({ from: 'Jürgen Müller <juergen@bücher.example>', subject: 'Rechnung falsch', messageId: 'j-1@bücher.example', body: 'Die Rechnung INV-2024-0042 ist falsch, bitte korrigieren.' }),
      ),
      box.write('kenji.eml', eml({ from: 'kenji@customer.example', subject: '印刷できません', messageId: 'k-1@customer.example', body: 'プリンターが壊れました。' })),
      box.write('other.eml', eml({ from: 'olga@other.example', subject: 'VPN down', messageId: 'o-1@other.example', body: 'The printer is fine, the VPN is not.' })),
    ];
    const r = await box.run(['ingest', ...files]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout.match(/stored \(case \d+\)/g)).toHaveLength(4);
    const note = await box.run(['cases', 'note', '10001', '--agent', 'ben@example.com', '--message', 'Ordered new toner cartridges for it.']);
    expect(note.code, describeResult(note)).toBe(0);
  });
  afterAll(() => box.cleanup());

  it('finds a case by the start of a word in a message, shown with the newest message that has it', async () => {
    expect(await numbers('--search', 'laserj')).toEqual([10001]);
    const r = await box.run(['cases', 'list', '--width', '200', '--search', 'LaserJet', 'smokes']);
    expect(r.code, describeResult(r)).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    // The header, the case, its match, and the zone the times are in.
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^\(times in \S+/);
    expect(lines[1]).toMatch(/^10001\s.*Printer on fire$/);
    expect(lines[2]).toMatch(/^ {2}↳ \d{4}-\d\d-\d\d \d\d:\d\d \S+ jane@customer\.example: The HP LaserJet in room 4 smokes since this morning\.$/);
  });

  it('every word must be in the case, not necessarily in one message; the excerpt is then from the newest message with one of them', async () => {
    expect(await numbers('--search', 'printer')).toEqual([10004, 10001]);
    expect(await numbers('--search', 'printer toner')).toEqual([10001]);
    const [row] = await box.json<Row[]>(['cases', 'list', '--json', '--search', 'printer toner']);
    expect(row?.match).toMatchObject({ from: 'ben@example.com', excerpt: 'Ordered new toner cartridges for it.' });
    expect(await numbers('--search', 'printer', 'vpn')).toEqual([10004]);
    // A list cut at --limit says so (on stderr: --json stays an array); one that fits says nothing.
    const cut = await box.run(['cases', 'list', '--json', '--limit', '1', '--search', 'printer']);
    expect([cut.code, (JSON.parse(cut.stdout) as Row[]).map((r) => r.number), cut.stderr]).toEqual([0, [10004], 'casegate: more than 1 cases match; the first 1 are shown (--limit N for more)\n']);
    const fits = await box.run(['cases', 'list', '--limit', '2', '--search', 'printer']);
    expect([fits.code, fits.stderr]).toEqual([0, '']);
    // casegate's own emails (the confirmation repeats the customer's words) are not searched.
    expect(await numbers('--search', 'smokes')).toEqual([10001]);
    const [jane] = await box.json<Row[]>(['cases', 'list', '--json', '--search', 'smokes']);
    expect(jane?.match?.from).toBe('jane@customer.example');
  });

  it('quoted history is not searched; words in a row ("…" or one word with others in it); accents and case do not matter', async () => {
    expect(await numbers('--search', 'QUOTEDONLY')).toEqual([]);
    expect(await numbers('--search', 'INV-2024-0042')).toEqual([10002]);
    expect(await numbers('--search', 'inv-2024-0043')).toEqual([]);
    expect(await numbers('--search', '"falsch bitte"')).toEqual([10002]);
    expect(await numbers('--search', '"bitte falsch"')).toEqual([]);
    // The sender's name and address are searched too, accents folded.
    expect(await numbers('--search', 'MULLER')).toEqual([10002]);
    expect(await numbers('--search', 'jürgen')).toEqual([10002]);
    expect(await numbers('--search', 'juergen@bücher.example')).toEqual([10002]);
  });

  it('words of a script without spaces are found by the start of the run they begin', async () => {
    expect(await numbers('--search', 'プリンター')).toEqual([10003]);
    expect(await numbers('--search', '印刷')).toEqual([10003]);
  });

  it('--requester: an address (any spelling of its domain) or @domain; combines with the other filters', async () => {
    expect(await numbers('--requester', 'JANE@customer.example')).toEqual([10001]);
    expect(await numbers('--requester', '@customer.example')).toEqual([10003, 10001]);
    expect(await numbers('--requester', '@xn--bcher-kva.example')).toEqual([10002]);
    expect(await numbers('--requester', 'juergen@bücher.example')).toEqual([10002]);
    expect(await numbers('--requester', '@customer.example', '--search', 'printer')).toEqual([10001]);
    expect(await numbers('--requester', '@example')).toEqual([]);
  });

  it('a message with as many distinct words as its text can hold (a PostgreSQL tsvector is at most 1 MB, or the insert fails) is stored, its first 100,000 characters searchable', async () => {
    // 70,000 distinct words of two CJK letters (three bytes each), past the 200,000 characters of visible text casegate keeps.
    const words = Array.from({ length: 70_000 }, (_, i) => String.fromCodePoint(0x4e00 + Math.floor(i / 200), 0x4e00 + (i % 200)));
    const file = box.write('long.eml', eml({ from: 'long@writer.example', subject: 'Log dump', messageId: 'long-1@writer.example', body: `firstword-7c1e ${words.join(' ')} lastword-7c1e` }));
    const r = await box.run(['ingest', file]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toContain('stored (case 10005)');
    expect(await numbers('--search', 'firstword-7c1e')).toEqual([10005]);
    expect(await numbers('--search', 'lastword-7c1e')).toEqual([]);
  });

  it('Chinese, Japanese, Korean and Thai are found anywhere in a run of their letters; letters outside ASCII fold alike on both backends (whatever the cluster\'s locale); a file\'s name is searched', async () => {
    const files = [
      box.write('hana.eml', eml({ from: 'hana@jp.example', subject: '請求書の件', messageId: 'h-1@jp.example', body: '請求書の支払いについて確認をお願いします。' })),
      box.write('ivan.eml', eml({ from: 'Иван Петров <ivan@ru.example>', subject: 'ОШИБКА ΣΦΑΛΜΑ', messageId: 'i-1@ru.example', body: 'ÄRGER mit der STRASSE in İSTANBUL, ภาษาไทยง่าย, 회사에서 연락' })),
    ];
    const r = await box.run(['ingest', ...files]);
    expect(r.code, describeResult(r)).toBe(0);
    const [hana, ivan] = [...r.stdout.matchAll(/stored \(case (\d+)\)/g)].map((m) => Number(m[1]));
    for (const q of ['支払い', '支払', 'の支払い', '払', 'い', '確認をお願い', '書の件']) expect(await numbers('--search', q), q).toEqual([hana]);
    expect(await numbers('--search', '支払う')).toEqual([]);
    const [row] = await box.json<Row[]>(['cases', 'list', '--json', '--search', '支払い']);
    expect(row?.match?.excerpt).toBe('請求書の支払いについて確認をお願いします。');
    for (const q of ['ошибка', 'σφαλμα', 'σφάλμα', 'иван', 'ärger', 'arger', 'straße', 'istanbul', 'İstanbul', 'ไทย', '사에서']) expect(await numbers('--search', q), q).toEqual([ivan]);
    const attach = box.write('Rechnung_März-2026.pdf', '%PDF-1.4 test');
    const note = await box.run(['cases', 'note', String(hana), '--agent', 'ben@example.com', '--message', 'see the file', '--attach', attach]);
    expect(note.code, describeResult(note)).toBe(0);
    expect(await numbers('--search', 'rechnung_märz')).toEqual([hana]);
  });

  it('a search or requester with nothing to look for is refused in one line', async () => {
    for (const [args, re] of [
      [['--search', '-- !!'], /--search: "-- !!" has no word to look for/],
      [['--requester', 'nobody'], /--requester: "nobody" is neither an address nor @domain/],
      [['--requester', '@'], /--requester: "@" is no @domain/],
    ] as const) {
      const r = await box.run(['cases', 'list', ...args]);
      expect(r.code, describeResult(r)).toBe(1);
      expect(r.stderr).toMatch(re);
    }
  });
});
