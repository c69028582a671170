import type { ParsedMail } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { sendAndCollect } from '../helpers/sent-mail.js';

/**
 * The priority as a customer reads it in the status summary (the .eml the file transport wrote):
 * in the case's language — a German customer reads "Priorität: hoch", not the configured level
 * name "high".
 */

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv({ outgoing: { transport: 'file' }, autoReply: { minIntervalSeconds: 0 } });
});
afterEach(async () => {
  await env.close();
});

async function mailsTo(address: string): Promise<ParsedMail[]> {
  return (await sendAndCollect(env, address)).map((m) => m.parsed);
}

const flat = (s: string): string => s.replace(/\s+/g, ' ');
const htmlText = (m: ParsedMail): string => flat(typeof m.html === 'string' ? m.html.replace(/<[^>]*>/g, ' ') : '');

describe('the priority in the status summary', () => {
  it.each([
    ['de', 'Jürgen <juergen@kunde.example>', 'Drucker geht nicht', 'Guten Tag, der Drucker im Büro druckt seit heute Morgen nicht mehr.', /Priorität:? hoch\b/, 'high'],
    ['en', 'Jane <jane@customer.example>', 'Printer offline', 'The printer in room 4 does not print since this morning.', /Priority:? high\b/, null],
  ] as const)('%s: the level in the case’s language', async (language, from, subject, body, expected, notShown) => {
    const address = /<([^>]+)>/.exec(from)![1]!;
    await env.ingest(eml({ from, subject, messageId: `first-${language}@kunde.example`, headers: { 'Content-Language': language }, body }));
    const c = await env.ctx.db.selectFrom('cases').selectAll().executeTakeFirstOrThrow();
    expect(c.language).toBe(language);
    await env.ctx.db.updateTable('cases').set({ priority: 'high' }).where('id', '=', c.id).execute();
    const confirmation = (await mailsTo(address))[0]!;
    await env.ingest(eml({ from, subject: `Re: ${confirmation.subject}`, inReplyTo: confirmation.messageId!.replace(/^<|>$/g, ''), messageId: `status-${language}@kunde.example`, headers: { 'Content-Language': language }, body: '?' }));
    const summary = (await mailsTo(address)).find((m) => m.messageId !== confirmation.messageId)!;
    expect(summary).toBeDefined();
    for (const part of [flat(summary.text ?? ''), htmlText(summary)]) {
      expect(part).toMatch(expected);
      if (notShown !== null) expect(part).not.toMatch(new RegExp(`\\b${notShown}\\b`));
    }
  });
});
