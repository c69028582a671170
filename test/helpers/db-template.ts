import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { migrateToLatest, openDatabase } from '../../src/db/database.js';
import { pgBinDir } from './pg-cluster.js';

/**
 * A database migrated once per test run, copied for every test environment (test/helpers/context.ts
 * writeConfig). Migrating a new database is ~200 DDL statements: on PostgreSQL as many round trips
 * (0.1 s on an idle machine, seconds when the suite loads both cores) and ~60 ms of the worker's
 * CPU in Kysely's migrator; on SQLite ~25 ms of CPU. A copy is one statement (PostgreSQL: the
 * migrated schema as pg_dump writes it, under the new schema's name) or one file copy (SQLite).
 * Only databases the helpers create for a test get one: a test that names its database (a path, a
 * schema) or tests migrating gets a database casegate migrates itself. The migrations themselves
 * run here, at the start of every run, and in the tests of migrating.
 */

const PG_TEMPLATE_SCHEMA = 'casegate_test_template';
/**
 * A schema made from the template's SQL like every test's, never handed out: what a new schema
 * looks like (its shape and rows), for recycleSchema to compare and copy from. (The template
 * itself was migrated, not restored: its planner counts differ from a restored schema's.)
 */
const PG_FRESH_SCHEMA = 'casegate_test_fresh';

/** Global setup: make the run's template; returns the environment variable the workers read. */
export async function makeDbTemplate(dir: string, pgUrl: string | undefined): Promise<Record<string, string>> {
  if (pgUrl === undefined) {
    const file = join(dir, 'casegate-template.db');
    const db = openDatabase({ path: file });
    await migrateToLatest(db);
    await db.destroy();
    return { CASEGATE_TEST_SQLITE_TEMPLATE: file };
  }
  const db = openDatabase({ kind: 'postgres', url: pgUrl, schema: PG_TEMPLATE_SCHEMA, poolSize: 1, lockTimeoutMs: 10_000 });
  await migrateToLatest(db);
  // A cluster the run was given (CASEGATE_TEST_PG_URL) may have one from an earlier run.
  await sql`drop schema if exists ${sql.id(PG_FRESH_SCHEMA)} cascade`.execute(db);
  await db.destroy();
  const bin = pgBinDir();
  if (bin === null) throw new Error('pg_dump not found');
  const dump = spawnSync(join(bin, 'pg_dump'), ['--dbname', pgUrl, '--schema', PG_TEMPLATE_SCHEMA, '--inserts', '--no-owner', '--no-privileges', '--no-comments'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (dump.status !== 0) throw new Error(`pg_dump failed: ${dump.stderr}`);
  // Everything of the dump names the schema (pg_dump qualifies every object): a plain replace renames it.
  const templateSql = dump.stdout.split('\n').filter((l) => !/^(--|SET |SELECT pg_catalog\.set_config)/.test(l)).join('\n');
  const file = join(dir, 'casegate-template.sql');
  writeFileSync(file, templateSql);
  makeSchemas(pgUrl, templateSql, [PG_FRESH_SCHEMA]);
  return { CASEGATE_TEST_PG_TEMPLATE: file };
}

let pgTemplateSql: string | undefined;
let psql: string | undefined;

/**
 * Schemas made from the template before a test asks for one, per server URL (this worker's own).
 * One psql run makes SCHEMAS_PER_RUN of them in one transaction: each run costs a psql process and
 * a server backend of its own, and the backend's first schema pays for warming its catalog caches.
 * Measured (private cluster, 40 schemas, 2-core machine): 61 ms of CPU a schema made alone (psql
 * 12, server 49), 36 ms made ten at a time (psql 5, server 31). The PostgreSQL pass makes hundreds
 * (about one per test). A worker leaves at most SCHEMAS_PER_RUN - 1 unused at its end.
 */
const SCHEMAS_PER_RUN = 8;
/** Below Linux's limit on one argument (MAX_ARG_STRLEN, 128 kB), with room for longer schema names. */
const MAX_ARG_BYTES = 120_000;
const madeAhead = new Map<string, string[]>();

/** Make these schemas from the template's SQL (pg_dump's, naming PG_TEMPLATE_SCHEMA) in one psql run and transaction. */
function makeSchemas(url: string, templateSql: string, names: readonly string[]): void {
  if (psql === undefined) {
    const bin = pgBinDir();
    if (bin === null) throw new Error('psql not found (the PostgreSQL client: apt-get install postgresql)');
    psql = join(bin, 'psql');
  }
  const base = ['--no-psqlrc', '--quiet', '--single-transaction', '--set', 'ON_ERROR_STOP=1', '--dbname', url];
  // Each schema's SQL as one request (-c): the server runs its ~180 statements in one go. Read
  // from stdin, psql sends every statement alone and waits for its answer. Measured (private
  // cluster with ~400 schemas, 8 schemas a run, alternated, loaded 2-core machine): the server
  // 1.15 s and psql 0.24 s of CPU a run from stdin, 0.69 s and 0.09 s as requests. pg_dump's
  // psql meta-commands (\restrict, \unrestrict) have no place in a request: they guard the
  // restore of a dump someone else wrote, and this one is the run's own. Past the kernel's limit
  // of one argument (128 kB), stdin as before.
  const oneRequest = templateSql.split('\n').filter((l) => !/^\\(un)?restrict\b/.test(l)).join('\n');
  const r =
    Buffer.byteLength(oneRequest) < MAX_ARG_BYTES
      ? spawnSync(psql, [...base, ...names.flatMap((schema) => ['-c', oneRequest.replaceAll(PG_TEMPLATE_SCHEMA, schema)])], { encoding: 'utf8' })
      : spawnSync(psql, base, { input: names.map((schema) => templateSql.replaceAll(PG_TEMPLATE_SCHEMA, schema)).join('\n'), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`creating schemas ${names.join(', ')} from the template failed: ${r.stderr}`);
}

/**
 * A new schema with the migrated tables, named by `name()`; null without a template (then the
 * caller picks a name and casegate migrates it). Each schema is handed out once.
 */
export function schemaFromTemplate(url: string, name: () => string): string | null {
  const file = process.env['CASEGATE_TEST_PG_TEMPLATE'];
  if (file === undefined || file === '') return null;
  let ready = madeAhead.get(url);
  if (ready === undefined) {
    ready = [];
    madeAhead.set(url, ready);
  }
  if (ready.length === 0) {
    pgTemplateSql ??= readFileSync(file, 'utf8');
    const names = Array.from({ length: SCHEMAS_PER_RUN }, name);
    makeSchemas(url, pgTemplateSql, names);
    ready.push(...names);
  }
  const schema = ready.shift()!;
  handedOut.add(schema);
  return schema;
}

/** Schemas schemaFromTemplate handed out (the only ones recycleSchema takes back). */
const handedOut = new Set<string>();

/** What a schema's reset needs to know about a new schema (PG_FRESH_SCHEMA): its tables, sequences, the tables with rows, its shape. */
interface TemplateFacts {
  readonly tables: readonly string[];
  readonly sequences: readonly string[];
  readonly seeded: readonly string[];
  readonly shape: string;
}

/** This worker's connection for resets, per server URL (one for the worker's life), and what a new schema is. */
const admins = new Map<string, Promise<{ client: pg.Client; facts: TemplateFacts }>>();

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * A schema's shape, cheaply: how many catalog rows describe it (its relations, their columns,
 * defaults, constraints, indexes, triggers and planner statistics; its functions and types), the
 * planner's page and row counts, and whether all those rows are still the ones the transaction
 * that made it wrote (one xmin: any later DDL, ANALYZE included, writes rows of its own; VACUUM and
 * ANALYZE change the counts in place). A schema made from the template's SQL — or reset by
 * recycleSchema, which changes no catalog row — has the shape of PG_FRESH_SCHEMA. Comparing the
 * catalog rows' contents instead (pg_get_indexdef, pg_get_constraintdef …) cost 29 ms a schema.
 */
async function shapeOf(client: pg.Client, schema: string): Promise<{ shape: string; tables: string[]; sequences: string[] }> {
  const r = await client.query<{ kind: string; n: number; xmins: string[]; names: string[] | null }>(
    `with ns as (select oid from pg_namespace where nspname = $1),
          -- What lives in the schema (tables, sequences, types, functions) depends on it in
          -- pg_depend; each relation's parts are found through the catalogs' indexes (LATERAL
          -- with OFFSET 0, or the planner, without statistics on the catalogs, reads whole ones).
          objs as (select classid, objid from pg_depend where refclassid = 'pg_namespace'::regclass and refobjid = (select oid from ns)),
          owned as (select c.oid, c.xmin, c.relname, c.relkind, c.relpages, c.reltuples, c.relallvisible from objs join pg_class c on c.oid = objs.objid where objs.classid = 'pg_class'::regclass),
          indexes as (select x.* from owned, lateral (select i.indexrelid, i.xmin from pg_index i where i.indrelid = owned.oid offset 0) x),
          rels as (select * from owned
                   union all select c.oid, c.xmin, c.relname, c.relkind, c.relpages, c.reltuples, c.relallvisible from indexes join pg_class c on c.oid = indexes.indexrelid),
          rows as (
            select 'class' as kind, xmin from rels
            union all select 'index', xmin from indexes
            union all select 'attribute', x.xmin from rels, lateral (select a.xmin from pg_attribute a where a.attrelid = rels.oid offset 0) x
            union all select 'attrdef', x.xmin from rels, lateral (select d.xmin from pg_attrdef d where d.adrelid = rels.oid offset 0) x
            union all select 'constraint', x.xmin from rels, lateral (select k.xmin from pg_constraint k where k.conrelid = rels.oid offset 0) x
            union all select 'trigger', x.xmin from rels, lateral (select t.xmin from pg_trigger t where t.tgrelid = rels.oid offset 0) x
            union all select 'statistic', x.xmin from rels, lateral (select s.xmin from pg_statistic s where s.starelid = rels.oid offset 0) x
            union all select 'in schema ' || classid::regclass, null from objs)
     select kind, count(*)::int as n, array_remove(array_agg(distinct xmin::text), null) as xmins, null::text[] as names from rows group by kind
     union all
     select 'planner ' || sum(relpages) || ' ' || sum(reltuples) || ' ' || sum(relallvisible), 0, '{}', null from rels
     union all
     select 'r', 0, '{}', array_agg(relname::text order by relname) from rels where relkind in ('r', 'p')
     union all
     select 'S', 0, '{}', array_agg(relname::text order by relname) from rels where relkind = 'S'`,
    [schema],
  );
  const xmins = new Set(r.rows.flatMap((row) => row.xmins));
  const shape = [...r.rows.filter((row) => row.names === null).map((row) => `${row.kind} ${row.n}`).sort(), `transactions ${xmins.size}`].join('\n');
  const names = (kind: string): string[] => r.rows.find((row) => row.kind === kind)?.names ?? [];
  return { shape, tables: names('r'), sequences: names('S') };
}

/**
 * The tables in an order to delete their rows in: every table before the tables its foreign keys
 * reference (reversed, an order to insert them in). A table that references itself is emptied by
 * one DELETE; the template has no cycle of two or more tables (one would throw here).
 */
function deletionOrder(tables: readonly string[], references: readonly { child: string; parent: string }[]): string[] {
  const order: string[] = [];
  const placing = new Set<string>();
  const visit = (table: string): void => {
    if (order.includes(table)) return;
    if (placing.has(table)) throw new Error(`the template's foreign keys form a cycle through ${table}`);
    placing.add(table);
    // Whatever references this table goes first.
    for (const r of references) if (r.parent === table && r.child !== table && tables.includes(r.child)) visit(r.child);
    placing.delete(table);
    order.push(table);
  };
  for (const table of tables) visit(table);
  return order;
}

function adminFor(url: string): Promise<{ client: pg.Client; facts: TemplateFacts }> {
  let admin = admins.get(url);
  if (admin === undefined) {
    admin = (async () => {
      const client = new pg.Client({ connectionString: url, application_name: 'casegate-test schema reset' });
      // The server went away (a test's restart, the end of the run): the next reset connects again.
      client.on('error', () => admins.delete(url));
      await client.connect();
      // The worker ends when its files are done, with this connection open: the server ends its session.
      (client as unknown as { connection: { stream: { unref(): void } } }).connection.stream.unref();
      const { shape, tables, sequences } = await shapeOf(client, PG_FRESH_SCHEMA);
      const counts = tables.length === 0 ? [] : (await client.query<{ name: string; n: number }>(tables.map((t) => `select ${pg.escapeLiteral(t)} as name, count(*)::int as n from ${ident(PG_FRESH_SCHEMA)}.${ident(t)}`).join(' union all '))).rows;
      const references = (
        await client.query<{ child: string; parent: string }>(
          `select c.relname as child, p.relname as parent from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_class p on p.oid = k.confrelid
           where k.contype = 'f' and k.connamespace = (select oid from pg_namespace where nspname = $1)`,
          [PG_FRESH_SCHEMA],
        )
      ).rows;
      const seeded = counts.filter((c) => c.n > 0).map((c) => c.name);
      return { client, facts: { tables: deletionOrder(tables, references), sequences, seeded: deletionOrder(seeded, references).reverse(), shape } };
    })();
    admins.set(url, admin);
    admin.catch(() => admins.delete(url));
  }
  return admin;
}

/**
 * A test environment is done with its schema (test/helpers/context.ts close): when it was made from
 * the template and still has the template's shape (no test changed its tables, indexes or
 * statistics), it is reset to the template's rows and sequence values and renamed (a name from
 * `name()`), and the next test environment of this worker gets it instead of a new one. Renamed,
 * because anything still connected to the old name (a process the test started and has not
 * stopped yet) must find no tables there rather than write into the next test's. The rows go by
 * DELETE, not TRUNCATE: a TRUNCATE gives every table and index a new file and catalog row, and the
 * planner's counts (relpages, reltuples) those of an empty table, unlike a new schema's. Returns
 * whether the schema was taken back; one it leaves stays in the database, as every schema did before.
 */
export async function recycleSchema(url: string, schema: string, name: () => string): Promise<boolean> {
  if (!handedOut.delete(schema)) return false;
  // One reset at a time on the worker's connection (environments closed together: Promise.all).
  const done = resetting.then(() => reset(url, schema, name));
  resetting = done.catch(() => undefined);
  return done;
}

let resetting: Promise<unknown> = Promise.resolve();

async function reset(url: string, schema: string, name: () => string): Promise<boolean> {
  let admin: { client: pg.Client; facts: TemplateFacts };
  try {
    admin = await adminFor(url);
  } catch (err) {
    console.warn(`[casegate tests] schema ${schema} not reused: ${(err as Error).message}`);
    return false;
  }
  const { client, facts } = admin;
  const next = name();
  try {
    await client.query(`begin; set local lock_timeout = '2s'; alter schema ${ident(schema)} rename to ${ident(next)}`);
    const now = await shapeOf(client, next);
    if (now.shape !== facts.shape) {
      await client.query('rollback');
      return false;
    }
    const s = ident(next);
    const t = ident(PG_FRESH_SCHEMA);
    await client.query(
      [
        ...facts.tables.map((table) => `delete from ${s}.${ident(table)}`),
        ...facts.seeded.map((table) => `insert into ${s}.${ident(table)} overriding system value select * from ${t}.${ident(table)}`),
        ...facts.sequences.map((seq) => `select setval(${pg.escapeLiteral(`${s}.${ident(seq)}`)}, last_value, is_called) from ${t}.${ident(seq)}`),
        'commit',
      ].join(';\n'),
    );
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    // The schema stays, as every schema did before: a reset that fails fails no test. Something
    // the test started may still hold a lock in it (a transaction not yet ended: 55P03); anything
    // else is said.
    if ((err as { code?: unknown }).code !== '55P03') console.warn(`[casegate tests] schema ${schema} not reused: ${(err as Error).message}`);
    return false;
  }
  let ready = madeAhead.get(url);
  if (ready === undefined) {
    ready = [];
    madeAhead.set(url, ready);
  }
  ready.unshift(next);
  return true;
}

/** A SQLite file with the migrated tables at `dbPath` unless one is there; false without a template. */
export function copySqliteTemplate(dbPath: string): boolean {
  const file = process.env['CASEGATE_TEST_SQLITE_TEMPLATE'];
  if (file === undefined || file === '' || existsSync(dbPath)) return false;
  const dir = dirname(dbPath);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o700);
  }
  copyFileSync(file, dbPath);
  return true;
}
