import SQLite from 'better-sqlite3';
import pg from 'pg';
import { loadConfig, type ResolvedConfig } from '../../src/config/load.js';

/**
 * A test's own look into casegate's database, whichever backend the configuration names: raw SQL
 * with `?` placeholders (numbered for PostgreSQL), counts as numbers on both. For checks and for
 * setting up states; the product's own code never goes through this.
 */
export interface DbPeek {
  all<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T | undefined>;
  run(sql: string, ...params: unknown[]): Promise<void>;
  /** The names of casegate's tables (its schema on PostgreSQL). */
  tables(): Promise<string[]>;
  close(): Promise<void>;
}

const numbered = (sql: string): string => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

export function peekDb(resolved: ResolvedConfig): DbPeek {
  const d = resolved.config.database;
  if (d.driver === 'postgres') {
    const pool = new pg.Pool({
      connectionString: d.url!,
      options: `-c search_path="${d.schema}"`,
      max: 2,
      types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 || oid === 1700 ? Number : pg.types.getTypeParser(oid, format ?? 'text'))) as pg.CustomTypesConfig['getTypeParser'] },
    });
    pool.on('error', () => undefined);
    return {
      async all<T>(sql: string, ...params: unknown[]) {
        return (await pool.query(numbered(sql), params)).rows as T[];
      },
      async get<T>(sql: string, ...params: unknown[]) {
        return (await pool.query(numbered(sql), params)).rows[0] as T | undefined;
      },
      async run(sql: string, ...params: unknown[]) {
        await pool.query(numbered(sql), params);
      },
      async tables() {
        const rows = (await pool.query("select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'")).rows as { table_name: string }[];
        return rows.map((r) => r.table_name);
      },
      close: () => pool.end(),
    };
  }
  const db = new SQLite(resolved.paths.dbPath);
  db.pragma('busy_timeout = 5000');
  return {
    async all<T>(sql: string, ...params: unknown[]) {
      return db.prepare(sql).all(...params) as T[];
    },
    async get<T>(sql: string, ...params: unknown[]) {
      return db.prepare(sql).get(...params) as T | undefined;
    },
    async run(sql: string, ...params: unknown[]) {
      db.prepare(sql).run(...params);
    },
    async tables() {
      return (db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]).map((t) => t.name);
    },
    async close() {
      db.close();
    },
  };
}

/** The database of a configuration file (a CLI sandbox's casegate.yaml). */
export function peekConfig(configPath: string): DbPeek {
  return peekDb(loadConfig({ path: configPath, env: {} }));
}
