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
 * case's language (English, German, French, Spanish, Italian, Dutch, Portuguese; others get
 * English), the times as the case's locale writes them, in the queue's time zone. The sentence itself is the template's (templates/confirmation.*).
 */

export type PromiseData = TemplateDataMap['confirmation']['promise'];

type Pair = readonly [string, string];
const WORDS: Readonly<Record<string, { readonly bh: Pair; readonly bm: Pair; readonly h: Pair; readonly m: Pair; readonly and: string }>> = {
  en: { bh: ['business hour', 'business hours'], bm: ['business minute', 'business minutes'], h: ['hour', 'hours'], m: ['minute', 'minutes'], and: 'and' },
  de: { bh: ['Geschäftsstunde', 'Geschäftsstunden'], bm: ['Geschäftsminute', 'Geschäftsminuten'], h: ['Stunde', 'Stunden'], m: ['Minute', 'Minuten'], and: 'und' },
  fr: { bh: ['heure ouvrée', 'heures ouvrées'], bm: ['minute ouvrée', 'minutes ouvrées'], h: ['heure', 'heures'], m: ['minute', 'minutes'], and: 'et' },
  es: { bh: ['hora hábil', 'horas hábiles'], bm: ['minuto hábil', 'minutos hábiles'], h: ['hora', 'horas'], m: ['minuto', 'minutos'], and: 'y' },
  it: { bh: ['ora lavorativa', 'ore lavorative'], bm: ['minuto lavorativo', 'minuti lavorativi'], h: ['ora', 'ore'], m: ['minuto', 'minuti'], and: 'e' },
  nl: { bh: ['werkuur', 'werkuren'], bm: ['werkminuut', 'werkminuten'], h: ['uur', 'uur'], m: ['minuut', 'minuten'], and: 'en' },
  pt: { bh: ['hora útil', 'horas úteis'], bm: ['minuto útil', 'minutos úteis'], h: ['hora', 'horas'], m: ['minuto', 'minutos'], and: 'e' },
};

/** The word table of a language (English for one without). */
function lang(language: string): string {
  const primary = language.toLowerCase().split(/[-_]/)[0] ?? 'en';
  return Object.hasOwn(WORDS, primary) ? primary : 'en';
}

/** 240 → "4 business hours"; 90 → "1 business hour and 30 minutes"; 24/7: "15 minutes". */
export function targetWords(minutes: number, business: boolean, language: string): string {
  const w = WORDS[lang(language)]!;
  const h = Math.floor(minutes / 60);
  const m = Math.round(minutes % 60);
  const pick = (n: number, pair: readonly [string, string]): string => `${n} ${n === 1 ? pair[0] : pair[1]}`;
  if (h === 0) return pick(m, business ? w.bm : w.m);
  const hours = pick(h, business ? w.bh : w.h);
  return m === 0 ? hours : `${hours} ${w.and} ${pick(m, w.m)}`;
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
    return { has: false, target: '', due: '', dueAt: '', nextBusinessDay: false, open, backAt };
  }
  const dueAt = new Date(due);
  return {
    has: true,
    target: targetWords(terms.firstResponseMin, terms.coverage === 'business-hours', caseRow.language),
    due: localWhen(dueAt, zone, caseRow.language, now),
    dueAt: DateTime.fromJSDate(dueAt, { zone }).toISO() ?? due,
    nextBusinessDay: dueNextBusinessDay(terms, created),
    open,
    backAt,
  };
}
