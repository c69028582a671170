/**
 * Out-of-office replies that carry no mark at all: no Auto-Submitted, X-Autoreply, Precedence or
 * X-Auto-Response-Suppress header and no "Automatic reply:" subject prefix (some Exchange setups,
 * Zimbra, small providers' webmail, a phone's vacation responder, a person's own mail rule). Only
 * their words tell: "I am out of the office until 14 December", "Ich bin bis 3.1. nicht im Büro",
 * "Je suis absent jusqu'au 5 mai". Words are weaker evidence than a header, so this is a suspicion
 * (pipeline note `suspectedAutoReply`), never an automated verdict: the stages that would answer or
 * relay the mail act on it (an agent's suspected out-of-office is held instead of relayed, a
 * customer's gets no automatic reply and reopens nothing), everything else treats it as a person's.
 *
 * What counts, in the first lines of the new text (quotes and signature already removed):
 *  - "This is an automatic reply" and its translations, alone;
 *  - a present or future first-person absence ("I am out of the office", "I'm on vacation",
 *    "ich bin … nicht im Büro", "je suis absente", "estoy fuera de la oficina" …) together with a
 *    second sign anywhere in the head of the text or the subject: a return ("until", "back on",
 *    "bis", "jusqu'au", "hasta el" …), "limited access to email", "for urgent matters contact", or
 *    an absence subject ("Out of office", "Abwesenheitsnotiz", "Vacation" without the colon);
 *  - an absence subject together with such a second sign.
 * A person writing about an absence in the past ("I was out of office yesterday, sorry — here is
 * the fix") or mentioning one in passing further down does not count.
 */

/** How much of the new text's beginning is read for the absence statement. */
const OPENING_CHARS = 400;
/** How much of the text is read for the second sign. */
const HEAD_CHARS = 2000;

const STRONG = new RegExp(
  [
    "\\bthis is an? automat(?:ic|ed)(?:ally generated)? (?:reply|response|message|notification|e-?mail)\\b",
    "\\bthis (?:e-?mail|message|mailbox) is (?:not monitored|unattended)\\b",
    '\\bdies ist eine automatische (?:antwort|nachricht|abwesenheitsnotiz|e-?mail|benachrichtigung)',
    '\\bdies ist eine automatisch (?:generierte|erstellte) (?:antwort|nachricht|e-?mail)',
    '\\bceci est une? (?:r[ée]ponse|message|courriel|e-?mail) automatique',
    '\\besta es una respuesta autom[áa]tica',
    '\\beste es un (?:mensaje|correo) autom[áa]tico',
    '\\bquesta [èe] una risposta automatica',
    '\\bquesto [èe] un messaggio automatico',
    '\\bdit is een automatisch (?:antwoord|bericht|gegenereerd)',
    '\\besta [ée] uma (?:resposta|mensagem) autom[áa]tica',
  ].join('|'),
  'iu',
);

const ABSENCE = new RegExp(
  [
    // en: "I am (currently) out of the office", "I'm on annual leave", "I will be away", "I'm OOO"
    "\\bi(?:'m|’m| am| will be| shall be|'ll be|’ll be)\\s+(?:currently\\s+|now\\s+|presently\\s+)?(?:out of (?:the |my )?office|ooo\\b|away(?: from (?:the |my )?(?:office|desk|e-?mail|computer))?\\b|on (?:annual |parental |maternity |paternity |sick |medical |study |business )?(?:leave|vacation|holidays?|pto|sabbatical|a business trip)\\b|travel(?:l)?ing\\b|out of the country\\b|not in the office\\b|absent\\b)",
    // de: "ich bin (derzeit / vom 1. bis 5. / bis Montag) nicht im Büro / abwesend / im Urlaub"
    '\\bich bin\\s+(?:\\S+\\s+){0,6}?(?:nicht im (?:b[üu]ro|hause?)|au(?:ß|ss)er haus|abwesend|im urlaub|in urlaub|nicht erreichbar|nicht am arbeitsplatz|im (?:mutterschutz|krankenstand)|in elternzeit|auf (?:dienst|gesch[äa]fts)reise)',
    '\\bich befinde mich\\s+(?:\\S+\\s+){0,6}?(?:im urlaub|au(?:ß|ss)er haus|nicht im b[üu]ro|auf (?:dienst|gesch[äa]fts)reise|in elternzeit)',
    // fr
    '\\bje (?:suis|serai)\\s+(?:actuellement\\s+)?(?:absente?\\b|en (?:cong[ée]s?|vacances|d[ée]placement)(?!\\p{L})|hors du bureau|en dehors du bureau)',
    // es
    '\\b(?:estoy|estar[ée]|me encuentro)\\s+(?:actualmente\\s+)?(?:fuera de (?:la )?oficina|de vacaciones|ausente|de viaje)',
    // it
    '\\b(?:sono|sar[òo])\\s+(?:attualmente\\s+)?(?:fuori (?:sede|ufficio)|in ferie|assente|in vacanza)',
    // nl
    '\\bik ben\\s+(?:\\S+\\s+){0,6}?(?:afwezig|niet aanwezig|met vakantie|op vakantie|niet op kantoor)',
    // pt
    '\\bestou\\s+(?:atualmente\\s+)?(?:fora do escrit[óo]rio|de f[ée]rias|ausente)',
  ].join('|'),
  'iu',
);

const SECOND_SIGN = new RegExp(
  [
    // en
    '\\b(?:until|till)\\b',
    '\\b(?:back|returning|return) (?:on|in the office|at work|to the office|to work)\\b',
    "\\b(?:upon|on|after) my return\\b|\\bwhen i (?:return|am back|get back|'m back)\\b",
    '\\b(?:limited|no|without|intermittent|restricted) access to (?:my )?e-?mails?\\b',
    '\\b(?:for|in case of|if you have an?|with) (?:urgent|immediate|pressing)\\b|\\burgent (?:matters|issues|requests|enquiries|inquiries|questions)\\b',
    '\\byour (?:e-?mail|message) (?:will )?(?:not be forwarded|be read)\\b',
    // de
    '\\bbis (?:einschlie(?:ß|ss)lich |einschl\\. |zum |am )?(?:\\d|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|ende|anfang|mitte)',
    '\\bzur[üu]ck\\b|\\bnach meiner r[üu]ckkehr|\\bin dringenden f[äa]llen|\\bdringende (?:anfragen|angelegenheiten)|\\beingeschr[äa]nkt(?:em)? zugriff|\\bkeinen zugriff|\\bwird nicht weitergeleitet',
    // fr
    "\\bjusqu['’]\\s?(?:au|à|a)(?!\\p{L})|\\bde retour\\b|(?<!\\p{L})à mon retour|\\ben cas d['’]urgence|\\bpour toute (?:urgence|demande urgente)",
    // es
    '\\bhasta el\\b|\\ba mi (?:regreso|vuelta)|\\bpara (?:asuntos|temas) urgentes|\\ben caso de urgencia',
    // it
    '\\bfino al\\b|\\bal mio rientro|\\bper urgenze|\\bin caso di urgenza',
    // nl
    '\\btot en met\\b|\\bt/m\\b|\\bna mijn terugkeer|\\bvoor dringende',
    // pt
    '\\baté (?:o dia |dia )?\\d|\\bno meu (?:regresso|retorno)|\\bem caso de urg[êe]ncia',
  ].join('|'),
  'iu',
);

/**
 * A subject that announces an absence (no colon needed; the prefixed forms are
 * auto-reply-subjects.ts's). CLEAR_ABSENCE_SUBJECT counts with a second sign alone; the looser
 * words ("Vacation", "Urlaub", "Absence": a customer's "Vacation booking failed") only help an
 * absence statement.
 */
const CLEAR_ABSENCE_SUBJECT =
  /^\s*(?:(?:re|aw|sv|vs|antw|r|rif|ref|wg|fw|fwd)\s*:\s*)*(?:out of (?:the )?office\b|away (?:until|from (?:the |my )?office)\b|i(?:'m|’m| am) (?:away|on vacation|on leave|out of (?:the )?office)\b|vacation (?:reply|notice|message|responder)\b|abwesenheitsnotiz\b|nicht im b[üu]ro\b|au(?:ß|ss)er haus\b|je suis absente?\b|fuera de (?:la )?oficina\b|fuori (?:sede|ufficio)\b|automatic reply\b|auto[- ]?reply\b|autoreply\b|r[ée]ponse automatique\b|automatische antwort\b)/iu;
const ABSENCE_SUBJECT =
  /^\s*(?:(?:re|aw|sv|vs|antw|r|rif|ref|wg|fw|fwd)\s*:\s*)*(?:out of (?:the )?office|ooo\b|on vacation|vacation(?: reply| notice| message)?\b|away (?:until|from)|i(?:'m|’m| am) (?:away|on vacation|on leave|out of (?:the )?office)|abwesenheit(?:snotiz)?\b|abwesend\b|nicht im b[üu]ro|au(?:ß|ss)er haus|urlaub\b|je suis absente?|absente?\b|absence\b|cong[ée]s?(?!\p{L})|fuera de (?:la )?oficina|fuori (?:sede|ufficio)|afwezig|automatic reply\b|auto[- ]?reply\b|autoreply\b|r[ée]ponse automatique\b|automatische antwort\b)/iu;

/**
 * Why the text reads like an out-of-office reply nobody marked, or null. `text` is the new text
 * (visible text), `subject` the mail's subject.
 */
export function suspectedAutoReply(mail: { readonly subject: string; readonly text: string }): string | null {
  const text = mail.text.replace(/\s+/g, ' ').trim();
  const opening = text.slice(0, OPENING_CHARS);
  const head = text.slice(0, HEAD_CHARS);
  const strong = STRONG.exec(opening);
  if (strong !== null) return `text "${strong[0]}"`;
  const absence = ABSENCE.exec(opening);
  const clearSubject = CLEAR_ABSENCE_SUBJECT.test(mail.subject);
  // The second sign is read only when there is a first: its pattern over the text's head was 7 % of
  // the CPU of every message (2026-12-08 profile), and nearly every message has neither.
  if (absence === null && !clearSubject) return null;
  const subject = ABSENCE_SUBJECT.exec(mail.subject);
  const sign = SECOND_SIGN.exec(head);
  if (absence !== null && (sign !== null || subject !== null)) return `text "${absence[0].trim()}" + ${sign !== null ? `"${sign[0].trim()}"` : `subject "${mail.subject.trim().slice(0, 60)}"`}`;
  if (sign !== null && clearSubject) return `subject "${mail.subject.trim().slice(0, 60)}" + "${sign[0].trim()}"`;
  return null;
}
