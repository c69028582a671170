import type { Kysely, Selectable } from 'kysely';
import type { Database, Flag, TransportHealthTable, TransportState } from '../schema.js';

type Q = Kysely<Database>;

export type TransportHealthRow = Selectable<TransportHealthTable>;

export interface TransportHealthPatch {
  readonly state?: TransportState;
  readonly last_error?: string | null;
  readonly last_error_class?: string | null;
  readonly last_error_at?: string | null;
  readonly last_success_at?: string | null;
  readonly failing_since?: string | null;
  readonly paused_since?: string | null;
  readonly alerted?: Flag;
}

export async function transportHealth(db: Q, transport: string): Promise<TransportHealthRow | undefined> {
  return db.selectFrom('transport_health').selectAll().where('transport', '=', transport).executeTakeFirst();
}

/**
 * The rows of a sender the relay refuses at MAIL FROM (mail-out/sender-holds.ts) are kept beside
 * the transport's, keyed `sender:<address>`; they are not the transport's health.
 */
export const SENDER_KEY_PREFIX = 'sender:';

/** The named relays' rows (mail-out/relays.ts), keyed `relay:<name>`. */
export const RELAY_ROW_PREFIX = 'relay:';

/** The default relay's rows (one per transport it had: smtp:<host>:<port>, file:<dir>), most recently updated first (not the senders', not the named relays'). */
export async function allTransportHealth(db: Q): Promise<TransportHealthRow[]> {
  return db.selectFrom('transport_health').selectAll().where('transport', 'not like', `${SENDER_KEY_PREFIX}%`).where('transport', 'not like', `${RELAY_ROW_PREFIX}%`).orderBy('updated_at', 'desc').execute();
}

/** The named relays' rows by relay name. */
export async function relayHealth(db: Q): Promise<Map<string, TransportHealthRow>> {
  const rows = await db.selectFrom('transport_health').selectAll().where('transport', 'like', `${RELAY_ROW_PREFIX}%`).execute();
  return new Map(rows.map((r) => [r.transport.slice(RELAY_ROW_PREFIX.length), r]));
}

/** The rows of senders the relay refused (held or alerted; `state` 'paused' while held). */
/** The From addresses (lower-case) whose emails are held: their sender row is paused (mail-out/sender-holds.ts). */
export function heldSenderAddresses(rows: readonly TransportHealthRow[]): string[] {
  return rows.filter((h) => h.state === 'paused' && h.transport.startsWith(SENDER_KEY_PREFIX)).map((h) => h.transport.slice(SENDER_KEY_PREFIX.length).toLowerCase());
}

export async function senderHealth(db: Q): Promise<TransportHealthRow[]> {
  return db.selectFrom('transport_health').selectAll().where('transport', 'like', `${SENDER_KEY_PREFIX}%`).orderBy('transport').execute();
}

/** Insert or update the health row of one transport; only the given columns change on update. */
export async function upsertTransportHealth(db: Q, transport: string, patch: TransportHealthPatch, at: string): Promise<void> {
  await db
    .insertInto('transport_health')
    .values({
      transport,
      state: patch.state ?? 'ok',
      last_error: patch.last_error ?? null,
      last_error_class: patch.last_error_class ?? null,
      last_error_at: patch.last_error_at ?? null,
      last_success_at: patch.last_success_at ?? null,
      failing_since: patch.failing_since ?? null,
      paused_since: patch.paused_since ?? null,
      alerted: patch.alerted ?? 0,
      updated_at: at,
    })
    .onConflict((oc) => oc.column('transport').doUpdateSet({ ...patch, updated_at: at }))
    .execute();
}
