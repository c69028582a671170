/**
 * A bare "thanks!" reply to a resolved case is recorded without reopening it (configurable), so
 * statistics stay honest. Short, and made only of thanks, "it works" and closing phrases in a few
 * languages — "Thank you so much for your help!", "Vielen Dank für Ihre Hilfe!", "Danke, hat
 * funktioniert" as well as "Thanks!" — each a whole word (a question mark, "but", "aber", "still"
 * or any other word makes it a reply that reopens).
 */
/** Thanks, in the languages customers write to us. */
const THANKS = [
  'thanks?', 'thank you', 'thankyou', 'thx', 'ty', 'tysm', 'many thanks', 'much appreciated', 'appreciated',
  '(?:i |we )?(?:really )?appreciate (?:it|that|this|your help|the help)', 'cheers',
  'danke', 'dankeschön', 'danke schön', 'merci', '(?:muchas )?gracias', 'grazie', 'tack', 'takk', 'bedankt', 'dank je(?: wel)?', 'obrigad[oa]',
  '(?:vielen|herzlichen|besten|tausend|recht herzlichen|ganz herzlichen)(?: lieben)? dank',
];
/** What may follow a thanks: "so much", "a lot", "again", "for your quick help". */
const AFTER_THANKS = [
  'again', 'a lot', 'so much', 'very much', 'a million', 'kindly', 'sehr', 'vielmals', 'beaucoup', 'bien', 'mille', 'nochmals', 'noch ?mal',
  '(?:for|für|pour|por|per) (?:(?:your|the|all the|all your|ihre|die|deine|eure|dein|euren|votre|ton|su|tu|vostro|il|la) )?' +
    '(?:(?:quick|fast|prompt|great|kind|friendly|swift|schnelle|rasche|nette|tolle|freundliche|rapide) )?' +
    '(?:help|support|reply|response|answer|fix|assistance|patience|hilfe|unterstützung|antwort|rückmeldung|geduld|aide|réponse|ayuda|respuesta|aiuto|everything|alles)',
];
/** "It works", "that did it", "great", and closing words. */
const OTHER = [
  'great', 'perfect', 'awesome', 'excellent', 'wonderful', 'brilliant', 'ok', 'okay', 'super', 'perfekt', 'prima', 'toll', 'klasse', 'top', 'parfait', 'perfecto', 'perfetto',
  'that (?:worked|did it|helped|fixed it|solved it|sorted it)', "it(?:'s| is) (?:working|fixed|solved|sorted)(?: now| again)?", 'it works(?: now| again| fine| perfectly)?',
  'works(?: now| again| fine| perfectly)?', 'working(?: now| again)?', 'all good(?: now)?', 'all sorted', 'sorted', 'problem solved', 'solved', 'fixed',
  '(?:es )?hat (?:geklappt|funktioniert)', 'funktioniert(?: jetzt)?(?: wieder)?', 'klappt(?: jetzt)?(?: wieder)?', 'läuft(?: jetzt)?(?: wieder)?',
  'alles klar', 'passt', 'erledigt', 'gelöst', 'ça marche', 'ca marche', "c'est bon",
  // "it is solved, you may close it"
  '(?:the |my |this |our )?(?:issue|problem|case|ticket)(?: is| has been| was)? (?:now )?(?:resolved|solved|fixed|sorted)',
  '(?:das |mein |unser )?(?:problem|anliegen|ticket)(?: ist| wurde)? (?:jetzt |nun )?(?:gelöst|behoben|erledigt)(?: worden)?',
  '(?:you |we )?(?:can|may) close (?:it|this|the case|the ticket|this case|this ticket)(?: now)?',
  '(?:please )?(?:feel free to )?close (?:it|this|the case|the ticket|this case|this ticket)(?: now)?',
  '(?:sie |ihr |du )?(?:können|könnt|kannst) (?:das ticket |den fall |es |das )?(?:jetzt |nun |gerne )?schlie(?:ß|ss)en',
  'best', 'regards', 'best regards', 'kind regards', 'warm regards', 'br', 'mfg', '(?:mit )?(?:freundlichen|besten|herzlichen) grü(?:ß|ss)en', 'viele grü(?:ß|ss)e', 'beste grü(?:ß|ss)e', 'lg', 'gru(?:ß|ss)', 'grü(?:ß|ss)e',
  'cordialement', 'saludos', 'have a (?:nice|great|good) (?:day|weekend|evening)', 'schönen tag', 'schönes wochenende',
];
const PHRASE = `(?:${THANKS.join('|')})(?:,? (?:${AFTER_THANKS.join('|')}))*|${OTHER.join('|')}`;
// Each phrase ends at a word's end ("okthx", "topic" are no thanks).
const THANKS_WORDS = new RegExp(`^(?:(?:${PHRASE})(?![\\p{L}\\p{N}])|\\p{Emoji_Presentation}|[!.,:;)(\\-\\s])+$`, 'iu');

const NAME_LINE = /^\p{Lu}[\p{L}'.-]*(?:\s+\p{Lu}[\p{L}'.-]*){0,2}$/u;

export function isThanksOnly(visibleText: string): boolean {
  const lines = visibleText
    .replace(/\u2019/g, "'")
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '');
  if (lines.length === 0 || lines.length > 4) return false;
  const words = lines.join(' ');
  if (words.length > 80) return false;
  // Every line is thanks/closing words or a name-like signature line (1–3 capitalised words).
  return THANKS_WORDS.test(lines[0] ?? '') && lines.slice(1).every((l) => THANKS_WORDS.test(l) || NAME_LINE.test(l));
}
