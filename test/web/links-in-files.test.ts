import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import type { MailTransport } from '../../src/mail-out/transport.js';
import { surveyLinksFor } from '../../src/web/links.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { eml, mxHeaderFields, type TestEnv } from '../helpers/context.js';
import { clientReply, type ClientStyle } from '../helpers/mail-clients.js';
import type { SinkMessage, SmtpSink } from '../helpers/smtp-sink.js';
import { deskSendingToSink, WEB_BASE, WEB_DESK } from '../helpers/web-desk.js';

/**
 * Where a signed link of ours travels besides a message's text (test/web/links-in-mail.test.ts):
 * in files — a saved email body, an exported conversation, a calendar invitation — which go to
 * every reader as they are (an agent's reply relays them; a customer's reply-all sends them to her
 * colleagues), and broken over two lines by a mail client that hard-wraps plain text (Outlook at
 * 76 columns, as the vendored crisp-email-reply-parser sample email_outlook_split_line_from.txt
 * shows; Exchange 2003 at 72), then quoted with "> " by whoever answers. A link shown to someone
 * it does not name is revoked; one in what we send is cut. Whole pipeline, real SMTP sink, the
 * case page answering over HTTP.
 */

const BASE = WEB_BASE;
const CONFIG: ConfigInput = { ...WEB_DESK };
const JANE = 'Jane Customer <jane@customer.example>';
const ANN = 'Ann Colleague <ann@customer.example>';
const TOKEN = /\d{1,12}\.[cs](?:\.p\d{1,12})?\.[0-9a-z]{1,10}\.[0-9a-z]{1,10}\.[0-9a-f]{24}/g;

/** Outlook's plain text: a line longer than 76 breaks at its last space before the column, a longer word at the column itself. */
function outlookWrap(text: string, width = 76): string {
  return text
    .split('\n')
    .map((line) => {
      const out: string[] = [];
      let rest = line;
      while (rest.length > width) {
        const space = rest.lastIndexOf(' ', width);
        const at = space > 0 ? space : width;
        out.push(rest.slice(0, at));
        rest = rest.slice(space > 0 ? at + 1 : at);
      }
      return [...out, rest].join('\n');
    })
    .join('\n');
}
/** Exchange 2003 on ASCII plain text: a line break every 72 characters, wherever it falls. */
const exchangeWrap = (text: string): string => text.split('\n').map((l) => l.replace(/.{72}(?=.)/g, '$&\n')).join('\n');
const quoted = (text: string, marker = '> '): string => text.split('\n').map((l) => `${marker}${l}`).join('\n');

const desk = deskSendingToSink(CONFIG);
let sink: SmtpSink;
let env: TestEnv;
let transport: MailTransport;
let web: WebServer;

beforeEach(async () => {
  ({ sink, env, transport } = desk);
  web = await startWebServer(env.ctx);
});
afterEach(async () => {
  await web?.close().catch(() => undefined);
});

const lastOf = async (kind: string): Promise<OutboxRow> => (await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', kind).orderBy('id', 'desc').executeTakeFirstOrThrow());
async function send(): Promise<SinkMessage[]> {
  sink.messages.length = 0;
  await new OutboxWorker(env.ctx, transport).drain();
  return [...sink.messages];
}
const to = (ms: readonly SinkMessage[], address: string): SinkMessage => ms.find((x) => x.envelopeTo.includes(address))!;
const tokenOf = (link: string): string => link.slice(link.lastIndexOf('/') + 1);
const caseLinkIn = (text: string): string => /https:\/\/help\.example\.com\/cg\/c\/[0-9a-z.]+/.exec(text.slice(text.indexOf('Follow your case online')))![0];
const opens = async (link: string): Promise<number> => (await fetch(`http://127.0.0.1:${web.port}${link.slice(BASE.length)}`)).status;
/** Every token in a message as sent, also one broken over lines: line breaks (text, our HTML's <br>) and quote markers taken out. */
function tokensJoined(m: SinkMessage): string[] {
  const all = [m.parsed.text ?? '', String(m.parsed.html), m.raw.toString('latin1').replace(/=\r\n/g, '')].join('\n\n');
  return [...new Set([...all.replace(/(?:<br\s*\/?>)?\r?\n[ \t]*(?:(?:>|&gt;)[ \t]?)*/g, '').matchAll(TOKEN)].map((x) => x[0]))];
}
/** Jane opens a case with Ann on Cc; Ben answers; what Jane got (her current link in it). */
async function caseWithReply(): Promise<{ caseId: number; firstLink: string; janeCopy: SinkMessage; annCopy: SinkMessage; reply: OutboxRow }> {
  const out = await env.ingest(eml({ from: JANE, cc: ANN, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN says certificate expired.' }));
  if (out.kind !== 'stored') throw new Error(out.reason);
  const firstLink = caseLinkIn((await lastOf('confirmation')).text);
  await send();
  later(1);
  await agentAnswers('Hi Jane,\n\nPlease restart the client.\n\nBest,\nBen');
  const sent = await send();
  return { caseId: out.caseId, firstLink, janeCopy: to(sent, 'jane@customer.example'), annCopy: to(sent, 'ann@customer.example'), reply: await lastOf('agent-reply') };
}
const later = (hours: number): void => env.clock.set(new Date(env.clock.now().getTime() + hours * 3_600_000).toISOString());
/** Ben answers the newest agent notification from his mail client. */
async function agentAnswers(body: string, o: { style?: ClientStyle; attachments?: { filename: string; contentType: string; content: Buffer }[] } = {}): Promise<void> {
  const note = await lastOf('agent-notification');
  const answer = clientReply(
    { messageId: note.message_id, subject: note.subject, text: note.text, fromName: note.from_name, fromAddress: note.from_address, references: [] },
    { style: o.style ?? 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body, messageId: `ben-${Math.random().toString(36).slice(2)}@example.com`, headers: mxHeaderFields('example.com', 'pass'), ...(o.attachments !== undefined ? { attachments: o.attachments } : {}) },
  );
  const r = await env.ingest(answer);
  if (r.kind !== 'stored') throw new Error(r.reason);
}
/** Jane (or Ann) answers our reply from her client: plain text only (what a client that hard-wraps sends), her own text and whatever she quotes. */
function janeWrites(reply: OutboxRow, o: { from?: string; cc?: string; text: string; id: string; attachments?: { filename: string; contentType: string; content: Buffer }[] }): string {
  return clientReply(
    { messageId: reply.message_id, subject: reply.subject, text: '', fromName: 'Example Support', fromAddress: 'support@example.com' },
    { style: 'bare', from: o.from ?? JANE, to: 'support@example.com', ...(o.cc !== undefined ? { cc: o.cc } : {}), subject: `RE: ${reply.subject}`, body: o.text, messageId: o.id, headers: mxHeaderFields('customer.example', 'pass'), ...(o.attachments !== undefined ? { attachments: o.attachments } : {}) },
  );
}
const revokedReasons = async (caseId: number): Promise<string[]> => (await eventsOfCase(env.ctx.db, caseId)).filter((e) => e.type === 'link.revoked').map((e) => e.reason);

describe('signed links in files and in lines a mail client broke', () => {
  it('a reply-all with files attached: a link of ours in a saved text, a calendar invitation (folded lines) or an .htm sent as octet-stream that the Cc’d colleague gets is revoked; the same files to us alone revoke nothing', async () => {
    const { caseId, firstLink, janeCopy, reply } = await caseWithReply();
    const janeLink = caseLinkIn(janeCopy.parsed.text ?? '');
    const survey = surveyLinksFor(env.ctx, 10001).url;
    // RFC 5545: a content line longer than 75 octets is folded (CRLF and a space), here inside the survey token.
    const description = `DESCRIPTION:Before the call please rate us: ${survey}`;
    const ics = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:call-1@customer.example', 'DTSTART:20260305T100000Z', 'SUMMARY:VPN call', description.slice(0, 75), ` ${description.slice(75)}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    expect(ics).not.toContain(tokenOf(survey));
    const files = [
      { filename: 'saved-mail.txt', contentType: 'text/plain', content: Buffer.from(`From: Example Support\r\n\r\nFollow your case online: ${firstLink}\r\n`) },
      { filename: 'call.ics', contentType: 'text/calendar', content: Buffer.from(ics) },
      { filename: 'case-page.htm', contentType: 'application/octet-stream', content: Buffer.from(`<html><body><a href="${janeLink}">My case</a></body></html>`) },
    ];
    const links = [firstLink, survey, janeLink];
    later(1);
    expect(await env.ingest(janeWrites(reply, { text: 'Restarted, still broken. What we have, attached.', id: 'jane-2@customer.example', attachments: files }))).toMatchObject({ kind: 'stored', caseId });
    expect(await Promise.all(links.map(opens))).toEqual([200, 200, 200]);
    later(1);
    expect(await env.ingest(janeWrites(reply, { cc: ANN, text: 'Ann, the same for you.', id: 'jane-3@customer.example', attachments: files }))).toMatchObject({ kind: 'stored', caseId });
    expect(await Promise.all(links.map(opens))).toEqual([410, 410, 410]);
    const reasons = await revokedReasons(caseId);
    expect(reasons).toHaveLength(3);
    for (const f of files) expect(reasons.filter((r) => r.includes(`a link naming jane@customer.example went to ann@customer.example in the file "${f.filename}" in mail from jane@customer.example (jane-3@customer.example)`))).toHaveLength(1);
  }, 90_000);

  it('an agent’s reply relays a text or HTML file as it is: a link in it that names someone else is revoked (an HTML export, a UTF-16 text sent as octet-stream), the files go unchanged', async () => {
    const { janeCopy } = await caseWithReply();
    const janeLink = caseLinkIn(janeCopy.parsed.text ?? '');
    const survey = surveyLinksFor(env.ctx, 10001).url;
    const html = Buffer.from(`<html><body><p>Conversation export</p><p>Jane: my page <a href="${janeLink}">${janeLink}</a></p></body></html>`);
    const notepad = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`Notes\r\nsurvey ${survey}\r\n`, 'utf16le')]);
    later(1);
    await agentAnswers('Hi Jane,\n\nThe conversation so far and my notes, attached.\n\nBest,\nBen', {
      attachments: [
        { filename: 'conversation.html', contentType: 'text/html', content: html },
        { filename: 'notes.txt', contentType: 'application/octet-stream', content: notepad },
      ],
    });
    const sent = (await send()).filter((m) => (m.parsed.text ?? '').includes('my notes, attached'));
    expect(sent.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    for (const m of sent) {
      expect(m.parsed.attachments.map((a) => [a.filename, a.content.equals(a.filename === 'notes.txt' ? notepad : html)])).toEqual([
        ['conversation.html', true],
        ['notes.txt', true],
      ]);
      // Each reader's own fresh link opens their page.
      expect(await opens(caseLinkIn(m.parsed.text ?? ''))).toBe(200);
    }
    expect([await opens(janeLink), await opens(survey)]).toEqual([410, 410]);
  }, 90_000);

  it('a link Outlook broke at 76 columns, in a reply-all to the requester, and one Exchange broke at 72, quoted again with "> " and "> > " to a stranger: both revoked; the same text to us alone revokes nothing', async () => {
    const { caseId, firstLink, annCopy, reply } = await caseWithReply();
    // Ann's link names her (…/c/10001.c.p<id>.…: 80 characters); her client wraps the whole message, our quoted reply too.
    const annLink = caseLinkIn(annCopy.parsed.text ?? '');
    const ours = (annCopy.parsed.text ?? '').replace(/\r\n/g, '\n').trim();
    const wrapped = outlookWrap(`Jane, mine says the same.\n\n________________________________\nFrom: Example Support <support@example.com>\nSubject: ${reply.subject}\n\n${ours}`);
    expect(wrapped.split('\n').find((l) => l.includes('/cg/c/'))).toHaveLength(76);
    expect(wrapped).not.toContain(tokenOf(annLink));
    later(1);
    expect(await env.ingest(janeWrites(reply, { from: ANN, text: wrapped, id: 'ann-2@customer.example' }))).toMatchObject({ kind: 'stored', caseId });
    expect(await opens(annLink)).toBe(200);
    later(1);
    expect(await env.ingest(janeWrites(reply, { from: ANN, cc: JANE, text: wrapped, id: 'ann-3@customer.example' }))).toMatchObject({ kind: 'stored', caseId });
    expect(await opens(annLink)).toBe(410);

    // Jane's first email from us as Exchange broke it (72), quoted twice over ("> > "), to someone else: her link too.
    const old = exchangeWrap(`Thank you, we have your request.\nFollow your case online: ${firstLink}`);
    expect(old).not.toContain(tokenOf(firstLink));
    const text = `Carl, see below.\n\n> Ann wrote:\n${quoted(quoted(old))}`;
    expect(text).toMatch(/^> > [0-9a-z.]+$/m);
    later(1);
    expect(await env.ingest(janeWrites(reply, { cc: 'Carl Other <carl@customer.example>', text, id: 'jane-4@customer.example' }))).toMatchObject({ kind: 'stored', caseId });
    expect(await opens(firstLink)).toBe(410);
    expect(await revokedReasons(caseId)).toEqual([
      expect.stringContaining('a link naming ann@customer.example went to jane@customer.example in mail from ann@customer.example (ann-3@customer.example)'),
      expect.stringContaining('a link naming jane@customer.example went to carl@customer.example in mail from jane@customer.example (jane-4@customer.example)'),
    ]);
  }, 90_000);

  it('a link broken over lines is cut from what we send: the agents’ notification of a mail Exchange broke at 72, and the requester’s copy of a reply that pastes the colleague’s link broken at 76', async () => {
    const { caseId, janeCopy, annCopy, reply } = await caseWithReply();
    const janeLink = caseLinkIn(janeCopy.parsed.text ?? '');
    const annLink = caseLinkIn(annCopy.parsed.text ?? '');
    later(1);
    const text = exchangeWrap(`Any news? My page: ${janeLink} still says "waiting for us" - please check.`);
    expect(text).not.toContain(tokenOf(janeLink));
    expect(await env.ingest(janeWrites(reply, { text, id: 'jane-2@customer.example' }))).toMatchObject({ kind: 'stored', caseId });
    const [note] = await send();
    expect(note!.envelopeTo).toEqual(['ben@example.com']);
    expect(tokensJoined(note!)).toEqual([]);
    expect(note!.parsed.text).toContain('https://help.example.com/cg/c/…');

    later(1);
    const body = outlookWrap(`Hi Jane,\n\nAnn, your page is updated as well: ${annLink} - it shows the new status now.\n\nBest,\nBen`);
    expect(body).not.toContain(tokenOf(annLink));
    await agentAnswers(body);
    const sent = (await send()).filter((m) => (m.parsed.text ?? '').includes('shows the new status'));
    expect(sent.map((m) => m.envelopeTo)).toEqual([['jane@customer.example'], ['ann@customer.example']]);
    for (const m of sent) {
      // Each copy: its reader's own fresh link, nothing else even with the lines joined.
      expect(tokensJoined(m)).toEqual([tokenOf(caseLinkIn(m.parsed.text ?? ''))]);
      expect(m.parsed.text).toContain('https://help.example.com/cg/c/…');
    }
    // Nobody else saw them: nothing revoked.
    expect([await opens(janeLink), await opens(annLink)]).toEqual([200, 200]);
    expect(await revokedReasons(caseId)).toEqual([]);
  }, 90_000);
});
