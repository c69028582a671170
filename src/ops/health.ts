import type { AppContext } from '../context.js';
import type { Config } from '../config/schema.js';
import { allMailboxHealth, type MailboxHealthRow } from '../db/repos/mailbox-health.js';
import { databaseAnswers, outboxDepth, type OutboxDepth } from '../db/repos/ops.js';
import { allTransportHealth, heldSenderAddresses, relayHealth, senderHealth, type TransportHealthRow } from '../db/repos/transport-health.js';
import { relayRateWaiting, type RelayRateWaiting } from '../mail-out/relay-rate-waiting.js';
import { describeRelay, relaysInUse } from '../mail-out/relays.js';
import { describeFull, diskSpaceOf, fullBy, NEARLY_FULL_INODE_SHARE, type DiskSpace } from './disk-space.js';
import { TIMED_OUT, within } from '../time-limit.js';

/**
 * Is this casegate healthy? One judgement, used by /healthz (200 or 503 with the reasons) and by
 * `casegate status` (the same facts for people). Healthy means:
 *
 *  - the file system of the data directory has free space (ops.minFreeDiskMB; a full one means
 *    every new message ends in `retry`);
 *  - the database answers within 5 s, and takes writes (PostgreSQL: not a standby, not read-only;
 *    SQLite: no other process holds the write lock longer than database.busyTimeoutMs);
 *  - every mailbox with an `imap` config is connected and up to date or working through its
 *    backlog (idling, polling, processing) — connecting, backing off, a rejected login or a
 *    stopped watcher is not healthy;
 *  - the outgoing transport is not paused (login, TLS or connection problem), and has not been
 *    failing for longer than outgoing.alertAfterSeconds;
 *  - the relay refuses no sender (From address) at MAIL FROM: that sender's emails are held
 *    (mail-out/sender-holds.ts), a check `sender:<address>` each;
 *  - no email has been due for longer than max(60 s, outgoing.alertAfterSeconds) without being
 *    sent (a stuck outbox worker or a stopped daemon);
 *  - (`casegate status` only) the daemon runs.
 *
 * The facts come from the rows the daemon keeps (mailbox_health, transport_health) and two
 * indexed outbox queries, so the answer is the same wherever it is asked.
 */

export interface HealthCheck {
  /** database, mailbox:<name>, outgoing, sender:<address>, outbox, daemon */
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Health {
  readonly healthy: boolean;
  readonly checks: readonly HealthCheck[];
}

export interface HealthFacts {
  /** Free space where casegate writes (disk-space.ts); absent: not looked at. */
  readonly disk?: readonly DiskSpace[];
  /** null when the database answers, else its error. */
  readonly databaseError: string | null;
  /** The mailboxes watched over IMAP (configured ones only) with their health row, if any. */
  readonly mailboxes: readonly { readonly name: string; readonly row: MailboxHealthRow | null }[];
  /** The transport the daemon reported about last (the default relay). */
  readonly transport: TransportHealthRow | null;
  /** The named relays in use (mailboxes[].relay) with their health row, if any; absent: none. */
  readonly relays?: readonly { readonly name: string; readonly label: string; readonly row: TransportHealthRow | null }[];
  /** Senders the relay refused at MAIL FROM (their rows; `paused` while their emails are held); absent: none. */
  readonly senders?: readonly TransportHealthRow[];
  readonly outbox: OutboxDepth | null;
  /**
   * Only while an email is overdue (the outbox check fails): what waits for room under a relay's
   * maxPerMinute (relay-rate-waiting.ts), so the check says why; absent otherwise.
   */
  readonly rate?: readonly RelayRateWaiting[];
  /** Whether the daemon runs (asked by `casegate status`; the daemon itself leaves it out). */
  readonly daemon?: { readonly running: boolean; readonly pid: number | null };
}

const WORKING = new Set(['idling', 'polling', 'processing']);

/**
 * A database that does not answer its health query within this long is reported as such: a hung
 * server (or a path that drops its packets) never fails the query, and /healthz and `casegate
 * status` waited with it. (The query itself is left to finish or fail on its own.)
 */
export const DATABASE_ANSWER_MS = 5_000;

/**
 * How long the health check waits: DATABASE_ANSWER_MS, on SQLite at least a second past
 * database.busyTimeoutMs, so that a write lock held by another process is reported as such (the
 * check waits for it as a message does) rather than as a database that does not answer.
 */
export function databaseAnswerMs(config: Config): number {
  return config.database.driver === 'sqlite' ? Math.max(DATABASE_ANSWER_MS, config.database.busyTimeoutMs + 1_000) : DATABASE_ANSWER_MS;
}

/** `p`, or a rejection ("the database did not answer within …") after `ms`; `p` is left to settle on its own. */
export async function withinMs<T>(p: Promise<T>, ms: number): Promise<T> {
  const r = await within(p, ms);
  if (r === TIMED_OUT) throw new Error(`the database did not answer within ${ms / 1000} s`);
  return r;
}

export async function gatherHealthFacts(ctx: AppContext): Promise<HealthFacts> {
  // First, and whatever the database says: a full disk is often why it fails.
  const disk = await diskSpaceOf(ctx.paths);
  let refused: string | null;
  try {
    refused = await withinMs(databaseAnswers(ctx.db, ctx.config.database.busyTimeoutMs), databaseAnswerMs(ctx.config));
  } catch (err) {
    refused = err instanceof Error ? err.message : String(err);
  }
  if (refused !== null) return { disk, databaseError: refused, mailboxes: [], transport: null, senders: [], outbox: null };
  const rows = new Map((await allMailboxHealth(ctx.db)).map((r) => [r.mailbox, r]));
  const senders = await senderHealth(ctx.db);
  const outbox = await outboxDepth(ctx.db, heldSenderAddresses(senders));
  const now = ctx.clock.now();
  const overdue = outbox.nextDueAt !== null && now.getTime() - Date.parse(outbox.nextDueAt) > outboxLimitSeconds(ctx.config) * 1000;
  return {
    disk,
    databaseError: null,
    mailboxes: ctx.config.mailboxes.filter((m) => m.imap !== undefined).map((m) => ({ name: m.name, row: rows.get(m.name) ?? null })),
    transport: (await allTransportHealth(ctx.db))[0] ?? null,
    relays: await relaysFacts(ctx),
    senders,
    outbox,
    ...(overdue ? { rate: await relayRateWaiting(ctx.db, ctx.config, now, heldSenderAddresses(senders)) } : {}),
  };
}

async function relaysFacts(ctx: AppContext): Promise<{ name: string; label: string; row: TransportHealthRow | null }[]> {
  const names = ctx.config.outgoing.transport === 'smtp' ? relaysInUse(ctx.config) : [];
  if (names.length === 0) return [];
  const rows = await relayHealth(ctx.db);
  return names.map((name) => ({ name, label: describeRelay(ctx.config, name), row: rows.get(name) ?? null }));
}

/** The check of one relay's health row: paused, failing past alertAfterSeconds, or fine. */
function relayCheck(name: string, label: string, t: TransportHealthRow, config: Config, now: Date): HealthCheck {
  const failingFor = ageSeconds(t.failing_since, now);
  if (t.state === 'paused') return { name, ok: false, detail: `${label} paused since ${t.paused_since ?? '?'} (${t.last_error_class ?? '?'}): ${t.last_error ?? ''}` };
  if (t.state === 'failing' && failingFor !== null && failingFor > config.outgoing.alertAfterSeconds) return { name, ok: false, detail: `${label} failing since ${t.failing_since} (${t.last_error_class ?? '?'}): ${t.last_error ?? ''}` };
  return { name, ok: true, detail: `${label} ${t.state}` };
}

function ageSeconds(at: string | null, now: Date): number | null {
  return at === null ? null : Math.max(0, Math.round((now.getTime() - new Date(at).getTime()) / 1000));
}

export function assessHealth(config: Config, facts: HealthFacts, now: Date): Health {
  const checks: HealthCheck[] = [];
  if (facts.daemon !== undefined) {
    checks.push({ name: 'daemon', ok: facts.daemon.running, detail: facts.daemon.running ? `running (PID ${facts.daemon.pid ?? '?'})` : 'not running' });
  }
  if (facts.disk !== undefined && facts.disk.length > 0) checks.push(diskCheck(facts.disk, config.ops.minFreeDiskMB));
  if (facts.databaseError !== null) {
    checks.push({ name: 'database', ok: false, detail: facts.databaseError });
    return { healthy: false, checks };
  }
  checks.push({ name: 'database', ok: true, detail: 'answers' });
  for (const m of facts.mailboxes) {
    const r = m.row;
    if (r === null) {
      checks.push({ name: `mailbox:${m.name}`, ok: false, detail: 'not started yet' });
      continue;
    }
    const ok = WORKING.has(r.state);
    const since = r.failing_since !== null ? ` since ${r.failing_since}` : '';
    const detail = ok ? `${r.state}, backlog ${r.backlog}` : `${r.state}${since}${r.detail !== null ? `: ${r.detail}` : ''}`;
    checks.push({ name: `mailbox:${m.name}`, ok, detail });
  }
  const t = facts.transport;
  if (t !== null) checks.push(relayCheck('outgoing', t.transport, t, config, now));
  // Each named relay on its own: one failing is named, the others stay fine.
  for (const r of facts.relays ?? []) {
    if (r.row !== null) checks.push(relayCheck(`relay:${r.name}`, r.label, r.row, config, now));
  }
  for (const h of facts.senders ?? []) {
    if (h.state !== 'paused') continue;
    checks.push({ name: h.transport, ok: false, detail: `the relay refuses this sender at MAIL FROM since ${h.failing_since ?? '?'}: its emails are held, the others are sent: ${h.last_error ?? ''}` });
  }
  const o = facts.outbox;
  if (o !== null) {
    const overdue = ageSeconds(o.nextDueAt, now);
    const limit = outboxLimitSeconds(config);
    const stuck = o.nextDueAt !== null && o.nextDueAt < now.toISOString() && overdue !== null && overdue > limit;
    checks.push({
      name: 'outbox',
      ok: !stuck,
      detail: `${stuck ? `an email has been due since ${o.nextDueAt} (${overdue} s) and is not sent; ${o.queued} queued${rateDetail(facts.rate ?? [])}` : `${o.queued} queued, ${o.failed} failed`}${o.held > 0 ? ` (${o.held} held: their sender is refused by the relay, see the sender: check)` : ''}`,
    });
  }
  return { healthy: checks.every((c) => c.ok), checks };
}

/** How long an email may be overdue before the outbox check fails. */
function outboxLimitSeconds(config: Config): number {
  return Math.max(60, config.outgoing.alertAfterSeconds);
}

/** Why an overdue outbox is behind, when a relay's maxPerMinute holds emails back. */
function rateDetail(rate: readonly RelayRateWaiting[]): string {
  const behind = rate.filter((r) => r.waiting > 0);
  if (behind.length === 0) return '';
  return ` (${behind.map((r) => `${r.waiting} wait for room under maxPerMinute ${r.maxPerMinute} of the ${r.label}, ${r.usedLastMinute} used in the last minute`).join('; ')}: the relay's limit holds them back; see casegate status)`;
}

/**
 * The file system casegate writes to with the least room: full (below FULL_BELOW_BYTES or
 * FULL_BELOW_INODES — every new message ends in `retry`), nearly full (below ops.minFreeDiskMB,
 * or under NEARLY_FULL_INODE_SHARE of its inodes free) or fine.
 */
function diskCheck(disk: readonly DiskSpace[], minFreeMB: number): HealthCheck {
  const worst = [...disk].sort((a, b) => a.freeBytes - b.freeBytes)[0]!;
  const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;
  const full = disk.find((d) => fullBy(d) !== null);
  if (full !== undefined) return { name: 'disk', ok: false, detail: `${describeFull([full])}: new messages are kept for a retry (not lost) until space is freed` };
  if (worst.freeBytes < minFreeMB * 1024 * 1024) {
    return { name: 'disk', ok: false, detail: `disk nearly full: ${worst.freeBytes} bytes (${mb(worst.freeBytes)}) free on ${worst.dir}, below ops.minFreeDiskMB (${minFreeMB})` };
  }
  const fewInodes = disk.find((d) => d.freeInodes !== null && d.totalInodes !== null && d.freeInodes < d.totalInodes * NEARLY_FULL_INODE_SHARE);
  if (fewInodes !== undefined) {
    return { name: 'disk', ok: false, detail: `disk nearly full: ${fewInodes.freeInodes} of ${fewInodes.totalInodes} inodes free on ${fewInodes.dir} (every raw message and attachment is a file): remove files or move the data directory` };
  }
  return { name: 'disk', ok: true, detail: `${mb(worst.freeBytes)} free on ${worst.dir}` };
}

export async function healthOf(ctx: AppContext, daemon?: HealthFacts['daemon']): Promise<Health> {
  const facts = await gatherHealthFacts(ctx);
  return assessHealth(ctx.config, daemon !== undefined ? { ...facts, daemon } : facts, ctx.clock.now());
}
