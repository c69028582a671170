/**
 * A bare "thanks!" reply to a resolved case is recorded without reopening it (configurable), so
 * statistics stay honest. Short, and made only of thanks/closing words in a few languages.
 */
const THANKS_WORDS =
  /^(?:thanks? again|thank you again|thanks?|thank you|thx|ty|many thanks|thanks a lot|thank you very much|cheers|great|perfect|awesome|ok|okay|super|danke|vielen dank|danke schön|dankeschön|merci|merci beaucoup|gracias|grazie|tack|takk|bedankt|dank je|obrigad[oa]|best|regards|best regards|kind regards|br|mfg|viele grüße|lg|gruß|grüße|cordialement|saludos|that worked|that did it|that helped|it works(?: now| again)?|works(?: now| again)?|all good|problem solved|solved|hat geklappt|funktioniert(?: jetzt)?(?: wieder)?|\p{Emoji_Presentation}|[!.,:;)(\-\s])+$/iu;

const NAME_LINE = /^\p{Lu}[\p{L}'.-]*(?:\s+\p{Lu}[\p{L}'.-]*){0,2}$/u;

export function isThanksOnly(visibleText: string): boolean {
  const lines = visibleText
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0 || lines.length > 4) return false;
  const words = lines.join(' ');
  if (words.length > 80) return false;
  // Every line is thanks/closing words or a name-like signature line (1–3 capitalised words).
  return THANKS_WORDS.test(lines[0] ?? '') && lines.slice(1).every((l) => THANKS_WORDS.test(l) || NAME_LINE.test(l));
}
