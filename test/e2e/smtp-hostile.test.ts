import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/main.js';
import { eml, writeConfig } from '../helpers/context.js';
import { openSmtpSession, type SmtpSession } from '../helpers/smtp-probe.js';
import { captureLogger, type LogLine } from '../imap/imap-env.js';

/**
 * The embedded listener facing clients that misbehave (a broken MTA, a spammer, an attacker), over
 * real sockets against the real daemon: whatever they do, no message is half-kept, nothing leaks,
 * and one client cannot take the listener from the others.
 */
let daemon: Daemon;
let lines: LogLine[];
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'casegate-hostile-'));
  const resolved = writeConfig(dir, {
    templates: { watch: false },
    listener: { port: 0, maxClientsPerIp: 5, maxMessageBytes: 2_000_000, trustXForwardFrom: ['127.0.0.3'] },
    outgoing: { transport: 'file', sweepSeconds: 1 },
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  });
  const captured = captureLogger();
  lines = captured.lines;
  daemon = await startDaemon({ resolved, log: captured.log });
});

afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

afterAll(async () => {
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sessions: SmtpSession[] = [];
async function session(localAddress?: string): Promise<SmtpSession> {
  const s = await openSmtpSession(daemon.smtp!.port, '127.0.0.1', localAddress);
  sessions.push(s);
  return s;
}
const receipts = () => daemon.ctx.db.selectFrom('receipts').select(['id', 'envelope_to_json']).execute();
const tmpFiles = (): string[] => {
  const tmp = join(daemon.ctx.blobs.dir, 'tmp');
  return existsSync(tmp) ? readdirSync(tmp) : [];
};

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a client that goes away in the middle of its message', () => {
  it('nothing is kept, no temp file stays open, one log line each; the listener takes the next message', async () => {
    const before = await receipts();
    const cut = lines.length;
    // 10 kB stays in memory while it arrives; 1.5 MB spills into a temp file of the blob store;
    // the third client aborts with a TCP reset.
    for (const [size, how] of [[10_000, 'close'], [1_500_000, 'close'], [5_000, 'reset']] as const) {
      const s = await session();
      await s.command('EHLO cut.example');
      await s.command('MAIL FROM:<cut@customer.example>');
      await s.command('RCPT TO:<support@example.com>');
      expect((await s.command('DATA')).reply).toMatch(/^354/);
      s.write(`From: cut@customer.example\r\nSubject: cut short\r\n\r\n${'x'.repeat(size)}\r\n`);
      await new Promise((r) => setTimeout(r, 300));
      if (how === 'reset') s.reset();
      else s.close();
    }
    await until(() => lines.slice(cut).filter((l) => /before the end of its message/.test(l.msg)).length === 3);
    const gone = lines.slice(cut).filter((l) => /before the end of its message/.test(l.msg));
    expect(gone.map((l) => [l.level, l.from])).toEqual([[40, 'cut@customer.example'], [40, 'cut@customer.example'], [40, 'cut@customer.example']]);
    // A client's reset is no error of ours: nothing at error level (operators are paged for those).
    expect(lines.slice(cut).filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
    await until(() => tmpFiles().length === 0);
    expect(await receipts()).toHaveLength(before.length);

    const s = await session();
    await s.command('EHLO whole.example');
    await s.command('MAIL FROM:<whole@customer.example>');
    await s.command('RCPT TO:<support@example.com>');
    await s.command('DATA');
    expect((await s.command(`${eml({ from: 'whole@customer.example', subject: 'whole' })}\r\n.`)).reply).toMatch(/^250 .*Stored in case/);
    s.close();
  });
});

describe('a client that goes away right after the final dot', () => {
  it('the message it sent in full is kept (once), without the warning of a message cut short; its retry is a duplicate', async () => {
    const before = (await receipts()).length;
    const cut = lines.length;
    const message = `${eml({ from: 'hasty@customer.example', subject: 'sent and gone', messageId: 'hasty@customer.example', body: 'z'.repeat(1_200_000) })}\r\n.\r\n`;
    const s = await session();
    await s.command('EHLO hasty.example');
    await s.command('MAIL FROM:<hasty@customer.example>');
    await s.command('RCPT TO:<support@example.com>');
    await s.command('DATA');
    s.write(message);
    s.close();
    await until(() => lines.slice(cut).some((l) => l.msg === 'message stored'));
    expect(await receipts()).toHaveLength(before + 1);
    expect(lines.slice(cut).filter((l) => /before the end of its message/.test(l.msg))).toEqual([]);
    // Its MTA never saw the 250 and sends it again: recognised, not a second case.
    const again = await session();
    await again.command('EHLO hasty.example');
    await again.command('MAIL FROM:<hasty@customer.example>');
    await again.command('RCPT TO:<support@example.com>');
    await again.command('DATA');
    again.write(message.slice(0, -3));
    expect((await again.command('.')).reply).toMatch(/^250 .*Accepted \(ignored\)/);
    expect(await receipts()).toHaveLength(before + 2);
    expect(tmpFiles()).toEqual([]);
  });
});

describe('a message over listener.maxMessageBytes', () => {
  it('SIZE= above the limit: 552 at MAIL FROM; a larger message than declared: read to its end, 552, one warning line, nothing kept', async () => {
    const before = await receipts();
    const s = await session();
    await s.command('EHLO big.example');
    expect((await s.command('MAIL FROM:<big@customer.example> SIZE=999999999')).reply).toMatch(/^552 /);
    await s.command('MAIL FROM:<big@customer.example> SIZE=1000');
    await s.command('RCPT TO:<support@example.com>');
    await s.command('DATA');
    s.write(`From: big@customer.example\r\nSubject: bigger than declared\r\n\r\n${'y'.repeat(2_500_000)}\r\n`);
    expect((await s.command('.', 30_000)).reply).toMatch(/^552 5\.3\.4 /);
    // The session goes on: the next message is taken.
    await s.command('MAIL FROM:<big@customer.example>');
    await s.command('RCPT TO:<support@example.com>');
    await s.command('DATA');
    expect((await s.command(`${eml({ from: 'big@customer.example', subject: 'small one' })}\r\n.`)).reply).toMatch(/^250 /);
    expect(lines.filter((l) => /over listener\.maxMessageBytes/.test(l.msg)).map((l) => [l.from, l.to])).toEqual([['big@customer.example', ['support@example.com']]]);
    expect(await receipts()).toHaveLength(before.length + 1);
    expect(tmpFiles()).toEqual([]);
  });
});

describe('recipients: no relay, no harvest, a bounded envelope', () => {
  it('a message takes at most 100 recipients (RFC 5321’s minimum); more get 452 and the message is stored once with 100', async () => {
    const before = (await receipts()).length;
    const s = await session();
    await s.command('EHLO many.example');
    await s.command('MAIL FROM:<many@customer.example>');
    const answers: string[] = [];
    for (let i = 0; i < 150; i++) answers.push((await s.command(`RCPT TO:<support+${i}@example.com>`)).reply);
    expect(answers.slice(0, 100).every((a) => a.startsWith('250'))).toBe(true);
    expect(answers.slice(100).every((a) => a.startsWith('452'))).toBe(true);
    // A recipient already in the envelope is no new one.
    expect((await s.command('RCPT TO:<support+7@example.com>')).reply).toMatch(/^250/);
    await s.command('DATA');
    expect((await s.command(`${eml({ from: 'many@customer.example', subject: 'many' })}\r\n.`)).reply).toMatch(/^250 .*Stored in case/);
    const after = await receipts();
    expect(after).toHaveLength(before + 1);
    expect((JSON.parse(after.at(-1)!.envelope_to_json) as string[]).length).toBe(100);
    s.close();
  });

  it('a session that tries addresses we do not serve gets 550 each, and after 20 of them 421 and the end of the session', async () => {
    const s = await session();
    await s.command('EHLO harvest.example');
    await s.command('MAIL FROM:<harvest@spam.example>');
    // Not ours: another domain, a source route to another, a percent hack, a quoted local part
    // (550, or 501 for what is no address at all).
    let refused = 0;
    for (const rcpt of ['support@elsewhere.example', '@relay.example:support@elsewhere.example', 'support%elsewhere.example@example.com', '"support@elsewhere.example"@example.com']) {
      const { reply } = await s.command(`RCPT TO:<${rcpt}>`);
      expect(reply).toMatch(/^5(50|01) /);
      if (reply.startsWith('550')) refused += 1;
    }
    let last = '';
    for (let i = 0; i < 30; i++) {
      last = (await s.command(`RCPT TO:<user${i}@example.com>`)).reply;
      if (!last.startsWith('550')) break;
      refused += 1;
    }
    expect(refused).toBe(20);
    expect(last).toMatch(/^421 4\.7\.0 .*too many/i);
    await s.closed;
    expect(lines.filter((l) => /unknown recipients/.test(l.msg)).map((l) => l.client)).toEqual(['127.0.0.1']);
  });
});

describe('connections: one client address cannot take every slot', () => {
  it('past listener.maxClientsPerIp connections from one address get 421; another address still gets in', async () => {
    await new Promise((r) => setTimeout(r, 300)); // the earlier tests' sessions are gone
    const held: SmtpSession[] = [];
    for (let i = 0; i < 5; i++) held.push(await session());
    expect(held.map((s) => s.replies[0]!.slice(0, 3))).toEqual(['220', '220', '220', '220', '220']);
    const sixth = await session();
    expect(sixth.replies[0]).toMatch(/^421 4\.7\.0 .*too many connections from 127\.0\.0\.1/i);
    await sixth.closed;
    const other = await session('127.0.0.2');
    expect(other.replies[0]).toMatch(/^220 /);
    expect((await other.command('EHLO other.example')).reply).toMatch(/^250/);
    // A slot freed is a slot back.
    held[0]!.close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await session();
    expect(again.replies[0]).toMatch(/^220 /);
    for (const s of [...held, other, again]) s.close();
  });

  it('the MTA in front (listener.trustXForwardFrom) is not limited: it speaks for every sender', async () => {
    const mta: SmtpSession[] = [];
    for (let i = 0; i < 8; i++) mta.push(await session('127.0.0.3'));
    expect(mta.map((s) => s.replies[0]!.slice(0, 3))).toEqual(Array(8).fill('220'));
  });
});

describe('listener.maxSessionSeconds: a client trickling its message', () => {
  let slow: Daemon;
  let slowLines: LogLine[];
  let slowDir: string;
  beforeAll(async () => {
    slowDir = mkdtempSync(join(tmpdir(), 'casegate-trickle-'));
    const resolved = writeConfig(slowDir, {
      templates: { watch: false },
      listener: { port: 0, maxSessionSeconds: 2 },
      outgoing: { transport: 'file', sweepSeconds: 1 },
      mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    });
    const captured = captureLogger();
    slowLines = captured.lines;
    slow = await startDaemon({ resolved, log: captured.log });
  });
  afterAll(async () => {
    await slow.stop();
    rmSync(slowDir, { recursive: true, force: true });
  });

  it('a line every 300 ms (never idle long enough for the socket timeout) is cut off with 421 at the deadline; nothing is kept', async () => {
    const s = await openSmtpSession(slow.smtp!.port);
    sessions.push(s);
    await s.command('EHLO trickle.example');
    await s.command('MAIL FROM:<trickle@customer.example>');
    await s.command('RCPT TO:<support@example.com>');
    expect((await s.command('DATA')).reply).toMatch(/^354/);
    const started = Date.now();
    const drip = setInterval(() => s.write('More text, one line at a time.\r\n'), 300);
    try {
      const closedAt = await s.closed;
      expect(closedAt - started).toBeLessThan(5_000);
    } finally {
      clearInterval(drip);
    }
    expect(s.replies.at(-1)).toMatch(/^421 4\.4\.2 .*Session too long/);
    expect(slowLines.filter((l) => /longer than listener\.maxSessionSeconds/.test(l.msg)).map((l) => l.client)).toEqual(['127.0.0.1']);
    expect(await slow.ctx.db.selectFrom('receipts').select('id').execute()).toEqual([]);
    const tmp = join(slow.ctx.blobs.dir, 'tmp');
    await until(() => !existsSync(tmp) || readdirSync(tmp).length === 0);
  });

  it('a message sent before the deadline is stored; the session, idle after it, still ends at the deadline', async () => {
    const s = await openSmtpSession(slow.smtp!.port);
    sessions.push(s);
    await s.command('EHLO quick.example');
    await s.command('MAIL FROM:<quick@customer.example>');
    await s.command('RCPT TO:<support@example.com>');
    await s.command('DATA');
    s.write(`${eml({ from: 'quick@customer.example', subject: 'in time', messageId: 'quick@customer.example' })}\r\n`);
    expect((await s.command('.')).reply).toMatch(/^250 .*Stored in case 10001/);
    // Then it idles: the deadline still ends the session.
    await s.closed;
    expect(s.replies.at(-1)).toMatch(/^421 4\.4\.2 /);
  });
});
