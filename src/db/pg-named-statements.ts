import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import { Memo } from '../memo.js';
import type { SilentWatch } from './pg-silent-watch.js';

/**
 * Named (server-side prepared) statements for PostgreSQL.
 *
 * pg sends a statement without a name as Parse + Bind + Execute every time: the server parses,
 * analyses, rewrites and plans the same SQL text again for every call. With a name, the first call
 * on a connection parses it and later calls only bind their values; after five calls the server
 * also keeps a generic plan when it costs no more than planning each call (plan_cache_mode auto,
 * PostgreSQL's default). casegate's hot statements are few and their text never changes
 * (db/prepared.ts compiles each once), so a connection soon holds them all. Measured (docs/
 * performance.md): a fifth to a third less server CPU a message.
 *
 *  - Only data statements (select, insert, update, delete, with) get a name; DDL and transaction
 *    control run as before.
 *  - The name is a hash of the SQL text, so the same text has the same name on every connection.
 *  - A connection names at most `perConnection` distinct statements (statements whose text varies,
 *    such as IN lists of every length, must not grow a backend's memory without end); later ones
 *    run unnamed.
 *  - A generic plan must find the rows through an index like a plan for the call's own values:
 *    test/unit/query-plans.pg.test.ts checks both plans of every hot statement over a seeded
 *    history. (A generic plan cannot use a partial index whose predicate a parameter decides; the
 *    server then keeps planning each call, as the plan's estimated cost is higher.)
 *  - "cached plan must not change result type" (0A000): another process's migration changed a
 *    table a named `select *` reads (a rolling upgrade of several daemons). Every named statement of
 *    that connection is stale: the connection is closed when it goes back to the pool, and the
 *    statement is run again unnamed when no transaction is open; inside a transaction the error
 *    stands (the transaction is aborted anyway) and is transient (isTransientDbError): the message
 *    is retried on a fresh connection.
 *  - A statement whose text holds UNNAMED (a comment) runs unnamed: its text changes with every
 *    call (values written into it), or a generic plan would be wrong for it. The search's GIN
 *    probe (`words @@ $1 limit $2`) went generic after five calls in one process and then read
 *    message_search from the start for a rare word: 140 ms a search instead of 12–16 ms; and each
 *    search's own statement text took a slot and memory of its own (11 MB a connection at 200).
 *  - `enabled: false` (database.preparedStatements) for a pooler that does not keep a server
 *    connection per client connection (PgBouncer's transaction pooling before 1.21).
 */

export interface NamedStatementOptions {
  readonly enabled: boolean;
  /** The most distinct named statements per connection. */
  readonly perConnection: number;
  /** Watches every query for a connection gone silent (db/pg-silent-watch.ts). */
  readonly watch?: SilentWatch;
  /**
   * performance.now() when the watch last found a connection silent: the pool's connections opened
   * before then are not handed out again (a dropped NAT flow or a frozen proxy takes every
   * connection through it, and each took the next query another 6–7 s to find); new ones are opened.
   */
  readonly silentAt?: () => number;
  /** The most connections the pool holds (how many can be passed over in one checkout). */
  readonly poolSize?: number;
}

export const DEFAULT_NAMED_PER_CONNECTION = 200;

/** Errors the pool or a query of it threw (db/dialect.ts isLostConnection: a broken connection is told from a spamd or DNS socket error). */
const fromPool = new WeakSet<object>();

/** Whether `err` came from the PostgreSQL pool (opening a connection, or a statement on one). */
export function isPoolError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && fromPool.has(err);
}

function marked(err: unknown): unknown {
  if (typeof err === 'object' && err !== null) fromPool.add(err);
  return err;
}

/** Whether `err` is PostgreSQL's refusal to run a prepared statement whose result columns changed. */
export function isStalePreparedStatement(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change result type');
}

/** Marks a statement to run unnamed (see above). */
export const UNNAMED = '/* unnamed */';

const DATA_STATEMENT = /^\s*(select|insert|update|delete|with)\b/i;
const BEGIN = /^\s*(begin|start\s+transaction)\b/i;
const END = /^\s*(commit|rollback|end|abort)\b(?!\s+to\b)/i;

/** Statement names by SQL text (the same in every connection): hashing once per text. */
const names = new Memo<string, string | null>(4_000);
function nameOf(text: string): string | null {
  return names.get(text, () => (DATA_STATEMENT.test(text) && !text.includes(UNNAMED) ? `cg_${createHash('sha1').update(text).digest('hex').slice(0, 28)}` : null));
}

interface ClientState {
  readonly named: Set<string>;
  inTransaction: boolean;
  /** Its named statements no longer match the tables: closed when released. */
  stale: boolean;
  readonly wrapped: PostgresPoolClient;
}

type Query = (sql: string, parameters: readonly unknown[]) => Promise<pg.QueryResult>;

/** The pg pool as Kysely's PostgreSQL driver sees it, its clients naming their data statements; `prepare` maps each call's parameters. */
export function namedStatementPool(pool: pg.Pool, opts: NamedStatementOptions, prepare: (parameters: readonly unknown[]) => readonly unknown[]): PostgresPool {
  const states = new WeakMap<pg.PoolClient, ClientState>();
  const stateOf = (client: pg.PoolClient): ClientState => {
    const known = states.get(client);
    if (known !== undefined) return known;
    const s: ClientState = {
      named: new Set(),
      inTransaction: false,
      stale: false,
      wrapped: {
        query: ((sql: string, parameters: readonly unknown[]) => run(client, s, sql, parameters)) satisfies Query as unknown as PostgresPoolClient['query'],
        release: () => {
          // A stale connection's statements would fail again: pg-pool closes a client released with an error.
          if (s.stale) client.release(new Error('prepared statements stale after a schema change'));
          else client.release();
        },
      },
    };
    states.set(client, s);
    return s;
  };

  const run = (client: pg.PoolClient, s: ClientState, sql: string, parameters: readonly unknown[]): Promise<pg.QueryResult> =>
    (opts.watch !== undefined ? opts.watch.track(client, runNamed(client, s, sql, parameters)) : runNamed(client, s, sql, parameters)).catch((err: unknown) => Promise.reject(marked(err)));

  async function runNamed(client: pg.PoolClient, s: ClientState, sql: string, parameters: readonly unknown[]): Promise<pg.QueryResult> {
    const values = prepare(parameters) as unknown[];
    if (BEGIN.test(sql)) s.inTransaction = true;
    else if (END.test(sql)) s.inTransaction = false;
    const name = opts.enabled && !s.stale ? nameOf(sql) : null;
    if (name === null || (!s.named.has(name) && s.named.size >= opts.perConnection)) return client.query(sql, values);
    s.named.add(name);
    try {
      return await client.query({ name, text: sql, values });
    } catch (err) {
      if (!isStalePreparedStatement(err)) throw err;
      s.stale = true;
      if (s.inTransaction) throw err;
      return client.query(sql, values);
    }
  }

  const opened = new WeakMap<pg.PoolClient, number>();
  pool.on('connect', (client) => void opened.set(client as pg.PoolClient, performance.now()));
  return {
    async connect() {
      for (let passed = 0; ; passed++) {
        const client = await pool.connect().catch((err: unknown) => Promise.reject(marked(err)));
        if (opts.silentAt !== undefined && passed <= (opts.poolSize ?? 10) && (opened.get(client) ?? 0) < opts.silentAt()) {
          // pg-pool closes a client released with an error.
          client.release(new Error('opened before a connection of the pool went silent: replaced'));
          continue;
        }
        return stateOf(client).wrapped;
      }
    },
    end: async () => {
      await opts.watch?.end();
      await pool.end();
    },
  };
}
