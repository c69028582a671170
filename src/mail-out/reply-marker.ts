/** The first line of every email we send; replies are cut there (visible text). English. */
export const REPLY_MARKER = '##- Please type your reply above this line -##';

/**
 * The marker in each language we write mail in, by primary subtag ("zh-hant" for traditional
 * Chinese); the English one for any other. English and German templates ship; the others are
 * here for an admin's own templates (templates/<lang>/, docs/customizing-templates.md).
 */
const MARKERS: Readonly<Record<string, string>> = {
  en: REPLY_MARKER,
  de: '##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##',
  fr: '##- Veuillez écrire votre réponse au-dessus de cette ligne -##',
  es: '##- Escriba su respuesta por encima de esta línea -##',
  it: '##- Scriva la sua risposta sopra questa riga -##',
  nl: '##- Typ uw antwoord boven deze regel -##',
  pt: '##- Escreva a sua resposta acima desta linha -##',
  pl: '##- Prosimy wpisać odpowiedź powyżej tej linii -##',
  sv: '##- Skriv ditt svar ovanför den här raden -##',
  da: '##- Skriv dit svar over denne linje -##',
  no: '##- Skriv svaret ditt over denne linjen -##',
  fi: '##- Kirjoita vastauksesi tämän rivin yläpuolelle -##',
  cs: '##- Svou odpověď napište nad tento řádek -##',
  tr: '##- Lütfen yanıtınızı bu satırın üstüne yazın -##',
  ru: '##- Пожалуйста, напишите ответ над этой строкой -##',
  uk: '##- Будь ласка, напишіть відповідь над цим рядком -##',
  el: '##- Γράψτε την απάντησή σας πάνω από αυτή τη γραμμή -##',
  ar: '##- يرجى كتابة ردك فوق هذا السطر -##',
  he: '##- נא לכתוב את תשובתך מעל שורה זו -##',
  ja: '##- この行より上に返信を入力してください -##',
  zh: '##- 请在此行上方输入您的回复 -##',
  'zh-hant': '##- 請在此行上方輸入您的回覆 -##',
  ko: '##- 이 줄 위에 답장을 작성해 주세요 -##',
};

const TRADITIONAL_CHINESE = /^zh[-_](?:tw|hk|mo|hant)\b/i;

/** Every marker we write: an incoming reply is cut at any of them (a German customer may answer a mail in English, too). */
export const REPLY_MARKERS: readonly string[] = Object.values(MARKERS);

/** The marker of an email written in `language` (the language of its templates). */
export function replyMarkerFor(language: string): string {
  if (TRADITIONAL_CHINESE.test(language)) return MARKERS['zh-hant']!;
  const primary = language.toLowerCase().split(/[-_]/)[0] ?? 'en';
  const key = primary === 'nb' || primary === 'nn' ? 'no' : primary === 'iw' ? 'he' : primary;
  return Object.hasOwn(MARKERS, key) ? MARKERS[key]! : REPLY_MARKER;
}
