import { describe, expect, it } from 'vitest';
import { detectAutomated } from '../../src/mail-in/automated.js';
import { addressRole } from '../../src/mail-in/sender-roles.js';
import { recipientRefusal } from '../../src/mail-out/recipient-refusal.js';
import { testEnv } from '../helpers/context.js';
import { makeMail } from '../helpers/parsed-mail-factory.js';

/**
 * Machine mail without RFC 3834 headers (issue 9 item 6): no-reply senders found anywhere in the
 * local part, read receipts, vendor out-of-office subjects, provider headers, challenge-response
 * filters — and the person-written look-alikes that must stay human.
 */

describe('addressRole: the local part is tokenised, not matched at its start only', () => {
  it.each([
    ['no_reply@shop.example', 'no-reply'],
    ['noreply+123@shop.example', 'no-reply'],
    ['donotreply-billing@bank.example', 'no-reply'],
    ['do_not_reply@bank.example', 'no-reply'],
    ['do-not-reply@bank.example', 'no-reply'],
    ['noreply.alerts@monitor.example', 'no-reply'],
    ['newsalerts-noreply@news.example', 'no-reply'],
    ['googlealerts-noreply@google.example', 'no-reply'],
    ['no-reply-aws@amazon.example', 'no-reply'],
    ['NoReply2@example.org', 'no-reply'],
    ['ne-pas-repondre@impots.example', 'no-reply'],
    ['nicht-antworten@bahn.example', 'no-reply'],
    ['no-responder@banco.example', 'no-reply'],
    ['bounces+abc=customer.example@lists.example', 'bounces'],
    ['bounce-1234-5678@mailer.example', 'bounces'],
    ['MAILER-DAEMON@mx.example', 'mailer-daemon'],
    ['mailer_daemon@mx.example', 'mailer-daemon'],
    ['postmaster@example.org', 'postmaster'],
    ['post_master@vtext.example', 'postmaster'],
  ])('%s → %s', (address, role) => {
    expect(addressRole(address)).toBe(role);
  });

  it.each([
    'reply@example.com',
    'noreen@example.com',
    'juno.reply@example.com',
    'bouncer@club.example',
    'jane.doe@example.com',
    'postmaster.jane@example.com',
    'no@example.com',
    'info@example.com',
  ])('%s is an ordinary mailbox', (address) => {
    expect(addressRole(address)).toBeNull();
  });
});

describe('detectAutomated: machine mail without RFC 3834 headers', () => {
  it.each([
    ['a no-reply sender, token not at the start', makeMail({ from: 'News Alerts <newsalerts-noreply@news.example>', subject: 'News alert - "example"' }), 'auto-generated'],
    ['a bounce-collecting sender', makeMail({ from: 'bounces+abc@lists.example', subject: 'Your weekly digest' }), 'auto-generated'],
    ['Lotus Notes "AUTO: … is out of the office"', makeMail({ subject: 'AUTO: Jane Doe is out of the office (returning 09.03.2026)' }), 'auto-reply'],
    ['Lotus Notes in German', makeMail({ subject: 'AUTO: Jana Becker ist außer Haus (Rückkehr am 09.03.2026)' }), 'auto-reply'],
    ['Polish OOO prefix', makeMail({ subject: 'Automatyczna odpowiedź: Faktura 12/2026' }), 'auto-reply'],
    ['Russian OOO prefix', makeMail({ subject: 'Автоматический ответ: Счёт' }), 'auto-reply'],
    ['Swedish absence message', makeMail({ subject: 'Frånvaromeddelande: Offert' }), 'auto-reply'],
    ['Japanese auto-reply with a full-width colon', makeMail({ subject: '自動返信：お問い合わせ' }), 'auto-reply'],
    ['French Exchange OOF', makeMail({ subject: "Réponse automatique d'absence du bureau : Devis" }), 'auto-reply'],
    [
      'Outlook TNEF read receipt',
      makeMail({ subject: 'Read: Printer on fire', reportParts: [{ contentType: 'application/ms-tnef', content: '\u0078\u009f>"\u0001\u0008\u0080\u0007\u0000REPORT.IPM.Note.IPNRN\u0000' }] }),
      'auto-reply',
    ],
    ['a "Gelesen:" receipt with X-MS-TNEF-Correlator', makeMail({ subject: 'Gelesen: Angebot', headers: { 'x-ms-tnef-correlator': '' } }), 'auto-reply'],
    ['a "Read:" receipt by its wording', makeMail({ subject: 'Read: Invoice 4711', text: 'Your message\n\n  To: support@example.com\n  Subject: Invoice 4711\n\nwas read on Monday, March 2, 2026 9:58 AM.' }), 'auto-reply'],
    ['an MDN part inside multipart/mixed', makeMail({ subject: 'Disposition notification', reportParts: [{ contentType: 'message/disposition-notification', content: 'Final-Recipient: rfc822; a@b.example\nDisposition: manual-action/MDN-sent-manually; displayed\n' }] }), 'auto-reply'],
    ['Exchange Mailbox Rules Agent', makeMail({ subject: 'Printer on fire', headers: { 'auto-submitted': 'auto-generated', 'x-ms-exchange-generated-message-source': 'Mailbox Rules Agent' } }), 'auto-reply'],
    ['Exchange transport-rule notice', makeMail({ subject: 'Message blocked', headers: { 'x-ms-exchange-generated-message-source': 'Transport Rule Agent' } }), 'auto-generated'],
    ['Exchange inbox-rule mail', makeMail({ subject: 'FW: order', headers: { 'x-ms-exchange-inbox-rules-loop': 'someone@customer.example' } }), 'auto-generated'],
    ['Exchange NDR marker', makeMail({ subject: 'Notice', headers: { 'x-ms-exchange-message-is-ndr': '' } }), 'bounce'],
    ['ServiceNow notification', makeMail({ subject: 'Incident INC0012345 updated', headers: { 'x-servicenow-generated': 'true' } }), 'auto-generated'],
    ['Salesforce workflow alert', makeMail({ subject: 'Contract renewal in 30 days', headers: { 'x-sfdc-emailcategory': 'workflowActionAlert' } }), 'auto-generated'],
    ['TMDA challenge', makeMail({ subject: 'Please confirm your message', headers: { 'x-delivery-agent': 'TMDA/1.1.12 (Macallan)' } }), 'auto-reply'],
    [
      'a challenge-response filter',
      makeMail({ subject: 'Please confirm your message: Printer on fire', text: 'I use MailGuard to protect my inbox from spam. Your message is held until you confirm.' }),
      'auto-generated',
    ],
  ])('%s', (_name, mail, kind) => {
    expect(detectAutomated(mail)?.kind).toBe(kind);
  });

  it.each([
    ['"Auto:" meaning car', makeMail({ subject: 'Auto: Schaden melden, Kennzeichen HB-XY 123' })],
    ['a subject about read access', makeMail({ subject: 'Read: access to the shared drive', text: 'Hi, I cannot read files on the share since Monday.' })],
    ['a question about out-of-office settings', makeMail({ subject: 'Out of office question', text: 'How do I set up an out-of-office reply in your webmail?' })],
    ['a customer who cannot confirm their e-mail', makeMail({ subject: 'Please confirm my email address', text: 'I never got the confirmation link. Can you verify my email manually?' })],
    ['an agent reply from a Salesforce case feed', makeMail({ subject: 'Re: Case 00012345', headers: { 'x-sfdc-emailcategory': 'emailPublisherEmail' } })],
    ['mail from a person named Reply', makeMail({ from: 'juno.reply@example.com', subject: 'Hello' })],
  ])('%s stays person-written', (_name, mail) => {
    expect(detectAutomated(mail)).toBeNull();
  });
});

describe('recipientRefusal: addresses nobody reads are never written to', () => {
  it.each([
    ['newsalerts-noreply@news.example', 'address is a no-reply address'],
    ['do_not_reply@bank.example', 'address is a no-reply address'],
    ['bounces+abc@lists.example', 'address is a bounces address'],
    ['postmaster@customer.example', 'address is a postmaster address'],
    ['MAILER-DAEMON@mx.example', 'address is a mailer-daemon address'],
    ['jane@customer.example', null],
    ['reply@customer.example', null],
  ])('%s → %s', async (address, refusal) => {
    const env = await testEnv();
    try {
      expect(await recipientRefusal(env.ctx, env.ctx.db, address.toLowerCase())).toBe(refusal);
    } finally {
      await env.close();
    }
  });

  it('autoReply.neverTo adds patterns to the built-in ones', async () => {
    const env = await testEnv({ autoReply: { neverTo: ['@robots\\.example$'] } });
    try {
      expect(await recipientRefusal(env.ctx, env.ctx.db, 'anna@robots.example')).toBe('address matches autoReply.neverTo');
      expect(await recipientRefusal(env.ctx, env.ctx.db, 'noreply@other.example')).toBe('address is a no-reply address');
    } finally {
      await env.close();
    }
  });
});
