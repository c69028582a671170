/**
 * The visible, new part of an inbound reply: what the customer just wrote, without the quoted
 * history, attribution lines ("On <date>, X wrote:"), Outlook header blocks, signatures and our
 * own reply marker.
 *
 * The core line classification (">" quotes, quote headers, signatures, inline answers) is done by
 * the `email-reply-parser` package (crisp-oss). Around it this module adds:
 *
 *  - input hardening: a length cap, CR/CRLF/U+2028 normalisation, trailing-whitespace trimming,
 *    blank runs collapsed to at most two blank lines, and a sanitising step that keeps the
 *    library's regular expressions (several backtrack badly; RE2 is not installed) on bounded
 *    input (`sanitiseForLibrary`, `parseWithLibrary`);
 *  - a cut at our reply marker;
 *  - Outlook-style header blocks in several languages ("From:/Sent:/To:/Subject:",
 *    "Von:/Gesendet:/An:/Betreff:", "De :/Envoyé :/À :/Objet :" …), with or without an
 *    "-----Original Message-----" / "-----Ursprüngliche Nachricht-----" line; the library only
 *    sees them after a blank line and with an address in angle brackets;
 *  - attribution lines wrapped over two or three lines (Gmail wraps inside the address), in date
 *    formats or languages the library lacks, and directly followed by text without ">";
 *  - HTML-only messages: quoted HTML is removed structurally before html-to-text converts the rest.
 *
 * Decisions:
 *  - Forwards ("---------- Forwarded message ---------", "Begin forwarded message:") are new
 *    information for support: the forwarded message is kept below whatever was written above it,
 *    and does not count as a quote.
 *  - A message that starts with an Outlook-style header block (nothing written above it) is kept
 *    whole: Outlook forwards with exactly the block it replies with, and a forward with nothing
 *    added is far more common than an empty Outlook reply.
 *  - A reply that is nothing but a ">"-quote (or nothing but our marker and what follows it)
 *    yields "": there is no new text, and the full message is stored anyway.
 *  - If the library hides everything that is not a quote (e.g. an answer that is only
 *    "Regards,\nJane"), that text is returned rather than "".
 *  - Separator lines like "----", "====", "++++" are not signature delimiters (markdown rules and
 *    pasted logs would lose the text below them); "--"/"-- " are, and "____" (or "———") is when at
 *    most a few short lines follow it (signatures, mailing-list footers).
 *
 * Known limitation: an Outlook forward *with* text added above it looks exactly like an Outlook
 * reply in the body and is cut like one (the caller could tell by a "FW:"/"WG:" subject).
 *
 * Regular expressions in this file have no nested or overlapping quantifiers (linear time), and
 * the header/attribution patterns only look at lines of bounded length.
 */
import EmailReplyParser from 'email-reply-parser';
import { compile, type FormatCallback, type HtmlToTextNode } from 'html-to-text';

export interface VisibleTextOptions {
  /** A line we put at the top of every outgoing email, e.g. "##- Please type your reply above this line -##". Everything from a line containing it onwards is cut. */
  replyMarker?: string;
  /** Max input characters considered (protects against pathological input); default 200_000. */
  maxInputChars?: number;
}

export interface VisibleText {
  text: string;
  hadQuote: boolean;
  hadSignature: boolean;
}

export const DEFAULT_MAX_INPUT_CHARS = 200_000;

/**
 * HTML carries much more markup than text, so the HTML part may be this many times longer than
 * `maxInputChars` before it is cut (the converted text is capped at `maxInputChars` again). What
 * is cut is the bottom of the message, i.e. the quoted history.
 */
const HTML_CAP_FACTOR = 2;
/** DOM depth html-to-text descends into (its walk is recursive). */
const HTML_MAX_DEPTH = 1_000;
/**
 * htmlparser2 slows down super-linearly on deeply nested markup (50 000 nested divs: ~5 s).
 * HTML nested deeper than this is reduced to text by a simple linear tag stripper instead.
 */
const HTML_MAX_NESTING = 400;

/**
 * Budget for the text handed to email-reply-parser in one call. Several of its patterns are
 * super-linear (measured on the native RegExp engine: 10 000 blank lines take ~3 s, 20 000
 * crafted characters ~18 s). After sanitising (see `sanitiseForLibrary`) the cost is roughly
 * proportional to window size × line length; measured worst case for 200 000 crafted characters
 * end to end: ~150 ms.
 * New text beyond the window (rare: the window starts at the top of the message and quotes are
 * cut before it is filled) is handled by the simpler rules in `stripOverflow`.
 */
const LIB_WINDOW_CHARS = 32_000;
/** Lines longer than this are replaced by a short placeholder before the library sees them. */
const LIB_MAX_LINE = 500;
/** Characters of a long line kept in its placeholder (so the line keeps its ">" or "Sent from"). */
const LIB_LINE_PREFIX = 100;
/** Lines longer than this are never taken for a header, separator or marker line. */
const HEADER_LINE_MAX = 1_000;
/** At most this many consecutive blank lines are kept. */
const MAX_BLANK_RUN = 2;

// Private-use characters used as in-band markers. Any occurrence in the input is removed first,
// so they cannot collide with real content.
const PH_OPEN = '\uE000';
const PH_CLOSE = '\uE001';
const DEFUSE = '\uE002';
const CUT = '\uE003';
const PRIVATE_MARKERS_RE = /[\uE000-\uE003]/g;
const PLACEHOLDER_RE = /\uE000(\d{1,7})\uE001/g;
const DEFUSE_RE = /\uE002/g;

const NEWLINE_RE = /\r\n?|[\u2028\u2029\u0085]/g;
const BLANK_RE = /^[\s\u200B-\u200D\u2060\uFEFF]*$/;
const HAS_CONTENT_RE = /[^\s\u200B-\u200D\u2060\uFEFF]/;
const QUOTED_LINE_RE = /^\s{0,3}>/;
const SHORT_SEPARATOR_LINE_RE = /^\s*[-_=*~\u2013\u2014\u2015]{2,}\s*$/;

const FORWARD_MARKER_RE = new RegExp(
  '^\\s*(?:-{2,}\\s*(?:forwarded message|forwarded e-?mail|weitergeleitete nachricht|message transf[ée]r[ée]|' +
    'mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|videresendt (?:meddelelse|melding)|' +
    'vidarebefordrat meddelande|mensagem encaminhada|wiadomo[śs][ćc] przekazana|p[řr]eposlan[áa] zpr[áa]va|' +
    'пересылаемое сообщение)\\s*-*|begin forwarded message\\s?:?|anfang der weitergeleiteten (?:nachricht|e-mail)\\s?:?|' +
    'd[ée]but du message (?:r[ée]exp[ée]di[ée]|transf[ée]r[ée])\\s?:?|inizio messaggio inoltrato\\s?:?|' +
    'comienzo del mensaje reenviado\\s?:?|in[íi]cio da mensagem (?:reencaminhada|encaminhada)\\s?:?)\\s*$',
  'i',
);

const ORIGINAL_MESSAGE_RE = new RegExp(
  '^\\s*-{2,}\\s*(?:original message|original-nachricht|urspr[üu]ngliche nachricht|message d[\'’]origine|' +
    'message original|mensaje original|messaggio originale|oorspronkelijk bericht|origineel bericht|' +
    'oprindelig (?:meddelelse|besked)|opprinnelig melding|originalmeddelande|ursprungligt meddelande|' +
    'mensagem original|alkuper[äa]inen viesti|oryginalna wiadomo[śs][ćc]|wiadomo[śs][ćc] oryginalna|' +
    'p[ůu]vodn[íi] zpr[áa]va|исходное сообщение|eredeti [üu]zenet|orijinal ileti)\\s*-*\\s*$',
  'i',
);

type HeaderKind = 'from' | 'date' | 'to' | 'cc' | 'subject';

const HEADER_LABELS: Readonly<Record<HeaderKind, readonly string[]>> = {
  from: [
    'from', 'von', 'de', 'van', 'da', 'fra', 'från', 'od', 'от', 'lähettäjä', 'feladó', 'expéditeur',
    'remitente', 'mittente', 'afzender', 'avsändare', 'nadawca', 'kimden', '差出人', '发件人', '寄件者',
    '보낸 사람', '보낸사람',
  ],
  date: [
    'sent', 'date', 'gesendet', 'datum', 'envoyé', 'envoye', 'enviado', 'enviada', 'fecha', 'inviato', 'data',
    'verzonden', 'sendt', 'skickat', 'wysłano', 'odesláno', 'отправлено', 'дата', 'lähetetty', 'päivämäärä',
    'elküldve', 'dátum', 'gönderildi', 'tarih', '送信日時', '发送时间', '日期', '寄件日期', '보낸 날짜',
    'message du',
  ],
  to: [
    'to', 'an', 'à', 'a', 'para', 'aan', 'til', 'till', 'do', 'komu', 'кому', 'vastaanottaja', 'címzett',
    'kime', '宛先', '收件人', '收件者', '받는 사람',
  ],
  cc: ['cc', 'bcc', 'kopie', 'copie', 'cci', 'kopia', 'копия', 'kopio', 'másolatot kap', 'bilgi', '抄送', '副本', '참조'],
  subject: [
    'subject', 'betreff', 'objet', 'sujet', 'asunto', 'oggetto', 'assunto', 'onderwerp', 'emne', 'ämne', 'temat',
    'předmět', 'тема', 'aihe', 'tárgy', 'konu', '件名', '主题', '主旨', '제목',
  ],
};

const LABEL_KIND = new Map<string, HeaderKind>();
for (const kind of Object.keys(HEADER_LABELS) as HeaderKind[]) {
  for (const label of HEADER_LABELS[kind]) LABEL_KIND.set(label, kind);
}

/** "From:", "*From:*", "De :", "Von:" … : an optional bold marker, a short label, a colon. */
const HEADER_LABEL_RE = /^\s{0,8}\*{0,2}([^\s:：*][^:：*]{0,31}?)\s{0,2}\*{0,2}\s{0,2}[:：]/;

/** The end of an attribution line: "wrote:", "a écrit :", "schrieb:" … */
const ATTRIBUTION_END_RE = new RegExp(
  '(?:wrote|writes|schrieb|a [ée]crit|escribi[óo]|ha escrit|escreveu|ha scritto|scrisse|schreef|skrev|skrifaði|' +
    'napisa[łl](?:\\(a\\)|a)?|pisze|napsal(?:\\(a\\)|a)?|kirjoitti|написал(?:\\(а\\)|а)?|написав|пишет|írta|yazdı|' +
    '写道|寫道|작성|のメッセージ)\\s?[:：]\\s*$',
  'i',
);
/** Gmail's old "2014-03-20 8:48 GMT+01:00 Name <address>:" attribution. */
const GMAIL_DATE_ATTRIBUTION_RE = /^\s*\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,200}@[^\s<>]{1,200}>\s?:\s*$/;
/** How an attribution line starts: "On", "Le", "Am" …, a date, or "tir. 18. apr." style. */
const ATTRIBUTION_START_RE =
  /^\s*(?:-\s)?(?:(?:On|Le|El|Il|Em|Am|Op|Den|På|W dniu|Dnia|Dne|В|pe|ma|ti|ke|to|pe|la|su|lø|sø)\s|\d|[a-zåäöæø]{2,4}\.\s|在)/u;

/**
 * Line starts at which email-reply-parser's whole-text patterns scan to the end of the text
 * (`[\s\S]+`), with the keyword that closes the header they look for.
 */
const UNBOUNDED_TRIGGERS: readonly { readonly start: RegExp; readonly keyword: RegExp; readonly keywordGlobal: RegExp }[] = [
  { start: /^\s*Op\s/, keyword: /schreef/, keywordGlobal: /schreef/g },
  { start: /^\s*(?:W\sdniu|Dnia)\s/u, keyword: /pisze|napisał/u, keywordGlobal: /pisze|napisał/gu },
  { start: /^在/, keyword: /写道/, keywordGlobal: /写道/g },
  { start: /^\s*[a-z]{3,4}\.\s/, keyword: /skrev/, keywordGlobal: /skrev/g },
];
/** How many genuine-looking headers per trigger are left for the library to join. */
const TRIGGERS_KEPT = 2;
/**
 * Separator lines that the library takes for the start of a signature ("---", "____", "==", "++")
 * but that are common in content. "--" and "-- " are left to the library.
 */
const WEAK_SEPARATOR_RE = /^\s*(?:-{3,}|_{2,}|={2,}|\+{2,})$/;
/** An underscore (or dash-character) line: a signature or mailing-list footer separator when little text follows it. */
const UNDERSCORE_LINE_RE = /^\s*(?:_{2,}|[\u2013\u2014\u2015]{3,})$/;
/** "Little text": at most this many non-blank lines and characters after the separator. */
const FOOTER_MAX_LINES = 8;
const FOOTER_MAX_CHARS = 800;

const parser = new EmailReplyParser();

/**
 * From the text part (may be null) and the HTML part (may be null): prefer text; when only HTML
 * exists, first remove quoted HTML (blockquote elements, Gmail's div.gmail_quote, Outlook's
 * #divRplyFwdMsg / "appendonsend" / border-top separated blocks, Apple Mail's blockquote
 * type=cite, Thunderbird's moz-cite-prefix) then convert to text with html-to-text, then apply
 * the same text rules.
 */
export function extractVisibleText(text: string | null, html: string | null, opts: VisibleTextOptions = {}): VisibleText {
  const maxInputChars = normaliseLimit(opts.maxInputChars);
  const marker = (opts.replyMarker ?? '').replace(/\s+/g, ' ').trim();

  if (text !== null && HAS_CONTENT_RE.test(text)) {
    return visibleFromText(text, maxInputChars, marker, false, false);
  }
  if (html !== null && HAS_CONTENT_RE.test(html)) {
    const converted = htmlToVisibleSource(html, maxInputChars * HTML_CAP_FACTOR);
    return visibleFromText(converted.text, maxInputChars, marker, converted.removedQuote, converted.removedSignature);
  }
  return { text: '', hadQuote: false, hadSignature: false };
}

function normaliseLimit(value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value) || value <= 0) return DEFAULT_MAX_INPUT_CHARS;
  return Math.floor(value);
}

// ---------------------------------------------------------------------------------------------
// Text rules
// ---------------------------------------------------------------------------------------------

function visibleFromText(
  input: string,
  maxInputChars: number,
  marker: string,
  htmlQuoteRemoved: boolean,
  htmlSignatureRemoved: boolean,
): VisibleText {
  let lines = normaliseLines(capLength(input, maxInputChars));
  let hadQuote = htmlQuoteRemoved;
  let hadSignature = htmlSignatureRemoved;

  if (marker !== '') {
    const markerAt = findMarkerLine(lines, marker);
    if (markerAt >= 0) {
      lines = lines.slice(0, markerAt);
      hadQuote = true;
    }
  }

  const boundary = findBoundary(lines);
  let head = lines;
  let forwarded: string[] = [];
  if (boundary !== null) {
    head = lines.slice(0, boundary.start);
    if (boundary.kind === 'forward') {
      forwarded = lines.slice(boundary.start);
    } else if (boundary.kind === 'headers' && isAllBlank(head)) {
      // An Outlook-style header block with nothing above it: Outlook (and most desktop clients)
      // forward with exactly the same block as they reply with, so this is treated as a forward
      // with nothing added and its content is kept (forwards are new information for support).
      // A reply consisting of nothing but a ">"-quote, by contrast, yields an empty text.
      return finish(lines.slice(boundary.start), hadQuote, hadSignature);
    } else {
      hadQuote = true;
    }
  }

  const trailing = dropTrailingAttribution(head);
  const attributions = rewriteAttributions(trailing.lines);
  if (trailing.dropped || attributions.dropped) hadQuote = true;
  head = mendBrokenQuotes(attributions.lines);

  const parsed = parseWithLibrary(head);
  hadQuote ||= parsed.hadQuote;
  hadSignature ||= parsed.hadSignature;

  let visible = parsed.text;
  if (forwarded.length > 0) {
    // Decision: a forward ("---------- Forwarded message ---------", "Begin forwarded message:")
    // is new information for support, so the forwarded message is kept verbatim below whatever
    // was written above it. It is not counted as a quote.
    visible = visible.trim() === '' ? forwarded.join('\n') : `${visible.trimEnd()}\n\n${forwarded.join('\n')}`;
  }
  return finish(splitLines(visible), hadQuote, hadSignature);
}

function finish(lines: readonly string[], hadQuote: boolean, hadSignature: boolean): VisibleText {
  return { text: collapseBlankRuns(lines.map((l) => l.trimEnd())).join('\n'), hadQuote, hadSignature };
}

/** Cuts to `max` UTF-16 units without leaving half a surrogate pair. */
function capLength(input: string, max: number): string {
  if (input.length <= max) return input;
  let end = max;
  const last = input.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return input.slice(0, end);
}

/** BOM, private markers and line-ending variants removed; trailing whitespace trimmed; blank runs collapsed. */
function normaliseLines(input: string): string[] {
  const cleaned = input.replace(/^\uFEFF/, '').replace(PRIVATE_MARKERS_RE, '').replace(NEWLINE_RE, '\n');
  return collapseBlankRuns(cleaned.split('\n').map((l) => l.trimEnd()));
}

function splitLines(text: string): string[] {
  return text === '' ? [] : text.split('\n');
}

function isBlank(line: string): boolean {
  return BLANK_RE.test(line);
}

function isAllBlank(lines: readonly string[]): boolean {
  return lines.every(isBlank);
}

/** Blank lines become "", runs longer than MAX_BLANK_RUN are shortened, leading/trailing blanks dropped. */
function collapseBlankRuns(lines: readonly string[]): string[] {
  const out: string[] = [];
  let run = 0;
  for (const line of lines) {
    if (isBlank(line)) {
      run += 1;
      if (run <= MAX_BLANK_RUN && out.length > 0) out.push('');
    } else {
      run = 0;
      out.push(line);
    }
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

function findMarkerLine(lines: readonly string[], marker: string): number {
  const needle = marker.toLowerCase();
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (line.length < needle.length) continue;
    // Compared with whitespace collapsed: clients re-space and HTML conversion yields NBSPs.
    if (line.replace(/\s+/g, ' ').toLowerCase().includes(needle)) return i;
  }
  return -1;
}

interface Boundary {
  /** First line of the quoted or forwarded part (separator lines above a header block included). */
  readonly start: number;
  /**
   * 'headers': an "-----Original Message-----" line or an Outlook-style header block;
   * 'attribution': an "On … wrote:" line followed by unquoted text; 'forward': a forward marker.
   */
  readonly kind: 'headers' | 'attribution' | 'forward';
}

/**
 * The first line where the new text certainly ends, by rules the library lacks:
 *  - an "-----Original Message-----" line (several languages);
 *  - an Outlook-style header block: a From-line followed by at least two of date/to/cc/subject
 *    lines (labels in several languages, "*From:*" bold form included);
 *  - an attribution line (also wrapped, also in languages or date formats the library lacks)
 *    after a blank line and followed by unquoted text, i.e. a quote without ">" markers;
 *  - a forward marker, which yields kind 'forward'.
 * ">"-quoted lines and the attribution lines above them are left to the library (inline answers
 * may follow them).
 */
function findBoundary(lines: readonly string[]): Boundary | null {
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (line.length > HEADER_LINE_MAX || isBlank(line) || QUOTED_LINE_RE.test(line)) continue;
    if (FORWARD_MARKER_RE.test(line)) return { start: i, kind: 'forward' };
    if (ORIGINAL_MESSAGE_RE.test(line)) return { start: extendUpwards(lines, i), kind: 'headers' };
    if (headerKind(line) === 'from' && headerBlockFollows(lines, i)) {
      return { start: extendUpwards(lines, i), kind: 'headers' };
    }
    if (i > 0 && isBlank(lines[i - 1] ?? '') && isAttributionStart(line)) {
      const last = attributionEnd(lines, i);
      if (last >= 0) {
        let next = last + 1;
        while (next < lines.length && isBlank(lines[next] ?? '')) next += 1;
        if (next < lines.length && !QUOTED_LINE_RE.test(lines[next] ?? '')) return { start: i, kind: 'attribution' };
      }
    }
  }
  return null;
}

/** The last line of an attribution starting at `start` (one to three lines), or -1. */
function attributionEnd(lines: readonly string[], start: number): number {
  for (let j = start; j <= start + 2 && j < lines.length; j += 1) {
    const line = lines[j] ?? '';
    if (isBlank(line) || line.length > 300 || QUOTED_LINE_RE.test(line)) return -1;
    const candidate = j === start ? line : lines.slice(start, j + 1).map((l) => l.trim()).join(' ');
    if (isAttribution(candidate)) return j;
  }
  return -1;
}

function headerKind(line: string): HeaderKind | null {
  if (line.length > HEADER_LINE_MAX) return null;
  const m = HEADER_LABEL_RE.exec(line);
  if (m === null || m[1] === undefined) return null;
  return LABEL_KIND.get(m[1].replace(/\s+/g, ' ').trim().toLowerCase()) ?? null;
}

function headerBlockFollows(lines: readonly string[], fromLine: number): boolean {
  const kinds = new Set<HeaderKind>();
  for (let k = fromLine + 1; k < lines.length && k <= fromLine + 8; k += 1) {
    const line = lines[k] ?? '';
    if (isBlank(line)) break;
    const kind = headerKind(line);
    if (kind === 'from') break;
    if (kind !== null) kinds.add(kind);
  }
  return kinds.size >= 2 && (kinds.has('date') || kinds.has('subject'));
}

/** Moves a cut upwards over blank lines, separator lines and header lines that precede the From-line. */
function extendUpwards(lines: readonly string[], start: number): number {
  let i = start;
  while (i > 0) {
    const above = lines[i - 1] ?? '';
    if (isBlank(above) || (above.length <= HEADER_LINE_MAX && (SHORT_SEPARATOR_LINE_RE.test(above) || ORIGINAL_MESSAGE_RE.test(above)))) {
      i -= 1;
    } else if (headerKind(above) === 'date') {
      i -= 1;
    } else {
      break;
    }
  }
  return i;
}

function isAttributionStart(line: string): boolean {
  return line.length <= 300 && !QUOTED_LINE_RE.test(line) && ATTRIBUTION_START_RE.test(line);
}

function isAttribution(joined: string): boolean {
  if (joined.length > 600) return false;
  if (GMAIL_DATE_ATTRIBUTION_RE.test(joined)) return true;
  return ATTRIBUTION_END_RE.test(joined) && /[\d@]/.test(joined);
}

/**
 * An attribution line (possibly wrapped over up to three lines) at the very end of the new text:
 * it introduced a quote that was cut (our marker, an Outlook block) and is dropped.
 */
function dropTrailingAttribution(lines: readonly string[]): { lines: readonly string[]; dropped: boolean } {
  let end = lines.length - 1;
  while (end >= 0 && isBlank(lines[end] ?? '')) end -= 1;
  if (end < 0) return { lines, dropped: false };
  for (let start = Math.max(0, end - 2); start <= end; start += 1) {
    const block = lines.slice(start, end + 1);
    if (block.some((l) => isBlank(l) || l.length > 300 || QUOTED_LINE_RE.test(l))) continue;
    if (!isAttributionStart(block[0] ?? '')) continue;
    if (isAttribution(block.join(' '))) return { lines: lines.slice(0, start), dropped: true };
  }
  return { lines, dropped: false };
}

/**
 * Attribution lines for the library: one wrapped over two or three lines is joined into one
 * line (the library only recognises a few wrapped forms; Gmail wraps e.g. inside
 * "<\njohn@example.com> wrote:"), and one directly above a ">"-quote (at most one blank line
 * between) is dropped, which also covers languages the library does not know (Hungarian "írta:").
 */
function rewriteAttributions(lines: readonly string[]): { lines: string[]; dropped: boolean } {
  const out: string[] = [];
  let dropped = false;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (!isAttributionStart(line)) {
      out.push(line);
      continue;
    }
    const last = attributionEnd(lines, i);
    if (last < 0) {
      out.push(line);
      continue;
    }
    const joined = last === i ? line : lines.slice(i, last + 1).map((l) => l.trim()).join(' ');
    let after = last + 1;
    if (after < lines.length && isBlank(lines[after] ?? '')) after += 1;
    if (after < lines.length && QUOTED_LINE_RE.test(lines[after] ?? '')) {
      dropped = true;
    } else {
      out.push(joined);
    }
    i = last;
  }
  return { lines: out, dropped };
}

/**
 * Quoted paragraphs re-wrapped by a client leave unquoted continuation lines between ">" lines
 * ("> … Nullam pharetra d" / "ignissim odio?" / ">"). A run of at most two such lines, directly
 * between quoted lines, is taken as part of the quote when it starts in lower case or the quoted
 * line before it breaks off mid-sentence. Inline answers are normally set off by blank lines or
 * start a new sentence, so they are not affected.
 */
function mendBrokenQuotes(lines: readonly string[]): string[] {
  const out = lines.slice();
  for (let i = 1; i < out.length; i += 1) {
    const before = out[i - 1] ?? '';
    if (!QUOTED_LINE_RE.test(before) || QUOTED_LINE_RE.test(out[i] ?? '') || isBlank(out[i] ?? '')) continue;
    let end = i;
    while (end < out.length && end - i < 3 && !isBlank(out[end] ?? '') && !QUOTED_LINE_RE.test(out[end] ?? '')) end += 1;
    if (end - i > 2 || end >= out.length || !QUOTED_LINE_RE.test(out[end] ?? '')) continue;
    const quotedText = before.replace(/^[\s>]+/, '');
    const first = out[i] ?? '';
    const continues = /^\s*\p{Ll}/u.test(first) || (quotedText.length >= 50 && !/[.!?:;)"»]$/.test(quotedText));
    if (!continues) continue;
    for (let k = i; k < end; k += 1) out[k] = `> ${out[k] ?? ''}`;
    i = end;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// email-reply-parser
// ---------------------------------------------------------------------------------------------

interface LibraryResult {
  text: string;
  hadQuote: boolean;
  hadSignature: boolean;
}

function parseWithLibrary(lines: readonly string[]): LibraryResult {
  if (isAllBlank(lines)) return { text: '', hadQuote: false, hadSignature: false };

  // Window: the top of the message, whole lines, counted after long lines are shortened.
  let used = 0;
  let windowEnd = 0;
  while (windowEnd < lines.length) {
    const len = Math.min((lines[windowEnd] ?? '').length, LIB_MAX_LINE) + 1;
    if (used + len > LIB_WINDOW_CHARS && windowEnd > 0) break;
    used += len;
    windowEnd += 1;
  }
  const windowLines = lines.slice(0, windowEnd);
  const overflow = lines.slice(windowEnd);

  const sanitised = sanitiseForLibrary(windowLines);
  const email = parser.read(sanitised.text);
  const fragments = email.getFragments();

  let hadQuote = false;
  let hadSignature = false;
  // Visible fragments are joined like the library does (by a newline), but where a hidden quote
  // lay between two of them (inline answers) a blank line keeps the answers apart.
  let visible = '';
  let gap = false;
  const unquoted: string[] = [];
  for (const fragment of fragments) {
    const content = fragment.getContent();
    const empty = isBlank(content);
    if (fragment.isQuoted() && !empty) hadQuote = true;
    if (fragment.isSignature() && !empty) hadSignature = true;
    if (!fragment.isQuoted()) unquoted.push(content);
    if (fragment.isHidden()) {
      if (!empty && visible !== '') gap = true;
    } else if (visible === '') {
      visible = content;
    } else {
      visible += gap ? `\n\n${content}` : `\n${content}`;
      gap = false;
    }
  }

  let text = restore(visible, sanitised.longLines);
  const footer = cutUnderscoreFooter(text);
  if (footer !== null) {
    text = footer;
    hadSignature = true;
  }
  if (text.trim() === '') {
    // The library hid everything although something was not a quote (typically a message that
    // is nothing but a signature-like line, or that starts with "Regards,"): keep what was
    // written rather than return an empty text.
    text = restore(unquoted.join('\n'), sanitised.longLines);
  }

  if (overflow.length > 0 && !hadQuote) {
    const rest = stripOverflow(overflow);
    if (rest.length > 0) text = `${text}\n${rest.join('\n')}`;
    if (rest.length < overflow.filter((l) => !isBlank(l)).length) hadQuote = true;
  }
  return { text, hadQuote, hadSignature };
}

/**
 * "____" followed by a few lines (a signature, a mailing-list footer) is cut. The library only
 * knows 2-4 and exactly 32 underscores, and cuts there whatever follows.
 */
function cutUnderscoreFooter(text: string): string | null {
  const lines = splitLines(text);
  // From the bottom up, while the text below stays small; the topmost separator found wins.
  let tailLines = 0;
  let tailChars = 0;
  let cutAt = -1;
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    const line = lines[i] ?? '';
    if (UNDERSCORE_LINE_RE.test(line)) cutAt = i;
    if (isBlank(line)) continue;
    tailLines += 1;
    tailChars += line.length;
    if (tailLines > FOOTER_MAX_LINES || tailChars > FOOTER_MAX_CHARS) break;
  }
  if (cutAt < 0) return null;
  const kept = lines.slice(0, cutAt).join('\n');
  return kept.trim() === '' ? null : kept;
}

/**
 * The part of a very long message beyond the library window: ">"-quoted lines and the attribution
 * line above them are dropped, everything else is kept. If the library already found a quote in
 * the window, the overflow is below that quote and is dropped entirely by the caller.
 */
function stripOverflow(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (QUOTED_LINE_RE.test(line)) continue;
    const next = lines[i + 1] ?? '';
    if (QUOTED_LINE_RE.test(next) && isAttributionStart(line) && isAttribution(line)) continue;
    out.push(line);
  }
  return collapseBlankRuns(out);
}

interface Sanitised {
  text: string;
  longLines: string[];
}

/**
 * Makes the text safe for the library's regular expressions without changing what it detects:
 *  - lines longer than LIB_MAX_LINE become their first LIB_LINE_PREFIX characters plus a
 *    placeholder (restored afterwards): per-line patterns such as `.+\son.*at.*wrote:` are
 *    polynomial in the line length;
 *  - blank runs are already collapsed, so `^\s*` cannot run across thousands of empty lines;
 *  - the whole-text patterns that scan to the end of the text with `[\s\S]+` (Dutch "Op … schreef",
 *    Polish "W dniu … napisał", Chinese "在 … 写道", Norwegian "tir. … skrev") only get to start at
 *    the first TRIGGERS_KEPT lines that really are followed by their keyword within three lines;
 *    other starts, and keywords that cannot close a header (not on a line ending with ":"), are
 *    broken with an invisible private-use character that is removed again afterwards;
 *  - separator lines such as "----" or "====", which the library takes for the start of a
 *    signature and which are common in content (markdown rules, pasted logs), are broken the same
 *    way: losing customer text is worse than showing a signature. "--" and "-- " stay signatures.
 */
function sanitiseForLibrary(lines: readonly string[]): Sanitised {
  const out = lines.slice();
  const longLines: string[] = [];
  const protectedLines = new Set<number>();

  for (const trigger of UNBOUNDED_TRIGGERS) {
    let kept = 0;
    for (let i = 0; i < out.length; i += 1) {
      const line = out[i] ?? '';
      if (line.length > LIB_MAX_LINE || !trigger.start.test(line)) continue;
      const block = out.slice(i, i + 3).join('\n');
      if (kept < TRIGGERS_KEPT && block.length <= 3 * LIB_MAX_LINE && trigger.keyword.test(block)) {
        kept += 1;
        protectedLines.add(i).add(i + 1).add(i + 2);
      } else {
        out[i] = DEFUSE + line;
      }
    }
  }
  for (let i = 0; i < out.length; i += 1) {
    let line = out[i] ?? '';
    if (WEAK_SEPARATOR_RE.test(line)) {
      out[i] = DEFUSE + line;
      continue;
    }
    if (!protectedLines.has(i) && !/[:：]\s*$/.test(line)) {
      for (const trigger of UNBOUNDED_TRIGGERS) {
        if (trigger.keyword.test(line)) line = line.replace(trigger.keywordGlobal, (k) => k.slice(0, 1) + DEFUSE + k.slice(1));
      }
    }
    if (line.length > LIB_MAX_LINE) {
      let cut = LIB_LINE_PREFIX;
      const code = line.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
      longLines.push(line.slice(cut));
      line = `${line.slice(0, cut)}${PH_OPEN}${longLines.length - 1}${PH_CLOSE}`;
    }
    out[i] = line;
  }
  return { text: out.join('\n'), longLines };
}

function restore(text: string, longLines: readonly string[]): string {
  const withLines = longLines.length === 0 ? text : text.replace(PLACEHOLDER_RE, (_m, idx: string) => longLines[Number(idx)] ?? '');
  return withLines.replace(DEFUSE_RE, '');
}

// ---------------------------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------------------------

interface HtmlState {
  removedQuote: boolean;
  removedSignature: boolean;
}

interface HtmlSource {
  text: string;
  removedQuote: boolean;
  removedSignature: boolean;
}

function stateOf(metadata: unknown): HtmlState {
  if (typeof metadata === 'object' && metadata !== null && 'removedQuote' in metadata) return metadata as HtmlState;
  return { removedQuote: false, removedSignature: false };
}

/** Concatenated text of a subtree, whitespace collapsed, at most `maxChars` characters (iterative, bounded). */
function leadingText(node: HtmlToTextNode, maxChars = 300, maxNodes = 400): string {
  let text = '';
  let visited = 0;
  const stack: HtmlToTextNode[] = [node];
  while (stack.length > 0 && text.length < maxChars && visited < maxNodes) {
    const current = stack.pop();
    if (current === undefined) break;
    visited += 1;
    if (current.type === 'text' && current.data !== undefined) {
      text += current.data;
    } else if (current.name === 'br' || current.name === 'div' || current.name === 'p') {
      text += '\n';
    }
    const children = current.children ?? [];
    for (let i = children.length - 1; i >= 0; i -= 1) {
      const child = children[i];
      if (child !== undefined) stack.push(child);
    }
  }
  return text.slice(0, maxChars);
}

function firstNonBlankLine(text: string): string {
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() !== '') return line.replace(/\s+/g, ' ').trim();
  }
  return '';
}

/** Text of up to three preceding siblings (skipping whitespace and <br>), e.g. Apple's "Begin forwarded message:". */
function precedingText(node: HtmlToTextNode): string {
  let sibling = node.prev ?? null;
  let seen = 0;
  while (sibling !== null && seen < 6) {
    seen += 1;
    const text = leadingText(sibling, 200, 100).trim();
    if (text !== '') return text;
    sibling = sibling.prev ?? null;
  }
  return '';
}

function looksForwarded(node: HtmlToTextNode): boolean {
  return FORWARD_MARKER_RE.test(firstNonBlankLine(leadingText(node))) || FORWARD_MARKER_RE.test(lastLine(precedingText(node)));
}

function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  return (lines[lines.length - 1] ?? '').replace(/\s+/g, ' ').trim();
}

const renderAsBlock: FormatCallback = (elem, walk, builder) => {
  builder.openBlock({ leadingLineBreaks: 1 });
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: 1 });
};

/** Keeps the paragraphs on either side of a removed element apart. */
function separate(builder: Parameters<FormatCallback>[2]): void {
  builder.openBlock({ leadingLineBreaks: 2 });
  builder.addInline(' ');
  builder.closeBlock({ trailingLineBreaks: 2 });
}

const formatters: Record<string, FormatCallback> = {
  /** A quote container (blockquote, div.gmail_quote …): dropped, unless it holds a forward. */
  casegateQuote: (elem, walk, builder, formatOptions) => {
    if (looksForwarded(elem)) {
      renderAsBlock(elem, walk, builder, formatOptions);
      return;
    }
    stateOf(builder.metadata).removedQuote = true;
    separate(builder);
  },
  /** An attribution line element (Gmail's gmail_attr, Thunderbird's moz-cite-prefix): dropped, unless it introduces a forward. */
  casegateAttribution: (elem, walk, builder, formatOptions) => {
    if (looksForwarded(elem)) {
      renderAsBlock(elem, walk, builder, formatOptions);
      return;
    }
    stateOf(builder.metadata).removedQuote = true;
  },
  /**
   * Start of an Outlook reply header: everything from here on is the quote. The element is still
   * rendered, for the case where nothing precedes it (a forward, see htmlToVisibleSource).
   */
  casegateCut: (elem, walk, builder, formatOptions) => {
    builder.addInline(CUT, { noWordTransform: true });
    renderAsBlock(elem, walk, builder, formatOptions);
  },
  /** A border-top block: Outlook's header separator when it starts with a From label. */
  casegateBorderTop: (elem, walk, builder, formatOptions) => {
    if (headerKind(firstNonBlankLine(leadingText(elem))) === 'from') builder.addInline(CUT, { noWordTransform: true });
    renderAsBlock(elem, walk, builder, formatOptions);
  },
  casegateSignature: (_elem, _walk, builder) => {
    stateOf(builder.metadata).removedSignature = true;
  },
};

let compiledConverter: ((html: string, metadata?: unknown) => string) | null = null;
let compiledFor = 0;

function converter(maxInputLength: number): (html: string, metadata?: unknown) => string {
  if (compiledConverter === null || compiledFor !== maxInputLength) {
    compiledConverter = compile({
      wordwrap: false,
      formatters,
      limits: { maxDepth: HTML_MAX_DEPTH, maxInputLength: maxInputLength + 1, ellipsis: '' },
      selectors: [
        { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
        { selector: 'img', format: 'skip' },
        { selector: 'hr', format: 'skip' },
        { selector: 'style', format: 'skip' },
        { selector: 'script', format: 'skip' },
        { selector: 'title', format: 'skip' },
        { selector: 'h1', options: { uppercase: false } },
        { selector: 'h2', options: { uppercase: false } },
        { selector: 'h3', options: { uppercase: false } },
        { selector: 'h4', options: { uppercase: false } },
        { selector: 'h5', options: { uppercase: false } },
        { selector: 'h6', options: { uppercase: false } },
        { selector: 'blockquote', format: 'casegateQuote' },
        { selector: 'div.gmail_quote', format: 'casegateQuote' },
        { selector: 'div.yahoo_quoted', format: 'casegateQuote' },
        { selector: 'div.protonmail_quote', format: 'casegateQuote' },
        { selector: 'div.moz-cite-prefix', format: 'casegateAttribution' },
        { selector: 'div.gmail_attr', format: 'casegateAttribution' },
        { selector: 'div.gmail_signature', format: 'casegateSignature' },
        { selector: 'div#divRplyFwdMsg', format: 'casegateCut' },
        { selector: 'div#appendonsend', format: 'casegateCut' },
        { selector: 'div.OutlookMessageHeader', format: 'casegateCut' },
        { selector: 'hr#zwchr', format: 'casegateCut' },
        { selector: 'div[style*="border-top" i]', format: 'casegateBorderTop' },
      ],
    });
    compiledFor = maxInputLength;
  }
  return compiledConverter;
}

function htmlToVisibleSource(html: string, maxChars: number): HtmlSource {
  const state: HtmlState = { removedQuote: false, removedSignature: false };
  const source = capLength(html.replace(PRIVATE_MARKERS_RE, ''), maxChars);
  if (nestingExceeds(source, HTML_MAX_NESTING)) return { text: stripTags(source), ...state };
  const converted = converter(maxChars)(source, state);
  const cutAt = converted.indexOf(CUT);
  if (cutAt < 0) return { text: converted, ...state };
  const before = converted.slice(0, cutAt);
  if (before.trim() === '') {
    // The Outlook header is the first thing in the message: a forward (see visibleFromText).
    return { text: converted.replace(/\uE003/g, ''), ...state };
  }
  return { text: before, removedQuote: true, removedSignature: state.removedSignature };
}

/** Elements without content, and elements whose end tag is commonly omitted: not counted as nesting. */
const NON_NESTING_ELEMENTS = new Set([
  'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr',
  'p', 'li', 'td', 'th', 'tr', 'dt', 'dd', 'option', 'optgroup', 'thead', 'tbody', 'tfoot', 'colgroup', 'rt', 'rp', 'o:p',
]);
const BLOCK_ELEMENTS = new Set(['br', 'p', 'div', 'li', 'tr', 'table', 'blockquote', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'pre', 'ul', 'ol']);

interface TagScan {
  /** Index of the "<". */
  readonly start: number;
  /** Index after the ">". */
  readonly end: number;
  readonly name: string;
  readonly closing: boolean;
  readonly selfClosing: boolean;
}

function isNameChar(code: number): boolean {
  return (code >= 48 && code <= 58) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 45;
}

/** Calls `visit` for every tag, in one linear pass. Returns early when `visit` returns true. */
function scanTags(html: string, visit: (tag: TagScan) => boolean): void {
  let i = html.indexOf('<');
  while (i >= 0) {
    const closing = html.charCodeAt(i + 1) === 47;
    const nameStart = closing ? i + 2 : i + 1;
    let j = nameStart;
    while (j < html.length && j - nameStart < 32 && isNameChar(html.charCodeAt(j))) j += 1;
    const first = html.charCodeAt(nameStart);
    const isTag = j > nameStart && ((first >= 65 && first <= 90) || (first >= 97 && first <= 122));
    const isMarkup = isTag || html.charCodeAt(i + 1) === 33 || html.charCodeAt(i + 1) === 63; // <!… <?…
    if (!isMarkup) {
      i = html.indexOf('<', i + 1);
      continue;
    }
    const close = html.indexOf('>', j);
    if (close < 0) return;
    if (isTag) {
      const tag: TagScan = {
        start: i,
        end: close + 1,
        name: html.slice(nameStart, j).toLowerCase(),
        closing,
        selfClosing: html.charCodeAt(close - 1) === 47,
      };
      if (visit(tag)) return;
    }
    i = html.indexOf('<', close + 1);
  }
}

function nestingExceeds(html: string, limit: number): boolean {
  let depth = 0;
  let exceeded = false;
  scanTags(html, (tag) => {
    if (NON_NESTING_ELEMENTS.has(tag.name) || tag.selfClosing) return false;
    depth = tag.closing ? Math.max(0, depth - 1) : depth + 1;
    exceeded = depth > limit;
    return exceeded;
  });
  return exceeded;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Fallback for pathological HTML: tags removed (block tags become line breaks), common entities decoded. */
function stripTags(html: string): string {
  const parts: string[] = [];
  let pos = 0;
  let skipUntil: string | null = null;
  scanTags(html, (tag) => {
    if (skipUntil === null) parts.push(html.slice(pos, tag.start));
    pos = tag.end;
    if (skipUntil !== null) {
      if (tag.closing && tag.name === skipUntil) skipUntil = null;
      return false;
    }
    if (!tag.closing && !tag.selfClosing && (tag.name === 'style' || tag.name === 'script' || tag.name === 'head')) skipUntil = tag.name;
    else if (BLOCK_ELEMENTS.has(tag.name)) parts.push('\n');
    return false;
  });
  if (skipUntil === null) {
    const rest = html.slice(pos);
    const open = rest.lastIndexOf('<');
    parts.push(open >= 0 && !rest.includes('>', open) ? rest.slice(0, open) : rest);
  }
  return parts
    .join('')
    .split('\n')
    .map((l) => l.trim())
    .join('\n')
    .replace(/&(#\d{1,7}|#x[0-9a-f]{1,6}|[a-z]{2,8});/gi, (m, name: string) => decodeEntity(m, name));
}

function decodeEntity(raw: string, name: string): string {
  if (name.startsWith('#')) {
    const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
    return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : raw;
  }
  return ENTITIES[name.toLowerCase()] ?? raw;
}
