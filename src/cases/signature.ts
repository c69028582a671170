import { isDeviceSignature } from '../mail-in/visible-text/quote-headers.js';

/**
 * An agent's signature in what they typed into their mail client: where it starts, and whether a
 * text is nothing else (a customer's too: her empty reply with her auto-signature reopens nothing,
 * pipeline/stages/thread.ts). Agents sign the way their client or company makes them, not with the name
 * casegate knows ("Ben Adams"): "Best, B.", "Benjamin", "-B", a company block ("Example Ltd /
 * Customer Support / Tel. +44 …"), "--" and a team line, a legal or confidentiality footer, a
 * phone's line in the phone's language. Pure.
 *
 * A signature starts with one of these lines, and below it come only short lines that are no
 * sentences (a title, an address, a phone number, a link), or the sentences of a legal footer:
 *  - a delimiter ("-- ", "--", an underscore rule): everything below it is signature (RFC 3676);
 *  - a phone's or app's line ("Sent from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for iOS");
 *  - a form of the agent's name: the name, first or last name, a longer or shorter form of the
 *    first name ("Benjamin" for Ben, "Ben" for Benjamin), initials ("B.", "BA", "B.A."), "B.
 *    Adams", with a dash in front ("– Ben") or a title behind ("Ben Adams | Support") — not "Ben,"
 *    (that greets a namesake), not "Ben, please restart";
 *  - a closing ("Regards,", "Mit freundlichen Grüßen") with a line below it, or a closing and a
 *    name on one line ("Best, B.", "Regards, Ben", "Cheers, the Example team");
 *  - a team's or company's line: short capitalised words, one of them a team or company word
 *    ("Support team | Example Ltd", "The Example Support Team", "Example GmbH", "Kundenservice").
 * A thank-you is no closing ("Thanks,\nBen" says something), nor is a line with a P.S. below it a
 * signature: a P.S. is written to the customer.
 */

/** A signature's lines below its first one: at most this many short ones (a title, an address block, phone numbers, links). */
const MAX_SHORT_LINES = 10;
const MAX_SHORT_CHARS = 800;

/** A legal or confidentiality footer's sentences below that: at most this much. */
const MAX_FOOTER_CHARS = 2_000;
/** A short line: a title, an address, a phone number. */
const SHORT_LINE_MAX = 120;

/** "-- " (RFC 3676), "--", and underscore or dash-character rules. */
const DELIMITER_RE = /^(?:--|_{2,}|[\u2013\u2014\u2015]{3,})$/u;

/**
 * A closing (English, German, French, Spanish, Italian, Dutch, Portuguese, Scandinavian). A
 * thank-you is no closing: "Thanks,\nBen" says something to the customer.
 */
const CLOSING =
  '(?:(?:kind|best|warm|warmest|with kind|with best|many|all the)\\s+)?(?:regards|wishes|cheers|best|br|kr|rgds|sincerely|yours(?: sincerely| truly)?|mit freundlichen gr(?:ü|ue)(?:ß|ss)en|freundliche gr(?:ü|ue)(?:ß|ss)e|(?:viele|beste|liebe|herzliche|sch(?:ö|oe)ne) gr(?:ü|ue)(?:ß|ss)e|gr(?:ü|ue)(?:ß|ss)e|gru(?:ß|ss)|mfg|vg|lg|cordialement|bien (?:à|a) vous|salutations|saludos|un saludo|atentamente|cordiali saluti|saluti|met vriendelijke groet(?:en)?|groeten|groet|mvg|atenciosamente|med vänlig hälsning|mvh|hälsningar|venlig hilsen)';
const CLOSING_ALONE_RE = new RegExp(`^${CLOSING}[\\s,.!]*$`, 'iu');
/** A closing and whom it is from on one line: "Best, B.", "Regards, Ben", "Cheers — the Example team". */
const CLOSING_AND_NAME_RE = new RegExp(`^${CLOSING}\\s*[,.!\\-\u2013\u2014]?\\s+(\\S.{0,60})$`, 'iu');

/** A P.S. is words written to the customer, never a signature. */
const POSTSCRIPT_RE = /^p\.?\s?s\.?\s?[:.,\s]/i;
/** A sentence: four words or more ending in ".", "!" or "?" — written to someone, not a title or an address. */
const SENTENCE_RE = /^\S+(?:\s+\S+){3,}[.!?]$/u;
/** A question is written to someone. */
const QUESTION_RE = /\?\s*$/u;

/** Words that make a line a team's or a company's: "Support team", "Example Ltd", "Kundenservice". */
const TEAM_WORD_RE =
  /^(?:team|teams|support|service|services|helpdesk|help-desk|servicedesk|desk|care|kundenservice|kundendienst|kundensupport|support-team|service-team|équipe|equipe|equipo|squadra|ltd\.?|limited|gmbh|mbh|inc\.?|llc|l\.l\.c\.|ag|se|plc|corp\.?|co\.|kg|ohg|e\.k\.|e\.v\.|sarl|s\.a\.|s\.a\.s\.|sas|s\.r\.l\.|srl|b\.v\.|bv|n\.v\.|ab|oy|a\/s|as|pty|s\.l\.)$/iu;
/** Small words inside a team's or company's name: "The Example Support Team", "Ihr Team von Example", "L'équipe de Example". */
const CONNECTOR_RE = /^(?:the|your|our|of|and|&|\+|for|at|by|de|des|du|la|le|les|l['’]|el|los|del|di|da|der|die|das|des|den|dem|ihr|ihre|dein|deine|euer|für|und|von|vom|van|en|y|e|et)$/iu;
/** A word of a name, a title or a company: capitalised ("Example", "McDonald", "O'Brien"), a number or an initial ("B.", "J.-P."). */
const CAPITALISED_RE = /^[\p{Lu}\p{Lt}\d][\p{L}\p{M}\d'’.&-]*$/u;

/** A thank-you says something to the customer ("Thanks Team", "Danke, Ihr Support-Team"). */
const THANKS_RE = /^(?:thanks|thank you|thx|many thanks|danke|vielen dank|merci|gracias|grazie|bedankt|dank je|obrigad|tack)\b/iu;

/** A legal or confidentiality footer's line: it may be a long sentence and still be no word for the customer. */
const FOOTER_RE =
  /\b(?:confidential|intended (?:solely |only )?(?:for|recipient)|privileged|received (?:this|it)(?: e-?mail| message)? in error|disclaimer|before printing|think before you print|registered (?:in|office|address)|company (?:registration |reg\.? )?(?:no|number)|vat (?:no|number|reg)|vertraulich|empfänger|irrtümlich|ausdrucken|registergericht|handelsregister|amtsgericht|hrb|geschäftsführ|sitz der gesellschaft|ust-?id|vorstand|aufsichtsrat|confidentiel|destinataire|confidencial|destinatario|riservat)/iu;

/** Lines of a text as a signature is read: trimmed, invisible characters and pictographs ("Cheers 🎉", "📱 +1 555-0123") out, blank lines dropped. */
function filledLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/[\u00a0\u200b-\u200d\u2060\ufeff]|\p{Extended_Pictographic}|\ufe0f/gu, ' ').replace(/\s+/g, ' ').trim())
    .filter((l) => l !== '');
}

/** The agent's name in its parts, lower case: ["ben", "adams"]. */
function nameParts(agentName: string): string[] {
  return agentName
    .trim()
    .toLowerCase()
    .split(/\s+/)
    .map((p) => p.replace(/[.,]+$/u, ''))
    .filter((p) => p !== '');
}

/** One word of a signed name: the first name, a longer or shorter form of it, a last name, an initial. */
function isNameWord(word: string, parts: readonly string[]): boolean {
  const w = word.toLowerCase().replace(/[.,]+$/u, '');
  if (w === '' || parts.length === 0) return false;
  const first = parts[0]!;
  if (parts.includes(w)) return true;
  // "Benjamin" for Ben, "Ben" for Benjamin: three letters at least, the same start.
  if (/^\p{L}{3,}$/u.test(w) && first.length >= 3 && (w.startsWith(first) || first.startsWith(w))) return true;
  // An initial: "B", "B.", "J.-P.".
  return /^\p{L}$/u.test(w) && parts.some((p) => p.startsWith(w));
}

/**
 * A form of the agent's name on a line of its own ("Ben", "Benjamin Adams", "B.", "BA", "B.A.",
 * "– Ben", "~B"), perhaps with a title or company behind a separator ("Ben Adams | Support",
 * "Ben Adams – Example Ltd"). Not "Ben," (greeting a namesake), not "Ben, please restart".
 */
function isNameLine(line: string, agentName: string): boolean {
  const parts = nameParts(agentName);
  if (parts.length === 0 || line.endsWith(',')) return false;
  const l = line.replace(/^[-\u2013\u2014~/\s]+/u, '').replace(/[\s.!]+$/u, '.').replace(/\.$/u, '');
  const [who, ...behind] = l.split(/\s+[|\u2022\u00b7\u2013\u2014/-]\s+|\s*\|\s*/u);
  if (who === undefined || who === '') return false;
  if (behind.length > 0 && !behind.every(isNamePhrase)) return false;
  // Initials run together: "BA", "B.A.", "B. A.".
  const compact = who.replace(/[.\s]/g, '').toLowerCase();
  const initials = parts.map((p) => p[0]).join('');
  if (/^\p{L}{1,3}$/u.test(compact) && compact.length > 1 && compact === initials.slice(0, compact.length) && who === who.toUpperCase()) return true;
  const words = who.split(/\s+/);
  if (words.length > 4) return false;
  // Every word a name word, at least one not a bare initial ("B. Adams", "Ben A.") — or one initial alone ("B.").
  if (!words.every((w) => isNameWord(w, parts))) return false;
  return words.length === 1 || words.some((w) => w.replace(/[.,]+$/u, '').length > 1);
}

/** Capitalised words (a name, a title, a company), small connecting words, a team or company word: at most six words. */
function isNamePhrase(phrase: string): boolean {
  const words = phrase.trim().split(/\s+/);
  if (words.length === 0 || words.length > 6 || words[0] === '') return false;
  return words.every((w) => CAPITALISED_RE.test(w) || CONNECTOR_RE.test(w) || TEAM_WORD_RE.test(w));
}

/** A team's or company's line: "Support team | Example Ltd", "The Example Support Team", "Example GmbH", "Kundenservice". */
function isTeamLine(line: string): boolean {
  if (line.length > SHORT_LINE_MAX || /[!?]$/u.test(line) || THANKS_RE.test(line)) return false;
  const segments = line.replace(/^[-\u2013\u2014~\s]+/u, '').split(/\s+[|\u2022\u00b7\u2013\u2014-]\s+|\s*\|\s*/u).filter((s) => s.trim() !== '');
  if (segments.length === 0 || !segments.every(isNamePhrase)) return false;
  return segments.some((s) => s.split(/\s+/).some((w) => TEAM_WORD_RE.test(w) || /(?:team|service|support|dienst)$/iu.test(w)));
}

/** A closing and a name on one line: "Best, B.", "Regards, Ben", "Grüße, Ben Adams", "Cheers, the Example team". */
function isClosingWithName(line: string, agentName: string): boolean {
  const m = CLOSING_AND_NAME_RE.exec(line);
  if (m === null) return false;
  const who = (m[1] ?? '').replace(/[\s.!]+$/u, '');
  return who !== '' && (isNameLine(who, agentName) || isNamePhrase(who));
}

/** How a signature can start (see the module comment); 'rest' when everything below belongs to it whatever it says. */
function startsSignature(line: string, hasBelow: boolean, agentName: string): 'rest' | 'block' | null {
  if (DELIMITER_RE.test(line)) return 'rest';
  if (isDeviceSignature(line) || isNameLine(line, agentName) || isClosingWithName(line, agentName) || isTeamLine(line)) return 'block';
  if (hasBelow && line.length <= 40 && CLOSING_ALONE_RE.test(line)) return 'block';
  return null;
}

/** Whether the lines below a signature's first line are a signature's: short lines that are no sentences, then perhaps a legal footer. */
function signatureBelow(rest: readonly string[]): boolean {
  let short = 0;
  let shortChars = 0;
  let footerChars = 0;
  for (const line of rest) {
    if (POSTSCRIPT_RE.test(line)) return false;
    if (FOOTER_RE.test(line) || footerChars > 0) {
      // From a legal footer's first line on, everything is footer: its sentences wrap over several lines.
      footerChars += line.length;
      if (footerChars > MAX_FOOTER_CHARS) return false;
      continue;
    }
    if (line.length > SHORT_LINE_MAX || SENTENCE_RE.test(line) || QUESTION_RE.test(line)) return false;
    short += 1;
    shortChars += line.length;
    if (short > MAX_SHORT_LINES || shortChars > MAX_SHORT_CHARS) return false;
  }
  return true;
}

/** The index of the filled line where the signature at the end of `lines` starts, at or after `from`; -1 when none. */
function signatureFrom(lines: readonly string[], agentName: string, from: number): number {
  for (let i = from; i < lines.length; i += 1) {
    const start = startsSignature(lines[i]!, i + 1 < lines.length, agentName);
    if (start === 'rest') return i;
    if (start === 'block' && signatureBelow(lines.slice(i + 1))) return i;
  }
  return -1;
}

/**
 * Whether an agent's text (commands taken out, nothing forwarded in it) is only a signature:
 * its first line starts one (see above) and everything below it belongs to it.
 */
export function isOnlySignature(text: string, agentName: string): boolean {
  const lines = filledLines(text);
  if (lines.length === 0) return false;
  const start = startsSignature(lines[0]!, lines.length > 1, agentName);
  return start === 'rest' || (start === 'block' && signatureBelow(lines.slice(1)));
}

/** Whether a text with words above ends with the agent's signature (the agent-reply template then adds no closing of its own). */
export function endsWithSignature(text: string, agentName: string): boolean {
  const lines = filledLines(text);
  return lines.length > 1 && signatureFrom(lines, agentName, 1) >= 0;
}
