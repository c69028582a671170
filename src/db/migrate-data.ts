import { cpSync, existsSync } from 'node:fs';
import type { Db } from './database.js';
import { syncSequences } from './dialect.js';
import { countRows, readBatch, setColumn, upsertRows } from './repos/bulk-copy.js';
import { rebuildSearchIndex } from './repos/search.js';
import type { Database } from './schema.js';

/**
 * Moving from the embedded SQLite file to PostgreSQL (`casegate migrate-data`): every table, in
 * an order that satisfies the foreign keys, in batches by primary key, written with upserts by
 * primary key — so a second run (after mail kept arriving, or after an interruption) updates and
 * completes what the first copied, never duplicates. Then the identity sequences and the case-number
 * sequence are moved past the highest value, and the row counts of both sides are compared.
 * Raw mail and attachments (the blob directory) are files: they stay where they are, or are copied
 * into a shared directory (copyBlobs) that every daemon's dataDir points at.
 */

export interface CopyTable {
  readonly name: keyof Database;
  readonly key: readonly string[];
  /** Columns that may point at a later row of the same table: written after the table is complete. */
  readonly deferred?: readonly string[];
}

/** Every table casegate keeps (leases and relay_rate_seconds are not copied: they belong to running daemons). */
export const COPY_TABLES: readonly CopyTable[] = [
  { name: 'cases', key: ['id'], deferred: ['merged_into'] },
  { name: 'case_participants', key: ['id'] },
  { name: 'receipts', key: ['id'], deferred: ['retried_as'] },
  { name: 'messages', key: ['id'] },
  { name: 'attachments', key: ['id'] },
  { name: 'events', key: ['id'] },
  { name: 'outbox', key: ['id'] },
  { name: 'case_tags', key: ['case_id', 'tag'] },
  { name: 'case_sla', key: ['case_id'] },
  { name: 'survey_responses', key: ['case_id'] },
  { name: 'link_revocations', key: ['id'] },
  { name: 'job_claims', key: ['id'] },
  { name: 'job_runs', key: ['job'] },
  { name: 'address_status', key: ['address'] },
  { name: 'mailbox_state', key: ['mailbox'] },
  { name: 'mailbox_health', key: ['mailbox'] },
  { name: 'message_failures', key: ['raw_sha256'] },
  { name: 'assignment_state', key: ['queue'] },
  { name: 'transport_health', key: ['transport'] },
  { name: 'counters', key: ['name'] },
];

export interface TableReport {
  readonly table: string;
  readonly copied: number;
  readonly source: number;
  readonly target: number;
  readonly ok: boolean;
}

export interface CopyOptions {
  readonly batchSize?: number;
  /** Called after each table. */
  readonly onTable?: (r: TableReport) => void;
}

/** Copy every table from `source` to `target` (both migrated to the latest schema); returns the per-table counts. */
export async function copyAllTables(source: Db, target: Db, opts: CopyOptions = {}): Promise<TableReport[]> {
  const batchSize = opts.batchSize ?? 500;
  const reports: TableReport[] = [];
  for (const t of COPY_TABLES) {
    let copied = 0;
    let after: Record<string, unknown> | null = null;
    const later: { id: unknown; column: string; value: unknown }[] = [];
    for (;;) {
      const rows = await readBatch(source, t.name, t.key, after, batchSize);
      if (rows.length === 0) break;
      const writable = rows.map((r) => {
        if (t.deferred === undefined) return r;
        const copy = { ...r };
        for (const col of t.deferred) {
          if (copy[col] !== null && copy[col] !== undefined) later.push({ id: copy['id'], column: col, value: copy[col] });
          copy[col] = null;
        }
        return copy;
      });
      await target.transaction().execute((trx) => upsertRows(trx, t.name, t.key, writable));
      copied += rows.length;
      const last = rows[rows.length - 1]!;
      after = Object.fromEntries(t.key.map((k) => [k, last[k]]));
      if (rows.length < batchSize) break;
    }
    for (const l of later) await setColumn(target, t.name, l.column, l.id, l.value);
    const [src, dst] = [await countRows(source, t.name), await countRows(target, t.name)];
    const report = { table: t.name, copied, source: src, target: dst, ok: src === dst };
    reports.push(report);
    opts.onTable?.(report);
  }
  // The search index is made from the messages (SQLite's FTS5 table is not copied).
  await rebuildSearchIndex(target);
  await syncSequences(target, COPY_TABLES.filter((t) => t.key.length === 1 && t.key[0] === 'id').map((t) => t.name));
  return reports;
}

/** Copy the blob directory (raw mail, attachments) into `to`, keeping files already there (content-addressed: same name, same bytes). */
export function copyBlobs(from: string, to: string): void {
  if (!existsSync(from)) return;
  cpSync(from, to, { recursive: true, force: false, errorOnExist: false, preserveTimestamps: true });
}
