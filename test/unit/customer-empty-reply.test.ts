import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { eventsOfCase } from '../../src/db/repos/events.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { eml, mxHeaderFields, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply, type ClientStyle, type Original } from '../helpers/mail-clients.js';

/**
 * A customer's reply with nothing written of her own. Found in hunt 12/13: Jane's empty Outlook
 * reply to our confirmation (Outlook quotes below an underscore line or "-----Original
 * Message-----" and a From:/Sent:/To:/Subject: block, no ">") was read as a forward with nothing
 * added: the agents' "Customer replied" notification showed our own quoted header block
 * ("________________ / From: Example Support <support@…> / Sent: … / Subject: [Case #10001] …") as
 * her text, `cases show` too, and on a resolved case it reopened the case and sent her "We have
 * reopened your case … Your message: <our header block>". Now: stored on the case as it came, its
 * visible text empty; the agents are told, "Customer replied (no text)", without any quoted block;
 * a resolved case is not reopened by it. Outlook (desktop, web, mobile), Gmail, Apple Mail and
 * Thunderbird, English and German. Whole pipeline, real database.
 */

const CONFIG: ConfigInput = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
  // Jane opens one case per shape, each confirmed.
  autoReply: { perSenderPerHour: 100, minIntervalSeconds: 0 },
  agentMail: { notifyPerSenderPerHour: 100 },
};
const JANE = 'Jane Customer <jane@customer.example>';

let env: TestEnv;
beforeAll(async () => {
  env = await testEnv(CONFIG);
});
afterAll(async () => {
  await env.close();
});

async function outbox(kind?: string): Promise<OutboxRow[]> {
  return (await env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute()).filter((o) => kind === undefined || o.kind === kind);
}
function asOriginal(o: OutboxRow): Original {
  return { messageId: o.message_id, subject: o.subject, text: o.text, fromName: o.from_name, fromAddress: o.from_address, references: o.references_text?.match(/[^<>\s]+/g) ?? [] };
}
let seq = 0;
let caseSeq = 0;
/** A new case of Jane's; the confirmation she answers. */
async function newCase(): Promise<{ number: number; confirmation: Original }> {
  caseSeq += 1;
  const out = await env.ingest(eml({ from: JANE, subject: `VPN broken ${caseSeq}`, messageId: `jane-${caseSeq}@customer.example`, body: 'The VPN client says "certificate expired" since 9:00.' }));
  if (out.kind !== 'stored') throw new Error(`not stored: ${JSON.stringify(out)}`);
  const confirmation = (await outbox('confirmation')).find((o) => o.subject.includes(`#${out.caseNumber}]`))!;
  return { number: out.caseNumber!, confirmation: asOriginal(confirmation) };
}
function reply(orig: Original, style: ClientStyle, body: string): string {
  return clientReply(orig, { style, from: JANE, to: 'Example Support <support@example.com>', body, messageId: `jane-r${++seq}@customer.example`, headers: mxHeaderFields('customer.example', 'pass') });
}
/** A reply as the clients below write it: `text` (and `html`) as given, In-Reply-To and References set. */
function raw(orig: Original, subject: string, text: string | null, html?: string): string {
  const head = [
    ...Object.entries(mxHeaderFields('customer.example', 'pass')).map(([k, v]) => `${k}: ${v}`),
    `From: ${JANE}`,
    'To: Example Support <support@example.com>',
    `Subject: ${subject}`,
    'Date: Mon, 02 Mar 2026 10:15:00 +0100',
    `Message-ID: <jane-r${++seq}@customer.example>`,
    `In-Reply-To: <${orig.messageId}>`,
    `References: ${[...(orig.references ?? []), orig.messageId].map((r) => `<${r}>`).join(' ')}`,
    'MIME-Version: 1.0',
  ];
  const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
  const textPart = text === null ? null : ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', crlf(text)].join('\r\n');
  const htmlPart = html === undefined ? null : ['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', crlf(html)].join('\r\n');
  const body = textPart !== null && htmlPart !== null ? ['Content-Type: multipart/alternative; boundary="alt"', '', '--alt', textPart, '--alt', htmlPart, '--alt--', ''].join('\r\n') : (textPart ?? htmlPart)!;
  return `${head.join('\r\n')}\r\n${body}\r\n`;
}
const sent = (o: Original) => `${o.fromName} <${o.fromAddress}>`;
const EN_BLOCK = (o: Original) => `From: ${sent(o)}\nSent: Monday, March 2, 2026 10:00 AM\nTo: ${JANE}\nSubject: ${o.subject}`;
const DE_BLOCK = (o: Original) => `Von: ${sent(o)}\nGesendet: Montag, 2. März 2026 10:00\nAn: ${JANE}\nBetreff: ${o.subject}`;
const RULE = '________________________________';

const SHAPES: readonly { readonly name: string; readonly raw: (o: Original) => string }[] = [
  { name: 'new Outlook / Outlook on the web (text and HTML)', raw: (o) => reply(o, 'outlook', '') },
  { name: 'Outlook on the web, HTML only', raw: (o) => raw(o, `RE: ${o.subject}`, null, `<html><body><div><br></div><div id="appendonsend"></div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif"><b>From:</b> ${o.fromName} &lt;${o.fromAddress}&gt;<br><b>Sent:</b> Monday, March 2, 2026 10:00 AM<br><b>To:</b> Jane Customer &lt;jane@customer.example&gt;<br><b>Subject:</b> ${o.subject}</font><div>&nbsp;</div></div><div>${o.text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\n/g, '<br>')}</div></body></html>`) },
  { name: 'Outlook desktop, "-----Original Message-----"', raw: (o) => raw(o, `RE: ${o.subject}`, `\n\n-----Original Message-----\n${EN_BLOCK(o)}\n\n${o.text}`) },
  { name: 'Outlook desktop, German ("-----Ursprüngliche Nachricht-----")', raw: (o) => raw(o, `AW: ${o.subject}`, `\n\n-----Ursprüngliche Nachricht-----\n${DE_BLOCK(o)}\n\n${o.text}`) },
  { name: 'Outlook on the web, German (underscore rule)', raw: (o) => raw(o, `AW: ${o.subject}`, `\n\n${RULE}\n${DE_BLOCK(o)}\n\n${o.text}`) },
  { name: 'Outlook for iOS', raw: (o) => raw(o, `RE: ${o.subject}`, `\nGet Outlook for iOS<https://aka.ms/o0ukef>\n${RULE}\n${EN_BLOCK(o)}\n\n${o.text}`) },
  { name: 'Outlook for Android, German', raw: (o) => raw(o, `AW: ${o.subject}`, `\nOutlook für Android herunterladen<https://aka.ms/AAb9ysg>\n${RULE}\n${DE_BLOCK(o)}\n\n${o.text}`) },
  { name: 'Gmail', raw: (o) => reply(o, 'gmail', '') },
  { name: 'Gmail, German', raw: (o) => raw(o, `Re: ${o.subject}`, `\n\nAm Mo., 2. März 2026 um 10:00 Uhr schrieb ${o.fromName} <\n${o.fromAddress}>:\n\n${o.text.split('\n').map((l) => `> ${l}`).join('\n')}`) },
  { name: 'Apple Mail', raw: (o) => reply(o, 'apple', '') },
  { name: 'Apple Mail, German', raw: (o) => raw(o, `Re: ${o.subject}`, `\n\n> Am 02.03.2026 um 10:00 schrieb ${sent(o)}:\n>\n${o.text.split('\n').map((l) => `> ${l}`).join('\n')}`) },
  { name: 'Thunderbird', raw: (o) => reply(o, 'thunderbird', '') },
];

describe('a customer’s reply with nothing written of her own', () => {
  it('is stored, shows no quoted block, and the agents are told it has no text: every client’s shape, English and German', async () => {
    for (const shape of SHAPES) {
      const { number, confirmation } = await newCase();
      const before = (await outbox('agent-notification')).length;
      const out = await env.ingest(shape.raw(confirmation));
      expect(out, shape.name).toMatchObject({ kind: 'stored', caseNumber: number, created: false });
      const stored = await env.ctx.db.selectFrom('messages').select(['visible_text', 'raw_sha256']).where('message_id', '=', `jane-r${seq}@customer.example`).executeTakeFirstOrThrow();
      expect(stored.visible_text, shape.name).toBe('');
      const told = (await outbox('agent-notification')).slice(before);
      expect(told.map((n) => n.to_address), shape.name).toEqual(['ben@example.com']);
      const note = told[0]!;
      expect(note.subject, shape.name).toBe(`[Case #${number}] Customer replied (no text): VPN broken ${caseSeq}`);
      expect(note.text, shape.name).toContain('(No text of their own: the email is empty or only quotes earlier mail. It is stored on the case as it came.)');
      expect(note.html, shape.name).toContain('No text of their own');
      for (const quoted of ['From: Example Support', 'Von: Example Support', 'Sent: Monday', 'Gesendet:', 'Subject: [Case', 'Betreff:', 'Original Message', 'Ursprüngliche', RULE]) expect(note.text, `${shape.name}: ${quoted}`).not.toContain(quoted);
    }
  });

  it('what she wrote still shows: above the block, typed inside the quoted block, a third party’s mail forwarded with nothing added', async () => {
    const { confirmation } = await newCase();
    const before = (await outbox('agent-notification')).length;
    await env.ingest(reply(confirmation, 'outlook', 'The certificate is from 2019, I just saw.'));
    // Outlook quotes without ">": she typed her answer between the header block and our email.
    await env.ingest(raw(confirmation, `RE: ${confirmation.subject}`, `${RULE}\n${EN_BLOCK(confirmation)}\n\nStill broken after the renewal.\n\n${confirmation.text}`));
    const isp = ['From: Network Team <noc@isp.example>', 'Sent: Monday, March 2, 2026 8:00 AM', 'To: Jane Customer <jane@customer.example>', 'Subject: Maintenance tonight', '', 'Your VPN gateway will be down from 22:00.'].join('\n');
    await env.ingest(raw(confirmation, `FW: ${confirmation.subject}`, isp));
    const told = (await outbox('agent-notification')).slice(before);
    expect(told.map((n) => n.subject.includes('(no text)'))).toEqual([false, false, false]);
    expect(told[0]!.text).toContain('The certificate is from 2019, I just saw.');
    expect(told[1]!.text).toContain('Still broken after the renewal.');
    expect(told[2]!.text).toContain('Your VPN gateway will be down from 22:00.');
  });

  it('on a resolved case it is recorded and the agents told, but the case is not reopened and she gets no "reopened" email (also with only her signature); a reply with text reopens it', async () => {
    const { number, confirmation } = await newCase();
    const caseRow = (await caseByNumber(env.ctx.db, number))!;
    await env.ctx.db.updateTable('cases').set({ status: 'resolved', resolved_at: env.clock.now().toISOString() }).where('id', '=', caseRow.id).execute();
    const before = (await outbox()).length;
    await env.ingest(reply(confirmation, 'outlook', ''));
    expect((await caseByNumber(env.ctx.db, number))!.status).toBe('resolved');
    expect((await outbox()).slice(before).map((o) => o.kind)).toEqual(['agent-notification']);
    // Her Outlook's auto-signature and nothing else above its quote: nothing written either.
    await env.ingest(reply(confirmation, 'outlook', 'Jane Customer\nHead of IT | ACME Corp\n+49 30 1234 567'));
    expect((await caseByNumber(env.ctx.db, number))!.status).toBe('resolved');
    expect((await outbox()).slice(before).map((o) => o.kind)).toEqual(['agent-notification', 'agent-notification']);
    expect((await eventsOfCase(env.ctx.db, caseRow.id)).filter((e) => e.type === 'case.not-reopened').map((e) => e.reason)).toEqual([
      'a reply with nothing written (no text above the quoted email but perhaps a signature, no file) does not reopen a resolved case',
      'a reply with nothing written (no text above the quoted email but perhaps a signature, no file) does not reopen a resolved case',
    ]);
    await env.ingest(reply(confirmation, 'outlook', 'It is broken again.'));
    expect((await caseByNumber(env.ctx.db, number))!.status).toBe('open');
    const reopened = (await outbox('reopened')).at(-1)!;
    expect(reopened.text).toContain('It is broken again.');
  });
});
