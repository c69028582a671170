import * as z from 'zod';
import { secretProblem } from '../cases/thread-token.js';

/**
 * Value types several parts of the configuration schema (schema.ts) share. Every schema module
 * imports this one first: the configuration is parsed once per process (and at a reload), so
 * zod's generated fast path for objects (code built with new Function at the first parse) costs
 * more than it saves here — and zod decides that when an object schema is built, not when it parses.
 */
z.config({ jitless: true });

/** A plain address, trimmed and lower-cased: support@example.com. */
export const email = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/, 'must be a plain email address like support@example.com');

/** A signing secret: at least MIN_SECRET_BYTES bytes. */
export const secretString = z.string().superRefine((v, ctx) => {
  const problem = secretProblem(v);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: `the secret ${problem}` });
});

/** "2026-09-01" (midnight UTC) or a full ISO-8601 time. */
export const isoTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/, { message: 'a date like 2026-09-01 or an ISO-8601 time', abort: true })
  .refine((v) => !Number.isNaN(Date.parse(v)), 'not a valid date');

/** Country codes admins write for a language: the language code they mean. */
const COUNTRY_NOT_LANGUAGE: Readonly<Record<string, string>> = { jp: 'ja', cz: 'cs', gr: 'el', dk: 'da', cn: 'zh', ua: 'uk', us: 'en', gb: 'en', at: 'de', ch: 'de', il: 'he', ir: 'fa', vn: 'vi', br: 'pt-BR', tw: 'zh-TW', hk: 'zh-HK', sa: 'ar', eg: 'ar', in: 'hi', rs: 'sr', si: 'sl', ee: 'et', al: 'sq', by: 'be', kz: 'kk' };
let languageNames: Intl.DisplayNames | undefined;

/**
 * Whether ICU knows `tag` as a language. Most tags ICU can complete with a script and a region
 * ("de" → de-Latn-DE), a lookup in data every Node process loads in ~2 ms; only a tag it cannot
 * complete (a rare language, or a country code) asks ICU's language names, whose data takes
 * 12–19 ms to load — every `casegate` command that reads a configuration paid that at start-up.
 */
function isKnownLanguage(tag: string): boolean {
  if (tag.length < 2) return false;
  try {
    const locale = new Intl.Locale(tag);
    if (locale.maximize().toString() !== locale.toString()) return true;
    languageNames ??= new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' });
    return languageNames.of(tag) !== undefined;
  } catch {
    return false;
  }
}

/** A language tag as templates and cases use it ("de", "pt-BR", "zh-TW"): a language ICU knows, not a country code ("jp", "cz"). */
export const languageTag = z.string().superRefine((v, ctx) => {
  if (isKnownLanguage(v)) return;
  const hint = COUNTRY_NOT_LANGUAGE[v.toLowerCase()];
  ctx.addIssue({ code: 'custom', message: `"${v}" is not a language code${hint !== undefined ? ` (a country code? the language is "${hint}")` : ''}: use an ISO 639 code such as en, de, fr, ja, zh-TW, pt-BR` });
});
