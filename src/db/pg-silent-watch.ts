import type pg from 'pg';

/**
 * Finds pooled PostgreSQL connections that went silent under a query, and closes them.
 *
 * A connection whose packets vanish (a NAT or firewall dropped its flow, a proxy whose backend is
 * gone, a frozen pooler) answers nothing and sends no reset. TCP keepalive only sees it when the
 * socket's peer stops answering probes and no data is unacknowledged: a proxy's kernel answers the
 * probes, and a query sent into a dropped flow is retransmitted for about 15 minutes. Meanwhile the
 * query waits, its connection stays checked out, and each such connection is lost to the pool:
 * once all of them were (poolSize), every message waited for a connection and got 451 — for as
 * long as the silence lasted (measured: all of 90 s, nothing stored).
 *
 * A query can also be slow, or wait for a lock, legitimately (a migration, a search over a year of
 * mail). Only the server knows which: a query that had no answer for `afterMs` is checked from
 * another connection in pg_stat_activity. A server session that is running it (state `active`) is
 * left alone and checked again later. A session that is idle — the query never reached it, or its
 * answer never reached us — is ended (pg_terminate_backend, waiting for it: its open transaction
 * rolls back and lets go of its locks, and a COMMIT it got is complete), and the connection is
 * closed: the query fails with ETIMEDOUT (transient: the message is retried) and the pool opens a
 * new connection. The check runs twice, a second apart, before anything is ended.
 *
 * The server session is found by the connection's application_name, which carries a token of its
 * own (`casegate #1f2e3d4c5b6a`, dialect-postgres.ts), not by its process id: behind PgBouncer the
 * process id a client sees is PgBouncer's, while PgBouncer sets each client's application_name on
 * the server connection serving it (a tracked parameter). In session pooling that is the client's
 * own server session for its whole life; in transaction pooling it is the one serving the open
 * transaction (casegate's commits), and outside a transaction the one that served the client last:
 * idle there while the client's query is in flight, it was lost between casegate and PgBouncer
 * (PgBouncer hands a waiting client an idle server connection of its pool at once).
 *
 * A session that is not found (none or several with the name — PgBouncer's
 * `application_name_add_host` changes it — or of another role), whose state this role may not see,
 * or whose process changed between the two rounds, is left alone, as is everything when the
 * checking connection cannot be opened (the server is down: the socket errors say so).
 */

export interface SilentWatchOptions {
  /** A query without an answer for this long is checked. */
  readonly afterMs: number;
  /**
   * The application_name of a watched connection, unique to it (dialect-postgres.ts: casegate's
   * name and a token): its server session is found by it, through a pooler too. Null: not watched.
   */
  readonly sessionName: (client: pg.ClientBase) => string | null;
  /** Opens the checking connection (same server, same role). */
  readonly connect: () => Promise<pg.Client>;
  /** Called when a connection was found silent, before its server session is ended and it is closed. */
  readonly onSilent?: (info: { pid: number; state: string; waitedMs: number }) => void;
}

interface InFlight {
  readonly client: pg.ClientBase;
  readonly since: number;
  checking: boolean;
  nextCheck: number;
}

export interface SilentWatch {
  /** Watches this query (sent on `client`) until it settles. */
  track<T>(client: pg.ClientBase, query: Promise<T>): Promise<T>;
  end(): Promise<void>;
}

const CONFIRM_MS = 1_000;
/** The checking connection is closed after this long unused. */
const IDLE_CHECKER_MS = 30_000;

/** pg keeps the socket of a client here (not a public interface; checked at run time). */
function streamOf(client: pg.ClientBase): { destroy(err?: Error): void } | undefined {
  const stream = (client as unknown as { connection?: { stream?: { destroy?: unknown } } }).connection?.stream;
  return typeof stream?.destroy === 'function' ? (stream as { destroy(err?: Error): void }) : undefined;
}

export function silentWatch(opts: SilentWatchOptions): SilentWatch {
  const inFlight = new Set<InFlight>();
  let timer: NodeJS.Timeout | null = null;
  let checker: { client: Promise<pg.Client>; lastUse: number } | null = null;
  let ended = false;

  /** Destroyed, not ended: the checking connection may be the one that went silent. */
  const dropChecker = (): void => {
    const c = checker;
    checker = null;
    void c?.client.then((x) => streamOf(x)?.destroy()).catch(() => undefined);
  };

  /** The server session named `name` (exactly one, of our role), or null. */
  async function session(name: string): Promise<{ pid: number; state: string } | null> {
    checker ??= { client: opts.connect().then((c) => (c.on('error', () => undefined), c)), lastUse: 0 };
    checker.lastUse = Date.now();
    try {
      const c = await checker.client;
      const r = await c.query<{ pid: number; state: string | null }>({ text: 'select pid, state from pg_stat_activity where application_name = $1 and usename = current_user', values: [name], query_timeout: opts.afterMs } as pg.QueryConfig);
      const row = r.rows.length === 1 ? r.rows[0] : undefined;
      return row !== undefined && row.state !== null ? { pid: Number(row.pid), state: row.state } : null;
    } catch {
      dropChecker();
      return null;
    }
  }

  async function check(q: InFlight): Promise<void> {
    const name = opts.sessionName(q.client);
    if (name === null) return;
    let last = '';
    let pid = 0;
    for (let round = 0; round < 2; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, CONFIRM_MS));
      if (!inFlight.has(q)) return;
      const s = await session(name);
      if (s === null || s.state === 'active' || s.state === 'fastpath function call' || !inFlight.has(q)) return;
      // Behind a pooler in transaction mode, the server session can change hands between the rounds.
      if (round > 0 && s.pid !== pid) return;
      last = s.state;
      pid = s.pid;
    }
    const waitedMs = Date.now() - q.since;
    // Said first: the pool stops handing out its other connections before this one's query fails.
    opts.onSilent?.({ pid, state: last, waitedMs });
    try {
      const c = await checker?.client;
      if (c === undefined) throw new Error('the checking connection was closed meanwhile');
      const end = (text: string): Promise<unknown> => c.query({ text, values: [pid], query_timeout: opts.afterMs + 5_000 } as pg.QueryConfig);
      // PostgreSQL 14+ waits (up to 5 s) until the session is gone; before 14 only the signal is sent.
      await end('select pg_terminate_backend($1, 5000)').catch((err: unknown) => ((err as { code?: unknown }).code === '42883' ? end('select pg_terminate_backend($1)') : Promise.reject(err)));
    } catch {
      // Not ours to end, or gone already: closing our side is what counts.
    }
    streamOf(q.client)?.destroy(Object.assign(new Error(`no answer from PostgreSQL for ${Math.round(waitedMs / 1000)} s while its server session was ${last} (a connection gone silent): closed`), { code: 'ETIMEDOUT' }));
  }

  function sweep(): void {
    const now = Date.now();
    for (const q of inFlight) {
      if (q.checking || now < q.nextCheck) continue;
      q.checking = true;
      void check(q).finally(() => {
        q.checking = false;
        q.nextCheck = Date.now() + opts.afterMs;
      });
    }
    if (checker !== null && inFlight.size === 0 && now - checker.lastUse > IDLE_CHECKER_MS) dropChecker();
    if (inFlight.size === 0 && checker === null && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  }

  return {
    async track(client, query) {
      if (ended) return query;
      const q: InFlight = { client, since: Date.now(), checking: false, nextCheck: Date.now() + opts.afterMs };
      inFlight.add(q);
      timer ??= setInterval(sweep, Math.max(100, Math.min(1_000, opts.afterMs / 2))).unref();
      try {
        return await query;
      } finally {
        inFlight.delete(q);
      }
    },
    async end() {
      ended = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
      const c = checker;
      checker = null;
      await c?.client.then((x) => Promise.race([x.end(), new Promise((r) => setTimeout(r, 1_000).unref())]).then(() => streamOf(x)?.destroy())).catch(() => undefined);
    },
  };
}
