/**
 * HTML-only replies: quoted HTML is removed structurally (the way talon/planer do it) before
 * html-to-text converts the rest, so the text rules only see what the writer added. Recognised:
 * blockquote (Apple Mail type=cite, Thunderbird, most webmails), Gmail's div.gmail_quote and
 * gmail_attr, Yahoo's div.yahoo_quoted, Proton's protonmail_quote, Thunderbird's moz-cite-prefix,
 * Outlook's #divRplyFwdMsg / #appendonsend / div.OutlookMessageHeader / border-top header
 * blocks, Zimbra's hr#zwchr. A quote container that holds a forward is kept.
 */
import { compile, type FormatCallback, type HtmlToTextNode } from 'html-to-text';
import { capLength, CUT, PRIVATE_MARKERS_RE } from './lines.js';
import { headerKind } from './quote-headers.js';
import { FORWARD_MARKER_RE } from './vocabulary.js';

/** DOM depth html-to-text descends into (its walk is recursive). */
const HTML_MAX_DEPTH = 1_000;
/**
 * htmlparser2 slows down super-linearly on deeply nested markup (50 000 nested divs: ~5 s).
 * HTML nested deeper than this is reduced to text by a simple linear tag stripper instead.
 */
const HTML_MAX_NESTING = 400;

interface HtmlState {
  removedQuote: boolean;
  removedSignature: boolean;
}

export interface HtmlSource {
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

/** The rows of a table element, each its td/th cells (through thead, tbody, tfoot; not into nested tables). */
function tableRows(table: HtmlToTextNode): HtmlToTextNode[][] {
  const rows: HtmlToTextNode[][] = [];
  const visit = (node: HtmlToTextNode): void => {
    for (const child of node.children ?? []) {
      if (child.type !== 'tag') continue;
      if (child.name === 'thead' || child.name === 'tbody' || child.name === 'tfoot') visit(child);
      else if (child.name === 'tr') rows.push((child.children ?? []).filter((c) => c.type === 'tag' && (c.name === 'td' || c.name === 'th')));
    }
  };
  visit(table);
  return rows;
}

/**
 * A table: each cell is rendered on its own (quote containers inside work as anywhere), then
 *  - a data table (every cell one line, some row with two cells or more: a pasted spreadsheet, an
 *    order list) keeps one line per row, its cells separated by " | " — run together, "Order" and
 *    "4711" in two cells became "Order4711", and two numbers one;
 *  - any other table (layout: a whole message or a signature inside a table) gives its cells one
 *    after the other, as paragraphs.
 */
const formatTable: FormatCallback = (elem, walk, builder) => {
  builder.openTable();
  for (const cells of tableRows(elem)) {
    builder.openTableRow();
    for (const cell of cells) {
      builder.openTableCell();
      walk(cell.children, builder);
      builder.closeTableCell();
    }
    builder.closeTableRow();
  }
  builder.closeTable({
    leadingLineBreaks: 2,
    trailingLineBreaks: 2,
    tableToString: (rows) => {
      const texts = rows.map((cells) => cells.map((c) => c.text.trim()).filter((t) => t !== ''));
      const dataTable = texts.some((cells) => cells.length >= 2) && texts.every((cells) => cells.every((t) => !t.includes('\n')));
      if (dataTable) return texts.filter((cells) => cells.length > 0).map((cells) => cells.join(' | ')).join('\n');
      return texts.flat().join('\n\n');
    },
  });
};

const formatters: Record<string, FormatCallback> = {
  casegateTable: formatTable,
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
        { selector: 'table', format: 'casegateTable' },
        // Hidden text (preheaders, tracking codes, text hidden to fool filters): the writer never saw it.
        { selector: '[style*="display:none" i]', format: 'skip' },
        { selector: '[style*="display: none" i]', format: 'skip' },
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

/** `forward`: the subject says the message is a forward: an Outlook reply header starts the forwarded message, nothing is cut there. */
export function htmlToVisibleSource(html: string, maxChars: number, forward = false): HtmlSource {
  const state: HtmlState = { removedQuote: false, removedSignature: false };
  const source = capLength(html.replace(PRIVATE_MARKERS_RE, ''), maxChars);
  if (nestingExceeds(source, HTML_MAX_NESTING)) return { text: stripTags(source), ...state };
  const converted = converter(maxChars)(source, state);
  const cutAt = converted.indexOf(CUT);
  if (cutAt < 0) return { text: converted, ...state };
  const before = converted.slice(0, cutAt);
  if (before.trim() === '' || forward) {
    // The Outlook header is the first thing in the message, or the subject says forward: a forward
    // (see visibleFromText), kept whole.
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
