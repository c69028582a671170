/**
 * The language a customer wrote in, from the words of their first message, for choosing
 * templates when the mail declares no Content-Language (most clients don't). Deliberately
 * simple and conservative: frequent function words per language, and an answer only with
 * clear evidence; otherwise null and the queue's or the default language applies.
 */
const STOPWORDS: Readonly<Record<string, readonly string[]>> = {
  en: ['the', 'and', 'is', 'are', 'not', 'please', 'thanks', 'thank', 'with', 'you', 'have', 'this', 'that', 'it', 'for', 'my', 'we', 'can', 'does', 'would', 'hello', 'regards'],
  de: ['und', 'ist', 'nicht', 'ich', 'die', 'der', 'das', 'bitte', 'danke', 'mit', 'sie', 'ein', 'eine', 'auf', 'wir', 'mein', 'meine', 'funktioniert', 'hallo', 'grüße', 'gruß', 'auch', 'noch', 'kann', 'wird', 'haben'],
  fr: ['le', 'la', 'les', 'et', 'est', 'pas', 'je', 'vous', 'merci', 'avec', 'une', 'des', 'pour', 'nous', 'mon', 'bonjour', 'cordialement', 'ne', 'fonctionne'],
  es: ['el', 'la', 'los', 'las', 'y', 'es', 'no', 'por', 'favor', 'gracias', 'con', 'una', 'para', 'mi', 'hola', 'saludos', 'funciona', 'que'],
  nl: ['de', 'het', 'en', 'is', 'niet', 'ik', 'een', 'met', 'bedankt', 'alstublieft', 'graag', 'mijn', 'wij', 'werkt', 'groeten'],
  it: ['il', 'lo', 'la', 'gli', 'e', 'è', 'non', 'per', 'favore', 'grazie', 'con', 'una', 'mio', 'ciao', 'saluti', 'funziona'],
};

const MIN_HITS = 3;

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

/** How many words a text has, and how many of them are each language's function words. */
export interface WordCounts {
  readonly words: number;
  readonly hits: Readonly<Record<string, number>>;
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
  return { words, hits: Object.fromEntries(LANGUAGES.map((lang, i) => [lang, hits[i]!])) };
}

/** The language of `candidates` the counts give clear evidence for, else null. */
export function languageOf(counts: WordCounts, candidates: readonly string[]): string | null {
  if (counts.words === 0) return null;
  const scores = candidates.filter((lang) => Object.hasOwn(STOPWORDS, lang)).map((lang) => ({ lang, hits: Object.hasOwn(counts.hits, lang) ? counts.hits[lang]! : 0 }));
  scores.sort((a, b) => b.hits - a.hits);
  const [best, second] = scores;
  if (best === undefined || best.hits < MIN_HITS) return null;
  if (second !== undefined && best.hits < second.hits * 1.5) return null;
  return best.lang;
}

export function detectLanguage(text: string, candidates: readonly string[]): string | null {
  return languageOf(wordCounts(text), candidates);
}
