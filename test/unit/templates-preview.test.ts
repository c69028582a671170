import type Mail from 'nodemailer/lib/mailer/index.js';
import { CUSTOMER_TEXT_DEFAULTS } from '../../src/config/customer-text-defaults.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyMessageId } from '../../src/cases/thread-token.js';
import { sampleTemplateData } from '../../src/mail-out/template-data.js';
import {
  TemplateToolError,
  caseDataFor,
  mailboxOfQueue,
  parseTestAddress,
  sampleDataFor,
  sendTestEmail,
  templateEngineOptions,
  templateKindOf,
} from '../../src/mail-out/template-tools.js';
import type { MailTransport } from '../../src/mail-out/transport.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/** The data behind `templates preview` / `send-test`: samples made concrete, real cases, the test send. */

const VISIBLE = 'VISIBLE-5d1e: the <b>scanner</b> app crashes & closes.';

describe('template data for preview and send-test', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await testEnv({
      mailboxes: [
        { name: 'support', addresses: ['support@example.com'] },
        { name: 'billing', addresses: ['billing@example.com'], queue: 'finance', fromName: 'Billing Team' },
      ],
      queues: { finance: { helpfulInfo: ['your invoice number'], expectedResponse: 'within 2 days', language: 'de' } },
      templates: { watch: false },
    });
    const outcome = await env.ingest(
      eml({ from: 'Jane Customer <jane@customer.example>', subject: 'Scanner crashes', body: `${VISIBLE}\r\n\r\nOn Mon, someone wrote:\r\n> OLD-QUOTE\r\n` }),
    );
    expect(outcome).toMatchObject({ kind: 'stored' });
  });
  afterAll(async () => env.close());

  it('unknown template names are refused with the list of templates', () => {
    expect(templateKindOf('agent-reply')).toBe('agent-reply');
    expect(() => templateKindOf('confirmaton')).toThrow(TemplateToolError);
    expect(() => templateKindOf('confirmaton')).toThrow(/unknown template "confirmaton"; templates: confirmation, reopened, agent-reply, .*report/);
  });

  it('sample data: the configured instance, the queue’s mailbox, language and confirmation extras', () => {
    const data = sampleDataFor('confirmation', env.ctx.config, { language: 'de', queue: 'finance' });
    expect(data.mailbox).toEqual({ name: 'billing', address: 'billing@example.com', queue: 'finance' });
    expect(data.case.language).toBe('de');
    expect(data.case.number).toBe(10042);
    expect(data.helpfulInfo).toEqual(['your invoice number']);
    expect(data.expectedResponse).toBe('within 2 days');
    expect(data.instance.name).toBe('Example Support');
    const status = sampleDataFor('status-changed', env.ctx.config, { language: 'de', queue: 'support' });
    expect(status.status.label).toBe('wartet auf Ihre Antwort');
    expect(status.reopenDays).toBe(env.ctx.config.cases.reopenWindowDays);
    const report = sampleDataFor('report', env.ctx.config, { language: 'en', queue: 'support' }, true);
    expect(report).toEqual({ ...sampleTemplateData('report'), instance: { name: 'Example Support' }, isTest: true });
    expect(mailboxOfQueue(env.ctx.config, 'nope').name).toBe('support');
  });

  it('engine options match the daemon’s: every mailbox queue and configured queue', () => {
    expect(templateEngineOptions(env.resolved)).toMatchObject({ defaultLanguage: 'en', languages: ['en', 'de'], queues: ['support', 'finance'] });
  });

  it('case data: built from the case row, its requester and its last inbound message', async () => {
    const { data, target, caseRow } = await caseDataFor(env.ctx, 'agent-notification', 10001, {});
    expect(caseRow.number).toBe(10001);
    expect(target).toEqual({ language: 'en', queue: 'support' });
    expect(data.case).toMatchObject({ number: 10001, tag: '[Case #10001]', subject: 'Scanner crashes', status: 'new' });
    expect(data.customer).toEqual({ name: 'Jane Customer', address: 'jane@customer.example', greetingName: 'Jane Customer' });
    expect(data.caseCommand).toBe('casegate cases show 10001');
    expect(data.event).toBe('new-case');
    expect(data.message.from).toBe('Jane Customer <jane@customer.example>');
    expect(data.message.visibleText).toContain(VISIBLE);
    expect(data.message.visibleText).not.toContain('OLD-QUOTE');
    expect(data.message.attachments).toEqual([]);
    expect(data.isTest).toBe(false);

    const out = env.ctx.templates.render('agent-notification', data, target);
    expect(out.subject).toBe('[Case #10001] New case: Scanner crashes');
    expect(out.text).toContain(VISIBLE);
    expect(out.html).toContain('VISIBLE-5d1e: the &lt;b&gt;scanner&lt;/b&gt; app crashes &amp; closes.');

    const confirmation = await caseDataFor(env.ctx, 'confirmation', 10001, { language: 'de', isTest: true });
    expect(confirmation.target.language).toBe('de');
    // A German case: the shipped list in German (the configuration left it at its English default).
    expect(confirmation.data.helpfulInfo).toEqual([...CUSTOMER_TEXT_DEFAULTS.de.helpfulInfo]);
    expect(confirmation.data.isTest).toBe(true);
    const reopened = await caseDataFor(env.ctx, 'reopened', 10001, {});
    expect(reopened.data.reply.visibleText).toContain(VISIBLE);
    // Fields a case does not have yet keep their sample values.
    const reply = await caseDataFor(env.ctx, 'agent-reply', 10001, {});
    expect(reply.data.reply).toEqual(sampleTemplateData('agent-reply').reply);
    expect(Object.keys(reply.data)).not.toContain('caseCommand');
  });

  it('case data: unknown cases and kinds not about a case are refused', async () => {
    await expect(caseDataFor(env.ctx, 'confirmation', 999, {})).rejects.toThrow(/^no case 999$/);
    await expect(caseDataFor(env.ctx, 'report', 10001, {})).rejects.toThrow(/"report" is not about a case/);
    await expect(caseDataFor(env.ctx, 'mailbox-alert', 10001, {})).rejects.toBeInstanceOf(TemplateToolError);
  });

  it('send-test address: one plain address, nothing that could reach a header', () => {
    expect(parseTestAddress(' Lead@Example.COM ')).toBe('lead@example.com');
    expect(parseTestAddress('admin@localhost')).toBe('admin@localhost');
    for (const bad of ['lead@example.com\r\nBcc: x@evil.example', 'lead@example.com\nx', 'a@b\u0000', 'a@b, c@d', 'Lead <lead@example.com>', 'no-at-sign', '@example.com', 'a@', 'a@b..c', `${'x'.repeat(250)}@example.com`]) {
      expect(() => parseTestAddress(bad), JSON.stringify(bad)).toThrow(TemplateToolError);
    }
  });

  it('send-test: marked as a test, our headers, a signed case-less Message-ID; straight through the transport', async () => {
    const sent: Mail.Options[] = [];
    const transport: MailTransport = {
      name: 'fake',
      send: async (m) => {
        sent.push(m);
        return { response: '250 ok' };
      },
      close: () => undefined,
    };
    const data = sampleDataFor('agent-reply', env.ctx.config, { language: 'de', queue: 'finance' }, true);
    const rendered = env.ctx.templates.render('agent-reply', data, { language: 'de', queue: 'finance' });
    const mailbox = mailboxOfQueue(env.ctx.config, 'finance');
    const result = await sendTestEmail(env.resolved, { kind: 'agent-reply', rendered, mailbox, to: 'lead@example.com' }, transport);
    expect(result).toMatchObject({ transport: 'fake', response: '250 ok', subject: '[TEST] [Case #10042] AW: Cannot log in since this morning' });
    const m = sent[0];
    expect(m).toMatchObject({
      from: { name: 'Billing Team', address: 'billing@example.com' },
      to: 'lead@example.com',
      subject: '[TEST] [Case #10042] AW: Cannot log in since this morning',
      headers: { 'X-Loop': 'casegate@support.example.com', 'Auto-Submitted': 'auto-generated', 'X-Casegate-Test': 'yes', 'X-Casegate-Template': 'agent-reply' },
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    expect(verifyMessageId(String(m?.messageId).replace(/^<|>$/g, ''), env.resolved.secret)).toEqual({ caseNumber: null });
    expect(String(m?.text)).toContain('*** TEST-E-MAIL');
    expect(String(m?.html)).toContain('<strong>Test-E-Mail:</strong>');

    // An edited subject without the marker still gets it.
    await sendTestEmail(env.resolved, { kind: 'agent-reply', rendered: { ...rendered, subject: 'Edited\r\nBcc: x@evil.example' }, mailbox, to: 'lead@example.com' }, transport);
    expect(sent[1]?.subject).toBe('[TEST] Edited Bcc: x@evil.example');
  });
});
