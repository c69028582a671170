import type { Config } from '../config/schema.js';
import type { Db } from '../db/database.js';
import { dueNow, usedLastMinute } from '../db/repos/relay-rate.js';
import { describeRelay, relayBudgetKey, relayConfigOf, relayLanes } from './relays.js';

/**
 * What waits for room under a relay's maxPerMinute, as every daemon of the database sees it
 * (`casegate status`, /metrics): the relay's minute is in the database (relay-rate.ts), so is the
 * queue. `waiting` is the emails of the relay that are due now beyond the room its minute has left
 * — they go in a later minute — and `oldestWaitingSince` is when the oldest of them became due
 * (queued, or its retry time). Relays without a maxPerMinute are not listed.
 */
export interface RelayRateWaiting {
  readonly relay: string;
  /** "default relay (outgoing.smtp, smtp:host:587)", "relay billing (smtp:…)". */
  readonly label: string;
  readonly maxPerMinute: number;
  /** Recipients handed to the relay in the last 60 s, by every daemon (its budget: host:port and login, whatever a configuration names it). */
  readonly usedLastMinute: number;
  /** Queued emails of the relay due now (being sent, or waiting), senders the relay refuses left out. */
  readonly due: number;
  /** Of those, how many the minute has no room for now. */
  readonly waiting: number;
  /** When the oldest due email became due, while some wait; else null. */
  readonly oldestWaitingSince: string | null;
}

/** A relay's maxPerMinute in force (outgoing.smtp for "default", outgoing.relays.<name>); undefined: unlimited. */
export function maxPerMinuteOf(config: Config, relay: string): number | undefined {
  return relayConfigOf(config, relay)?.maxPerMinute;
}

/** For each relay in use with a maxPerMinute: three small reads (its last minute, its due emails). `held`: senders the relay refuses. */
export async function relayRateWaiting(db: Db, config: Config, now: Date, held: readonly string[] = []): Promise<RelayRateWaiting[]> {
  const out: RelayRateWaiting[] = [];
  for (const lane of relayLanes(config)) {
    const relay = relayConfigOf(config, lane.relay);
    const max = relay?.maxPerMinute;
    if (relay === undefined || max === undefined) continue;
    // The relay's budget, whichever daemon (and under whichever name) took from it.
    const used = await usedLastMinute(db, relayBudgetKey(relay), now.getTime());
    const due = await dueNow(db, now.toISOString(), { ...(lane.onlyFrom !== undefined ? { fromIn: lane.onlyFrom } : {}), ...(lane.excludeFrom !== undefined ? { fromNotIn: lane.excludeFrom } : {}), notHeld: held });
    const waiting = Math.max(0, due.n - Math.max(0, max - used));
    out.push({ relay: lane.relay, label: describeRelay(config, lane.relay), maxPerMinute: max, usedLastMinute: used, due: due.n, waiting, oldestWaitingSince: waiting > 0 ? due.oldestDueAt : null });
  }
  return out;
}
