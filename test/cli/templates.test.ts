import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { CliSandbox, REPO_ROOT, describeResult } from '../helpers/cli.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

/**
 * `casegate templates preview`, `send-test` and `docs` as an admin runs them: the built CLI in a
 * sandbox with a real case (ingested first) and an SMTP sink as the outgoing server.
 */

const VISIBLE = 'VISIBLE-81c4: the invoice PDF is empty since Monday.';
/** Shaped like a signed case link (any such is cut from what an email quotes). */
const BOB_LINK_TOKEN = '10001.c.tb9l00.tct500.1f9bc19778e8528f2ca2894c';

interface PreviewJson {
  template: string;
  language: string;
  queue: string;
  source: string;
  subject: string;
  text: string;
  html: string;
}

interface CaseDetailJson {
  outbox: { kind: string }[];
  events: { type: string; reason: string }[];
}

describe('casegate templates preview / send-test / docs', () => {
  let box: CliSandbox;
  let sink: SmtpSink;

  beforeAll(async () => {
    sink = await startSmtpSink();
    box = CliSandbox.create({
      outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port } },
      queues: { finance: { helpfulInfo: ['your invoice number', 'the <b>amount</b>'] } },
    });
    const file = box.write(
      'bob.eml',
      eml({ from: 'Bob Builder <bob@customer.example>', to: 'billing@example.com', subject: 'Invoice 42 is empty', messageId: 'bob-1@customer.example', body: `${VISIBLE}\r\nMy page: https://help.example.com/c/${BOB_LINK_TOKEN} shows nothing.\r\nThanks, Bob` }),
    );
    const r = await box.run(['ingest', file]);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toContain('stored (case 10001)');
  });

  afterAll(async () => {
    box.cleanup();
    await sink.close();
  });

  it('preview (sample data by default): subject and text on stdout, the HTML written to --html', async () => {
    const r = await box.run(['templates', 'preview', 'confirmation', '--html', 'out/confirmation.html']);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(/^Subject: \[Case #10042\] Re: Cannot log in since this morning\n\n##- Please type your reply above this line -##\n\nHello Jane Doe,\n/);
    expect(r.stderr).toContain('confirmation: sample data, language en, queue support; HTML written to out/confirmation.html');
    const html = readFileSync(join(box.dir, 'out/confirmation.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('<title>[Case #10042] Re: Cannot log in since this morning</title>');
  });

  it('preview --sample --lang de --queue finance: German, with the queue’s helpful-info list', async () => {
    const r = await box.run(['templates', 'preview', 'confirmation', '--sample', '--lang', 'de', '--queue', 'finance', '--json']);
    expect(r.code, describeResult(r)).toBe(0);
    const out = JSON.parse(r.stdout) as PreviewJson;
    expect(out).toMatchObject({ template: 'confirmation', language: 'de', queue: 'finance', source: 'sample data' });
    expect(out.subject).toBe('[Case #10042] AW: Cannot log in since this morning');
    expect(out.text).toContain('Ihre Anfrage ist bei uns eingegangen');
    expect(out.text).toContain('- your invoice number\n- the <b>amount</b>\n');
    expect(out.html).toContain('the &lt;b&gt;amount&lt;/b&gt;');
    expect(out.text).toContain('billing@example.com'); // the queue's mailbox, in the footer
  });

  it('preview --case N: the real case, in its queue and language', async () => {
    const r = await box.run(['templates', 'preview', 'agent-notification', '--case', '10001']);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(/^Subject: \[Case #10001\] New case: Invoice 42 is empty\n/);
    expect(r.stdout).toContain(VISIBLE);
    expect(r.stdout).toContain('Customer:   Bob Builder <bob@customer.example>');
    expect(r.stdout).toContain('Show it:    casegate cases show 10001');
    expect(r.stderr).toContain('agent-notification: case 10001, language en, queue finance');

    const de = await box.run(['templates', 'preview', 'status-changed', '--case', '#10001', '--lang', 'de', '--json']);
    expect(de.code, describeResult(de)).toBe(0);
    const out = JSON.parse(de.stdout) as PreviewJson;
    expect(out.subject).toBe('[Case #10001] AW: Invoice 42 is empty');
    expect(out.text).toContain('auf Ihre Antwort');
    expect(out.text).toContain('Guten Tag Bob Builder,');
  });

  it('usage errors exit 1 with a message: unknown template (with the list), case, queue; --case with --sample', async () => {
    const unknown = await box.run(['templates', 'preview', 'confirmaton']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown template "confirmaton"; templates: confirmation, reopened, agent-reply, status-changed, .*, report, .*web-notice\n/);
    const noCase = await box.run(['templates', 'preview', 'confirmation', '--case', '424242']);
    expect(noCase.code).toBe(1);
    expect(noCase.stderr).toContain('no case 424242');
    const notCase = await box.run(['templates', 'preview', 'report', '--case', '10001']);
    expect(notCase.code).toBe(1);
    expect(notCase.stderr).toContain('"report" is not about a case');
    const queue = await box.run(['templates', 'preview', 'confirmation', '--queue', 'finanse']);
    expect(queue.code).toBe(1);
    expect(queue.stderr).toContain('queue "finanse" is not configured; queues: support, finance');
    const both = await box.run(['templates', 'preview', 'confirmation', '--case', '10001', '--sample']);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/option '--case <number>' cannot be used with option '--sample'/);
  });

  it('send-test: delivered through the configured SMTP server, marked as a test; nothing recorded on the case', async () => {
    const before = sink.messages.length;
    const r = await box.run(['templates', 'send-test', 'status-changed', '--to', 'Lead@Example.com', '--lang', 'de']);
    expect(r.code, describeResult(r)).toBe(0);
    expect(r.stdout).toMatch(/^sent "\[TEST\] \[Case #10042\] AW: Cannot log in since this morning" to lead@example\.com via smtp:127\.0\.0\.1:\d+/);
    const [msg] = (await sink.waitFor(before + 1)).slice(before);
    expect(msg?.envelopeTo).toEqual(['lead@example.com']);
    const p = msg!.parsed;
    expect(p.subject).toBe('[TEST] [Case #10042] AW: Cannot log in since this morning');
    expect(p.headers.get('x-casegate-test')).toBe('yes');
    expect(p.headers.get('auto-submitted')).toBe('auto-generated');
    expect(p.headers.get('x-loop')).toBe('casegate@support.example.com');
    expect(p.messageId).toMatch(/^<n0\.[0-9a-f]{12}\.[a-z2-7]{4}\.[0-9a-f]{12}@support\.example\.com>$/);
    expect(p.from?.value[0]?.address).toBe('support@example.com');
    expect(p.text).toMatch(/^##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##\n\*\*\* TEST-E-MAIL/);
    expect(p.html || '').toContain('<strong>Test-E-Mail:</strong>');

    const withCase = await box.run(['templates', 'send-test', 'agent-reply', '--to', 'lead@example.com', '--case', '10001', '--json']);
    expect(withCase.code, describeResult(withCase)).toBe(0);
    const [second] = (await sink.waitFor(before + 2)).slice(before + 1);
    expect(second?.parsed.subject).toBe('[TEST] [Case #10001] Re: Invoice 42 is empty');
    expect(second?.parsed.text).toContain('Hello Bob Builder,');
    expect(second?.parsed.from?.value[0]?.address).toBe('billing@example.com');

    // A signed link the customer pasted is cut, as in every email of ours (the test goes to whoever --to names).
    const quoting = await box.run(['templates', 'send-test', 'agent-notification', '--to', 'lead@example.com', '--case', '10001']);
    expect(quoting.code, describeResult(quoting)).toBe(0);
    const [third] = (await sink.waitFor(before + 3)).slice(before + 2);
    expect(third?.parsed.text).toContain(`My page: https://help.example.com/c/… shows nothing.`);
    expect(String(third?.parsed.html)).toContain(`My page: https://help.example.com/c/… shows nothing.`);
    expect(third?.raw.toString('latin1')).not.toContain(BOB_LINK_TOKEN);

    // The case only has what the ingest queued: no outbox row, message or event from the tests.
    const detail = await box.json<CaseDetailJson>(['cases', 'show', '10001', '--json']);
    expect(detail.outbox.map((o) => o.kind)).toEqual(['confirmation']);
    expect(detail.events.some((e) => /lead@example\.com|agent-reply/.test(e.reason))).toBe(false);
  });

  it('send-test refuses an address with CR/LF or garbage, and sends nothing', async () => {
    const before = sink.messages.length;
    for (const to of ['lead@example.com\r\nBcc: victim@evil.example', 'lead@example.com, other@example.com', 'not an address']) {
      const r = await box.run(['templates', 'send-test', 'confirmation', '--to', to]);
      expect(r.code, describeResult(r)).toBe(1);
      expect(r.stderr).toMatch(/--to must be one plain address/);
    }
    const missing = await box.run(['templates', 'send-test', 'confirmation']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("required option '--to <address>' not specified");
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.messages.length).toBe(before);
  });

  it('docs: the shipped page is current; --check fails on a stale file, writing makes it current', async () => {
    const shipped = await box.run(['templates', 'docs', '--check']);
    expect(shipped.code, describeResult(shipped)).toBe(0);
    expect(shipped.stdout).toMatch(/docs\/templates\.md is up to date/);

    const file = join(box.dir, 'templates.md');
    writeFileSync(file, '# stale\n');
    const stale = await box.run(['templates', 'docs', '--check', '--out', file]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(`${file} is out of date: run "casegate templates docs"`);
    const write = await box.run(['templates', 'docs', '--out', file]);
    expect(write.code, describeResult(write)).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('# Email templates reference');
    expect((await box.run(['templates', 'docs', '--check', '--out', file])).code).toBe(0);
    const missing = await box.run(['templates', 'docs', '--check', '--out', join(box.dir, 'none.md')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('is missing');
    expect(existsSync(join(box.dir, 'none.md'))).toBe(false);
  });

  it('check reports a broken edit with file:line; preview and the daemon refuse a broken set', async () => {
    const broken = CliSandbox.create({ templates: { dir: 'tpl', watch: false }, listener: { enabled: false } });
    try {
      cpSync(join(REPO_ROOT, 'templates'), join(broken.dir, 'tpl'), { recursive: true });
      broken.write('tpl/agent-reply.text.hbs', '{{> greeting}}\n\n{{reply.txt}}\n');
      const check = await broken.run(['templates', 'check']);
      expect(check.code).toBe(1);
      expect(check.stdout).toContain('agent-reply.text.hbs:3: Unknown variable "reply.txt" (did you mean "reply.text"?)');
      const preview = await broken.run(['templates', 'preview', 'confirmation']);
      expect(preview.code).toBe(78);
      expect(preview.stderr).toContain('agent-reply.text.hbs:3: Unknown variable "reply.txt"');
      // The daemon runs the same check at start and refuses to start.
      const start = await broken.run(['start'], { timeoutMs: 30_000 });
      expect(start.code, describeResult(start)).toBe(78);
      expect(start.stderr).toContain('templates have problems, not starting:\n  agent-reply.text.hbs:3: Unknown variable "reply.txt"');
    } finally {
      broken.cleanup();
    }
  });

  it('templates.dir holds only what the admin changed: the rest (a kind added by an upgrade, a language) is the shipped set; check says which files are theirs', async () => {
    // An English-only desk that edited the confirmation's text and copied its subject unchanged.
    const own = CliSandbox.create({ templates: { dir: 'tpl', watch: false, languages: ['en'] }, listener: { enabled: false } }, { firstStart: true });
    try {
      const shippedText = readFileSync(join(REPO_ROOT, 'templates', 'confirmation.text.hbs'), 'utf8');
      own.write('tpl/confirmation.text.hbs', `${shippedText}\nOUR-OWN-LINE-5d1e: call us on 0800 123 456.\n`);
      cpSync(join(REPO_ROOT, 'templates', 'confirmation.subject.hbs'), join(own.dir, 'tpl', 'confirmation.subject.hbs'));
      const check = await own.run(['templates', 'check']);
      expect(check.code, describeResult(check)).toBe(0);
      expect(check.stdout).toContain(`templates OK (${join(own.dir, 'tpl')} over the shipped templates: 1 file of yours replaces shipped ones, 0 added, every other file is casegate's)`);
      expect(check.stdout).toContain('note: 1 file is the same as the shipped one (confirmation.subject.hbs): delete it from your folder');
      expect(check.stdout).toContain('note: confirmation: confirmation.text.hbs is yours, confirmation.html.hbs is the shipped one');
      const mine = await own.run(['templates', 'preview', 'confirmation', '--json']);
      expect(mine.code, describeResult(mine)).toBe(0);
      const confirmation = JSON.parse(mine.stdout) as PreviewJson;
      expect(confirmation.text).toContain('OUR-OWN-LINE-5d1e');
      expect(confirmation.html).not.toContain('OUR-OWN-LINE-5d1e');
      // A kind the folder has no file of (as after an upgrade that added it) renders from the shipped set.
      const moved = await own.run(['templates', 'preview', 'case-moved', '--json']);
      expect(moved.code, describeResult(moved)).toBe(0);
      expect((JSON.parse(moved.stdout) as PreviewJson).text).toBe(
        (JSON.parse((await box.run(['templates', 'preview', 'case-moved', '--json'])).stdout) as PreviewJson).text,
      );
      // The daemon's path (ingest loads and checks the set): the customer's confirmation has the line.
      const file = own.write('jo.eml', eml({ from: 'jo@customer.example', to: 'support@example.com', subject: 'Printer on fire', messageId: 'jo-1@customer.example', body: 'It is on fire.' }));
      const r = await own.run(['ingest', file]);
      expect(r.code, describeResult(r)).toBe(0);
      const shown = await own.run(['cases', 'show', '10001', '--json']);
      expect(shown.stdout).toContain('OUR-OWN-LINE-5d1e');
    } finally {
      own.cleanup();
    }
  });
});
