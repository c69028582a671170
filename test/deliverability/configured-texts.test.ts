import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { firstSentTo } from '../helpers/sent-mail.js';

/**
 * The texts of the configuration a confirmation states (expected response, what helps us), as the
 * customer reads them (the .eml the file transport wrote): left at their shipped English
 * defaults, a German customer reads them in German; a text the admin wrote is shown as written.
 */

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function confirmationFor(config: ConfigInput, language: 'de' | 'en'): Promise<string> {
  env = await testEnv({ ...config, outgoing: { transport: 'file' } });
  const body = language === 'de' ? 'Guten Tag, der Drucker im Büro druckt seit heute Morgen nicht mehr.' : 'The printer in room 4 does not print since this morning.';
  await env.ingest(eml({ from: 'Kunde <kunde@kunde.example>', subject: 'Drucker', messageId: 'k-1@kunde.example', headers: { 'Content-Language': language }, body }));
  const m = (await firstSentTo(env, 'kunde@kunde.example')).parsed;
  const html = typeof m.html === 'string' ? m.html.replace(/<[^>]*>/g, ' ') : '';
  return `${m.text ?? ''}\n${html}`.replace(/\s+/g, ' ');
}

describe('configured texts in the confirmation', () => {
  it('German customer, defaults: the expected response and the list in German, no English left', async () => {
    const both = await confirmationFor({}, 'de');
    expect(both).toContain('Voraussichtliche Antwortzeit: innerhalb eines Geschäftstages');
    expect(both).toContain('die genaue Fehlermeldung');
    expect(both).toContain('wer betroffen ist (nur Sie, Ihr Team, alle)');
    for (const english of ['business day', 'the exact error message', 'screenshots of what you see', 'who is affected']) expect(both).not.toContain(english);
  });

  it('English customer, defaults: English', async () => {
    const both = await confirmationFor({}, 'en');
    expect(both).toContain('within one business day');
    expect(both).toContain('the exact error message');
  });

  it('German customer, texts the admin wrote: shown as written', async () => {
    const both = await confirmationFor({ cases: { expectedResponse: 'binnen 4 Stunden', helpfulInfo: ['die Kundennummer'] } }, 'de');
    expect(both).toContain('Voraussichtliche Antwortzeit: binnen 4 Stunden');
    expect(both).toContain('die Kundennummer');
    expect(both).not.toContain('die genaue Fehlermeldung');
  });
});
