import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { eml, mxHeaderFields, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply, type ClientStyle, type Original } from '../helpers/mail-clients.js';
import { CORPUS } from '../helpers/corpus.js';

/**
 * An agent's emailed reply to a notification with nothing of their own in it — an empty reply, or
 * one with only a signature or a phone's "Sent from my iPhone" — sends the customer nothing, and
 * the agent is told once (empty-reply email). Found in hunt 12: Outlook's empty reply relayed its
 * quoted "From: Example Support … Sent: … To: ben@… Subject: [Case #10001] New case: …" block to
 * the customer as the agent's answer (first response recorded, the agent made owner), and a reply
 * with only "Ben Agent / Support Team" or "Regards, Ben" went to her as an answer. The clients'
 * shapes: test/helpers/mail-clients.ts, and the Outlook desktop (German), Outlook for iOS and
 * Windows Mail quote blocks of the shared corpus (crisp-email-reply-parser email_german_outlook,
 * email_ios_outlook; willdurand-emailreplyparser email_w10_mail). Whole pipeline, real database.
 */

const CONFIG: ConfigInput = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
};
const JANE = 'Jane Customer <jane@customer.example>';

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv(CONFIG);
});
afterEach(async () => {
  await env.close();
});

async function outbox(kind?: string): Promise<OutboxRow[]> {
  return (await env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute()).filter((o) => kind === undefined || o.kind === kind);
}
async function toJane(): Promise<OutboxRow[]> {
  return (await outbox()).filter((o) => o.to_address === 'jane@customer.example' && o.kind !== 'confirmation');
}
async function caseEvents() {
  return eventsOfCase(env.ctx.db, (await caseByNumber(env.ctx.db, 10001))!.id);
}
function asOriginal(o: OutboxRow): Original {
  return { messageId: o.message_id, subject: o.subject, text: o.text, fromName: o.from_name, fromAddress: o.from_address, references: o.references_text?.match(/[^<>\s]+/g) ?? [] };
}
async function newCase(): Promise<Original> {
  await env.ingest(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN client says "certificate expired" since 9:00.' }));
  return asOriginal((await outbox('agent-notification'))[0]!);
}

let seq = 0;
function reply(orig: Original, style: ClientStyle, body: string, subject?: string): string {
  return clientReply(orig, { style, from: 'Ben Agent <ben@example.com>', to: 'Example Support <support@example.com>', body, messageId: `empty-${++seq}@example.com`, headers: mxHeaderFields('example.com', 'pass'), ...(subject !== undefined ? { subject } : {}) });
}

/** A text/plain reply whose body is `above` followed by the client's quote of `orig` (its header block as the corpus shows it). */
function rawReply(orig: Original, subject: string, above: string, block: (o: Original) => string): string {
  return [
    ...Object.entries(mxHeaderFields('example.com', 'pass')).map(([k, v]) => `${k}: ${v}`),
    'From: Ben Agent <ben@example.com>',
    'To: Example Support <support@example.com>',
    `Subject: ${subject}`,
    'Date: Mon, 02 Mar 2026 10:15:00 +0100',
    `Message-ID: <empty-${++seq}@example.com>`,
    `In-Reply-To: <${orig.messageId}>`,
    `References: ${[...(orig.references ?? []), orig.messageId].map((r) => `<${r}>`).join(' ')}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `${above}\n\n${block(orig)}\n\n${orig.text}`.replace(/\r?\n/g, '\r\n'),
    '',
  ].join('\r\n');
}
const OUTLOOK_DESKTOP_DE = (o: Original) => `-----Ursprüngliche Nachricht-----\nVon: ${o.fromName} <${o.fromAddress}>\nGesendet: Montag, 2. März 2026 10:00\nAn: Ben Agent <ben@example.com>\nBetreff: ${o.subject}`;
const OUTLOOK_IOS = (o: Original) => `________________________________\nFrom: ${o.fromName} <${o.fromAddress}>\nSent: Monday, March 2, 2026 10:00:12 AM\nTo: Ben Agent <ben@example.com>\nSubject: ${o.subject}`;
const WINDOWS_MAIL = (o: Original) => `From: ${o.fromName}\nSent: March 2, 2026 10:00 AM\nTo: ben@example.com\nSubject: ${o.subject}`;

type Shape = { readonly name: string; readonly signature: string; readonly raw: (orig: Original) => string };
const SHAPES: readonly Shape[] = [
  { name: 'Outlook (new Outlook / web), empty', signature: '', raw: (o) => reply(o, 'outlook', '') },
  { name: 'Outlook with its signature only', signature: 'Support Team | Example Ltd', raw: (o) => reply(o, 'outlook', 'Ben Agent\nSupport Team | Example Ltd\n+49 30 1234 567') },
  { name: 'Outlook desktop (German), empty', signature: '', raw: (o) => rawReply(o, `AW: ${o.subject}`, '', OUTLOOK_DESKTOP_DE) },
  { name: 'Outlook for iOS, its line only', signature: '', raw: (o) => rawReply(o, `RE: ${o.subject}`, 'Get Outlook for iOS<https://aka.ms/o0ukef>', OUTLOOK_IOS) },
  { name: 'Windows Mail, its line and a name', signature: 'Sent from Mail', raw: (o) => rawReply(o, `RE: ${o.subject}`, 'Sent from Mail<https://go.microsoft.com/fwlink/?LinkId=550986> for Windows\n\nBen', WINDOWS_MAIL) },
  { name: 'Gmail, empty', signature: '', raw: (o) => reply(o, 'gmail', '') },
  { name: 'Gmail, a closing and a name', signature: 'Regards,', raw: (o) => reply(o, 'gmail', 'Regards,\nBen') },
  { name: 'Apple Mail, empty', signature: '', raw: (o) => reply(o, 'apple', '') },
  { name: 'iPhone Mail, "Sent from my iPhone"', signature: '', raw: (o) => reply(o, 'apple', 'Sent from my iPhone') },
  { name: 'Thunderbird, empty', signature: '', raw: (o) => reply(o, 'thunderbird', '') },
  { name: 'Thunderbird, its "-- " signature only', signature: 'Example Ltd', raw: (o) => reply(o, 'thunderbird', '-- \nBen Agent\nExample Ltd') },
];

describe('an agent’s reply with nothing written of their own', () => {
  it('sends the customer nothing, changes nothing on the case, and tells the agent why: every client’s empty and signature-only reply', async () => {
    const orig = await newCase();
    for (const shape of SHAPES) {
      const before = (await outbox('empty-reply')).length;
      const out = await env.ingest(shape.raw(orig));
      expect(out, shape.name).toMatchObject({ kind: 'stored', caseNumber: 10001 });
      expect(await toJane(), shape.name).toEqual([]);
      const told = await outbox('empty-reply');
      expect(told.length, shape.name).toBe(before + 1);
      const notice = told.at(-1)!;
      expect(notice.to_address).toBe('ben@example.com');
      expect(notice.subject).toBe('[Case #10001] Nothing sent, your reply had no text: VPN broken');
      expect(notice.text, shape.name).toContain('so NOTHING was sent to the customer and nothing on the case changed');
      if (shape.signature !== '') expect(notice.text, shape.name).toContain(`had nothing written but your signature`);
      if (shape.signature !== '') expect(notice.text, shape.name).toContain(shape.signature);
      // One notice an hour per case and agent: the next shape an hour later.
      env.clock.advance(3_600_000 + 1_000);
    }
    expect(await caseByNumber(env.ctx.db, 10001)).toMatchObject({ status: 'new', owner: null, first_response_at: null });
    const events = await caseEvents();
    expect(events.filter((e) => e.type === 'agent.empty-reply')).toHaveLength(SHAPES.length);
    expect(events.filter((e) => /agent\.replied|first-response|assign/.test(e.type))).toEqual([]);
  });

  it('a notification forwarded back with nothing added (FW:, Outlook) carries nothing: only our quoted header block is left, nothing is sent; a customer’s mail forwarded with nothing added still goes', async () => {
    const orig = await newCase();
    await env.ingest(reply(orig, 'outlook', '', `FW: ${orig.subject}`));
    expect(await toJane()).toEqual([]);
    expect((await outbox('empty-reply')).map((o) => o.to_address)).toEqual(['ben@example.com']);
    const customers = ['From: Jane Customer <jane@customer.example>', 'Sent: Monday, March 2, 2026 8:00 AM', 'To: Ben Agent <ben@example.com>', 'Subject: VPN', '', 'The certificate is from 2019, I just saw.'].join('\n');
    await env.ingest(eml({ from: 'Ben Agent <ben@example.com>', subject: `FW: ${orig.subject}`, messageId: 'fw-jane@example.com', body: customers }));
    const sent = await toJane();
    expect(sent.map((o) => o.kind)).toEqual(['agent-reply']);
    expect(sent[0]!.text).toContain('The certificate is from 2019');
  });

  it('a reply to an out-of-office-held notice with only a signature is a reply with nothing written: it sends the held text (one step), not the signature', async () => {
    const orig = await newCase();
    const FIX = "I'm away until Monday, but here is the fix: renew the certificate in Settings > VPN, then reconnect.";
    await env.ingest(reply(orig, 'gmail', FIX));
    const held = await outbox('out-of-office-held');
    expect(held).toHaveLength(1);
    await env.ingest(reply(asOriginal(held[0]!), 'outlook', 'Ben Agent\nSupport Team | Example Ltd'));
    const sent = await toJane();
    expect(sent.map((o) => o.kind)).toEqual(['agent-reply']);
    expect(sent[0]!.text).toContain('here is the fix: renew the certificate');
    expect(sent[0]!.text).not.toContain('Support Team | Example Ltd');
    expect(await outbox('empty-reply')).toEqual([]);
  });

  it('what the agent wrote still goes: a one-word answer, a thank-you, a signature with a P.S., commands with a signature below them (the signature is not sent)', async () => {
    const orig = await newCase();
    await env.ingest(reply(orig, 'gmail', 'Thanks!'));
    await env.ingest(reply(orig, 'outlook', 'Regards,\nBen\n\nP.S. Renew the certificate in Settings > VPN.'));
    await env.ingest(reply(orig, 'apple', 'Ben here: renew the certificate in Settings > VPN.\n\nSent from my iPhone'));
    await env.ingest(reply(orig, 'thunderbird', 'Thanks,\nBen'));
    // A customer who is Ben's namesake, greeted by name; a name and a sentence below it.
    await env.ingest(reply(orig, 'gmail', 'Ben,\nthe certificate is renewed'));
    await env.ingest(reply(orig, 'outlook', 'Ben\nThe certificate is renewed, please try again.'));
    const sent = await toJane();
    expect(sent.map((o) => o.kind)).toEqual(['agent-reply', 'agent-reply', 'agent-reply', 'agent-reply', 'agent-reply', 'agent-reply']);
    expect(sent[3]!.text).toContain('Thanks,\nBen');
    expect(sent[4]!.text).toContain('the certificate is renewed');
    expect(sent[5]!.text).toContain('please try again');
    expect(sent[0]!.text).toContain('Thanks!');
    expect(sent[1]!.text).toContain('P.S. Renew the certificate');
    expect(sent[2]!.text).toContain('Ben here: renew the certificate');
    await env.ingest(reply(orig, 'outlook', '#resolve\n\nBen Agent\nSupport Team | Example Ltd'));
    expect((await caseByNumber(env.ctx.db, 10001))!.status).toBe('resolved');
    const resolved = (await toJane()).at(-1)!;
    expect(resolved.kind).toBe('status-changed');
    expect(resolved.text).not.toContain('Support Team | Example Ltd');
    expect(await outbox('empty-reply')).toEqual([]);
  });

  it('one notice: a second empty reply within the hour and an empty reply to the notice itself tell nobody again; a text in reply to the notice goes to the customer', async () => {
    env = await (async () => {
      await env.close();
      return testEnv({ ...CONFIG, queues: { support: { ...CONFIG.queues!['support']!, language: 'de' } } });
    })();
    const orig = await newCase();
    await env.ingest(reply(orig, 'outlook', ''));
    const told = await outbox('empty-reply');
    expect(told).toHaveLength(1);
    expect(told[0]!.subject).toBe('[Case #10001] Nichts gesendet, Ihre Antwort enthielt keinen Text: VPN broken');
    expect(told[0]!.text).toContain('Es wurde NICHTS an den Kunden gesendet');
    expect(told[0]!.html).toContain('<strong>NICHTS gesendet</strong>');
    await env.ingest(reply(orig, 'gmail', '', 'Re: VPN broken (again)'));
    env.clock.advance(2 * 3_600_000);
    // Answering the notice with nothing (Outlook again): its quoted block is not sent, no new notice.
    await env.ingest(reply(asOriginal(told[0]!), 'outlook', ''));
    expect(await outbox('empty-reply')).toHaveLength(1);
    expect(await toJane()).toEqual([]);
    const reasons = (await caseEvents()).filter((e) => e.type === 'agent.empty-reply').map((e) => e.reason);
    expect(reasons).toEqual([
      'nothing sent to the customer: nothing written above the quoted email; ben@example.com told',
      'nothing sent to the customer: nothing written above the quoted email; ben@example.com was told within the hour',
      'nothing sent to the customer: nothing written above the quoted email; an empty reply to the empty-reply email: not told again',
    ]);
    await env.ingest(reply(asOriginal(told[0]!), 'outlook', 'Hallo Jane, bitte erneuern Sie das Zertifikat.'));
    const sent = await toJane();
    expect(sent.map((o) => o.kind)).toEqual(['agent-reply']);
    expect(sent[0]!.text).toContain('bitte erneuern Sie das Zertifikat');
    expect(sent[0]!.text).not.toContain('Nichts gesendet');
  });
});

/** A corpus reply body without its first paragraph (the words written): what is left is its signature, or its device line and quote. */
function corpusWithoutText(name: string): string {
  const body = readFileSync(path.join(CORPUS, 'crisp-email-reply-parser', name), 'utf8').replace(/\r\n?/g, '\n');
  return body.slice(body.indexOf('\n\n') + 2).trim();
}

describe('an agent’s signature that does not start with their configured name (agent "Ben Adams")', () => {
  const ADAMS: ConfigInput = { ...CONFIG, queues: { support: { agents: [{ name: 'Ben Adams', address: 'ben@example.com' }] } } };
  const COMPANY_BLOCK = 'Benjamin Adams\nSenior Support Engineer\nExample Ltd | 1 High Street | London EC1A 1BB\nT: +44 20 7946 0000 | M: +44 7700 900123\nwww.example.com';
  function adams(orig: Original, style: ClientStyle, body: string): string {
    return clientReply(orig, { style, from: 'Ben Adams <ben@example.com>', to: 'Example Support <support@example.com>', body, messageId: `adams-${++seq}@example.com`, headers: mxHeaderFields('example.com', 'pass') });
  }
  const SIGNATURES: readonly { readonly name: string; readonly raw: (o: Original) => string; readonly noSignature?: true }[] = [
    { name: 'a closing and an initial on one line', raw: (o) => adams(o, 'gmail', 'Best, B.') },
    { name: 'a closing and the first name on one line', raw: (o) => adams(o, 'gmail', 'Regards, Ben') },
    { name: 'the longer first name', raw: (o) => adams(o, 'apple', 'Benjamin') },
    { name: 'a dash and an initial', raw: (o) => adams(o, 'gmail', '-B') },
    { name: 'initial and last name, company', raw: (o) => adams(o, 'outlook', 'B. Adams\nExample Ltd') },
    { name: 'Outlook’s company block with phone numbers', raw: (o) => adams(o, 'outlook', COMPANY_BLOCK) },
    { name: 'a company block that starts with the company', raw: (o) => adams(o, 'outlook', 'Example Ltd\nCustomer Support\nTel. +44 20 7946 0000\nsupport@example.com | www.example.com') },
    { name: 'a team line', raw: (o) => adams(o, 'outlook', 'Support team | Example Ltd') },
    { name: 'a German company block with its legal lines', raw: (o) => adams(o, 'outlook', 'Mit freundlichen Grüßen\n\nBenjamin Adams\nKundenservice\n\nExample GmbH | Musterstraße 1 | 10115 Berlin\nTel.: +49 30 1234567\nGeschäftsführer: Max Muster | Amtsgericht Berlin-Charlottenburg HRB 12345') },
    { name: 'a confidentiality footer', raw: (o) => adams(o, 'outlook', 'Kind regards,\nBen Adams\nExample Ltd\n\nThis email and any attachments are confidential and intended solely for the addressee. If you have received it in error, please notify the sender and delete it.') },
    { name: 'a name with its team, and "consider the environment"', raw: (o) => adams(o, 'gmail', 'Ben Adams | Support\nPlease consider the environment before printing this email.') },
    { name: 'corpus email_tricky_11_double_signature, its text taken out', raw: (o) => adams(o, 'gmail', corpusWithoutText('email_tricky_11_double_signature.txt')) },
    { name: 'corpus email_tricky_16_unicode_signatures, its text taken out ("Cheers 🎉", "📱 +1 …")', raw: (o) => adams(o, 'apple', corpusWithoutText('email_tricky_16_unicode_signatures.txt')) },
    { name: 'corpus email_ios_outlook_fr, its text taken out (French Outlook for iOS line above its quote)', raw: (o) => rawReply(o, `RE: ${o.subject}`, corpusWithoutText('email_ios_outlook_fr.txt'), () => ''), noSignature: true },
    // A phone's line above the quote ends the text where it stands (visible-text): nothing written, no signature either.
    { name: 'iPhone Mail in German', raw: (o) => adams(o, 'apple', 'Von meinem iPhone gesendet'), noSignature: true },
  ];

  it('a reply with only such a signature sends the customer nothing and tells the agent, with the signature', async () => {
    env = await (async () => {
      await env.close();
      return testEnv(ADAMS);
    })();
    const orig = await newCase();
    for (const shape of SIGNATURES) {
      const before = (await outbox('empty-reply')).length;
      expect(await env.ingest(shape.raw(orig)), shape.name).toMatchObject({ kind: 'stored', caseNumber: 10001 });
      expect(await toJane(), shape.name).toEqual([]);
      const told = await outbox('empty-reply');
      expect(told.length, shape.name).toBe(before + 1);
      expect(told.at(-1)!.text, shape.name).toContain('so NOTHING was sent to the customer and nothing on the case changed');
      if (shape.noSignature !== true) expect(told.at(-1)!.text, shape.name).toContain('had nothing written but your signature');
      env.clock.advance(3_600_000 + 1_000);
    }
    expect(await caseByNumber(env.ctx.db, 10001)).toMatchObject({ status: 'new', owner: null, first_response_at: null });
    expect((await caseEvents()).filter((e) => e.type === 'agent.empty-reply')).toHaveLength(SIGNATURES.length);
  });

  it('what Ben Adams wrote goes as written, his signature included, and the email adds no second closing below it; short answers are no signature', async () => {
    env = await (async () => {
      await env.close();
      return testEnv(ADAMS);
    })();
    const orig = await newCase();
    const answers = ['Done', 'Yes', 'Call me: +44 20 7946 0000', 'www.example.com/kb/vpn-certificate', 'Thanks,\nB.', `Please restart the VPN client.\n\n${COMPANY_BLOCK}`, 'Renewed it.\n\nBest, B.'];
    for (const body of answers) await env.ingest(adams(orig, 'gmail', body));
    const sent = await toJane();
    expect(sent.map((o) => o.kind)).toEqual(answers.map(() => 'agent-reply'));
    expect(await outbox('empty-reply')).toEqual([]);
    for (const [i, body] of answers.entries()) expect(sent[i]!.text).toContain(body);
    // The template's own closing ("Kind regards,\nBen Adams") only below a text that has none.
    expect(sent[0]!.text).toContain('Done\n\nKind regards,\nBen Adams');
    expect(sent[5]!.text).not.toContain('Kind regards');
    expect(sent[6]!.text).not.toContain('Kind regards');
  });
});
