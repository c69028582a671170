import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeResult } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { eventually, sentTo, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

/**
 * A customer's files reach the staff who work the case: the agents' notification, the leads'
 * escalation alert and the owner's assignment email carry them (same bytes, names and types; not
 * the signature logo the HTML shows) within agentMail.attachFilesMaxBytes, and name the rest with
 * the command that saves them; `casegate cases files` lists and saves them. Real daemon, real SMTP
 * sink, the CLI in process on the same database (SQLite and PostgreSQL).
 */

let env: TestDaemon;
let cli: (...args: string[]) => ReturnType<typeof runCliInProcess>;

const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(20 * 1024)]);
const LOG = Buffer.from('2026-12-06 09:00:01 ERROR disk full on db1\n'.repeat(2500)); // ~107 KB: over the budget
const LOGO = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const FORWARDED = Buffer.from('From: Shop <billing@shop.example>\r\nTo: jane@customer.example\r\nSubject: Your invoice 4711\r\n\r\nAmount due: 99 EUR.\r\n');
const SHOT = randomBytes(3000);

interface FileJson {
  id: number;
  message: number;
  direction: string;
  name: string;
  type: string;
  size: number;
  sha256: string;
  inline: boolean;
}

beforeAll(async () => {
  env = await startTestDaemon({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    queues: {
      support: {
        tiers: { 1: { addresses: ['lead@example.com'] } },
        agents: [
          { name: 'Anna Agent', address: 'anna@example.com' },
          { name: 'Bea Agent', address: 'bea@example.com', available: false },
        ],
      },
    },
    agentMail: { attachFilesMaxBytes: 64 * 1024 },
  });
  cli = (...args) => runCliInProcess(['--config', join(env.dir, 'casegate.yaml'), ...args], { cwd: env.dir, env: { HOME: env.dir } });
  await env.client().sendMail({
    from: 'Jane Customer <jane@customer.example>',
    to: 'support@example.com',
    subject: 'Invoice is wrong',
    text: 'The invoice is wrong, see the attachments.',
    html: '<p>The invoice is wrong, see the attachments.</p><p><img src="cid:logo@jane"></p>',
    messageId: '<jane-1@customer.example>',
    attachments: [
      { filename: 'invoice.pdf', contentType: 'application/pdf', content: PDF },
      { filename: 'logo.png', contentType: 'image/png', content: LOGO, cid: 'logo@jane' },
      { filename: 'server.log', contentType: 'text/plain', content: LOG },
      // As Outlook and Gmail forward as attachment: Content-Disposition attachment.
      { filename: 'invoice-mail.eml', contentType: 'message/rfc822', content: FORWARDED, contentDisposition: 'attachment' },
      { filename: '../../.bashrc', contentType: 'application/octet-stream', content: Buffer.from('echo pwned\n') },
    ],
  });
  await eventually(() => expect(sentTo(env.sink, 'anna@example.com')).toHaveLength(1));
});

afterAll(async () => {
  await env.stop();
});

describe('staff mail carries the customer’s files', () => {
  it('the agents’ notification: the files as attachments, not the logo the HTML shows; the one over the budget named with its command', async () => {
    const [note] = sentTo(env.sink, 'anna@example.com');
    const files = note!.parsed.attachments;
    const pdf = files.find((a) => a.filename === 'invoice.pdf');
    expect(pdf?.contentType).toBe('application/pdf');
    expect(pdf?.content.equals(PDF)).toBe(true);
    // The forwarded mail travels as a mail (RFC 2046: message/rfc822), as the customer sent it.
    const fwd = files.find((a) => a.contentType === 'message/rfc822');
    expect(fwd?.content.toString()).toContain('Amount due: 99 EUR.');
    expect(files.some((a) => a.content.equals(LOGO))).toBe(false);
    expect(files.some((a) => a.content.equals(LOG))).toBe(false);
    const evil = files.find((a) => a.content.toString() === 'echo pwned\n');
    expect(evil?.filename).not.toMatch(/[/\\]/);
    const list = await filesOf(10001);
    const log = list.find((f) => f.name === 'server.log')!;
    expect(note!.parsed.text).toContain(`Attachments: invoice.pdf, server.log, invoice-mail.eml, ${evil!.filename}`);
    expect(note!.parsed.text).toContain(`server.log (105 KB): casegate cases files 10001 --id ${log.id} --save .`);
    expect(note!.parsed.html).toContain(`<code>casegate cases files 10001 --id ${log.id} --save .</code>`);
    // The command that mails them again is named with the others an answer may carry.
    expect(note!.parsed.text).toContain('#call #tag #cc #queue #files');
  });

  it('never the customer: the confirmation carries no file', async () => {
    await eventually(() => expect(sentTo(env.sink, 'jane@customer.example')).toHaveLength(1));
    expect(sentTo(env.sink, 'jane@customer.example').flatMap((m) => m.parsed.attachments)).toEqual([]);
  });

  it('the leads’ escalation alert carries the files of the message that escalated', async () => {
    await env.client().sendMail({
      from: 'Carl <carl@customer.example>',
      to: 'support@example.com',
      subject: 'Urgent – checkout broken',
      text: 'Nobody can pay. Screenshot attached.',
      messageId: '<carl-1@customer.example>',
      attachments: [{ filename: 'checkout.png', contentType: 'image/png', content: SHOT }],
    });
    await eventually(() => expect(sentTo(env.sink, 'lead@example.com')).toHaveLength(1));
    const [alert] = sentTo(env.sink, 'lead@example.com');
    expect(alert!.parsed.text).toContain('Attachments: checkout.png');
    expect(alert!.parsed.attachments.map((a) => [a.filename, a.contentType, a.content.equals(SHOT)])).toEqual([['checkout.png', 'image/png', true]]);
  });

  it('suspected spam: its files are named with their commands, never mailed to the agents', async () => {
    const before = sentTo(env.sink, 'anna@example.com').length;
    await env.client().sendMail({
      from: 'Prize Office <win@prize.example>',
      to: 'support@example.com',
      subject: 'You won',
      text: 'Open the attached invoice to claim your prize.',
      headers: { 'X-Spam-Flag': 'YES' },
      messageId: '<prize-1@prize.example>',
      attachments: [{ filename: 'invoice.pdf.exe', contentType: 'application/octet-stream', content: Buffer.from('MZ not a real program') }],
    });
    await eventually(() => expect(sentTo(env.sink, 'anna@example.com').length).toBe(before + 1));
    const note = sentTo(env.sink, 'anna@example.com').at(-1)!;
    expect(note.parsed.attachments).toEqual([]);
    expect(note.parsed.text).toMatch(/invoice\.pdf\.exe \(21 bytes\): casegate cases files 10003 --id \d+ --save \./);
  });

  it('the owner’s assignment email carries the files of the customer’s latest message', async () => {
    const r = await cli('cases', 'assign', '10001', 'Bea Agent');
    expect(r.code, describeResult(r)).toBe(0);
    await eventually(() => expect(sentTo(env.sink, 'bea@example.com')).toHaveLength(1));
    const [mail] = sentTo(env.sink, 'bea@example.com');
    expect(mail!.parsed.attachments.find((a) => a.filename === 'invoice.pdf')?.content.equals(PDF)).toBe(true);
    expect(mail!.parsed.text).toMatch(/server\.log \(105 KB\): casegate cases files 10001 --id \d+ --save \./);
  });
});

describe('#files: an agent asks for the case’s files by email', () => {
  it('answering a notification with #files mails them to that agent only; #files ID one of them; an unknown id is said', async () => {
    const [note] = sentTo(env.sink, 'anna@example.com');
    const ask = async (line: string, n: number): Promise<void> => {
      await env.client().sendMail({ from: 'Anna Agent <anna@example.com>', to: 'support@example.com', subject: `Re: ${note!.parsed.subject}`, text: line, inReplyTo: note!.parsed.messageId!, references: note!.parsed.messageId! });
      await eventually(() => expect(sentTo(env.sink, 'anna@example.com', /Files of case 10001/)).toHaveLength(n));
    };
    const jane = sentTo(env.sink, 'jane@customer.example').length;
    await ask('#files', 1);
    const [all] = sentTo(env.sink, 'anna@example.com', /Files of case 10001/);
    expect(all!.parsed.attachments.find((a) => a.filename === 'invoice.pdf')?.content.equals(PDF)).toBe(true);
    expect(all!.parsed.attachments.some((a) => a.content.equals(LOGO))).toBe(false);
    expect(all!.parsed.text).toMatch(/server\.log \(105 KB\): casegate cases files 10001 --id \d+ --save \./);
    expect(all!.parsed.text).toContain('invoice.pdf (20 KB), from Jane Customer <jane@customer.example>');

    const log = (await filesOf(10001)).find((f) => f.name === 'server.log')!;
    await ask(`#files ${log.id} 424242`, 2);
    const one = sentTo(env.sink, 'anna@example.com', /Files of case 10001/)[1]!;
    // Over the budget even alone: named with its command, never cut.
    expect(one.parsed.attachments).toEqual([]);
    expect(one.parsed.text).toContain(`server.log (105 KB): casegate cases files 10001 --id ${log.id} --save .`);
    expect(one.parsed.text).toContain('Case 10001 has no file 424242');
    // Nothing of it reached the customer.
    expect(sentTo(env.sink, 'jane@customer.example')).toHaveLength(jane);
  });

  it('a customer who writes #files gets nothing: the line is their text', async () => {
    const before = env.sink.messages.length;
    await env.client().sendMail({ from: 'Jane Customer <jane@customer.example>', to: 'support@example.com', subject: 'Re: [Case #10001] Invoice is wrong', text: '#files\nsend me everything', inReplyTo: '<jane-1@customer.example>' });
    await eventually(() => expect(env.sink.messages.length).toBeGreaterThan(before));
    expect(sentTo(env.sink, 'jane@customer.example', /Files of case/)).toEqual([]);
    expect(env.sink.messages.slice(before).flatMap((m) => m.parsed.attachments.map((a) => [m.envelopeTo.join(','), a.filename])).filter(([to]) => to!.includes('jane@'))).toEqual([]);
  });
});

describe('casegate cases files', () => {
  it('lists the case’s files once (not the copies staff mail carried), with id, name, type, size and SHA-256; --inline adds the logo', async () => {
    const list = await filesOf(10001);
    expect(list.map((f) => [f.name, f.type, f.size, f.direction])).toEqual([
      ['invoice.pdf', 'application/pdf', PDF.length, 'in'],
      ['server.log', 'text/plain', LOG.length, 'in'],
      ['invoice-mail.eml', 'message/rfc822', FORWARDED.length, 'in'],
      [list[3]!.name, 'application/octet-stream', 11, 'in'],
    ]);
    expect(list[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const all = await filesOf(10001, '--inline');
    expect(all.filter((f) => f.inline).map((f) => f.name)).toEqual(['logo.png']);
    const text = await cli('cases', 'files', '10001');
    expect(text.code, describeResult(text)).toBe(0);
    expect(text.stdout).toContain(`invoice.pdf (application/pdf, 20 KB)  sha256 ${list[0]!.sha256}`);
    expect(text.stdout).toContain('← ');
    // cases show names each file by the id these commands take.
    const show = await cli('cases', 'show', '10001');
    expect(show.stdout).toContain(`📎 invoice.pdf (application/pdf, ${PDF.length} bytes) · file ${list[0]!.id}`);
    expect(show.stdout).toContain('Files: casegate cases files 10001 lists them');
  });

  it('--save DIR writes every file with its bytes, inside DIR whatever its name; never over an existing file without --force', async () => {
    const out = join(env.dir, 'out');
    const r = await cli('cases', 'files', '10001', '--save', out);
    expect(r.code, describeResult(r)).toBe(0);
    const names = readdirSync(out).sort();
    expect(names).toHaveLength(4);
    expect(readFileSync(join(out, 'invoice.pdf')).equals(PDF)).toBe(true);
    expect(readFileSync(join(out, 'server.log')).equals(LOG)).toBe(true);
    expect(names.every((n) => !n.startsWith('.'))).toBe(true);
    expect(existsSync(join(env.dir, '.bashrc'))).toBe(false);

    writeFileSync(join(out, 'invoice.pdf'), 'my own edits');
    const again = await cli('cases', 'files', '10001', '--save', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exist.*nothing saved \(--force replaces\)/);
    expect(readFileSync(join(out, 'invoice.pdf'), 'utf8')).toBe('my own edits');
    const forced = await cli('cases', 'files', '10001', '--save', out, '--force');
    expect(forced.code, describeResult(forced)).toBe(0);
    expect(readFileSync(join(out, 'invoice.pdf')).equals(PDF)).toBe(true);
  });

  it('--id with --save or --output writes one file; an id of another case, an unknown case: exit 1', async () => {
    const list = await filesOf(10001);
    const log = list.find((f) => f.name === 'server.log')!;
    const one = join(env.dir, 'one');
    mkdirSync(one);
    const r = await cli('cases', 'files', '10001', '--id', String(log.id), '--save', one);
    expect(r.code, describeResult(r)).toBe(0);
    expect(readdirSync(one)).toEqual(['server.log']);
    const o = await cli('cases', 'files', '10001', '--id', String(log.id), '--output', join(env.dir, 'copy.log'));
    expect(o.code, describeResult(o)).toBe(0);
    expect(readFileSync(join(env.dir, 'copy.log')).equals(LOG)).toBe(true);
    const piped = await cli('cases', 'files', '10001', '--id', String(log.id), '--output', '-');
    expect(piped.code, describeResult(piped)).toBe(0);
    expect(piped.stdout).toBe(LOG.toString());
    const two = await cli('cases', 'files', '10001', '--output', '-');
    expect(two.code).toBe(1);
    expect(two.stderr).toContain('--output writes one file: choose it with --id');
    const other = (await filesOf(10002))[0]!;
    const wrong = await cli('cases', 'files', '10001', '--id', String(other.id), '--save', one);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`case 10001 has no file ${other.id}`);
    const none = await cli('cases', 'files', '99999');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no case 99999');
  });

  it('a file whose stored bytes changed is not saved', async () => {
    const [shot] = await filesOf(10002);
    const blob = env.daemon.ctx.blobs.pathFor(shot!.sha256);
    writeFileSync(blob, 'not the screenshot');
    const dir = join(env.dir, 'damaged');
    const r = await cli('cases', 'files', '10002', '--save', dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/file \d+ \(checkout\.png\) is damaged in the blob store/);
    expect(existsSync(join(dir, 'checkout.png'))).toBe(false);
  });
});

async function filesOf(caseNumber: number, ...more: string[]): Promise<FileJson[]> {
  const r = await cli('cases', 'files', String(caseNumber), '--json', ...more);
  expect(r.code, describeResult(r)).toBe(0);
  return JSON.parse(r.stdout) as FileJson[];
}
