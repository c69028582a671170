/**
 * U+0000 is never stored. PostgreSQL text cannot hold it: a write with one NUL fails as a whole
 * (22021 "invalid byte sequence"), so a customer's message with a stray NUL byte — in its text, an
 * attachment's Content-Type, a bounce's diagnostic — would be quarantined on PostgreSQL and stored
 * on SQLite. No mail client shows the character, so both backends store every string parameter
 * without it: one rule, at the one place every value passes, whatever brought it in (mail, the
 * command line, the web form). Lookups lose it the same way, so they find what was stored.
 * JSON columns are unaffected (JSON.stringify writes the character as the six characters \u0000).
 */
export function nulFree<T extends readonly unknown[]>(params: T): T {
  for (const p of params) {
    if (typeof p === 'string' && p.includes('\u0000')) return params.map((v) => (typeof v === 'string' ? v.replaceAll('\u0000', '') : v)) as unknown as T;
  }
  return params;
}
