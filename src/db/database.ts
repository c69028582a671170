import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import * as m0001 from './migrations/0001-initial.js';
import * as m0002 from './migrations/0002-routing-escalation.js';
import * as m0006 from './migrations/0006-hot-path-indexes.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/** The static, ordered list of migrations: a new one is a new file and a new line here. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-routing-escalation': m0002,
  '0006-hot-path-indexes': m0006,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export interface OpenDbOptions {
  readonly path: string;
  /** ms to wait for a lock held by another process (the CLI next to the daemon). */
  readonly busyTimeoutMs?: number;
}

export function openDatabase(opts: OpenDbOptions): Db {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const sqlite = new SQLite(opts.path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}

/**
 * Kysely prepares every query anew; better-sqlite3 statements are reusable, and preparing is a
 * large part of a small query's cost. Cache them by SQL text (bounded). Safe because Kysely's
 * SQLite driver runs one query at a time on its single connection.
 */
function withStatementCache(sqlite: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  return new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop === 'prepare') {
        return (source: string) => {
          let stmt = cache.get(source);
          if (stmt === undefined) {
            stmt = prepare(source);
            if (cache.size >= 1000) cache.clear();
            cache.set(source, stmt);
          }
          return stmt;
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface MigrateResult {
  readonly applied: string[];
}

/** Bring the schema up to date; throws with the failing migration's name. */
export async function migrateToLatest(db: Db): Promise<MigrateResult> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider(), migrationTableName: 'casegate_migrations', migrationLockTableName: 'casegate_migrations_lock' });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error !== undefined) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${result.error instanceof Error ? result.error.message : String(result.error)}`);
  }
  return { applied: (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
