import { describe, expect, it } from 'vitest';
import { detectLanguage, languageOf, wordCounts } from '../../src/cases/language.js';
import { eml, testEnv } from '../helpers/context.js';
import { caseByNumber } from '../../src/db/repos/cases.js';

describe('language of the first message', () => {
  it.each([
    ['Hallo, der Drucker funktioniert nicht mehr und ich kann nichts drucken. Bitte helfen Sie mir. Viele Grüße', 'de'],
    ['Hello, the printer is not working and I cannot print anything. Please help. Regards', 'en'],
    ['Bonjour, la imprimante ne fonctionne pas et je ne peux pas imprimer. Merci, cordialement', 'fr'],
  ])('%j → %s', (text, lang) => {
    expect(detectLanguage(text, ['en', 'de', 'fr'])).toBe(lang);
  });

  it.each([
    ['', ['en', 'de']],
    ['Printer 4711 error E-42', ['en', 'de']],
    ['Der Drucker', ['en', 'de']],
  ])('no clear evidence → null: %j', (text, langs) => {
    expect(detectLanguage(text, langs)).toBeNull();
  });

  it('only answers with a configured language', () => {
    expect(detectLanguage('Bonjour, la imprimante ne fonctionne pas et je ne peux pas imprimer. Merci', ['en', 'de'])).toBeNull();
  });

  it('counts once for every language it knows; the configured languages are chosen among afterwards', () => {
    const counts = wordCounts('Hallo, der Drucker funktioniert nicht. Bitte helfen Sie mir. Merci');
    expect(counts).toEqual({ words: 10, hits: { en: 0, de: 6, fr: 1, es: 0, nl: 0, it: 0 } });
    expect(languageOf(counts, ['en', 'de'])).toBe('de');
    expect(languageOf(counts, ['en', 'fr'])).toBeNull();
    // A language with no word list counts as having no evidence.
    expect(languageOf(counts, ['pt', 'de'])).toBe('de');
    expect(languageOf(counts, ['constructor', 'toString', 'de'])).toBe('de');
  });

  it('picks the template language of a new case from its text when no Content-Language is given', async () => {
    const env = await testEnv();
    try {
      await env.ingest(eml({ subject: 'Drucker kaputt', body: 'Hallo, der Drucker funktioniert nicht und ich kann nicht drucken. Bitte helfen Sie mir.\n\nViele Grüße' }));
      expect((await caseByNumber(env.ctx.db, 10001))!.language).toBe('de');
      const box = await env.ctx.db.selectFrom('outbox').select(['subject', 'text']).execute();
      expect(box[0]!.subject).toBe('[Case #10001] AW: Drucker kaputt');
      expect(box[0]!.text).toContain('Ihre Anfrage ist bei uns eingegangen');
    } finally {
      await env.close();
    }
  });
});
