import { describe, expect, it } from 'vitest';
import { targetWords } from '../../src/cases/promise.js';

/**
 * The promise's target in words (`promise.target` of the confirmation): the plural form each
 * language's grammar asks for (Intl.PluralRules), and for a language casegate has no words for,
 * its own words for clock time (Intl) and English only for business time.
 */
describe('promise.target in the case’s language', () => {
  it('Slavic languages take the form of the number: 1 / 2–4 / 5 and up (Polish and Russian 22 like 2, Czech 22 like 5)', () => {
    const hours = (lang: string) => [1, 2, 5, 22, 25].map((h) => targetWords(h * 60, true, lang));
    expect(hours('pl')).toEqual(['1 godzina robocza', '2 godziny robocze', '5 godzin roboczych', '22 godziny robocze', '25 godzin roboczych']);
    expect(hours('ru')).toEqual(['1 рабочий час', '2 рабочих часа', '5 рабочих часов', '22 рабочих часа', '25 рабочих часов']);
    expect(hours('uk')).toEqual(['1 робоча година', '2 робочі години', '5 робочих годин', '22 робочі години', '25 робочих годин']);
    expect(hours('cs')).toEqual(['1 pracovní hodina', '2 pracovní hodiny', '5 pracovních hodin', '22 pracovních hodin', '25 pracovních hodin']);
    expect(targetWords(90, true, 'pl-PL')).toBe('1 godzina robocza i 30 minut');
    expect(targetWords(21, false, 'ru')).toBe('21 минута');
  });

  it('Nordic, Finnish, Turkish and Greek (Norwegian as nb, nn or no)', () => {
    expect(targetWords(240, true, 'sv')).toBe('4 arbetstimmar');
    expect(targetWords(60, true, 'da')).toBe('1 arbejdstime');
    expect(targetWords(240, true, 'nb')).toBe('4 arbeidstimer');
    expect(targetWords(240, true, 'nn-NO')).toBe('4 arbeidstimer');
    expect(targetWords(270, true, 'fi')).toBe('4 työtuntia ja 30 minuuttia');
    expect(targetWords(240, true, 'tr')).toBe('4 iş saati');
    expect(targetWords(240, true, 'el')).toBe('4 εργάσιμες ώρες');
  });

  it('the seven earlier languages are unchanged', () => {
    expect(targetWords(240, true, 'en')).toBe('4 business hours');
    expect(targetWords(90, true, 'de')).toBe('1 Geschäftsstunde und 30 Minuten');
    expect(targetWords(60, true, 'fr')).toBe('1 heure ouvrée');
    expect(targetWords(15, false, 'pt-BR')).toBe('15 minutos');
  });

  it('another language: its own words for a 24/7 target, English for business hours (no locale data names them)', () => {
    expect(targetWords(240, false, 'ja')).toBe('4 時間');
    expect(targetWords(90, false, 'ko')).toBe('1시간 30분');
    expect(targetWords(15, false, 'zh-TW')).toBe('15 分鐘');
    expect(targetWords(240, true, 'ja')).toBe('4 business hours');
    // A tag Intl refuses falls back to English.
    expect(targetWords(240, false, 'x-klingon-invalid-tag-!')).toBe('4 hours');
  });
});
