import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { declaredLanguage, detectLanguage, languageOf, wordCounts } from '../../src/cases/language.js';
import { PACKAGE_ROOT } from '../../src/config/load.js';
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
    expect(counts.words).toBe(10);
    expect(counts.hits).toMatchObject({ en: 0, de: 6, fr: 1, es: 0, nl: 0, it: 0 });
    expect(counts.scripts).toEqual({ latin: 54 });
    expect(languageOf(counts, ['en', 'de'])).toBe('de');
    expect(languageOf(counts, ['en', 'fr'])).toBeNull();
    // A language with no word list counts as having no evidence.
    expect(languageOf(counts, ['xx', 'de'])).toBe('de');
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

describe('a third language: the writing system, more word lists, regional tags', () => {
  const ALL = ['en', 'de', 'ja', 'ko', 'zh-CN', 'zh-TW', 'ru', 'uk', 'ar', 'fa', 'he', 'el', 'th', 'hi', 'pt-BR', 'pl', 'tr', 'sv', 'cs'];
  it.each([
    ['こんにちは。プリンターが印刷できません。助けてください。', 'ja'],
    ['請求書の金額が間違っています', 'ja'],
    ['안녕하세요. 프린터가 고장났습니다. 도와주세요.', 'ko'],
    ['你好，我的账户无法登录，请帮忙。谢谢', 'zh-CN'],
    ['您好，我的賬戶無法登錄，請幫忙。謝謝', 'zh-TW'],
    ['Здравствуйте! Принтер не работает, помогите пожалуйста.', 'ru'],
    ['Добрий день! Принтер не працює, допоможіть будь ласка.', 'uk'],
    ['مرحبا، الطابعة لا تعمل. أرجو المساعدة.', 'ar'],
    ['سلام، چاپگر کار نمی‌کند. لطفا کمک کنید.', 'fa'],
    ['שלום, המדפסת לא עובדת. אשמח לעזרה.', 'he'],
    ['Γεια σας, ο εκτυπωτής δεν λειτουργεί. Ευχαριστώ.', 'el'],
    ['สวัสดีครับ เครื่องพิมพ์เสีย ช่วยด้วยครับ', 'th'],
    ['नमस्ते, मेरा प्रिंटर काम नहीं कर रहा है।', 'hi'],
    ['Olá, a minha impressora não funciona. Obrigado, atenciosamente', 'pt-BR'],
    ['Dzień dobry, drukarka nie działa. Proszę o pomoc. Pozdrawiam', 'pl'],
    ['Merhaba, yazıcı çalışmıyor. Lütfen yardım edin. Teşekkürler', 'tr'],
    ['Hej, skrivaren fungerar inte och jag kan inte skriva ut. Tack, vänliga hälsningar', 'sv'],
    ['Dobrý den, tiskárna nefunguje. Prosím o pomoc. S pozdravem', 'cs'],
  ])('%j → %s', (text, lang) => {
    expect(detectLanguage(text, ALL)).toBe(lang);
  });

  it('with every word list configured, English, German, French, Spanish, Dutch and Italian mail keeps its language (no "I", "a", "um", "er", "for", "on" counted elsewhere)', () => {
    const all = ['en', 'de', 'fr', 'es', 'nl', 'it', 'pt', 'pl', 'sv', 'da', 'no', 'fi', 'cs', 'tr'];
    expect(detectLanguage('I cannot print, I tried everything and I need a new driver for this printer. Thanks', all)).toBe('en');
    expect(detectLanguage('Hi, I am on a trip and I need the invoice for my boss at once, as soon as possible. Thank you', all)).toBe('en');
    expect(detectLanguage('Ich habe um 9 Uhr angerufen, er hat den Drucker nicht repariert. Danke und Gruß', all)).toBe('de');
    expect(detectLanguage('Bonjour, je ne peux pas imprimer, la imprimante ne fonctionne pas. Merci', all)).toBe('fr');
    expect(detectLanguage('Hola, la impresora no funciona, por favor ayuda. Gracias', all)).toBe('es');
    expect(detectLanguage('Hallo, de printer werkt niet en ik kan niet printen. Bedankt, groeten', all)).toBe('nl');
    expect(detectLanguage('Ciao, la stampante non funziona, per favore aiutatemi. Grazie, saluti', all)).toBe('it');
  });

  it('a script among few Latin words decides; a foreign name or word in a Latin message does not', () => {
    expect(detectLanguage('Hello, the printer does not work. Regards, 山田太郎', ['en', 'ja'])).toBe('en');
    expect(detectLanguage('Error E-42 on model XP-200: プリンターが動きません', ['en', 'ja'])).toBe('ja');
    expect(detectLanguage('Hallo, der Drucker funktioniert nicht. Bitte helfen Sie mir. Иван', ['de', 'ru'])).toBe('de');
  });

  it('a script with no configured language, or two configured languages it cannot tell apart: null', () => {
    expect(detectLanguage('こんにちは。プリンターが印刷できません。', ['en', 'de'])).toBeNull();
    expect(detectLanguage('Принтер не работает', ['en', 'bg', 'mk'])).toBeNull();
    expect(detectLanguage('打印故障', ['zh-CN', 'zh-TW'])).toBeNull();
    expect(detectLanguage('打印机坏了', ['en', 'zh'])).toBe('zh');
  });

  it('Content-Language picks a configured language by its tag, then by its primary subtag', () => {
    expect(declaredLanguage('pt-BR', ['en', 'pt-BR'])).toBe('pt-BR');
    expect(declaredLanguage('pt', ['en', 'pt-BR'])).toBe('pt-BR');
    expect(declaredLanguage('zh-TW, en', ['zh-CN', 'zh-TW'])).toBe('zh-TW');
    expect(declaredLanguage('de-AT', ['en', 'de'])).toBe('de');
    expect(declaredLanguage('fr', ['en', 'de'])).toBeNull();
    expect(declaredLanguage(null, ['en', 'de'])).toBeNull();
  });

  it('an admin who adds Japanese templates: a Japanese customer gets the Japanese confirmation; pt-BR by Content-Language', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-tpl-'));
    cpSync(join(PACKAGE_ROOT, 'templates'), dir, { recursive: true });
    for (const lang of ['ja', 'pt-BR']) mkdirSync(join(dir, lang), { recursive: true });
    writeFileSync(join(dir, 'ja', 'confirmation.subject.hbs'), '{{case.tag}} Re: {{case.subject}}\n');
    writeFileSync(join(dir, 'ja', 'confirmation.text.hbs'), 'お問い合わせを受け付けました。\n');
    writeFileSync(join(dir, 'ja', 'confirmation.html.hbs'), '<p>お問い合わせを受け付けました。</p>\n');
    writeFileSync(join(dir, 'pt-BR', 'confirmation.subject.hbs'), '{{case.tag}} Re: {{case.subject}}\n');
    writeFileSync(join(dir, 'pt-BR', 'confirmation.text.hbs'), 'Recebemos a sua solicitação.\n');
    writeFileSync(join(dir, 'pt-BR', 'confirmation.html.hbs'), '<p>Recebemos a sua solicitação.</p>\n');
    const env = await testEnv({ templates: { dir, watch: false, languages: ['en', 'de', 'ja', 'pt-BR'] }, autoReply: { minIntervalSeconds: 0 } });
    try {
      await env.ingest(eml({ from: '山田 <yamada@kunde.example>', subject: 'プリンターが動きません', body: 'こんにちは。プリンターが印刷できません。助けてください。' }));
      await env.ingest(eml({ from: 'Ana <ana@cliente.example>', subject: 'Impressora', headers: { 'Content-Language': 'pt' }, body: 'A impressora parou.' }));
      expect((await caseByNumber(env.ctx.db, 10001))!.language).toBe('ja');
      expect((await caseByNumber(env.ctx.db, 10002))!.language).toBe('pt-BR');
      const box = await env.ctx.db.selectFrom('outbox').select(['subject', 'text']).orderBy('id').execute();
      expect(box[0]!.text).toContain('お問い合わせを受け付けました。');
      expect(box[1]!.text).toContain('Recebemos a sua solicitação.');
    } finally {
      await env.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
