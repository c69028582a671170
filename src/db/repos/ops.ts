import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { isPostgres, isTransientDbError } from '../dialect.js';

type Q = Kysely<Database>;

/**
 * Read-only queries for /metrics, /healthz and `casegate status`. Each is an index range scan
 * that does not grow with the history (sent emails, closed cases): a scrape every 15 s stays cheap
 * at millions of rows (test/unit/query-plans.test.ts checks the plans).
 */

/** Statuses that count as open (not yet closed). */
export const OPEN_STATUSES = ['new', 'open', 'pending', 'on_hold', 'resolved'] as const;

export interface OpenCaseCount {
  readonly status: string;
  readonly priority: string;
  readonly n: number;
}

/**
 * The condition of the partial index cases_open (migration 0032: the backlog alone), in its own
 * words and with literals, so that both backends see that the index holds every row a query asks
 * for (SQLite proves it only from the same terms; PostgreSQL's generic plan only from constants).
 * Open cases only: suspected spam (held until `casegate cases ham`) and feedback are no work to do.
 */
export const OPEN_CASE = sql<boolean>`"kind" = 'case' and "spam" = 0 and "status" <> 'closed'`;

/**
 * Open cases by status and priority: a read of the index cases_open alone, whose size is the
 * backlog's (until 2026-12-07 each open case's row was read after the status index: 0.5–1.1 s at
 * 1 M messages). As in the report's backlog and the default case list.
 */
export async function openCaseCounts(db: Q): Promise<OpenCaseCount[]> {
  const rows = await db
    .selectFrom('cases')
    .select(['status', 'priority', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', 'in', [...OPEN_STATUSES])
    .where(OPEN_CASE)
    .groupBy(['status', 'priority'])
    .execute();
  return rows.map((r) => ({ status: r.status, priority: r.priority, n: Number(r.n) }));
}

export interface OutboxDepth {
  readonly queued: number;
  readonly failed: number;
  /** queued_at (else created_at) of the queued email waiting longest. */
  readonly oldestQueuedAt: string | null;
  /** Earliest next_attempt_at of a queued email not held (due emails not being sent mean a stuck outbox). */
  readonly nextDueAt: string | null;
  /** Queued emails of senders the relay refuses (held on purpose, not stuck: sender-holds.ts). */
  readonly held: number;
}

/**
 * Queued and failed emails (index outbox_due), the oldest queued one (outbox_queued). `held`: the
 * From addresses (lower-case) whose emails are held — counted apart, and not due for the stuck check.
 */
export async function outboxDepth(db: Q, held: readonly string[] = []): Promise<OutboxDepth> {
  const counts = await db
    .selectFrom('outbox')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.min('next_attempt_at').as('next_due')])
    .where('status', 'in', ['queued', 'failed'])
    .groupBy('status')
    .execute();
  const oldest = await db
    .selectFrom('outbox')
    .select('queued_at')
    .where('status', '=', 'queued')
    .where('queued_at', 'is not', null)
    .orderBy('queued_at')
    .limit(1)
    .executeTakeFirst();
  const queued = counts.find((c) => c.status === 'queued');
  let nextDueAt = queued?.next_due ?? null;
  let heldCount = 0;
  if (held.length > 0 && queued !== undefined) {
    const rest = await db
      .selectFrom('outbox')
      .select([(eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.min('next_attempt_at').as('next_due')])
      .where('status', '=', 'queued')
      .where((w) => w.fn('lower', ['from_address']), 'not in', [...held])
      .executeTakeFirst();
    nextDueAt = rest?.next_due ?? null;
    heldCount = Number(queued.n) - Number(rest?.n ?? 0);
  }
  return {
    queued: Number(queued?.n ?? 0),
    failed: Number(counts.find((c) => c.status === 'failed')?.n ?? 0),
    oldestQueuedAt: oldest?.queued_at ?? null,
    nextDueAt,
    held: heldCount,
  };
}

export interface SlaBreaches {
  /** Open cases whose first-response target passed without a first response. */
  readonly firstResponse: number;
  /** Open cases whose resolution target passed without a resolution. */
  readonly resolution: number;
}

/** Open cases in breach right now (partial indexes case_sla_fr_breached_open / case_sla_res_breached_open, 0011). */
export async function openSlaBreaches(db: Q): Promise<SlaBreaches> {
  const base = () =>
    db
      .selectFrom('case_sla as s')
      .innerJoin('cases as c', 'c.id', 's.case_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('c.status', 'in', [...OPEN_STATUSES]);
  const fr = await base().where('s.fr_breached_at', 'is not', null).where('c.first_response_at', 'is', null).executeTakeFirst();
  // From the clocks that breached and still run (partial index case_sla_res_breached_open), each
  // case's status by key. As an inner join, SQLite without statistics started from the cases —
  // every open and resolved one by its status (25,000 at 1 M messages, 183 ms a /metrics scrape);
  // SQLite takes the left table of a CROSS JOIN first, PostgreSQL plans it as the inner join.
  const res = await db
    .selectFrom('case_sla as s')
    .crossJoin('cases as c')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .whereRef('c.id', '=', 's.case_id')
    .where('c.status', 'in', [...OPEN_STATUSES])
    .where('s.res_breached_at', 'is not', null)
    .where('s.res_done_at', 'is', null)
    .executeTakeFirst();
  return { firstResponse: Number(fr?.n ?? 0), resolution: Number(res?.n ?? 0) };
}

/** The SLA targets a breach is counted for (the label `target` of /metrics). */
export type SlaBreachTarget = 'first_response' | 'resolution';
const SLA_BREACH_COUNTERS = { first_response: 'sla-breaches:first_response', resolution: 'sla-breaches:resolution' } as const;

/**
 * One more SLA breach of `target`, in the transaction that records it (jobs/sla-check.ts): a row of
 * `counters` (migration 0037 seeded it from the breach events then held). An upsert that adds 1 to
 * the stored value: on PostgreSQL a second daemon's increment waits for this row's lock and then
 * adds to the committed value, so none is lost; SQLite has one writer.
 */
export async function countSlaBreach(db: Q, target: SlaBreachTarget): Promise<void> {
  await db
    .insertInto('counters')
    .values({ name: SLA_BREACH_COUNTERS[target], value: 1 })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: (eb) => eb('counters.value', '+', 1) }))
    .execute();
}

/**
 * SLA breaches recorded since the counters began (migration 0037, seeded with the breach events the
 * database held), by target: two rows of `counters` by key, whatever the history. Every scrape.
 * Until 2026-12-07 this counted every `sla.breach` event on each scrape (a cost that grew with history).
 */
export async function slaBreachTotals(db: Q): Promise<Record<SlaBreachTarget, number>> {
  const rows = await db.selectFrom('counters').select(['name', 'value']).where('name', 'in', Object.values(SLA_BREACH_COUNTERS)).execute();
  const value = (t: SlaBreachTarget): number => Number(rows.find((r) => r.name === SLA_BREACH_COUNTERS[t])?.value ?? 0);
  return { first_response: value('first_response'), resolution: value('resolution') };
}

/**
 * When the newest stored message arrived, whatever its channel (the daemon's listener and IMAP,
 * and `casegate ingest` processes the daemon never hears of); null before the first. One step
 * down the index receipts_outcome (outcome, received_at).
 */
export async function lastStoredAt(db: Q): Promise<string | null> {
  const row = await db.selectFrom('receipts').select('received_at').where('outcome', '=', 'stored').orderBy('received_at', 'desc').limit(1).executeTakeFirst();
  return row?.received_at ?? null;
}

/** Quarantined messages nobody has retried yet (index receipts_outcome). */
export async function quarantineWaiting(db: Q): Promise<number> {
  // The partial index receipts_quarantine_waiting (0033) holds these rows alone: its condition, as literals.
  const row = await db.selectFrom('receipts').select((eb) => eb.fn.countAll<number>().as('n')).where('outcome', '=', sql.lit('quarantined')).where('retried_as', 'is', null).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Whether the database answers, and takes writes: null when it does, else why not. PostgreSQL
 * answers a read on a standby (after a failover) or with default_transaction_read_only set, while
 * every message fails to commit there (25006); SQLite answers reads under another process's write
 * lock.
 */
export async function databaseAnswers(db: Q, busyTimeoutMs = 5_000): Promise<string | null> {
  if (!isPostgres(db)) {
    // SQLite (WAL): reads go on while another process holds the write lock, and every message
    // needs it. A transaction starts with BEGIN IMMEDIATE (sqlite-dialect.ts): it gets the lock,
    // or waits for it as a message would (database.busyTimeoutMs) and fails as it would.
    try {
      await db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx);
      });
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) {
        return `the database is locked by another process (no write within ${busyTimeoutMs / 1000} s, database.busyTimeoutMs): new messages are kept for a retry until it lets go`;
      }
      throw err;
    }
    return null;
  }
  const r = await sql<{ ro: string; standby: boolean }>`select current_setting('transaction_read_only') as ro, pg_is_in_recovery() as standby`.execute(db);
  const row = r.rows[0];
  if (row?.standby === true) return 'the database is a read-only standby (in recovery): no message can be stored';
  if (row?.ro === 'on') return 'the database is read-only (default_transaction_read_only): no message can be stored';
  return null;
}

/**
 * After a PostgreSQL connection broke (a restart, a failover): waits until the database answers on
 * a connection and takes writes again, polling every 250 ms for at most `waitMs`. True when it does.
 */
export async function awaitWritable(db: Q, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      if ((await databaseAnswers(db)) === null) return true;
    } catch (err) {
      if (!isTransientDbError(err)) return false;
    }
    if (Date.now() + 250 > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Open cases (feedback and suspected spam aside) per queue: the stranded-queue check at start and reload. */
export async function openCasesByQueue(db: Q): Promise<{ readonly queue: string; readonly n: number }[]> {
  const rows = await db
    .selectFrom('cases')
    .select(['queue', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', 'in', [...OPEN_STATUSES])
    .where(OPEN_CASE)
    .groupBy('queue')
    .execute();
  return rows.map((r) => ({ queue: r.queue, n: Number(r.n) }));
}
