import { DateTime } from 'luxon';
import type { Config } from '../config/schema.js';
import type { CaseRow } from '../db/schema.js';
import type { TemplateDataMap } from '../mail-out/template-data.js';
import { slaTerms } from './sla-policy.js';
import { dueNextBusinessDay } from './sla-state.js';
import { Memo } from '../memo.js';

/**
 * The promise a confirmation states (issue 11): "We aim to reply within 4 business hours — by
 * Tuesday 10:00 CST"; outside hours also when the team is back. Words for the target in the
 * case's language (WORDS below; any other language gets its own words for clock time from Intl,
 * and English for business time, which no locale data names), the times as the case's locale
 * writes them, in the queue's time zone. The sentence itself is the template's
 * (templates/confirmation.*); `promise.hours`, `.minutes` and `.businessTime` let a template
 * in a language without words here build its own.
 */

export type PromiseData = TemplateDataMap['confirmation']['promise'];

/** A noun's forms by the language's plural category (Intl.PluralRules); `other` is the fallback. */
type Forms = Readonly<Partial<Record<Intl.LDMLPluralRule, string>> & { other: string }>;
interface Words {
  readonly bh: Forms;
  readonly bm: Forms;
  readonly h: Forms;
  readonly m: Forms;
  readonly and: string;
}

const two = (one: string, other: string): Forms => ({ one, other });
/** Slavic nouns: 1 / 2–4 / 5+ (and 0) / fractions (pl, ru, uk: one few many other; cs, sk: one few other many). */
const slavic = (one: string, few: string, many: string, fraction: string): Forms => ({ one, few, many, other: fraction });
const czech = (one: string, few: string, many: string, fraction: string): Forms => ({ one, few, other: many, many: fraction });

/**
 * Languages the language detector recognises (src/cases/language.ts) and a few neighbours. Turkish
 * and Finnish keep the noun singular after a number ("4 iş saati"; Finnish "4 työtuntia" is a
 * partitive singular).
 */
const WORDS: Readonly<Record<string, Words>> = {
  en: { bh: two('business hour', 'business hours'), bm: two('business minute', 'business minutes'), h: two('hour', 'hours'), m: two('minute', 'minutes'), and: 'and' },
  de: { bh: two('Geschäftsstunde', 'Geschäftsstunden'), bm: two('Geschäftsminute', 'Geschäftsminuten'), h: two('Stunde', 'Stunden'), m: two('Minute', 'Minuten'), and: 'und' },
  fr: { bh: two('heure ouvrée', 'heures ouvrées'), bm: two('minute ouvrée', 'minutes ouvrées'), h: two('heure', 'heures'), m: two('minute', 'minutes'), and: 'et' },
  es: { bh: two('hora hábil', 'horas hábiles'), bm: two('minuto hábil', 'minutos hábiles'), h: two('hora', 'horas'), m: two('minuto', 'minutos'), and: 'y' },
  it: { bh: two('ora lavorativa', 'ore lavorative'), bm: two('minuto lavorativo', 'minuti lavorativi'), h: two('ora', 'ore'), m: two('minuto', 'minuti'), and: 'e' },
  nl: { bh: two('werkuur', 'werkuren'), bm: two('werkminuut', 'werkminuten'), h: two('uur', 'uur'), m: two('minuut', 'minuten'), and: 'en' },
  pt: { bh: two('hora útil', 'horas úteis'), bm: two('minuto útil', 'minutos úteis'), h: two('hora', 'horas'), m: two('minuto', 'minutos'), and: 'e' },
  sv: { bh: two('arbetstimme', 'arbetstimmar'), bm: two('arbetsminut', 'arbetsminuter'), h: two('timme', 'timmar'), m: two('minut', 'minuter'), and: 'och' },
  da: { bh: two('arbejdstime', 'arbejdstimer'), bm: two('arbejdsminut', 'arbejdsminutter'), h: two('time', 'timer'), m: two('minut', 'minutter'), and: 'og' },
  no: { bh: two('arbeidstime', 'arbeidstimer'), bm: two('arbeidsminutt', 'arbeidsminutter'), h: two('time', 'timer'), m: two('minutt', 'minutter'), and: 'og' },
  fi: { bh: two('työtunti', 'työtuntia'), bm: two('työminuutti', 'työminuuttia'), h: two('tunti', 'tuntia'), m: two('minuutti', 'minuuttia'), and: 'ja' },
  tr: { bh: two('iş saati', 'iş saati'), bm: two('iş dakikası', 'iş dakikası'), h: two('saat', 'saat'), m: two('dakika', 'dakika'), and: 've' },
  el: { bh: two('εργάσιμη ώρα', 'εργάσιμες ώρες'), bm: two('εργάσιμο λεπτό', 'εργάσιμα λεπτά'), h: two('ώρα', 'ώρες'), m: two('λεπτό', 'λεπτά'), and: 'και' },
  pl: {
    bh: slavic('godzina robocza', 'godziny robocze', 'godzin roboczych', 'godziny roboczej'),
    bm: slavic('minuta robocza', 'minuty robocze', 'minut roboczych', 'minuty roboczej'),
    h: slavic('godzina', 'godziny', 'godzin', 'godziny'),
    m: slavic('minuta', 'minuty', 'minut', 'minuty'),
    and: 'i',
  },
  ru: {
    bh: slavic('рабочий час', 'рабочих часа', 'рабочих часов', 'рабочего часа'),
    bm: slavic('рабочая минута', 'рабочие минуты', 'рабочих минут', 'рабочей минуты'),
    h: slavic('час', 'часа', 'часов', 'часа'),
    m: slavic('минута', 'минуты', 'минут', 'минуты'),
    and: 'и',
  },
  uk: {
    bh: slavic('робоча година', 'робочі години', 'робочих годин', 'робочої години'),
    bm: slavic('робоча хвилина', 'робочі хвилини', 'робочих хвилин', 'робочої хвилини'),
    h: slavic('година', 'години', 'годин', 'години'),
    m: slavic('хвилина', 'хвилини', 'хвилин', 'хвилини'),
    and: 'і',
  },
  cs: {
    bh: czech('pracovní hodina', 'pracovní hodiny', 'pracovních hodin', 'pracovní hodiny'),
    bm: czech('pracovní minuta', 'pracovní minuty', 'pracovních minut', 'pracovní minuty'),
    h: czech('hodina', 'hodiny', 'hodin', 'hodiny'),
    m: czech('minuta', 'minuty', 'minut', 'minuty'),
    and: 'a',
  },
  sk: {
    bh: czech('pracovná hodina', 'pracovné hodiny', 'pracovných hodín', 'pracovnej hodiny'),
    bm: czech('pracovná minúta', 'pracovné minúty', 'pracovných minút', 'pracovnej minúty'),
    h: czech('hodina', 'hodiny', 'hodín', 'hodiny'),
    m: czech('minúta', 'minúty', 'minút', 'minúty'),
    and: 'a',
  },
};

/** The primary subtag, Norwegian Bokmål and Nynorsk as `no`. */
function primaryOf(language: string): string {
  const primary = language.toLowerCase().split(/[-_]/)[0] || 'en';
  return primary === 'nb' || primary === 'nn' ? 'no' : primary;
}

const pluralRules = new Memo<string, Intl.PluralRules>(64);

function pick(n: number, forms: Forms, language: string): string {
  const category = pluralRules.get(language, () => new Intl.PluralRules(language)).select(n);
  return `${n} ${forms[category] ?? forms.other}`;
}

/** "1 hour, 30 minutes" as the language writes a duration (Intl: every locale, clock time only). */
function intlDuration(h: number, m: number, language: string): string | null {
  try {
    const unit = (n: number, u: 'hour' | 'minute'): string => new Intl.NumberFormat(language, { style: 'unit', unit: u, unitDisplay: 'long' }).format(n);
    const parts = [...(h > 0 ? [unit(h, 'hour')] : []), ...(m > 0 || h === 0 ? [unit(m, 'minute')] : [])];
    return new Intl.ListFormat(language, { type: 'unit', style: 'long' }).format(parts);
  } catch {
    return null; // a tag Intl refuses
  }
}

/**
 * 240 → "4 business hours"; 90 → "1 business hour and 30 minutes"; 24/7: "15 minutes". A language
 * without words here: its own words for clock time (Intl: "4 時間"), English for business time.
 */
export function targetWords(minutes: number, business: boolean, language: string): string {
  const h = Math.floor(minutes / 60);
  const m = Math.round(minutes % 60);
  const primary = primaryOf(language);
  const known = Object.hasOwn(WORDS, primary);
  if (!known && !business) {
    const own = intlDuration(h, m, language);
    if (own !== null) return own;
  }
  const w = WORDS[known ? primary : 'en']!;
  const rules = known ? primary : 'en';
  if (h === 0) return pick(m, business ? w.bm : w.m, rules);
  const hours = pick(h, business ? w.bh : w.h, rules);
  return m === 0 ? hours : `${hours} ${w.and} ${pick(m, w.m, rules)}`;
}

/**
 * Texts of localWhen by (minute, zone, language, near): it shows no seconds, and Luxon's formatting
 * costs about 70 µs a call, once for every confirmation; due times within a minute share a text.
 */
const whenTexts = new Memo<string, string>(512);

/**
 * "Tuesday 10:00 CST" (within six days), else "Tuesday, 3 March, 10:00 CST"; German "Dienstag,
 * 10:00 Uhr MEZ"; any other language as its locale writes a weekday, date and time ("mardi 3 mars
 * à 10:00 UTC+1", "3月3日火曜日 10:00 JST").
 */
export function localWhen(at: Date, zone: string, language: string, now: Date): string {
  const primary = language.toLowerCase().split(/[-_]/)[0] ?? 'en';
  const l = primary === 'en' || primary === 'de' ? primary : language;
  const near = at.getTime() - now.getTime() < 6 * 86_400_000;
  return whenTexts.get(`${Math.floor(at.getTime() / 60_000)}\u0000${zone}\u0000${l}\u0000${near ? 1 : 0}`, () => {
    const dt = DateTime.fromJSDate(at, { zone }).setLocale(l);
    if (l === 'de') return dt.toFormat(near ? "cccc, HH:mm 'Uhr' ZZZZ" : "cccc, d. LLLL, HH:mm 'Uhr' ZZZZ");
    if (l === 'en') return dt.toFormat(near ? 'cccc HH:mm ZZZZ' : 'cccc, d LLLL, HH:mm ZZZZ');
    return dt.toLocaleString({ weekday: 'long', ...(near ? {} : { day: 'numeric', month: 'long' }), hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
  });
}

export function promiseData(config: Pick<Config, 'sla' | 'queues' | 'priorities'>, caseRow: Pick<CaseRow, 'queue' | 'priority' | 'created_at' | 'language' | 'first_response_due_at' | 'kind'>, now: Date): PromiseData {
  const terms = slaTerms(config, caseRow.queue, caseRow.priority);
  const zone = terms.calendar.zone;
  const created = new Date(caseRow.created_at);
  const open = terms.clock.isOpen(created);
  const backAt = open ? '' : localWhen(terms.clock.nextOpen(created), zone, caseRow.language, now);
  const due = caseRow.first_response_due_at;
  if (caseRow.kind === 'feedback' || terms.firstResponseMin === null || due === null) {
    return { has: false, target: '', hours: 0, minutes: 0, businessTime: false, due: '', dueAt: '', nextBusinessDay: false, open, backAt };
  }
  const dueAt = new Date(due);
  return {
    has: true,
    target: targetWords(terms.firstResponseMin, terms.coverage === 'business-hours', caseRow.language),
    hours: Math.floor(terms.firstResponseMin / 60),
    minutes: Math.round(terms.firstResponseMin % 60),
    businessTime: terms.coverage === 'business-hours',
    due: localWhen(dueAt, zone, caseRow.language, now),
    dueAt: DateTime.fromJSDate(dueAt, { zone }).toISO() ?? due,
    nextBusinessDay: dueNextBusinessDay(terms, created),
    open,
    backAt,
  };
}
