import libmime from 'libmime';
import type { ParsedMail } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { firstSentTo } from '../helpers/sent-mail.js';

/**
 * The case subject as the customer's client shows it in our mail (Subject and Outlook's
 * Thread-Topic of the .eml the file transport wrote): a customer's subject without words gets a
 * placeholder in the customer's language; a very long subject is cut between characters.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv({ outgoing: { transport: 'file' } });
});
afterEach(async () => {
  await env.close();
});

async function sentTo(address: string): Promise<{ parsed: ParsedMail; threadTopic: string }> {
  const { raw, parsed } = await firstSentTo(env, address);
  const head = raw.toString('latin1').split(/\r\n\r\n/)[0]!.replace(/\r\n[ \t]+/g, ' ');
  const topic = /^Thread-Topic: (.*)$/im.exec(head)?.[1] ?? '';
  return { parsed, threadTopic: libmime.decodeWords(topic) };
}

describe('the case subject in customer mail', () => {
  it('a German customer’s mail without a subject: "(kein Betreff)", no English placeholder', async () => {
    await env.ingest(
      eml({ from: 'Jürgen <juergen@kunde.example>', subject: '', messageId: 'j-1@kunde.example', headers: { 'Content-Language': 'de' }, body: 'Guten Tag, der Drucker im Büro druckt seit heute Morgen nicht mehr. Bitte helfen Sie mir.' }),
    );
    const { parsed, threadTopic } = await sentTo('juergen@kunde.example');
    expect(parsed.subject).toBe('[Case #10001] AW: (kein Betreff)');
    expect(threadTopic).toBe('(kein Betreff)');
    expect(parsed.text).toContain('Betreff:         (kein Betreff)');
  });

  it('an English customer’s mail without a subject: "(no subject)"', async () => {
    await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: '', messageId: 'jane-1@customer.example', body: 'The printer in room 4 does not print since this morning.' }));
    const { parsed } = await sentTo('jane@customer.example');
    expect(parsed.subject).toBe('[Case #10001] Re: (no subject)');
  });

  it('a subject longer than a case subject keeps, an emoji at the cut: whole characters, no U+FFFD in Subject or Thread-Topic', async () => {
    const subject = `${'x'.repeat(299)}🔥 printer on fire`;
    await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject, messageId: 'jane-2@customer.example', body: 'The printer in room 4 is on fire.' }));
    const { parsed, threadTopic } = await sentTo('jane@customer.example');
    expect(threadTopic).toBe(`${'x'.repeat(299)}🔥`);
    expect(threadTopic).not.toContain('\uFFFD');
    expect(parsed.subject).not.toContain('\uFFFD');
    expect(parsed.text).not.toContain('\uFFFD');
  });
});
