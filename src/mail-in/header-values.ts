/**
 * Header values as casegate keeps them, whoever wrote them: one line without controls or direction
 * overrides, message ids that fit an index, plain lower-case addresses. Used by the parser
 * (parse-mail.ts) and by everything that writes a header from a stranger's words.
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]+/g;

/**
 * The bidirectional embeddings, overrides and isolates (not the marks U+200E/U+200F, which right-
 * to-left names use): an override in a display name turns the "<address>" after it around where
 * agents read it ("Bank Support \u202Emoc.knab@eciffo <eve@x>"), and in a subject the rest of a
 * notification's subject line.
 */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/** Each run of CR/LF and other control characters as one space (a header value's folding, a stray NUL). */
export function controlsToSpace(value: string): string {
  return value.replace(CONTROL, ' ');
}

/** Collapse CR/LF, tabs and control characters, drop direction overrides: safe to reuse in any header we write. */
export function oneLine(value: string): string {
  return value.replace(BIDI_CONTROLS, '').replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * A message id in angle brackets. Its characters: no space, no angle bracket and no control
 * character (RFC 5322 allows none of them; an id with a NUL, say, is garbage). At most
 * MAX_ID_BYTES bytes of UTF-8: ids are keys of unique indexes, and PostgreSQL refuses an index
 * entry above 2,704 bytes — 900 characters of CJK are 2,700 (then the message could not even be
 * quarantined, and was retried for ever).
 */
const MAX_ID_BYTES = 900;
const ID_CHAR = '[^<>\\s\\u0000-\\u001f\\u007f]';
const BRACKETED_ID = new RegExp(`<(${ID_CHAR}{1,900})>`);
const BRACKETED_IDS = new RegExp(BRACKETED_ID.source, 'g');
const WHOLE_ID = new RegExp(`^${ID_CHAR}+$`);
const BARE_ID = new RegExp(`^${ID_CHAR}+@${ID_CHAR}+$`);

/** An id (without brackets) that may be kept: only id characters, at most MAX_ID_BYTES bytes of UTF-8. */
function usableId(id: string): boolean {
  return WHOLE_ID.test(id) && Buffer.byteLength(id) <= MAX_ID_BYTES;
}

/** "<a@b>" → "a@b"; garbage → null. */
export function normalizeMessageId(value: string | undefined | null): string | null {
  if (value === undefined || value === null) return null;
  const m = BRACKETED_ID.exec(value);
  const id = m?.[1] ?? value.trim().split(/\s+/)[0] ?? '';
  return usableId(id) ? id : null;
}

export function messageIdList(value: string | readonly string[] | undefined | null): string[] {
  if (value === undefined || value === null) return [];
  const text = typeof value === 'string' ? value : value.join(' ');
  const ids: string[] = [];
  for (const m of text.matchAll(BRACKETED_IDS)) {
    if (m[1] !== undefined && usableId(m[1]) && !ids.includes(m[1])) ids.push(m[1]);
  }
  if (ids.length === 0) {
    for (const token of text.split(/[\s,]+/)) {
      if (BARE_ID.test(token) && usableId(token) && !ids.includes(token)) ids.push(token);
    }
  }
  // Like RFC 5322 trimming: keep the thread root and the newest ones.
  return ids.length > 100 ? [ids[0]!, ...ids.slice(-99)] : ids;
}

/**
 * A usable mail address, lower-cased: local@domain, no spaces or control characters, at most 320
 * characters (RFC 5321's 64 + 1 + 255); anything else → null. The one rule for header and
 * envelope addresses alike.
 */
export function plainAddress(value: string): string | null {
  const address = oneLine(value).toLowerCase();
  // No C1 controls or bidirectional overrides either: no mail system issues such an address, and
  // it would be printed in logs, the CLI and outgoing headers.
  return /^[^\s@\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+@[^\s@\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+$/.test(address) && address.length <= 320 ? address : null;
}
