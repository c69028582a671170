import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../dialect.js';

/**
 * /metrics `casegate_sla_breaches_total{target}` (ops/metrics.ts): the SLA breaches recorded, as
 * two rows of `counters` — `sla-breaches:first_response` and `sla-breaches:resolution` — that the
 * sla-check job raises in the transaction that records the breach (repos/ops.ts countSlaBreach).
 * Until now every scrape counted every `sla.breach` event ever recorded (a cost that grew with the
 * history, every 15 s). Seeded once here with the breach events the database still holds (purged
 * cases took theirs with them); both rows are written, at 0 when there were none.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const target = isPostgres(db) ? sql`(data_json::json ->> 'target')` : sql`json_extract(data_json, '$.target')`;
  const rows = await sql<{ target: string | null; n: string | number }>`select ${target} as target, count(*) as n from events where type = 'sla.breach' group by ${target}`.execute(db);
  const count = (t: string): number => rows.rows.filter((r) => r.target === t).reduce((s, r) => s + Number(r.n), 0);
  await sql`insert into counters (name, value) values ('sla-breaches:first_response', ${count('first-response')}), ('sla-breaches:resolution', ${count('resolution')})`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`delete from counters where name in ('sla-breaches:first_response', 'sla-breaches:resolution')`.execute(db);
}
