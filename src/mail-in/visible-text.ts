/**
 * The visible, new part of an inbound reply: what the customer just wrote, without the quoted
 * history, attribution lines ("On <date>, X wrote:"), Outlook header blocks, signatures and our
 * own reply marker.
 *
 * The work is split by responsibility:
 *  - visible-text/lines.ts: input hardening (length cap, CR/CRLF/U+2028 normalisation, trailing
 *    whitespace, blank runs collapsed to at most two blank lines) and line helpers;
 *  - visible-text/vocabulary.ts: what clients write above a quote, in many languages;
 *  - visible-text/quote-headers.ts: where the history starts (attributions, header blocks,
 *    "-----Original Message-----", phone signatures above history, forwards) and quote repair;
 *  - visible-text/library.ts: the `email-reply-parser` package (crisp-oss) for the core line
 *    classification, on bounded and sanitised input (several of its patterns backtrack badly);
 *  - visible-text/html.ts: HTML-only messages, quoted HTML removed structurally before
 *    html-to-text converts the rest.
 *
 * Decisions:
 *  - Never lose what the customer wrote: a cut that would drop unquoted text needs strong
 *    evidence; when unsure, more is kept.
 *  - Our reply marker ends the new text where it stands unquoted; inside a ">"-quote it is part
 *    of the quote, so an answer written below the quote (bottom-posting) is kept.
 *  - Forwards ("---------- Forwarded message ---------", "Begin forwarded message:") are new
 *    information for support: the forwarded message is kept below whatever was written above it,
 *    and does not count as a quote.
 *  - A message that starts with an Outlook-style header block (nothing written above it) is kept
 *    whole: Outlook forwards with exactly the block it replies with, and a forward with nothing
 *    added is far more common than an empty Outlook reply. But a block with nothing below it
 *    (Outlook's empty reply to our email: our reply marker cut its text) yields "", as a reply
 *    that is nothing but a ">"-quote does.
 *  - A reply that is nothing but a ">"-quote (or nothing but our marker and what follows it)
 *    yields "": there is no new text, and the full message is stored anyway.
 *  - If the library hides everything that is not a quote (e.g. an answer that is only
 *    "Regards,\nJane"), that text is returned rather than "".
 *  - Quoted lines (">") are never shown, also between inline answers (the answers are kept).
 *  - Separator lines like "----", "====", "++++" are not signature delimiters (markdown rules and
 *    pasted logs would lose the text below them); "--"/"-- " are, and "____" (or "———") is when a
 *    few short lines that are not sentences follow it (signatures, mailing-list footers).
 *
 *  - An Outlook forward *with* text added above it looks exactly like an Outlook reply in the body:
 *    the subject tells them apart (`forward`: "FW:", "WG:", "TR:" … first). Then the header block
 *    or "-----Original Message-----" line starts the forwarded message, kept like any forward.
 *
 * Regular expressions in these files have no nested or overlapping quantifiers (linear time), and
 * the header/attribution patterns only look at lines of bounded length.
 */
import { REPLY_MARKERS } from '../mail-out/reply-marker.js';
import { forwardedBlock } from './attached-messages.js';
import type { ParsedMail } from './parsed-mail.js';
import { htmlToVisibleSource } from './visible-text/html.js';
import { parseWithLibrary } from './visible-text/library.js';
import { capLength, collapseBlankRuns, findMarkerLine, HAS_CONTENT_RE, isAllBlank, isQuoted, normaliseLines, splitLines } from './visible-text/lines.js';
import { dropTrailingAttribution, findBoundary, isOnlyHeaderBlock, mendBrokenQuotes, rewriteAttributions, splitSharedAttributions } from './visible-text/quote-headers.js';
import { isForwardSubject } from './visible-text/vocabulary.js';

export interface VisibleTextOptions {
  /**
   * The line we put at the top of every outgoing email, e.g. "##- Please type your reply above
   * this line -##", or the list of them (one per language we write). Everything from the first
   * line containing one onwards is cut.
   */
  replyMarker?: string | readonly string[];
  /** Max input characters considered (protects against pathological input); default 200_000. */
  maxInputChars?: number;
  /**
   * Read the HTML part first: set when `text` was only converted from the HTML (the message has
   * no text/plain part), because quote containers are exact in HTML. `text` is then the fallback
   * when the HTML yields nothing and had no quote (markup html-to-text cannot render).
   */
  preferHtml?: boolean;
  /**
   * The subject says the message is a forward (isForwardSubject): an Outlook-style header block or
   * "-----Original Message-----" line starts the forwarded message, which is kept below the text
   * written above it, instead of being cut as a reply's quoted history.
   */
  forward?: boolean;
}

export interface VisibleText {
  text: string;
  hadQuote: boolean;
  hadSignature: boolean;
  /**
   * Set when `text` ends with forwarded mail (an inline forward, an Outlook header block with
   * nothing above it, a message attached as a forward): what the writer typed above it ("" for
   * nothing). Someone else wrote the rest — an agent's commands are read from this part only.
   */
  ownText?: string;
}

export const DEFAULT_MAX_INPUT_CHARS = 200_000;

/**
 * HTML carries much more markup than text, so the HTML part may be this many times longer than
 * `maxInputChars` before it is cut (the converted text is capped at `maxInputChars` again). What
 * is cut is the bottom of the message, i.e. the quoted history.
 */
const HTML_CAP_FACTOR = 2;

/**
 * What the writer of an inbound message added, as the pipeline reads it: our reply marker ends it,
 * and when the text was only converted from the HTML part, the HTML is read first (its quote
 * containers — blockquote, gmail_quote, divRplyFwdMsg … — mark the history exactly). Computed
 * where the message is parsed (the daemon's MIME thread, src/mime/mime-thread.ts).
 */
export function visibleTextOf(mail: Pick<ParsedMail, 'text' | 'html' | 'textFromHtml' | 'subject' | 'forwarded' | 'invitation'>): VisibleText {
  const extracted = extractVisibleText(mail.text, mail.html, { replyMarker: REPLY_MARKERS, preferHtml: mail.textFromHtml, forward: isForwardSubject(mail.subject) });
  // A calendar invitation sent without words: what it proposes is its text (calendar-invite.ts).
  const visible = extracted.text.trim() === '' && !extracted.hadQuote && mail.invitation !== undefined ? { ...extracted, text: mail.invitation } : extracted;
  // Mail forwarded as an attachment: shown below the writer's text like an inline forward.
  const blocks = (mail.forwarded ?? []).map(forwardedBlock);
  if (blocks.length === 0) return visible;
  return { ...visible, text: [visible.text, ...blocks].filter((t) => t.trim() !== '').join('\n\n'), ownText: visible.ownText ?? visible.text };
}

/**
 * From the text part (may be null) and the HTML part (may be null): prefer text; when only HTML
 * exists, first remove quoted HTML (see visible-text/html.ts), then convert to text with
 * html-to-text, then apply the same text rules.
 */
export function extractVisibleText(text: string | null, html: string | null, opts: VisibleTextOptions = {}): VisibleText {
  const maxInputChars = normaliseLimit(opts.maxInputChars);
  const markers = (typeof opts.replyMarker === 'string' ? [opts.replyMarker] : (opts.replyMarker ?? [])).map((m) => m.replace(/\s+/g, ' ').trim()).filter((m) => m !== '');

  const forward = opts.forward === true;
  const hasText = text !== null && HAS_CONTENT_RE.test(text);
  const hasHtml = html !== null && HAS_CONTENT_RE.test(html);
  if (hasText && !(opts.preferHtml === true && hasHtml)) {
    return visibleFromText(text, maxInputChars, markers, false, false, forward);
  }
  if (hasHtml) {
    const converted = htmlToVisibleSource(html, maxInputChars * HTML_CAP_FACTOR, forward);
    const visible = visibleFromText(converted.text, maxInputChars, markers, converted.removedQuote, converted.removedSignature, forward);
    // Never lose words to markup we cannot render: the text rendering is the fallback.
    if (hasText && visible.text === '' && !visible.hadQuote) return visibleFromText(text, maxInputChars, markers, false, false, forward);
    return visible;
  }
  return { text: '', hadQuote: false, hadSignature: false };
}

function normaliseLimit(value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value) || value <= 0) return DEFAULT_MAX_INPUT_CHARS;
  return Math.floor(value);
}

function visibleFromText(
  input: string,
  maxInputChars: number,
  markers: readonly string[],
  htmlQuoteRemoved: boolean,
  htmlSignatureRemoved: boolean,
  forward = false,
): VisibleText {
  let lines = normaliseLines(capLength(input, maxInputChars));
  let hadQuote = htmlQuoteRemoved;
  let hadSignature = htmlSignatureRemoved;

  for (const marker of markers) {
    const markerAt = findMarkerLine(lines, marker);
    // An unquoted marker line: everything from it on is our own message (top-posting clients
    // such as Outlook do not mark the history). A ">"-quoted marker is left to the quote rules:
    // a bottom-posted answer below the quote must survive.
    if (markerAt >= 0 && !isQuoted(lines[markerAt] ?? '')) {
      lines = lines.slice(0, markerAt);
      hadQuote = true;
    }
  }

  lines = splitSharedAttributions(lines);
  const boundary = findBoundary(lines);
  let head = lines;
  let forwarded: string[] = [];
  if (boundary !== null) {
    head = lines.slice(0, boundary.start);
    if (boundary.kind === 'forward' || (boundary.kind === 'headers' && forward && !isAllBlank(head))) {
      forwarded = lines.slice(boundary.start);
    } else if (boundary.kind === 'headers' && isAllBlank(head)) {
      // An Outlook-style header block with nothing above it: Outlook (and most desktop clients)
      // forward with exactly the same block as they reply with, so this is treated as a forward
      // with nothing added and its content is kept (forwards are new information for support).
      // A reply consisting of nothing but a ">"-quote, by contrast, yields an empty text — and so
      // does a block with nothing below it: Outlook's empty reply to our email, whose text our
      // reply marker cut (or our email forwarded back with nothing added). The block alone
      // (From: us, Sent:, To: the writer, Subject: ours) is nobody's words.
      const rest = lines.slice(boundary.start);
      if (isOnlyHeaderBlock(rest)) return { text: '', hadQuote: true, hadSignature };
      return { ...finish(rest, hadQuote, hadSignature), ownText: '' };
    } else if (boundary.kind === 'signature') {
      hadSignature = true;
      hadQuote ||= lines.length > boundary.start + 1;
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
    const ownText = finish(splitLines(visible), hadQuote, hadSignature).text.trim();
    visible = visible.trim() === '' ? forwarded.join('\n') : `${visible.trimEnd()}\n\n${forwarded.join('\n')}`;
    return { ...finish(splitLines(visible), hadQuote, hadSignature), ownText };
  }
  return finish(splitLines(visible), hadQuote, hadSignature);
}

function finish(lines: readonly string[], hadQuote: boolean, hadSignature: boolean): VisibleText {
  return { text: collapseBlankRuns(lines.map((l) => l.trimEnd())).join('\n'), hadQuote, hadSignature };
}
