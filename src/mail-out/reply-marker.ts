/** The first line of every email we send; replies are cut there (visible text). English. */
export const REPLY_MARKER = '##- Please type your reply above this line -##';

/** The marker in each language we write mail in (the English one for every other language). */
const MARKERS: Readonly<Record<string, string>> = {
  en: REPLY_MARKER,
  de: '##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##',
};

/** Every marker we write: an incoming reply is cut at any of them (a German customer may answer a mail in English, too). */
export const REPLY_MARKERS: readonly string[] = Object.values(MARKERS);

/** The marker of an email written in `language` (the language of its templates). */
export function replyMarkerFor(language: string): string {
  return MARKERS[language.toLowerCase().split(/[-_]/)[0] ?? 'en'] ?? REPLY_MARKER;
}
