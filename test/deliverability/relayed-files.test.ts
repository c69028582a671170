import { simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drainOutbox } from '../helpers/sent-mail.js';
import { eml, mxHeaderFields, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply, type ClientStyle } from '../helpers/mail-clients.js';
import { readOutgoing } from '../helpers/outgoing-samples.js';

/**
 * The files an agent attaches, as the customer's mail client gets them (the .eml the file
 * transport wrote): parts of the message's multipart/mixed, beside the text and HTML
 * alternatives — never hidden inside the HTML alternative's multipart/related, where a reader of
 * the text part never sees them and Outlook hides what the HTML does not show.
 */

const JANE = 'Jane Customer <jane@customer.example>';

/** The MIME tree of a message: "content-type" lines, children indented (boundaries followed). */
function mimeTree(raw: string, indent = ''): string[] {
  const split = raw.search(/\r?\n\r?\n/);
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, ' ');
  const body = raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const type = /^content-type:\s*([^;\r\n]+)/im.exec(head)?.[1]?.trim().toLowerCase() ?? 'text/plain';
  const cid = /^content-id:/im.test(head) ? ' (content-id)' : '';
  const out = [`${indent}${type}${cid}`];
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(head)?.[1];
  if (type.startsWith('multipart/') && boundary !== undefined) {
    const parts = body.split(`--${boundary}`).slice(1, -1);
    for (const p of parts) out.push(...mimeTree(p.replace(/^\r?\n/, ''), `${indent}  `));
  }
  return out;
}

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
    outgoing: { transport: 'file' },
  });
});
afterEach(async () => {
  await env.close();
});

describe('an agent’s attachments in the customer’s mail', () => {
  it.each<ClientStyle>(['gmail', 'thunderbird', 'outlook'])('%s: the file is a part of multipart/mixed beside both alternatives, without the agent’s Content-ID', async (style) => {
    const first = await env.ingest(eml({ from: JANE, subject: 'VPN broken', messageId: 'jane-1@customer.example', body: 'The VPN client says "certificate expired".' }));
    expect(first.kind).toBe('stored');
    const n = await env.ctx.db.selectFrom('outbox').selectAll().where('to_address', '=', 'ben@example.com').orderBy('id').executeTakeFirstOrThrow();
    const pdf = Buffer.from('%PDF-1.4 fake guide\n');
    const reply = clientReply(
      { messageId: n.message_id, subject: n.subject, text: n.text, fromName: n.from_name, fromAddress: n.from_address, references: n.references_text?.match(/[^<>\s]+/g) ?? [] },
      {
        style,
        from: 'Ben Agent <ben@example.com>',
        to: 'support@example.com',
        body: 'Hi Jane,\n\nplease install the new certificate from the attached guide.',
        messageId: `ben-1-${style}@example.com`,
        headers: mxHeaderFields('example.com', 'pass'),
        attachments: [{ filename: 'vpn-guide.pdf', contentType: 'application/pdf', content: pdf }],
      },
    );
    expect((await env.ingest(reply)).kind).toBe('stored');
    await drainOutbox(env);
    const row = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'agent-reply').executeTakeFirstOrThrow();
    const raw = readOutgoing(env.resolved.paths.outgoingDir).find((r) => r.toString('latin1').includes(`<${row.message_id}>`));
    expect(raw).toBeDefined();
    const tree = mimeTree(raw!.toString('latin1'));
    expect(tree).toEqual(['multipart/mixed', '  multipart/alternative', '    text/plain', '    text/html', '  application/pdf']);
    const parsed = await simpleParser(raw!);
    expect(parsed.attachments.map((a) => [a.filename, a.contentDisposition, a.related === true, a.content.equals(pdf)])).toEqual([['vpn-guide.pdf', 'attachment', false, true]]);
    expect(parsed.text).toContain('Attached: vpn-guide.pdf');
  });
});
