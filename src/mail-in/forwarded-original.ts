import type { ParsedMail } from './parsed-mail.js';

/**
 * A customer forwarding an earlier message of theirs ("Fwd: Printer on fire" — "any news?"),
 * usually without In-Reply-To/References (Outlook, Apple Mail, Gmail's web forward): who wrote the
 * forwarded message and its subject, read from the forwarded header block (inline) or the attached
 * message (forward as attachment). A claim like any header — anyone can forward, or type, such a
 * block — so it only names a case to look at (stages/thread.ts decides what it may do).
 */
export interface ForwardedOriginal {
  /** The forwarded message's From address, lower-cased. */
  readonly from: string;
  readonly subject: string;
  /** Its Date as the forward shows it (an attached message's header; an inline block's Date/Sent line), or null. */
  readonly date: string | null;
  /** Its text as forwarded (bounded): what can tell two of the writer's same-subject messages apart. */
  readonly text: string;
}

/** The forwarded text kept for matching (stored texts are compared by their first characters only). */
const TEXT_MAX = 8_000;

/** "Fwd:", "FW:", "WG:", "TR:", "RV:", "Doorst:", "ENC:", "VB:", "VS:", "PD:", "İLT:", "转发:", "転送:", "전달:", "העבר:" … at the start. */
const FORWARD_PREFIX = /^\s*(?:\[[^\]]{1,40}\]\s*)?(?:fwd?|wg|tr|rv|doorst|enc|vb|vs|vl|pd|[iİı]lt|pārs|prs|trs|转发|轉寄|転送|전달|העבר|إعادة توجيه|πρθ)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]/i;

/** The line that starts an inline forward (Gmail, Thunderbird, Apple Mail, Outlook and their translations; Outlook's rule of underscores). */
const FORWARD_MARKER =
  /^\s*(?:_{10,}|-{2,}\s*(?:forwarded message|original message|weitergeleitete nachricht|ursprüngliche nachricht|message transféré|message d'origine|mensaje reenviado|mensaje original|messaggio inoltrato|messaggio originale|doorgestuurd bericht|oorspronkelijk bericht|vidarebefordrat meddelande|videresendt melding)\s*-{2,}|begin forwarded message:|anfang der weitergeleiteten nachricht:|début du message réexpédié\s*:)\s*$/i;
const FROM_LINE = /^\s*\*?(?:from|von|de|van|da|från|fra|od)\s*:\*?\s*(.+)$/i;
const DATE_LINE = /^\s*\*?(?:date|sent|datum|gesendet|envoyé|enviado|inviato|verzonden|skickat|sendt|data)\s*:\*?\s*(.+)$/i;
const SUBJECT_LINE = /^\s*\*?(?:subject|betreff|objet|asunto|oggetto|onderwerp|ämne|emne|temat|assunto)\s*:\*?\s*(.*)$/i;
/** One address token (anchored: linear time on any input). */
const ADDRESS_TOKEN = /^[^@]+@[^@]+\.[^@]+$/;

/**
 * The first address in a From value ("Anna <anna@x>", "Anna [mailto:anna@x]", "anna@x"): split at
 * what cannot be in an address, within its first 512 characters (a hostile 200 KB "From:" line
 * costs nothing: an unanchored address pattern took seconds on 20 KB).
 */
function addressIn(value: string): string | null {
  for (const token of value.slice(0, 512).replace(/^mailto:/i, '').split(/[\s<>[\]"():;,]+/)) {
    const t = token.replace(/^mailto:/i, '');
    if (ADDRESS_TOKEN.test(t)) return t;
  }
  return null;
}

/** Whether the subject says the message is a forward. */
export function isForwardSubject(subject: string): boolean {
  return FORWARD_PREFIX.test(subject);
}

/** The first inline forward in `body`: its header block's From address, Subject and Date, and the text after it. */
export function inlineForwardedOriginal(body: string): ForwardedOriginal | null {
  const lines = body.replace(/\r\n?/g, '\n').split('\n', 2_000);
  const marker = lines.findIndex((l) => FORWARD_MARKER.test(l));
  const marked = marker >= 0 ? blockAfter(lines, marker) : null;
  if (marked !== null) return marked;
  const bare = bareHeaderBlock(lines);
  return bare >= 0 ? blockAfter(lines, bare - 1) : null;
}

/** The header block after line `start` (the marker; -1: from the first line) and the text after it. */
function blockAfter(lines: readonly string[], start: number): ForwardedOriginal | null {
  let from: string | null = null;
  let subject: string | null = null;
  let date: string | null = null;
  let seen = false;
  let end = Math.min(lines.length, start + 16);
  for (let i = start + 1; i < Math.min(lines.length, start + 16); i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      if (seen) {
        end = i;
        break;
      }
      continue;
    }
    seen = true;
    const f = FROM_LINE.exec(line);
    if (f !== null && from === null) from = addressIn(f[1]!);
    const s = SUBJECT_LINE.exec(line);
    if (s !== null && subject === null) subject = s[1]!.trim();
    const d = DATE_LINE.exec(line);
    if (d !== null && date === null) date = d[1]!.slice(0, 200).trim();
  }
  const text = lines.slice(end).join('\n').slice(0, TEXT_MAX);
  return from !== null && subject !== null ? { from: from.toLowerCase(), subject, date, text } : null;
}

/**
 * A forwarded header block with no line above it (Outlook's HTML forward read as text loses its
 * rule: "Von: … / Gesendet: … / An: … / Betreff: …" after a blank line): a From line at the start
 * or after a blank line, with a Date/Sent and a Subject line before the next blank line. The index
 * of its From line, or -1. (Only asked of a message whose subject says it is a forward.)
 */
function bareHeaderBlock(lines: readonly string[]): number {
  for (let i = 0; i < lines.length; i++) {
    if (!FROM_LINE.test(lines[i]!) || (i > 0 && lines[i - 1]!.trim() !== '')) continue;
    let date = false;
    let subject = false;
    for (let j = i + 1; j < Math.min(lines.length, i + 8) && lines[j]!.trim() !== ''; j++) {
      date ||= DATE_LINE.test(lines[j]!);
      subject ||= SUBJECT_LINE.test(lines[j]!);
    }
    if (date && subject) return i;
  }
  return -1;
}

/** Text compared as words only: quote marks, line breaks and case of a forward's rendering do not count. */
function words(text: string): string {
  return text.replace(/^[ \t]*(?:>[ \t]?)+/gm, '').replace(/\s+/g, ' ').trim().toLowerCase();
}

/** The first characters of a stored message's text that must appear in the forwarded text. */
const TEXT_PROBE = 300;

/**
 * Whether the forwarded text contains a stored message's beginning (its first characters, as
 * words): the forward carries that message. Its Date is compared apart (forwarded-date.ts).
 */
export function carriesText(original: ForwardedOriginal, storedVisibleText: string): boolean {
  const probe = words(storedVisibleText).slice(0, TEXT_PROBE);
  return probe.length > 0 && words(original.text).includes(probe);
}

/** The message a forward carries (attached first, else inline), when the subject says it is a forward. */
export function forwardedOriginal(parsed: Pick<ParsedMail, 'subject' | 'text' | 'forwarded'>): ForwardedOriginal | null {
  if (!isForwardSubject(parsed.subject)) return null;
  const attached = parsed.forwarded?.[0];
  if (attached !== undefined) {
    const from = addressIn(attached.from);
    if (from !== null) return { from: from.toLowerCase(), subject: attached.subject, date: attached.date !== '' ? attached.date : null, text: attached.text.slice(0, TEXT_MAX) };
  }
  return parsed.text !== null ? inlineForwardedOriginal(parsed.text) : null;
}
