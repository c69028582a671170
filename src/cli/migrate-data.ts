import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { migrateToLatest, openDatabase } from '../db/database.js';
import { redactUrl } from '../db/dialect-postgres.js';
import { copyAllTables, copyBlobs, type TableReport } from '../db/migrate-data.js';
import { acquireInstanceLock, InstanceLockedError } from '../instance-lock.js';
import { print } from './shared.js';

/** Exit code when the counts of the two sides differ after the copy. */
const EXIT_MISMATCH = 2;

/** A mistake in the command line: one line and exit 1, not a stack. */
function refuse(message: string): never {
  process.stderr.write(`casegate migrate-data: ${message}\n`);
  process.exit(1);
}

function sqlitePath(from: string): string {
  const m = /^sqlite:(.+)$/.exec(from);
  if (m === null) refuse(`--from must be sqlite:PATH, e.g. sqlite:/var/lib/casegate/casegate.db (got "${from}")`);
  return resolve(m[1]!);
}

function postgresUrl(to: string): string {
  const url = to.replace(/^postgres:(?=postgres(ql)?:\/\/)/, '');
  if (!/^postgres(ql)?:\/\//.test(url)) refuse(`--to must be postgres:postgres://user@host:5432/dbname (got "${to}")`);
  return url;
}

/** `casegate migrate-data`: copy everything from the SQLite file into PostgreSQL (README, "Moving to PostgreSQL"). */
export function registerMigrateDataCommands(program: Command): void {
  program
    .command('migrate-data')
    .description('copy every table from the SQLite file into PostgreSQL (upserts by primary key: safe to run again), then compare the counts')
    .requiredOption('--from <sqlite:PATH>', 'the SQLite database, e.g. sqlite:data/casegate.db (stop the daemon first)')
    .requiredOption('--to <postgres:URL>', 'the PostgreSQL database, e.g. postgres:postgres://casegate@db.example.com/casegate (password: PGPASSWORD or ~/.pgpass)')
    .option('--schema <name>', 'PostgreSQL schema (database.schema)', 'public')
    .option('--copy-blobs <dir>', 'also copy the blob directory (raw mail, attachments) into this shared directory (its parent becomes dataDir)')
    .option('--batch <n>', 'rows per batch', '500')
    .option('--json', 'JSON output')
    .action(async (opts: { from: string; to: string; schema: string; copyBlobs?: string; batch: string; json?: boolean }) => {
      const path = sqlitePath(opts.from);
      if (!existsSync(path)) refuse(`${path} does not exist (--from names the SQLite file: database.path, default <dataDir>/casegate.db)`);
      const url = postgresUrl(opts.to);
      // No daemon may write the SQLite file while it is copied (its instance lock); a second run copies what came later.
      let lock;
      try {
        lock = acquireInstanceLock(path);
      } catch (err) {
        if (err instanceof InstanceLockedError) {
          process.stderr.write(`casegate: ${err.message}\n`);
          process.exit(1);
        }
        throw err;
      }
      const source = openDatabase({ path });
      const target = openDatabase({ kind: 'postgres', url, schema: opts.schema, poolSize: 4, lockTimeoutMs: 30_000, applicationName: 'casegate migrate-data' });
      const reports: TableReport[] = [];
      try {
        await migrateToLatest(source);
        await migrateToLatest(target);
        const started = performance.now();
        await copyAllTables(source, target, {
          batchSize: Math.max(1, Number.parseInt(opts.batch, 10) || 500),
          onTable: (r) => {
            reports.push(r);
            if (opts.json !== true) process.stdout.write(`${r.table.padEnd(18)} copied ${String(r.copied).padStart(9)}   sqlite ${String(r.source).padStart(9)}   postgres ${String(r.target).padStart(9)}   ${r.ok ? 'ok' : 'COUNTS DIFFER'}\n`);
          },
        });
        if (opts.copyBlobs !== undefined) copyBlobs(resolve(path, '..', 'blobs'), resolve(opts.copyBlobs));
        const ok = reports.every((r) => r.ok);
        const seconds = Math.round((performance.now() - started) / 100) / 10;
        print({ from: path, to: redactUrl(url), schema: opts.schema, ok, seconds, tables: reports, blobsCopiedTo: opts.copyBlobs ?? null }, opts.json === true, () =>
          ok
            ? `all ${reports.length} tables copied to ${redactUrl(url)} (schema ${opts.schema}) in ${seconds} s; counts match.${opts.copyBlobs !== undefined ? ` Blobs copied to ${resolve(opts.copyBlobs)}.` : ''}\n`
            : `counts differ (see above): was something writing either side? Stop it and run migrate-data again.\n`,
        );
        if (!ok) process.exitCode = EXIT_MISMATCH;
      } finally {
        await source.destroy();
        await target.destroy();
        lock.release();
      }
    });
}
