/**
 * The language a customer wrote in, from the words of their first message, for choosing
 * templates when the mail declares no Content-Language (most clients don't). Deliberately
 * simple and conservative: the writing system first (Japanese kana, Hangul, Chinese characters,
 * Cyrillic, Arabic, Hebrew, Greek, Thai, Devanagari tell the language among the configured ones),
 * then frequent function words per Latin-script language, and an answer only with clear
 * evidence; otherwise null and the queue's or the default language applies. Configured languages
 * are matched by their primary subtag ("pt-BR" is Portuguese, "zh-TW" Chinese).
 */
const STOPWORDS: Readonly<Record<string, readonly string[]>> = {
  en: ['the', 'and', 'is', 'are', 'not', 'please', 'thanks', 'thank', 'with', 'you', 'have', 'this', 'that', 'it', 'for', 'my', 'we', 'can', 'does', 'would', 'hello', 'regards'],
  de: ['und', 'ist', 'nicht', 'ich', 'die', 'der', 'das', 'bitte', 'danke', 'mit', 'sie', 'ein', 'eine', 'auf', 'wir', 'mein', 'meine', 'funktioniert', 'hallo', 'grüße', 'gruß', 'auch', 'noch', 'kann', 'wird', 'haben'],
  fr: ['le', 'la', 'les', 'et', 'est', 'pas', 'je', 'vous', 'merci', 'avec', 'une', 'des', 'pour', 'nous', 'mon', 'bonjour', 'cordialement', 'ne', 'fonctionne'],
  es: ['el', 'la', 'los', 'las', 'y', 'es', 'no', 'por', 'favor', 'gracias', 'con', 'una', 'para', 'mi', 'hola', 'saludos', 'funciona', 'que'],
  nl: ['de', 'het', 'en', 'is', 'niet', 'ik', 'een', 'met', 'bedankt', 'alstublieft', 'graag', 'mijn', 'wij', 'werkt', 'groeten'],
  it: ['il', 'lo', 'la', 'gli', 'e', 'è', 'non', 'per', 'favore', 'grazie', 'con', 'una', 'mio', 'ciao', 'saluti', 'funziona'],
  pt: ['os', 'não', 'é', 'uma', 'com', 'obrigado', 'obrigada', 'olá', 'meu', 'minha', 'você', 'funciona', 'atenciosamente', 'isso', 'ao', 'também'],
  pl: ['nie', 'jest', 'się', 'że', 'mam', 'dzień', 'dobry', 'proszę', 'dziękuję', 'pozdrawiam', 'działa', 'mój', 'moja', 'czy', 'już', 'oraz'],
  sv: ['och', 'är', 'inte', 'jag', 'att', 'som', 'för', 'tack', 'mitt', 'fungerar', 'hälsningar', 'vänliga', 'också'],
  da: ['og', 'ikke', 'jeg', 'tak', 'virker', 'hilsen', 'venlig', 'også', 'ikk', 'mvh'],
  no: ['og', 'ikke', 'jeg', 'hei', 'takk', 'mitt', 'fungerer', 'hilsen', 'vennlig', 'også', 'mvh'],
  fi: ['ei', 'minä', 'kiitos', 'että', 'toimi', 'minun', 'terveisin', 'ystävällisin', 'mutta', 'myös', 'tämä', 'olen'],
  cs: ['není', 'prosím', 'děkuji', 'dobrý', 'mám', 'můj', 'moje', 'nefunguje', 'pozdravem', 'že', 'také', 'jsem'],
  tr: ['ve', 'bir', 'bu', 'için', 'değil', 'merhaba', 'teşekkürler', 'teşekkür', 'ederim', 'lütfen', 'çalışmıyor', 'benim', 'ile', 'saygılarımla', 'ama'],
};

/** Languages told by the writing system rather than by words; the key is the script (see scriptOf). */
const SCRIPT_LANGUAGES: Readonly<Record<string, readonly string[]>> = {
  kana: ['ja'],
  hangul: ['ko'],
  han: ['zh'],
  cyrillic: ['ru', 'uk', 'bg', 'sr', 'mk', 'be', 'kk'],
  arabic: ['ar', 'fa', 'ur'],
  hebrew: ['he', 'iw', 'yi'],
  greek: ['el'],
  thai: ['th'],
  devanagari: ['hi', 'mr', 'ne'],
};

/**
 * Letters only one language of a script family writes (Ukrainian і ї є ґ, Serbian ђ ћ џ љ њ ј,
 * Russian ы э ё, Persian پ چ ژ گ ی ک, Urdu ٹ ڈ ڑ ے ں), and common characters whose simplified and
 * traditional Chinese forms differ: they choose between two configured languages of one script.
 */
const MARKS: Readonly<Record<string, string>> = {
  ...Object.fromEntries([...'іїєґ'].map((c) => [c, 'uk'])),
  ...Object.fromEntries([...'ђћџљњј'].map((c) => [c, 'sr'])),
  ...Object.fromEntries([...'ыэё'].map((c) => [c, 'ru'])),
  ...Object.fromEntries([...'پچژگیک'].map((c) => [c, 'fa'])),
  ...Object.fromEntries([...'ٹڈڑےں'].map((c) => [c, 'ur'])),
  ...Object.fromEntries([...'们这个说为时国会来对问题请谢无话开关后发单号买账户机电码应没'].map((c) => [c, 'zh-hans'])),
  ...Object.fromEntries([...'們這個說為時國會來對問題請謝無話開關後發單號買賬戶機電碼應沒'].map((c) => [c, 'zh-hant'])),
};
const ALWAYS_MARKED = new Set(['uk', 'sr', 'fa', 'ur']);
const ZH_HANT_REGIONS = new Set(['tw', 'hk', 'mo', 'hant']);

const MIN_HITS = 3;
/** Letters of one script a message needs before the script decides (a name or a word alone does not). */
const MIN_SCRIPT_LETTERS = 4;

const LANGUAGES = Object.keys(STOPWORDS);
/** Each function word → the indexes (in LANGUAGES) of the languages it belongs to: one look-up a word. */
const WORD_LANGUAGES: ReadonlyMap<string, readonly number[]> = (() => {
  const index = new Map<string, number[]>();
  LANGUAGES.forEach((lang, i) => {
    for (const word of STOPWORDS[lang]!) index.set(word, [...(index.get(word) ?? []), i]);
  });
  return index;
})();
const WORD_RE = /\p{L}+/gu;

/** The script of a UTF-16 code unit, by block (a high surrogate counts as Han: the supplementary ideographs). */
function scriptOf(c: number): string | null {
  if (c < 0x0370) return (c >= 0x61 && c <= 0x7a) || (c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7) ? 'latin' : null;
  if (c < 0x0400) return 'greek';
  if (c < 0x0530) return 'cyrillic';
  if (c >= 0x0590 && c < 0x0600) return 'hebrew';
  if ((c >= 0x0600 && c < 0x0700) || (c >= 0x0750 && c < 0x0780)) return c >= 0x0621 ? 'arabic' : null;
  if (c >= 0x0900 && c < 0x0980) return 'devanagari';
  if (c >= 0x0e00 && c < 0x0e80) return 'thai';
  if ((c >= 0x1100 && c < 0x1200) || (c >= 0x3130 && c < 0x3190) || (c >= 0xac00 && c < 0xd7b0)) return 'hangul';
  if (c >= 0x1e00 && c < 0x1f00) return 'latin';
  if (c >= 0x1f00 && c < 0x2000) return 'greek';
  if ((c >= 0x3041 && c < 0x3100 && c !== 0x30fb && c !== 0x30fc) || (c >= 0x31f0 && c < 0x3200) || (c >= 0xff66 && c < 0xffa0)) return 'kana';
  if ((c >= 0x3400 && c < 0x4dc0) || (c >= 0x4e00 && c < 0xa000) || (c >= 0xf900 && c < 0xfb00) || (c >= 0xd840 && c < 0xd880)) return 'han';
  if ((c >= 0xfb1d && c < 0xfb50)) return 'hebrew';
  if ((c >= 0xfb50 && c < 0xfe00) || (c >= 0xfe70 && c < 0xff00)) return 'arabic';
  return null;
}

/** How many words a text has, how many of them are each language's function words, and its letters by script. */
export interface WordCounts {
  readonly words: number;
  readonly hits: Readonly<Record<string, number>>;
  /** Letters per script ("latin", "cyrillic", "han", "kana" …). */
  readonly scripts: Readonly<Record<string, number>>;
  /** Letters that tell one language of a script from another (MARKS), per language. */
  readonly marks: Readonly<Record<string, number>>;
}

/**
 * The counts detectLanguage decides on, for every language it knows (the daemon's MIME thread
 * counts them while it parses, off the main thread; languageOf then picks among the configured ones).
 */
export function wordCounts(text: string): WordCounts {
  const hits = LANGUAGES.map(() => 0);
  let words = 0;
  // The first 5,000 characters, cut before lower-casing (a long quoted chain is not lower-cased whole).
  const lower = text.slice(0, 5000).toLowerCase();
  for (const [word] of lower.matchAll(WORD_RE)) {
    words += 1;
    for (const i of WORD_LANGUAGES.get(word) ?? []) hits[i]! += 1;
  }
  const scripts: Record<string, number> = {};
  const marks: Record<string, number> = {};
  for (let i = 0; i < lower.length; i += 1) {
    const script = scriptOf(lower.charCodeAt(i));
    if (script === null) continue;
    scripts[script] = (scripts[script] ?? 0) + 1;
    if (script !== 'latin') {
      const mark = MARKS[lower[i]!];
      if (mark !== undefined) marks[mark] = (marks[mark] ?? 0) + 1;
    }
  }
  return { words, hits: Object.fromEntries(LANGUAGES.map((lang, i) => [lang, hits[i]!])), scripts, marks };
}

/** "pt-BR" → "pt", "nb" → "no" (Norwegian Bokmål and Nynorsk share the word list). */
function primaryOf(lang: string): string {
  const primary = lang.toLowerCase().split(/[-_]/)[0] ?? '';
  return primary === 'nb' || primary === 'nn' ? 'no' : primary;
}

/**
 * The non-Latin script with the most letters, when there are enough of them (a CJK sentence is
 * few letters beside Latin error codes and product names: 40% of all letters suffice); else null.
 */
function dominantScript(scripts: Readonly<Record<string, number>>): string | null {
  let total = 0;
  for (const n of Object.values(scripts)) total += n;
  // Japanese writes kana and Han together: kana among them makes it Japanese.
  const kana = scripts.kana ?? 0;
  const han = scripts.han ?? 0;
  const merged: Record<string, number> = { ...scripts };
  if (kana > 0 && kana * 10 >= kana + han) {
    merged.kana = kana + han;
    delete merged.han;
  }
  let best: string | null = null;
  for (const [script, n] of Object.entries(merged)) if (script !== 'latin' && (best === null || n > merged[best]!)) best = script;
  if (best === null) return null;
  const n = merged[best]!;
  return n >= MIN_SCRIPT_LETTERS && n * 10 >= total * 4 ? best : null;
}

/** Among configured languages of one script, the one its letters tell (marks; Chinese by simplified or traditional forms). */
function byScript(script: string, counts: WordCounts, candidates: readonly string[]): string | null {
  const family = SCRIPT_LANGUAGES[script] ?? [];
  const matching = candidates.filter((lang) => family.includes(primaryOf(lang)));
  if (matching.length <= 1) return matching[0] ?? null;
  const marks = counts.marks;
  if (script === 'han') {
    const hans = marks['zh-hans'] ?? 0;
    const hant = marks['zh-hant'] ?? 0;
    if (hans === hant) return null;
    const traditional = hant > hans;
    const fits = matching.filter((lang) => ZH_HANT_REGIONS.has(lang.toLowerCase().split(/[-_]/)[1] ?? '') === traditional);
    return fits.length === 1 ? fits[0]! : null;
  }
  const marked = matching.filter((lang) => (marks[primaryOf(lang)] ?? 0) > 0);
  if (marked.length === 1) return marked[0]!;
  if (marked.length > 1) return null;
  // No telling letters: not one of the languages that nearly always shows them (Ukrainian, Serbian, Persian, Urdu).
  const unmarked = matching.filter((lang) => !ALWAYS_MARKED.has(primaryOf(lang)));
  return unmarked.length === 1 ? unmarked[0]! : null;
}

/** The language of `candidates` the counts give clear evidence for, else null. */
export function languageOf(counts: WordCounts, candidates: readonly string[]): string | null {
  if (counts.words === 0) return null;
  const script = dominantScript(counts.scripts);
  if (script !== null) return byScript(script, counts, candidates);
  const scores = candidates
    .filter((lang) => Object.hasOwn(STOPWORDS, primaryOf(lang)))
    .map((lang) => ({ lang, hits: Object.hasOwn(counts.hits, primaryOf(lang)) ? counts.hits[primaryOf(lang)]! : 0 }));
  scores.sort((a, b) => b.hits - a.hits);
  const [best, second] = scores;
  if (best === undefined || best.hits < MIN_HITS) return null;
  if (second !== undefined && best.hits < second.hits * 1.5) return null;
  return best.lang;
}

export function detectLanguage(text: string, candidates: readonly string[]): string | null {
  return languageOf(wordCounts(text), candidates);
}

/**
 * The configured language a Content-Language names (its first tag): the same tag ("zh-TW"), else
 * one with its primary subtag ("de-AT" → "de", "pt" → "pt-BR"); null when none fits.
 */
export function declaredLanguage(contentLanguage: string | null, candidates: readonly string[]): string | null {
  const tag = contentLanguage?.split(/[,;]/)[0]?.trim().toLowerCase().replace(/_/g, '-') ?? '';
  if (tag === '') return null;
  const exact = candidates.find((lang) => lang.toLowerCase().replace(/_/g, '-') === tag);
  if (exact !== undefined) return exact;
  const primary = primaryOf(tag);
  return candidates.find((lang) => primaryOf(lang) === primary) ?? null;
}

/** Every language detectLanguage can tell: the word lists' and the scripts'. */
const ALL_LANGUAGES: readonly string[] = [...new Set([...LANGUAGES, ...Object.values(SCRIPT_LANGUAGES).flat()])];

/**
 * The language of a part of a page or email written in another language than the page (WCAG
 * 3.1.2, language of parts): a customer's French message on an English case page is read out
 * with a French voice. Among every language detectLanguage knows, not only the configured template
 * languages; null when the evidence is not clear or it is the page's own language (the text then
 * inherits the page's lang).
 */
export function languageOfPart(text: string, pageLanguage: string): string | null {
  const lang = detectLanguage(text, ALL_LANGUAGES);
  return lang === null || primaryOf(lang) === primaryOf(pageLanguage) ? null : lang;
}

/** Languages written right to left (their primary subtags): Arabic, Hebrew, Persian, Urdu, Yiddish, Pashto, Sindhi, Sorani, Dhivehi, Uyghur. */
const RIGHT_TO_LEFT = new Set(['ar', 'he', 'iw', 'fa', 'ur', 'yi', 'ps', 'sd', 'ckb', 'dv', 'ug']);

/** "rtl" for a language written right to left ("ar", "he-IL"), else "ltr": the dir of an email or page in it. */
export function textDirection(language: string): 'rtl' | 'ltr' {
  return RIGHT_TO_LEFT.has(language.toLowerCase().split(/[-_]/)[0] ?? '') ? 'rtl' : 'ltr';
}
