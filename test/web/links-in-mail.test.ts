import { beforeEach, describe, expect, it } from 'vitest';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import libmime from 'libmime';
import type { ConfigInput } from '../../src/config/schema.js';
import { participants } from '../../src/db/repos/cases.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { generateDkimKey } from '../../src/mail-out/dkim.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import type { MailTransport } from '../../src/mail-out/transport.js';
import { surveyLinksFor } from '../../src/web/links.js';
import { startWebServer } from '../../src/web/server.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { dnsStub } from '../helpers/outgoing-samples.js';
import { eml, mxHeaderFields, type TestEnv } from '../helpers/context.js';
import { clientReply, type ClientStyle } from '../helpers/mail-clients.js';
import type { SinkMessage, SmtpSink } from '../helpers/smtp-sink.js';
import { deskSendingToSink, WEB_BASE, WEB_DESK } from '../helpers/web-desk.js';

/**
 * A signed link is its owner's credential: whoever holds it reads the case and writes on the case
 * page as the person it names. Text written by one party reaches others by email — the customer's
 * message in the agents' notification, a link the agent pastes (or quotes) in a reply that goes to
 * the requester and every Cc'd participant, that reply again in the pending reminder, the
 * customer's subject on every email — and none of those may carry a link of someone else. Each
 * reader's own fresh link stays, in the text and the HTML part. The whole pipeline on the test
 * database, sent by the outbox worker through a real SMTP server (the sink), DKIM-signed.
 */

const BASE = WEB_BASE;
const CONFIG: ConfigInput = { ...WEB_DESK, outgoing: { dkim: { keys: [{ domain: 'example.com', selector: 'links' }] } } };
const JANE = 'Jane Customer <jane@customer.example>';
const ANN = 'Ann Colleague <ann@customer.example>';
/** Every signed link token of ours (web/signed-link.ts), anywhere in a raw message (quoted-printable soft breaks joined). */
const TOKEN = /\d{1,12}\.[cs](?:\.p\d{1,12})?\.[0-9a-z]{1,10}\.[0-9a-z]{1,10}\.[0-9a-f]{24}/g;

let sink: SmtpSink;
let env: TestEnv;
let transport: MailTransport;
let dkimRecord: string;
const desk = deskSendingToSink({ ...CONFIG, outgoing: { ...CONFIG.outgoing, retry: { baseSeconds: 30, maxSeconds: 600, giveUpHours: 48 } } }, (e) => {
  dkimRecord = generateDkimKey(e.resolved.paths.dataDir, 'example.com', 'links').record;
});

beforeEach(() => {
  ({ sink, env, transport } = desk);
});

const outbox = async (): Promise<OutboxRow[]> => env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
const lastOf = async (kind: string): Promise<OutboxRow> => (await outbox()).filter((o) => o.kind === kind).at(-1)!;
async function send(): Promise<SinkMessage[]> {
  sink.messages.length = 0;
  await new OutboxWorker(env.ctx, transport).drain();
  return [...sink.messages];
}
/**
 * The signed-link tokens anywhere in a message as sent: its headers decoded (an encoded word
 * writes "." as =2E), both parts decoded, anything attached, and the raw bytes (soft breaks joined).
 */
function tokensIn(m: SinkMessage): string[] {
  const raw = m.raw.toString('latin1');
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  const all = [libmime.decodeWords(head), m.parsed.text ?? '', String(m.parsed.html), ...m.parsed.attachments.map((a) => a.content.toString('utf8')), raw.replace(/=\r\n/g, '')].join('\n');
  return [...new Set([...all.matchAll(TOKEN)].map((x) => x[0]))];
}
const threadTopic = (m: SinkMessage): string => libmime.decodeWords(String(m.parsed.headers.get('thread-topic')));
const tokenOf = (link: string): string => link.slice(link.lastIndexOf('/') + 1);
const caseLinkIn = (text: string): string => /https:\/\/help\.example\.com\/cg\/c\/[0-9a-z.]+/.exec(text)![0];
const to = (ms: readonly SinkMessage[], address: string): SinkMessage => {
  const m = ms.find((x) => x.envelopeTo.includes(address));
  if (m === undefined) throw new Error(`nothing sent to ${address}: ${ms.map((x) => x.envelopeTo.join(',')).join(' | ')}`);
  return m;
};
async function dkimPasses(m: SinkMessage): Promise<void> {
  const r = await dkimVerify(m.raw, { resolver: dnsStub(new Map([['links._domainkey.example.com', dkimRecord]])) as never });
  expect(r.results.map((x) => [x.status.result, x.signingDomain])).toEqual([['pass', 'example.com']]);
}
/** Ben answers the newest agent notification from his mail client. */
async function benAnswers(body: string, style: ClientStyle = 'outlook'): Promise<void> {
  const note = await lastOf('agent-notification');
  const answer = clientReply(
    { messageId: note.message_id, subject: note.subject, text: note.text, fromName: note.from_name, fromAddress: note.from_address, references: [] },
    { style, from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body, messageId: `ben-${Math.random().toString(36).slice(2)}@example.com`, headers: mxHeaderFields('example.com', 'pass') },
  );
  const r = await env.ingest(answer);
  if (r.kind !== 'stored') throw new Error(r.reason);
}
/** Jane opens a case with Ann on Cc: Jane's link from her confirmation. */
async function openCase(subject = 'VPN broken'): Promise<{ caseId: number; janeLink: string; confirmation: OutboxRow }> {
  const out = await env.ingest(eml({ from: JANE, cc: ANN, subject, messageId: `jane-${Math.random().toString(36).slice(2)}@customer.example`, body: 'The VPN says certificate expired.' }));
  if (out.kind !== 'stored') throw new Error(out.reason);
  const confirmation = await lastOf('confirmation');
  return { caseId: out.caseId, janeLink: caseLinkIn(confirmation.text), confirmation };
}
const later = (hours: number): void => env.clock.set(new Date(env.clock.now().getTime() + hours * 3_600_000).toISOString());

describe('signed links in mail: each email carries its own reader’s links only', () => {
  it('the requester’s links pasted into her reply reach neither the agents’ notification nor, pasted or quoted by the agent, the Cc’d colleague; each reader keeps their own fresh link (text and HTML), DKIM passes', async () => {
    const { caseId, janeLink, confirmation } = await openCase();
    await send();
    const survey = surveyLinksFor(env.ctx, 10001).ratings[4]!.url;
    later(1);
    const jane2 = await env.ingest(
      eml({ from: JANE, cc: ANN, subject: `Re: ${confirmation.subject}`, messageId: 'jane-2@customer.example', inReplyTo: confirmation.message_id, body: `Any news? I keep checking ${janeLink} but nothing changed.\nAnd the survey ${survey} came too early.` }),
    );
    expect(jane2.kind).toBe('stored');

    // Staff: the notification shows what Jane wrote, with her links cut (a link never names an agent).
    const [noteMail] = await send();
    expect(noteMail!.envelopeTo).toEqual(['ben@example.com']);
    expect(tokensIn(noteMail!)).toEqual([]);
    expect(noteMail!.parsed.text).toContain('I keep checking https://help.example.com/cg/c/… but nothing changed.');
    expect(noteMail!.parsed.text).toContain('And the survey https://help.example.com/cg/s/…/5 came too early.');
    expect(String(noteMail!.parsed.html)).toContain('I keep checking https://help.example.com/cg/c/… but nothing changed.');
    await dkimPasses(noteMail!);

    // Ben quotes Jane's line (inline, as Outlook users do) and pastes her link.
    later(1);
    await benAnswers(`Hi Jane,\n\nYou wrote: "I keep checking ${janeLink} but nothing changed."\n\nIt is renewed now. Your page is ${janeLink} and shows it.\n\nBest,\nBen`);
    const sent = (await send()).filter((m) => (m.parsed.text ?? '').includes('It is renewed now'));
    expect(sent.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    const annId = (await participants(env.ctx.db, caseId)).find((p) => p.address === 'ann@customer.example')!.id;
    const [janeCopy, annCopy] = sent as [SinkMessage, SinkMessage];
    // Ann's copy: her own link (text and HTML), not Jane's anywhere in the message.
    const annLink = caseLinkIn(annCopy.parsed.text ?? '');
    expect(tokenOf(annLink)).toMatch(new RegExp(`^10001\\.c\\.p${annId}\\.`));
    expect(tokensIn(annCopy)).toEqual([tokenOf(annLink)]);
    expect(String(annCopy.parsed.html)).toContain(`href="${annLink}"`);
    expect(annCopy.parsed.text).toContain('You wrote: "I keep checking https://help.example.com/cg/c/… but nothing changed."');
    expect(annCopy.parsed.text).toContain('Your page is https://help.example.com/cg/c/… and shows it.');
    expect(String(annCopy.parsed.html)).toContain('Your page is https://help.example.com/cg/c/… and shows it.');
    // Jane's copy: her fresh link (issued now, not the one she pasted two hours ago) in the footer, text and HTML.
    const janeFresh = caseLinkIn((janeCopy.parsed.text ?? '').slice((janeCopy.parsed.text ?? '').indexOf('Follow your case online')));
    expect(tokenOf(janeFresh)).not.toBe(tokenOf(janeLink));
    expect(tokenOf(janeFresh)).toMatch(/^10001\.c\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{24}$/);
    expect(tokensIn(janeCopy)).toEqual([tokenOf(janeFresh)]);
    expect(String(janeCopy.parsed.html)).toContain(`href="${janeFresh}"`);
    for (const m of sent) {
      await dkimPasses(m);
      expect(threadTopic(m)).toBe('VPN broken');
    }
    // The case's thread keeps what Jane was sent (the page cuts every link anyway).
    const stored = await env.ctx.db.selectFrom('messages').select(['text', 'html', 'visible_text']).where('case_id', '=', caseId).where('direction', '=', 'out').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(stored.text).not.toContain(tokenOf(janeLink));
    expect(stored.html).not.toContain(tokenOf(janeLink));
    expect(stored.visible_text).not.toContain(tokenOf(janeLink));
  }, 90_000);

  it('the colleague’s link an agent pastes reaches the requester neither in the reply nor in the pending reminder that repeats it', async () => {
    await openCase();
    await benAnswers('Hi Jane,\n\nWhich client version is it?\n\nBest,\nBen');
    const first = await send();
    const annLink = caseLinkIn(to(first, 'ann@customer.example').parsed.text ?? '');
    later(1);
    await benAnswers(`#pending\nHi Jane,\n\nAnn can answer it too on her page: ${annLink}\n\nBest,\nBen`, 'thunderbird');
    const sent = (await send()).filter((m) => (m.parsed.text ?? '').includes('Ann can answer it'));
    expect(sent.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    const janeCopy = to(sent, 'jane@customer.example');
    expect(janeCopy.parsed.text).toContain('Ann can answer it too on her page: https://help.example.com/cg/c/…');
    expect(tokensIn(janeCopy)).toHaveLength(1);
    expect(tokensIn(janeCopy)[0]).not.toMatch(/\.p\d+\./);
    // Ann's own copy: her fresh link only (the one she was sent before is cut as well).
    expect(tokensIn(to(sent, 'ann@customer.example'))).toHaveLength(1);
    expect(tokensIn(to(sent, 'ann@customer.example'))[0]).not.toBe(tokenOf(annLink));

    // Three business days later the reminder to Jane repeats Ben's question: without Ann's link.
    env.clock.set('2026-03-06T10:00:00Z');
    await createJobScheduler(env.ctx).run('pending-reminder', 'manual');
    const reminders = (await send()).filter((m) => m.envelopeTo.includes('jane@customer.example'));
    expect(reminders).toHaveLength(1);
    const reminder = reminders[0]!;
    expect(reminder.parsed.text).toContain('Ann can answer it too on her page: https://help.example.com/cg/c/…');
    const own = tokensIn(reminder);
    expect(own).toHaveLength(1);
    expect(own[0]).toMatch(/^10001\.c\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{24}$/);
    expect(String(reminder.parsed.html)).toContain(`href="${BASE}/c/${own[0]}"`);
    await dkimPasses(reminder);
  }, 90_000);

  it('a link in the customer’s subject goes out in no subject or Thread-Topic; the reopen notice’s “your message” and the survey keep their reader’s own links only', async () => {
    const { janeLink } = await openCase();
    await send();
    later(1);
    // A second case whose subject names the first case's page (a customer who pasted it there).
    const { caseId } = await openCase(`Page ${janeLink} shows nothing`);
    await benAnswers('#resolve\nHi Jane,\n\nIt works again.\n\nBest,\nBen');
    const sent = (await send()).filter((m) => (m.parsed.text ?? '').includes('It works again'));
    expect(sent.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    for (const m of sent) {
      expect(m.parsed.subject).toBe('[Case #10002] Re: Page https://help.example.com/cg/c/… shows nothing');
      expect(threadTopic(m)).toBe('Page https://help.example.com/cg/c/… shows nothing');
      expect(tokensIn(m)).toHaveLength(1);
      await dkimPasses(m);
    }

    // The survey (to Jane alone) keeps its own links: the page, each rating, List-Unsubscribe.
    later(25);
    await createJobScheduler(env.ctx).run('survey', 'manual');
    const surveyMail = (await send()).find((m) => m.envelopeTo.includes('jane@customer.example'))!;
    // Hers: the survey's token and her case link (the footer), nobody else's.
    const surveyToken = tokensIn(surveyMail).find((t) => t.startsWith('10002.s.'))!;
    expect(tokensIn(surveyMail).sort()).toEqual([tokenOf(caseLinkIn(surveyMail.parsed.text ?? '')), surveyToken].sort());
    expect(tokensIn(surveyMail).every((t) => /^10002\.[cs]\.[0-9a-z]+\./.test(t))).toBe(true);
    for (const rating of [1, 2, 3, 4, 5]) {
      expect(surveyMail.parsed.text).toContain(`${BASE}/s/${surveyToken}/${rating}`);
      expect(String(surveyMail.parsed.html)).toContain(`href="${BASE}/s/${surveyToken}/${rating}"`);
    }
    expect(surveyMail.raw.toString('latin1').replace(/\r\n[ \t]+/g, ' ')).toContain(`\r\nList-Unsubscribe: <${BASE}/s/${surveyToken}/unsubscribe>\r\n`);
    await dkimPasses(surveyMail);

    // Ann writes again to the resolved case with Jane's link: the reopen notice (to Ann) shows her message, cut.
    const annCopy = await lastOf('agent-reply');
    later(1);
    const r = await env.ingest(eml({ from: ANN, subject: `Re: ${annCopy.subject}`, messageId: 'ann-2@customer.example', inReplyTo: annCopy.message_id, body: `It is broken again, see ${janeLink} please.` }));
    expect(r).toMatchObject({ kind: 'stored', caseId });
    const notices = await send();
    const reopened = notices.find((m) => m.envelopeTo.includes('ann@customer.example'))!;
    expect(reopened.parsed.text).toContain('It is broken again, see https://help.example.com/cg/c/… please.');
    expect(tokensIn(reopened)).toHaveLength(1);
    expect(tokensIn(reopened)[0]).toMatch(/\.c\.p\d+\./);
    for (const m of notices) expect(tokensIn(m).filter((t) => t === tokenOf(janeLink))).toEqual([]);
  }, 90_000);

  it('a reply-all that shows the requester’s link to her Cc’d colleague (her copy quoted, footer and all) revokes that link alone; an answer to us alone revokes nothing', async () => {
    const web = await startWebServer(env.ctx);
    try {
      const opens = async (link: string): Promise<number> => (await fetch(`http://127.0.0.1:${web.port}${link.slice(BASE.length)}`)).status;
      const { caseId, janeLink: firstLink } = await openCase();
      await send();
      later(1);
      await benAnswers('Hi Jane,\n\nPlease restart the client.\n\nBest,\nBen');
      const sent = await send();
      const janeCopy = to(sent, 'jane@customer.example');
      const reply = await lastOf('agent-reply');
      const janeLink = caseLinkIn((janeCopy.parsed.text ?? '').slice((janeCopy.parsed.text ?? '').indexOf('Follow your case online')));
      expect(janeLink).not.toBe(firstLink);
      const answer = (o: { cc?: string; body: string; id: string }) =>
        clientReply(
          { messageId: reply.message_id, subject: janeCopy.parsed.subject ?? '', text: janeCopy.parsed.text ?? '', fromName: 'Example Support', fromAddress: 'support@example.com' },
          { style: 'outlook', from: JANE, to: 'support@example.com', ...(o.cc !== undefined ? { cc: o.cc } : {}), body: o.body, messageId: o.id, headers: mxHeaderFields('customer.example', 'pass') },
        );
      // To us alone, her copy quoted: nobody else saw it.
      later(1);
      expect(await env.ingest(answer({ body: 'Restarted, still broken.', id: 'jane-3@customer.example' }))).toMatchObject({ kind: 'stored', caseId });
      expect(await opens(janeLink)).toBe(200);
      // To us with the agent she knows on Cc: staff work the case anyway.
      later(1);
      expect(await env.ingest(answer({ cc: 'Ben Agent <ben@example.com>', body: 'Ben, any idea?', id: 'jane-3b@customer.example' }))).toMatchObject({ kind: 'stored', caseId });
      expect(await opens(janeLink)).toBe(200);
      // Reply all: Ann gets Jane's copy quoted, with Jane's link.
      later(1);
      expect(await env.ingest(answer({ cc: ANN, body: 'Ann, can you check yours?', id: 'jane-4@customer.example' }))).toMatchObject({ kind: 'stored', caseId });
      expect(await opens(janeLink)).toBe(410);
      expect(await opens(firstLink)).toBe(200);
      const revoked = (await eventsOfCase(env.ctx.db, caseId)).filter((e) => e.type === 'link.revoked');
      expect(revoked.map((e) => e.reason)).toEqual([expect.stringContaining('a link naming jane@customer.example went to ann@customer.example in mail from jane@customer.example (jane-4@customer.example)')]);
      // Our next email brings Jane a fresh link that opens her page.
      later(1);
      await benAnswers('Hi Jane,\n\nFixed on our side.\n\nBest,\nBen');
      const next = to(await send(), 'jane@customer.example');
      const fresh = caseLinkIn((next.parsed.text ?? '').slice((next.parsed.text ?? '').indexOf('Follow your case online')));
      expect(await opens(fresh)).toBe(200);
    } finally {
      await web.close();
    }
  }, 90_000);

  it('an email the agent attaches goes to every reader as it is: a link in it that names someone else is revoked (quoted-printable or base64 inside), the reply and the file still go', async () => {
    const web = await startWebServer(env.ctx);
    try {
      const opens = async (link: string): Promise<number> => (await fetch(`http://127.0.0.1:${web.port}${link.slice(BASE.length)}`)).status;
      const { janeLink, confirmation } = await openCase();
      await send();
      const survey = surveyLinksFor(env.ctx, 10001).url;
      later(1);
      // Jane's confirmation, forwarded as an attachment by Ben: its text base64, her link inside; our survey link in a quoted-printable part.
      const inner = [
        `From: Example Support <support@example.com>`,
        `To: ${JANE}`,
        `Subject: ${confirmation.subject}`,
        `Message-ID: <${confirmation.message_id}>`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/alternative; boundary="I"',
        '',
        '--I',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: base64',
        '',
        Buffer.from(`Follow your case online: ${janeLink}\n`).toString('base64'),
        '--I',
        'Content-Type: text/html; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
        '',
        `<a href=3D"${survey.slice(0, 40)}=\r\n${survey.slice(40)}">Rate us</a>`,
        '--I--',
        '',
      ].join('\r\n');
      const note = await lastOf('agent-notification');
      const answer = clientReply(
        { messageId: note.message_id, subject: note.subject, text: note.text, fromName: note.from_name, fromAddress: note.from_address, references: [] },
        { style: 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body: 'Hi Jane,\n\nThe email we sent, attached.\n\nBest,\nBen', messageId: 'ben-eml@example.com', headers: mxHeaderFields('example.com', 'pass'), attachments: [{ filename: 'confirmation.eml', contentType: 'message/rfc822', content: Buffer.from(inner) }] },
      );
      expect(await env.ingest(answer)).toMatchObject({ kind: 'stored' });
      const sent = (await send()).filter((m) => (m.parsed.text ?? '').includes('The email we sent, attached.'));
      expect(sent.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
      for (const m of sent) expect(m.parsed.attachments.map((a) => a.filename)).toEqual(['confirmation.eml']);
      expect([await opens(janeLink), (await fetch(`http://127.0.0.1:${web.port}${survey.slice(BASE.length)}`)).status]).toEqual([410, 410]);
      // Each reader's own fresh link in the reply opens their page.
      for (const m of sent) expect(await opens(caseLinkIn((m.parsed.text ?? '').slice((m.parsed.text ?? '').indexOf('Follow your case online'))))).toBe(200);
    } finally {
      await web.close();
    }
  }, 90_000);
});
