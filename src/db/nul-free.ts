import type { PostgresPool, PostgresPoolClient } from 'kysely';

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

/**
 * The pg pool as Kysely's PostgreSQL driver sees it, every query's parameters passed through
 * nulFree. (The driver's other form of query, with a cursor, serves streaming, which needs a
 * cursor class in the dialect's configuration; casegate configures none.)
 */
export function nulFreePool(pool: PostgresPool): PostgresPool {
  const clients = new WeakMap<PostgresPoolClient, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let wrapped = clients.get(client);
      if (wrapped === undefined) {
        const query = (sql: string, parameters: readonly unknown[]) => client.query(sql, nulFree(parameters));
        wrapped = { query: query as PostgresPoolClient['query'], release: () => client.release() };
        clients.set(client, wrapped);
      }
      return wrapped;
    },
    end: () => pool.end(),
  };
}
