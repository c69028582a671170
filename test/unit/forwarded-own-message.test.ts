import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addParticipant, caseByNumber, participants } from '../../src/db/repos/cases.js';
import { subjectKey } from '../../src/cases/subject-key.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { messagesOfCase } from '../../src/db/repos/messages.js';
import { inlineForwardedOriginal, isForwardSubject } from '../../src/mail-in/forwarded-original.js';
import { formatCaseDetail } from '../../src/cli/case-views.js';
import { caseDetail } from '../../src/views.js';
import { eml, mxHeaders, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * A customer forwards her own earlier message ("Fwd: …" — "any news?"), without In-Reply-To or
 * References (Outlook, Apple Mail, Gmail's web forward). The forwarded block is text anyone can copy
 * or type, so it proves nothing on its own: it threads into her case only when she wrote the
 * forwarded message and her sender authentication passes (what the subject tag and her own
 * Message-ID already require); from anyone else, or unproven, it opens a new case linked to hers
 * ("possibly related", events on both) and puts nothing into hers. Whole pipeline, one database
 * for the file; each test has customers of its own.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await testEnv({ autoReply: { minIntervalSeconds: 0 }, queues: { support: { agents: [{ address: 'ben@example.com', name: 'Ben Agent' }] } } });
});
afterAll(async () => {
  await env.close();
});

const DAY = 86_400_000;

async function stored(raw: string) {
  const out = await env.ingest(raw);
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  return out;
}

async function caseOf(n: number) {
  return (await caseByNumber(env.ctx.db, n))!;
}

async function inbound(n: number) {
  return (await messagesOfCase(env.ctx.db, (await caseOf(n)).id)).filter((m) => m.direction === 'in');
}

const gmailForward = (from: string, subject: string, text: string) =>
  `Any news on this?\n\n---------- Forwarded message ---------\nFrom: ${from}\nDate: Mon, Mar 2, 2026 at 9:00 AM\nSubject: ${subject}\nTo: <support@example.com>\n\n${text}\n`;
const outlookForward = (from: string, subject: string, text: string) =>
  `Still waiting for an answer.\n\n-----Original Message-----\nFrom: ${from}\nSent: Monday, March 2, 2026 9:00 AM\nTo: support@example.com\nSubject: ${subject}\n\n${text}\n`;


/** "Any news?" with the forwarded message attached (message/rfc822), from a customer.example sender whose DMARC passed. */
function forwardAttached(from: string, subject: string, messageId: string, attached: string): string {
  return [
    ...mxHeaders('customer.example', 'pass'),
    `From: ${from}`,
    'To: support@example.com',
    `Subject: ${subject}`,
    `Message-ID: <${messageId}>`,
    'Date: Wed, 04 Mar 2026 09:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="fw"',
    '',
    '--fw',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Any news?',
    '--fw',
    'Content-Type: message/rfc822',
    '',
    attached,
    '--fw--',
    '',
  ].join('\r\n');
}

/**
 * Cheap history: copies of a stored case (and its first message) with another number, subject,
 * requester and time, written directly; `copy(n, …)` makes case number `base + n`, its message Dated
 * two minutes before it opened; `say(caseId, …)` adds a later inbound message to a case.
 */
async function copier(caseNumber: number, base: number) {
  const template = await caseOf(caseNumber);
  const [message] = await inbound(caseNumber);
  const say = async (caseId: number, from: string, subject: string, sent: Date, text: string) => {
    const { id: _mid, ...m } = message!;
    await env.ctx.db.insertInto('messages').values({ ...m, case_id: caseId, from_address: from, subject, message_id: null, receipt_id: null, raw_sha256: null, sent_at: sent.toISOString(), created_at: new Date(sent.getTime() + 120_000).toISOString(), text, visible_text: text }).execute();
  };
  const copy = async (n: number, subject: string, at: Date, requester = template.requester_address) => {
    const iso = at.toISOString();
    const { id: _id, ...row } = template;
    const made = await env.ctx.db.insertInto('cases').values({ ...row, number: base + n, subject, subject_key: subjectKey(subject), requester_address: requester, created_at: iso, updated_at: iso }).returning('id').executeTakeFirstOrThrow();
    await addParticipant(env.ctx.db, made.id, requester, template.requester_name, 'requester', iso);
    await say(made.id, requester, subject, new Date(at.getTime() - 120_000), message!.visible_text);
    return made.id;
  };
  return Object.assign(copy, { say });
}

/** How Outlook (en-US, its clock in Berlin) shows an instant in a forward's "Sent:" line: no zone. */
const outlookShown = (at: Date) =>
  `${at.toLocaleDateString('en-US', { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric', timeZone: 'Europe/Berlin' })} ${at.toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit', timeZone: 'Europe/Berlin' })}`;

describe('a forward of a message that opened a case', () => {
  it('the requester forwarding her own message, sender authenticated (Gmail and Outlook forwards): threads into her case, no second case', async () => {
    const first = await stored(eml({ from: 'Anna <anna@customer.example>', subject: 'Printer on fire', body: 'The printer in room 4 is on fire.', messageId: 'anna-1@customer.example' }));
    env.clock.advance(2 * DAY);
    for (const [i, body] of [gmailForward('Anna <anna@customer.example>', 'Printer on fire', 'The printer in room 4 is on fire.'), outlookForward('Anna [mailto:anna@customer.example]', 'Printer on fire', 'The printer in room 4 is on fire.')].entries()) {
      const fwd = await stored(eml({ from: 'Anna <anna@customer.example>', subject: i === 0 ? 'Fwd: Printer on fire' : 'FW: Printer on fire', body, messageId: `anna-fwd-${i}@customer.example` }));
      expect(fwd).toMatchObject({ created: false, caseNumber: first.caseNumber, reason: 'appended (forwarded-copy)' });
    }
    expect((await inbound(first.caseNumber)).map((m) => m.thread_rule)).toEqual(['new', 'forwarded-copy', 'forwarded-copy']);
    // One confirmation, for the case: none for her forwards into it.
    expect(await env.ctx.db.selectFrom('outbox').select('kind').where('to_address', '=', 'anna@customer.example').where('kind', '=', 'confirmation').execute()).toHaveLength(1);
  });

  it('forwarded as an attachment (message/rfc822) by the requester: threads too', async () => {
    const first = await stored(eml({ from: 'Otto <otto@customer.example>', subject: 'VPN drops every hour', body: 'The VPN drops every hour.', messageId: 'otto-1@customer.example' }));
    env.clock.advance(DAY);
    const attached = `From: Otto <otto@customer.example>\r\nTo: support@example.com\r\nSubject: VPN drops every hour\r\nDate: Mon, 02 Mar 2026 09:00:00 +0000\r\nMessage-ID: <otto-1@customer.example>\r\n\r\nThe VPN drops every hour.\r\n`;
    const raw = forwardAttached('Otto <otto@customer.example>', 'Fwd: VPN drops every hour', 'otto-fwd@customer.example', attached);
    expect(await stored(raw)).toMatchObject({ created: false, caseNumber: first.caseNumber, reason: 'appended (forwarded-copy)' });
  });

  it('the requester unauthenticated (dmarc=none): a new case linked to hers, "possibly related", nothing put into hers', async () => {
    const first = await stored(eml({ from: 'Petra <petra@customer.example>', subject: 'Login fails', body: 'I cannot log in.', messageId: 'petra-1@customer.example' }));
    env.clock.advance(DAY);
    const fwd = await stored(eml({ from: 'Petra <petra@customer.example>', subject: 'Fwd: Login fails', body: gmailForward('Petra <petra@customer.example>', 'Login fails', 'I cannot log in.'), auth: 'none', messageId: 'petra-fwd@customer.example' }));
    expect(fwd).toMatchObject({ created: true, reason: 'new case (new-forwarded-copy)' });
    const original = await caseOf(first.caseNumber);
    expect((await caseOf(fwd.caseNumber)).linked_case_id).toBe(original.id);
    expect(await inbound(first.caseNumber)).toHaveLength(1);
    const created = (await eventsOfCase(env.ctx.db, (await caseOf(fwd.caseNumber)).id)).find((e) => e.type === 'case.created');
    expect(created?.reason).toBe(`new-forwarded-copy: linked to case ${first.caseNumber}`);
    const linked = (await eventsOfCase(env.ctx.db, original.id)).find((e) => e.type === 'case.linked');
    expect(linked?.reason).toMatch(new RegExp(`^new-forwarded-copy: new case ${fwd.caseNumber} `));
    // What an agent reads in `casegate cases show`: the case it is possibly related to, by number.
    const shown = formatCaseDetail((await caseDetail(env.ctx.db, fwd.caseNumber))!, (a) => a);
    expect(shown).toContain(`linked to case ${first.caseNumber} (possibly related: casegate cases show ${first.caseNumber})`);
    expect(shown).toContain(`new-forwarded-copy: linked to case ${first.caseNumber}`);
    // What the agent answering the new case reads: the customer already has that case.
    const notice = async (n: number) => env.ctx.db.selectFrom('outbox').select(['text', 'html']).where('kind', '=', 'agent-notification').where('case_id', '=', (await caseOf(n)).id).where('to_address', '=', 'ben@example.com').executeTakeFirstOrThrow();
    const related = await notice(fwd.caseNumber);
    expect(related.text).toContain(`Possibly related: this case is linked to case ${first.caseNumber} "Login fails" (casegate cases show ${first.caseNumber}).`);
    expect(related.html).toContain(`linked to case <strong>${first.caseNumber}</strong>`);
    // An ordinary new case's notification names no other case.
    const plain = await notice(first.caseNumber);
    expect(plain.text).toContain('A new case was opened');
    expect(plain.text).not.toContain('Possibly related');
    expect(plain.html).not.toContain('Possibly related');
  });

  it('a stranger forwarding the customer’s message (authenticated as himself): a new linked case; he is not enrolled in hers, nothing put into it', async () => {
    const first = await stored(eml({ from: 'Rosa <rosa@customer.example>', subject: 'Invoice 88 is wrong', body: 'Invoice 88 is wrong.', messageId: 'rosa-1@customer.example' }));
    env.clock.advance(DAY);
    const fwd = await stored(eml({ from: 'Mallory <mallory@evil.example>', subject: 'Fwd: Invoice 88 is wrong', body: gmailForward('Rosa <rosa@customer.example>', 'Invoice 88 is wrong', 'Invoice 88 is wrong.'), messageId: 'mallory-fwd@evil.example' }));
    expect(fwd).toMatchObject({ created: true, reason: 'new case (new-forwarded-copy)' });
    expect((await caseOf(fwd.caseNumber)).linked_case_id).toBe((await caseOf(first.caseNumber)).id);
    expect(await inbound(first.caseNumber)).toHaveLength(1);
    expect((await participants(env.ctx.db, (await caseOf(first.caseNumber)).id)).map((p) => p.address)).toEqual(['rosa@customer.example']);
    // Mallory typing Rosa's address into the From line of the block is the same claim: still a stranger.
    const typed = await stored(eml({ from: 'Mallory <mallory@evil.example>', subject: 'Fwd: Invoice 88 is wrong', body: gmailForward('rosa@customer.example', 'Invoice 88 is wrong', 'anything'), messageId: 'mallory-fwd2@evil.example' }));
    expect(typed).toMatchObject({ created: true, reason: 'new case (new-forwarded-copy)' });
  });

  it('an agent forwarding a customer’s message to support@ opens a linked case for it; it is never agent mail answering that customer', async () => {
    const first = await stored(eml({ from: 'Karl <karl@customer.example>', subject: 'Shipment lost', body: 'My shipment is lost.', messageId: 'karl-1@customer.example' }));
    const fwd = await stored(eml({ from: 'Ben Agent <ben@example.com>', subject: 'Fwd: Shipment lost', body: gmailForward('Karl <karl@customer.example>', 'Shipment lost', 'My shipment is lost.'), messageId: 'ben-fwd@example.com' }));
    expect(fwd).toMatchObject({ created: true, reason: 'new case (new-forwarded-copy)' });
    expect(await inbound(first.caseNumber)).toHaveLength(1);
    expect(await env.ctx.db.selectFrom('outbox').select('kind').where('to_address', '=', 'karl@customer.example').where('kind', '!=', 'confirmation').execute()).toEqual([]);
  });

  it('two cases of hers with the same subject: the forward goes to the case holding the forwarded message (by its text), not the newer one', async () => {
    const older = await stored(eml({ from: 'Lena <lena@customer.example>', subject: 'Invoice', body: 'Invoice 12 charges VAT twice.', messageId: 'lena-1@customer.example' }));
    env.clock.advance(DAY);
    const newer = await stored(eml({ from: 'Lena <lena@customer.example>', subject: 'Invoice', body: 'Invoice 13 is missing the discount we agreed.', messageId: 'lena-2@customer.example' }));
    expect(newer.created).toBe(true);
    env.clock.advance(DAY);
    // Gmail's block: a local time without its zone, so the text tells them apart (re-wrapped, quoted: still the same words).
    const fwd = await stored(eml({ from: 'Lena <lena@customer.example>', subject: 'Fwd: Invoice', body: gmailForward('Lena <lena@customer.example>', 'Invoice', '> Invoice 12 charges\n> VAT twice.'), messageId: 'lena-fwd@customer.example' }));
    expect(fwd).toMatchObject({ created: false, caseNumber: older.caseNumber, reason: 'appended (forwarded-copy)' });
    expect(await inbound(newer.caseNumber)).toHaveLength(1);
    // Unproven, it links to that case too.
    const linked = await stored(eml({ from: 'Lena <lena@customer.example>', subject: 'Fwd: Invoice', body: gmailForward('Lena <lena@customer.example>', 'Invoice', 'Invoice 12 charges VAT twice.'), auth: 'none', messageId: 'lena-fwd2@customer.example' }));
    expect(linked).toMatchObject({ created: true, reason: 'new case (new-forwarded-copy)' });
    expect((await caseOf(linked.caseNumber)).linked_case_id).toBe((await caseOf(older.caseNumber)).id);
  });

  it('two cases with the same subject and the same text: an attached message’s Date tells them apart, so does a Gmail block’s local time read in her zone; when nothing does, the newest (today’s rule)', async () => {
    const body = 'Please correct my invoice.';
    const older = await stored(eml({ from: 'Ida <ida@customer.example>', subject: 'Wrong invoice', body, date: 'Mon, 02 Mar 2026 09:00:00 +0000', messageId: 'ida-1@customer.example' }));
    env.clock.advance(DAY);
    const newer = await stored(eml({ from: 'Ida <ida@customer.example>', subject: 'Wrong invoice', body, date: 'Tue, 03 Mar 2026 09:00:00 +0000', messageId: 'ida-2@customer.example' }));
    expect(newer.created).toBe(true);
    const attached = `From: Ida <ida@customer.example>\r\nTo: support@example.com\r\nSubject: Wrong invoice\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\n${body}\r\n`;
    const raw = forwardAttached('Ida <ida@customer.example>', 'Fwd: Wrong invoice', 'ida-fwd@customer.example', attached);
    expect(await stored(raw)).toMatchObject({ created: false, caseNumber: older.caseNumber, reason: 'appended (forwarded-copy)' });
    // Gmail's block shows "Mon, Mar 2, 2026 at 9:00 AM", no zone: her own Date header (+0000) says which: the older one.
    const gmail = await stored(eml({ from: 'Ida <ida@customer.example>', subject: 'Fwd: Wrong invoice', body: gmailForward('Ida <ida@customer.example>', 'Wrong invoice', body), date: 'Wed, 04 Mar 2026 11:00:00 +0000', messageId: 'ida-fwd2@customer.example' }));
    expect(gmail).toMatchObject({ created: false, caseNumber: older.caseNumber, reason: 'appended (forwarded-copy)' });
    // A time that is neither of hers (9:30): nothing tells which, so the newest, as before.
    const neither = await stored(eml({ from: 'Ida <ida@customer.example>', subject: 'Fwd: Wrong invoice', body: gmailForward('Ida <ida@customer.example>', 'Wrong invoice', body).replace('9:00 AM', '9:30 AM'), date: 'Wed, 04 Mar 2026 11:05:00 +0000', messageId: 'ida-fwd3@customer.example' }));
    expect(neither).toMatchObject({ created: false, caseNumber: newer.caseNumber, reason: 'appended (forwarded-copy)' });
  });

  it('the local time Outlook (its rule, its bare block, French), Gmail (German) show without a zone is read in the forwarder’s zone, an hour either side for daylight saving time', async () => {
    const body = 'Where is my order?';
    const say = (n: number, date: string) => stored(eml({ from: 'Nora <nora@customer.example>', subject: 'Order 5521', body, date, messageId: `nora-${n}@customer.example` }));
    const older = await say(1, 'Wed, 04 Mar 2026 15:04:27 +0100');
    const newer = await say(2, 'Thu, 05 Mar 2026 15:04:10 +0100');
    const block = {
      outlook: 'Any news?\n\n-----Original Message-----\nFrom: Nora <nora@customer.example>\nSent: Wednesday, March 4, 2026 3:04 PM\nTo: support@example.com\nSubject: Order 5521\n\nWhere is my order?\n',
      gmailDe: 'Gibt es Neuigkeiten?\n\n---------- Weitergeleitete Nachricht ---------\nVon: Nora <nora@customer.example>\nDate: Mi., 4. März 2026 um 15:04\nSubject: Order 5521\nTo: <support@example.com>\n\nWhere is my order?\n',
      outlookFr: 'Des nouvelles ?\n\n-----Message d\'origine-----\nDe : Nora <nora@customer.example>\nEnvoyé : mercredi 4 mars 2026 15:04\nÀ : support@example.com\nObjet : Order 5521\n\nWhere is my order?\n',
      // Outlook's HTML forward as its text part: the rule of underscores, or (German) no line at all above the block.
      outlookRule: 'Any news?\n\n________________________________\nFrom: Nora <nora@customer.example>\nSent: Wednesday, March 4, 2026 3:04 PM\nTo: support@example.com\nSubject: Order 5521\n\nWhere is my order?\n',
      outlookDeBare: 'Gibt es Neuigkeiten?\n\nVon: Nora <nora@customer.example>\nGesendet: Mittwoch, 4. März 2026 15:04\nAn: support@example.com\nBetreff: Order 5521\n\nWhere is my order?\n',
    };
    for (const [i, text] of Object.values(block).entries()) {
      const fwd = await stored(eml({ from: 'Nora <nora@customer.example>', subject: 'WG: Order 5521', body: text, date: `Mon, 09 Mar 2026 10:0${i}:00 +0100`, messageId: `nora-fwd-${i}@customer.example` }));
      expect(fwd, text).toMatchObject({ created: false, caseNumber: older.caseNumber, reason: 'appended (forwarded-copy)' });
    }
    // Outlook on the web, HTML only (its <hr> and bold labels; the text we read is made from the HTML).
    const html = '<html><body><div>Any news?</div><div id="divRplyFwdMsg"><hr style="display:inline-block;width:98%"><font face="Calibri"><b>From:</b> Nora &lt;nora@customer.example&gt;<br><b>Sent:</b> Wednesday, March 4, 2026 3:04 PM<br><b>To:</b> support@example.com<br><b>Subject:</b> Order 5521</font><div>&nbsp;</div></div><div>Where is my order?</div></body></html>';
    const web = await stored(eml({ from: 'Nora <nora@customer.example>', subject: 'FW: Order 5521', html, date: 'Mon, 09 Mar 2026 11:00:00 +0100', messageId: 'nora-fwd-html@customer.example' }));
    expect(web).toMatchObject({ created: false, caseNumber: older.caseNumber, reason: 'appended (forwarded-copy)' });
    expect(await inbound(newer.caseNumber)).toHaveLength(1);
    // Written in summer (+0200), forwarded in winter (+0100): Outlook shows the summer time, 15:04.
    const july = await say(3, 'Tue, 07 Jul 2026 15:04:00 +0200');
    await say(4, 'Wed, 08 Jul 2026 15:04:00 +0200');
    const winter = await stored(eml({ from: 'Nora <nora@customer.example>', subject: 'FW: Order 5521', body: block.outlook.replace('Wednesday, March 4, 2026 3:04 PM', 'Tuesday, July 7, 2026 3:04 PM'), date: 'Mon, 07 Dec 2026 09:00:00 +0100', messageId: 'nora-fwd-winter@customer.example' }));
    expect(winter).toMatchObject({ created: false, caseNumber: july.caseNumber, reason: 'appended (forwarded-copy)' });
  });

  it('a local time that fits two of her messages, or a forwarder without a zone, never decides: the text does, else the newest', async () => {
    const say = (n: number, body: string, date: string) => stored(eml({ from: 'Olga <olga@customer.example>', subject: 'Printer', body, date, messageId: `olga-${n}@customer.example` }));
    const first = await say(1, 'Printer A prints blank pages.', 'Fri, 06 Mar 2026 09:30:00 +0100');
    const second = await say(2, 'Printer B jams on every page.', 'Fri, 06 Mar 2026 10:30:00 +0100');
    // 10:30 shown, her zone +0100: the second — or, an hour off, the first. The text is the first's.
    const forwarded = outlookForward('Olga <olga@customer.example>', 'Printer', 'Printer A prints blank pages.').replace('Monday, March 2, 2026 9:00 AM', 'Friday, March 6, 2026 10:30 AM');
    const fwd = await stored(eml({ from: 'Olga <olga@customer.example>', subject: 'FW: Printer', body: forwarded, date: 'Mon, 09 Mar 2026 10:00:00 +0100', messageId: 'olga-fwd-1@customer.example' }));
    expect(fwd).toMatchObject({ created: false, caseNumber: first.caseNumber, reason: 'appended (forwarded-copy)' });
    // Same texts, and a forward whose own Date names no zone (-0000): the shown 9:30 is not read
    // (in +0100 it would be the older one's); nothing tells, so the newest.
    const a = await stored(eml({ from: 'Olga <olga@customer.example>', subject: 'Scanner', body: 'Same words.', date: 'Fri, 06 Mar 2026 09:30:00 +0100', messageId: 'olga-3@customer.example' }));
    const b = await stored(eml({ from: 'Olga <olga@customer.example>', subject: 'Scanner', body: 'Same words.', date: 'Sat, 07 Mar 2026 09:30:00 +0100', messageId: 'olga-4@customer.example' }));
    expect([a.created, b.created]).toEqual([true, true]);
    const unzoned = gmailForward('Olga <olga@customer.example>', 'Scanner', 'Same words.').replace('Mon, Mar 2, 2026 at 9:00 AM', 'Fri, Mar 6, 2026 at 9:30 AM');
    const nozone = await stored(eml({ from: 'Olga <olga@customer.example>', subject: 'Fwd: Scanner', body: unzoned, date: 'Mon, 09 Mar 2026 10:00:00 -0000', messageId: 'olga-fwd-2@customer.example' }));
    expect(nozone).toMatchObject({ created: false, caseNumber: b.caseNumber, reason: 'appended (forwarded-copy)' });
    // The same forward from +0100 reads it: the older one.
    const zoned = await stored(eml({ from: 'Olga <olga@customer.example>', subject: 'Fwd: Scanner', body: unzoned, date: 'Mon, 09 Mar 2026 10:05:00 +0100', messageId: 'olga-fwd-3@customer.example' }));
    expect(zoned).toMatchObject({ created: false, caseNumber: a.caseNumber, reason: 'appended (forwarded-copy)' });
  });

  it('a customer with many cases: a forward of an older one is found, by its text or by its Date among hundreds of the same subject', async () => {
    // A big account: her first case, then 25 others (other subjects) — more than the newest 20.
    const first = await stored(eml({ from: 'Ruth <ruth@customer.example>', subject: 'Broken hinge', body: 'The hinge of door 3 is broken.', messageId: 'ruth-1@customer.example' }));
    const copy = await copier(first.caseNumber, 900_000);
    const now = env.clock.now().getTime();
    for (let n = 0; n < 25; n++) await copy(n, `Other matter ${n}`, new Date(now + (n + 1) * 60_000));
    env.clock.advance(DAY);
    const fwd = await stored(eml({ from: 'Ruth <ruth@customer.example>', subject: 'Fwd: Broken hinge', body: gmailForward('Ruth <ruth@customer.example>', 'Broken hinge', 'The hinge of door 3 is broken.'), messageId: 'ruth-fwd@customer.example' }));
    expect(fwd).toMatchObject({ created: false, caseNumber: first.caseNumber, reason: 'appended (forwarded-copy)' });

    // An automated sender's nightly report, the same subject and text every night for 40 nights; a
    // colleague forwards the one of night 5 (Outlook: a local time) — a new case linked to that night's.
    const start = now + 2 * DAY;
    const nights: number[] = [];
    for (let n = 0; n < 40; n++) nights.push(await copy(100 + n, 'Nightly backup report', new Date(start + n * DAY), 'monitor@customer.example'));
    env.clock.set(new Date(start + 45 * DAY));
    const night5 = new Date(start + 5 * DAY - 120_000); // its Date: 2 minutes before it arrived
    const shown = outlookShown(night5);
    const body = `FYI, see below.\n\n-----Original Message-----\nFrom: Backup <monitor@customer.example>\nSent: ${shown}\nTo: support@example.com\nSubject: Nightly backup report\n\nThe hinge of door 3 is broken.\n`;
    const colleague = await stored(eml({ from: 'Sam <sam@customer.example>', subject: 'FW: Nightly backup report', body, date: new Date(start + 45 * DAY).toUTCString().replace('GMT', '+0100'), messageId: 'sam-fwd@customer.example' }));
    expect(colleague).toMatchObject({ created: true, reason: 'new case (new-forwarded-copy)' });
    expect((await caseOf(colleague.caseNumber)).linked_case_id).toBe(nights[5]);
  });

  it('20+ cases of one subject: a forward of a later reply in an old case is found by its Date, however long after the case opened; her message at that Date on a stranger’s case is never taken', async () => {
    // Vera gets an "Invoice" case every month (25 of them, more than her newest 20); 40 days into
    // month 3's case she replied to it. Weeks later she forwards that reply (Outlook: a local time).
    const first = await stored(eml({ from: 'Vera <vera@customer.example>', subject: 'Invoice', body: 'Here is this month’s invoice.', messageId: 'vera-0@customer.example' }));
    const copy = await copier(first.caseNumber, 910_000);
    const start = env.clock.now().getTime() + DAY;
    const MONTH = 30 * DAY;
    const months: number[] = [];
    for (let k = 0; k < 25; k++) months.push(await copy(k, 'Invoice', new Date(start + k * MONTH)));
    const replied = new Date(start + 3 * MONTH + 40 * DAY + 3_600_000); // 10 days after month 4's case opened
    await copy.say(months[3]!, 'vera@customer.example', 'Re: Invoice', replied, 'Still wrong: the VAT on invoice 3 is 19 %, not 7 %.');
    // Wolf's own "Invoice" case, on which Vera (Cc'd there) wrote at the very same minute: not hers.
    const wolf = await copy(99, 'Invoice', new Date(start + 3 * MONTH + 39 * DAY), 'wolf@other.example');
    await addParticipant(env.ctx.db, wolf, 'vera@customer.example', 'Vera', 'cc', new Date(start + 3 * MONTH + 39 * DAY).toISOString());
    await copy.say(wolf, 'vera@customer.example', 'Re: Invoice', replied, 'Agreed, same on my side.');
    const onlyOnWolfs = new Date(replied.getTime() + 2 * DAY);
    await copy.say(wolf, 'vera@customer.example', 'Re: Invoice', onlyOnWolfs, 'Any news, Wolf?');
    env.clock.set(new Date(start + 26 * MONTH));
    const block = `Please look at this again.\n\n-----Original Message-----\nFrom: Vera <vera@customer.example>\nSent: ${outlookShown(replied)}\nTo: support@example.com\nSubject: RE: Invoice\n\nStill wrong: the VAT on invoice 3 is 19 %, not 7 %.\n`;
    const date = new Date(start + 26 * MONTH).toUTCString().replace('GMT', '+0100');
    const fwd = await stored(eml({ from: 'Vera <vera@customer.example>', subject: 'FW: Invoice', body: block, date, messageId: 'vera-fwd@customer.example' }));
    expect(fwd).toMatchObject({ created: false, caseNumber: 910_003, reason: 'appended (forwarded-copy)' });
    // Anyone else forwarding it (or typing it): a new case, linked to her month-3 case — never threaded, never Wolf's.
    const mallory = await stored(eml({ from: 'Mallory <mallory@evil.example>', subject: 'FW: Invoice', body: block, date, messageId: 'mallory-vera@evil.example' }));
    expect(mallory).toMatchObject({ created: true, reason: 'new case (new-forwarded-copy)' });
    expect((await caseOf(mallory.caseNumber)).linked_case_id).toBe(months[3]);
    // Wolf forwarding Vera's words from his own case: a new case linked to hers, nothing put into his or hers.
    const byWolf = await stored(eml({ from: 'Wolf <wolf@other.example>', subject: 'FW: Invoice', body: block, date, messageId: 'wolf-vera@other.example' }));
    expect(byWolf).toMatchObject({ created: true, reason: 'new case (new-forwarded-copy)' });
    expect((await caseOf(byWolf.caseNumber)).linked_case_id).toBe(months[3]);
    // What she wrote on Wolf's case only: his case is not hers — no Date of hers tells, so her newest.
    const wolfs = await stored(eml({ from: 'Vera <vera@customer.example>', subject: 'FW: Invoice', body: block.replace(outlookShown(replied), outlookShown(onlyOnWolfs)).replaceAll('Still wrong: the VAT on invoice 3 is 19 %, not 7 %.', 'Any news, Wolf?'), date, messageId: 'vera-fwd-wolf@customer.example' }));
    expect(wolfs).toMatchObject({ created: false, caseNumber: 910_024, reason: 'appended (forwarded-copy)' });
  });

  it('the forwarded Subject matches her case’s whatever the case of its letters, in any script, and however it is composed: the same on SQLite and PostgreSQL', async () => {
    const say = (n: number, subject: string, body: string) => stored(eml({ from: 'Greta <greta@customer.example>', subject, body, messageId: `greta-${n}@customer.example` }));
    const cases = {
      'Rückgabe Bestellung 4471': await say(1, 'Rückgabe Bestellung 4471', 'Ich möchte die Bestellung zurückgeben.'),
      'Заказ 77 не пришёл': await say(2, 'Заказ 77 не пришёл', 'Мой заказ не пришёл.'),
      'Größe 42 fehlt': await say(3, 'Größe 42 fehlt', 'Die Größe 42 fehlt im Paket.'),
    };
    // What her client shows in the forwarded block: capitals (SQLite's lower() folds ASCII only),
    // "SS" for "ß" (PostgreSQL's lower() keeps "ß"), macOS's decomposed "u" + combining diaeresis.
    const shown: Array<[string, keyof typeof cases]> = [
      ['RÜCKGABE BESTELLUNG 4471', 'Rückgabe Bestellung 4471'],
      ['ЗАКАЗ 77 НЕ ПРИШЁЛ', 'Заказ 77 не пришёл'],
      ['GRÖSSE 42 FEHLT', 'Größe 42 fehlt'],
      ['Rückgabe Bestellung 4471'.normalize('NFD'), 'Rückgabe Bestellung 4471'],
    ];
    for (const [i, [subject, of]] of shown.entries()) {
      const fwd = await stored(eml({ from: 'Greta <greta@customer.example>', subject: `WG: ${subject}`, body: gmailForward('Greta <greta@customer.example>', subject, 'Bitte um Antwort.'), messageId: `greta-fwd-${i}@customer.example` }));
      expect.soft(fwd, subject).toMatchObject({ created: false, caseNumber: cases[of].caseNumber, reason: 'appended (forwarded-copy)' });
    }
    // Another subject is another subject.
    const other = await stored(eml({ from: 'Greta <greta@customer.example>', subject: 'WG: Rücksendung Bestellung 4471', body: gmailForward('Greta <greta@customer.example>', 'Rücksendung Bestellung 4471', 'Bitte um Antwort.'), messageId: 'greta-fwd-other@customer.example' }));
    expect(other).toMatchObject({ created: true, reason: 'new case (new)' });
  });

  it('a forward of nothing we stored, or a forward-looking subject without a forwarded message, is a plain new case', async () => {
    const a = await stored(eml({ from: 'Vera <vera@customer.example>', subject: 'Fwd: Contract draft', body: gmailForward('Lawyer <law@firm.example>', 'Contract draft', 'See attached.'), messageId: 'vera-1@customer.example' }));
    expect(a).toMatchObject({ created: true, reason: 'new case (new)' });
    const b = await stored(eml({ from: 'Vera <vera@customer.example>', subject: 'Fwd: Contract draft', body: 'no block here', messageId: 'vera-2@customer.example' }));
    expect(b).toMatchObject({ created: true, reason: 'new case (new)' });
  });
});

describe('reading a forwarded block', () => {
  it.each([
    ['Gmail', gmailForward('Anna Berg <Anna@Customer.example>', 'Printer', 'x'), { from: 'anna@customer.example', subject: 'Printer', date: 'Mon, Mar 2, 2026 at 9:00 AM', text: '\nx\n' }],
    ['Outlook', outlookForward('Anna Berg [mailto:anna@customer.example]', 'Printer', 'x'), { from: 'anna@customer.example', subject: 'Printer', date: 'Monday, March 2, 2026 9:00 AM', text: '\nx\n' }],
    ['Apple Mail', 'hi\n\nBegin forwarded message:\n\nFrom: Anna <anna@customer.example>\nSubject: Printer\nDate: 2 March 2026 at 09:00:00 CET\nTo: support@example.com\n\nx', { from: 'anna@customer.example', subject: 'Printer', date: '2 March 2026 at 09:00:00 CET', text: '\nx' }],
    ['Thunderbird (German)', '\n-------- Weitergeleitete Nachricht --------\nBetreff: \tDrucker\nDatum: \tMon, 2 Mar 2026 09:00:00 +0100\nVon: \tAnna <anna@customer.example>\nAn: \tsupport@example.com\n\nx', { from: 'anna@customer.example', subject: 'Drucker', date: 'Mon, 2 Mar 2026 09:00:00 +0100', text: '\nx' }],
    ['no block', 'From: anna@customer.example\nSubject: Printer', null],
  ])('%s', (_name, text, expected) => {
    if (expected === null) expect(inlineForwardedOriginal(text)).toBeNull();
    else expect(inlineForwardedOriginal(text)).toEqual(expected);
  });

  it('a hostile block (a 200 KB From line of address-like text) is read in linear time', () => {
    const started = performance.now();
    const text = `---------- Forwarded message ---------\nFrom: ${'a@'.repeat(100_000)}\nSubject: x\n\n` + `From: ${'b'.repeat(200_000)}\n`;
    expect(inlineForwardedOriginal(text)).toBeNull();
    expect(performance.now() - started).toBeLessThan(500);
  });

  it.each([
    ['Fwd: Printer', true],
    ['FW: Printer', true],
    ['WG: Drucker', true],
    ['[EXTERNAL] Fwd: Printer', true],
    ['Re: Printer', false],
    ['Forward planning', false],
  ])('%s is a forward: %s', (subject, expected) => {
    expect(isForwardSubject(subject)).toBe(expected);
  });
});
