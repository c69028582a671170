import type { ParsedMail } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { firstSentTo } from '../helpers/sent-mail.js';

/**
 * The first line of every email — the reply marker, which is also what an inbox shows as the
 * preview — is in the customer's language; their answer above it, in any client that does not
 * quote (Outlook), is still cut there.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv({ outgoing: { transport: 'file' }, autoReply: { minIntervalSeconds: 0 } });
});
afterEach(async () => {
  await env.close();
});

async function sentTo(address: string): Promise<ParsedMail> {
  return (await firstSentTo(env, address)).parsed;
}

const GERMAN_MARKER = '##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##';

describe('the reply marker in the customer’s language', () => {
  it('German: the text and HTML parts begin with the German marker; an unquoted answer above it is cut there', async () => {
    await env.ingest(eml({ from: 'Jürgen <juergen@kunde.example>', subject: 'Drucker geht nicht', messageId: 'j-1@kunde.example', headers: { 'Content-Language': 'de' }, body: 'Guten Tag, der Drucker im Büro druckt seit heute Morgen nicht mehr.' }));
    const m = await sentTo('juergen@kunde.example');
    expect((m.text ?? '').split('\n')[0]).toBe(GERMAN_MARKER);
    const html = typeof m.html === 'string' ? m.html.replace(/<title>[\s\S]*?<\/title>/, '').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim() : '';
    expect(html.startsWith(GERMAN_MARKER)).toBe(true);
    for (const part of [m.text ?? '', html]) expect(part).not.toContain('Please type your reply');
    // A top-posted answer with the whole confirmation below it, unquoted and without a header block (as some phone clients send it).
    const answer = `Danke, der Drucker geht wieder.\n\n${m.text ?? ''}`;
    const out = await env.ingest(eml({ from: 'Jürgen <juergen@kunde.example>', subject: `AW: ${m.subject ?? ''}`, inReplyTo: m.messageId!.replace(/^<|>$/g, ''), messageId: 'j-2@kunde.example', headers: { 'Content-Language': 'de' }, body: answer }));
    expect(out.kind).toBe('stored');
    const stored = await env.ctx.db.selectFrom('messages').select(['visible_text']).where('message_id', '=', 'j-2@kunde.example').executeTakeFirstOrThrow();
    expect(stored.visible_text).toBe('Danke, der Drucker geht wieder.');
  });

  it('English: the English marker', async () => {
    await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Printer', messageId: 'jane-1@customer.example', body: 'The printer in room 4 does not print.' }));
    const m = await sentTo('jane@customer.example');
    expect((m.text ?? '').split('\n')[0]).toBe('##- Please type your reply above this line -##');
  });
});
