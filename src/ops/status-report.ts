import type { AppContext } from '../context.js';
import { jobRuns, type JobRunRow } from '../db/repos/jobs.js';
import { allMailboxHealth } from '../db/repos/mailbox-health.js';
import { allLeases } from '../db/repos/leases.js';
import { openCaseCounts, openSlaBreaches, quarantineWaiting, type OpenCaseCount, type SlaBreaches } from '../db/repos/ops.js';
import { oldestQueued, statusCounts } from '../db/repos/outbox.js';
import { allTransportHealth, heldSenderAddresses, relayHealth, senderHealth } from '../db/repos/transport-health.js';
import { relayRateWaiting, type RelayRateWaiting } from '../mail-out/relay-rate-waiting.js';
import { describeRelay, relaysInUse } from '../mail-out/relays.js';
import { outcomeCountsSince } from '../db/repos/receipts.js';
import type { MailboxHealthTable } from '../db/schema.js';
import { lockPathsFor, processAlive, readHolderPid } from '../instance-lock.js';
import { pad } from '../views.js';
import { assessHealth, gatherHealthFacts, type Health } from './health.js';
import type { Selectable } from 'kysely';

/**
 * `casegate status`: the facts /healthz and /metrics give a monitoring system, for people (text)
 * and scripts (--json): the daemon and its health checks, inbound outcomes, the quarantine, the
 * outbox and the outgoing transport, the mailboxes, open cases by status and priority, SLA
 * breaches, the jobs, and where health and metrics are served.
 */

export interface OutgoingStatus {
  /** The transport the daemon last reported about (smtp:<host>:<port> or file:<dir>); null before any. */
  readonly transport: string | null;
  /** ok | failing | paused (the transport is broken: sending stopped and it is being probed). */
  readonly state: string | null;
  readonly lastError: string | null;
  /** auth | tls | connection | recipient | message | unknown */
  readonly lastErrorClass: string | null;
  readonly lastErrorAt: string | null;
  readonly lastErrorAgeSeconds: number | null;
  readonly lastSuccessAt: string | null;
  readonly failingSince: string | null;
  readonly pausedSince: string | null;
  readonly alerted: boolean;
  /** The named relays in use (mailboxes[].relay), each with its own state; [] when every mailbox sends through the default. */
  readonly relays: readonly { readonly relay: string; readonly label: string; readonly state: string | null; readonly lastError: string | null; readonly lastErrorClass: string | null; readonly failingSince: string | null; readonly pausedSince: string | null; readonly alerted: boolean; readonly lastSuccessAt: string | null }[];
  /**
   * Each relay with a maxPerMinute (relay-rate-waiting.ts): recipients handed in the last minute by
   * every daemon, emails due now, how many of them wait for room in a later minute and since when
   * the oldest is due (`oldestWaitingSeconds`, 0 when none waits). [] when no relay has one.
   */
  readonly rate: readonly (RelayRateWaiting & { readonly oldestWaitingSeconds: number })[];
  /** The queued email waiting longest. */
  readonly oldestQueued: { readonly id: number; readonly kind: string; readonly to: string; readonly queuedAt: string; readonly ageSeconds: number; readonly attempts: number; readonly lastError: string | null } | null;
}

export interface StatusReport {
  readonly daemon: { readonly running: boolean; readonly pid: number | null; readonly nodes?: readonly string[] };
  readonly health: Health;
  /**
   * The counts of recent traffic cover the last 24 hours (`window.since`): messages received by
   * outcome, and the emails queued meanwhile that were sent, suppressed or cancelled. What waits
   * (queued and failed emails, the quarantine, open cases) is counted whatever its age. Totals of
   * the whole history cost a read of all of it (~1 s at 1 M messages), at every `status --check`.
   */
  readonly window: { readonly hours: number; readonly since: string };
  readonly receipts: Record<string, number>;
  readonly quarantineWaiting: number;
  /** queued and failed: now, whatever their age; sent, suppressed, cancelled: queued within the window. */
  readonly outbox: Record<string, number>;
  readonly outgoing: OutgoingStatus;
  readonly mailboxes: Selectable<MailboxHealthTable>[];
  readonly openCases: readonly OpenCaseCount[];
  readonly slaBreaches: SlaBreaches;
  readonly jobs: readonly JobRunRow[];
  /** Where the daemon serves /healthz and /metrics (null: ops.enabled is false). */
  readonly ops: { readonly healthz: string; readonly metrics: string } | null;
}

/**
 * The daemon of this database runs. SQLite: its PID file names a live process. PostgreSQL: a
 * daemon's presence lease (`node:<host>:<pid>:<random>`) is unexpired; the PID shown is the first
 * one's (`nodes` lists them all).
 */
async function daemonState(ctx: AppContext): Promise<{ running: boolean; pid: number | null; nodes?: string[] }> {
  if (ctx.config.database.driver === 'sqlite') {
    const pid = readHolderPid(lockPathsFor(ctx.paths.dbPath).pidPath);
    return pid !== null && processAlive(pid) ? { running: true, pid } : { running: false, pid: null };
  }
  const now = ctx.clock.now().toISOString();
  const nodes = (await allLeases(ctx.db)).filter((l) => l.name.startsWith('node:') && l.expires_at > now).map((l) => l.holder);
  const pid = nodes.length > 0 ? Number(nodes[0]!.split(':').at(-2)) : null;
  return { running: nodes.length > 0, pid: pid !== null && Number.isFinite(pid) ? pid : null, nodes };
}

/** The recent traffic `casegate status` counts: the last day. */
export const STATUS_WINDOW_HOURS = 24;

export async function statusReport(ctx: AppContext): Promise<StatusReport> {
  const now = ctx.clock.now().getTime();
  const age = (at: string | null): number | null => (at === null ? null : Math.max(0, Math.round((now - new Date(at).getTime()) / 1000)));
  const health = (await allTransportHealth(ctx.db))[0];
  const relayRows = await relayHealth(ctx.db);
  const relays = (ctx.config.outgoing.transport === 'smtp' ? relaysInUse(ctx.config) : []).map((relay) => {
    const r = relayRows.get(relay);
    return { relay, label: describeRelay(ctx.config, relay), state: r?.state ?? null, lastError: r?.last_error ?? null, lastErrorClass: r?.last_error_class ?? null, failingSince: r?.failing_since ?? null, pausedSince: r?.paused_since ?? null, alerted: r?.alerted === 1, lastSuccessAt: r?.last_success_at ?? null };
  });
  const since = new Date(now - STATUS_WINDOW_HOURS * 3_600_000).toISOString();
  const outbox = await statusCounts(ctx.db, since);
  const oldest = await oldestQueued(ctx.db);
  const rate = (await relayRateWaiting(ctx.db, ctx.config, ctx.clock.now(), heldSenderAddresses(await senderHealth(ctx.db)))).map((r) => ({ ...r, oldestWaitingSeconds: age(r.oldestWaitingSince) ?? 0 }));
  const daemon = await daemonState(ctx);
  const ops = ctx.config.ops;
  const base = `http://${ops.host.includes(':') ? `[${ops.host}]` : ops.host}:${ops.port}`;
  return {
    daemon,
    health: assessHealth(ctx.config, { ...(await gatherHealthFacts(ctx)), daemon }, ctx.clock.now()),
    window: { hours: STATUS_WINDOW_HOURS, since },
    receipts: await outcomeCountsSince(ctx.db, since),
    quarantineWaiting: await quarantineWaiting(ctx.db),
    outbox: { ...outbox.now, ...outbox.since },
    outgoing: {
      transport: health?.transport ?? null,
      state: health?.state ?? null,
      lastError: health?.last_error ?? null,
      lastErrorClass: health?.last_error_class ?? null,
      lastErrorAt: health?.last_error_at ?? null,
      lastErrorAgeSeconds: age(health?.last_error_at ?? null),
      lastSuccessAt: health?.last_success_at ?? null,
      failingSince: health?.failing_since ?? null,
      pausedSince: health?.paused_since ?? null,
      alerted: health?.alerted === 1,
      relays,
      rate,
      oldestQueued:
        oldest === undefined
          ? null
          : { id: oldest.id, kind: oldest.kind, to: oldest.to_address, queuedAt: oldest.queued_at, ageSeconds: age(oldest.queued_at) ?? 0, attempts: oldest.attempts, lastError: oldest.last_error },
    },
    mailboxes: await allMailboxHealth(ctx.db),
    openCases: await openCaseCounts(ctx.db),
    slaBreaches: await openSlaBreaches(ctx.db),
    jobs: await jobRuns(ctx.db),
    ops: ops.enabled ? { healthz: `${base}/healthz`, metrics: `${base}/metrics` } : null,
  };
}

/** "42 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function formatAge(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  const min = Math.floor(seconds / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h${min % 60 > 0 ? ` ${min % 60} min` : ''}`;
  return `${Math.floor(h / 24)} d${h % 24 > 0 ? ` ${h % 24} h` : ''}`;
}

function formatOutgoing(o: OutgoingStatus): string[] {
  const lines: string[] = [];
  if (o.transport !== null) {
    const state = o.state === 'paused' ? `PAUSED since ${o.pausedSince ?? '?'} (${o.lastErrorClass ?? '?'}: transport broken, being probed)` : o.state === 'failing' ? 'FAILING' : 'ok';
    lines.push(`  transport ${o.transport} · ${state}${o.failingSince !== null ? ` · failing since ${o.failingSince}` : ''}${o.alerted ? ' · admin alerted' : ''} · last success ${o.lastSuccessAt ?? 'never'}`);
  }
  for (const r of o.relays) {
    const state = r.state === null ? 'no email yet' : r.state === 'paused' ? `PAUSED since ${r.pausedSince ?? '?'} (${r.lastErrorClass ?? '?'}: relay broken, being probed; the other relays go on)` : r.state === 'failing' ? 'FAILING' : 'ok';
    lines.push(`  ${r.label} · ${state}${r.failingSince !== null ? ` · failing since ${r.failingSince}` : ''}${r.alerted ? ' · admin alerted' : ''} · last success ${r.lastSuccessAt ?? 'never'}${r.lastError !== null && r.state !== 'ok' ? ` — ${r.lastError}` : ''}`);
  }
  for (const r of o.rate) {
    const waits = r.waiting > 0 ? `${r.waiting} email(s) WAIT for room in a later minute, the oldest due since ${r.oldestWaitingSince ?? '?'} (${formatAge(r.oldestWaitingSeconds)})` : 'none waits for room';
    lines.push(`  ${r.label} · maxPerMinute ${r.maxPerMinute}: ${r.usedLastMinute} used in the last minute (every daemon) · ${r.due} due now · ${waits}`);
  }
  if (o.lastError !== null && o.lastErrorAgeSeconds !== null) {
    lines.push(`  last send error ${formatAge(o.lastErrorAgeSeconds)} ago (${o.lastErrorAt}) [${o.lastErrorClass ?? '?'}]: ${o.lastError}`);
  }
  const q = o.oldestQueued;
  if (q !== null) {
    lines.push(`  oldest queued email #${q.id} (${q.kind} to ${q.to}) waiting ${formatAge(q.ageSeconds)} since ${q.queuedAt}, ${q.attempts} attempt(s)${q.lastError !== null ? ` — ${q.lastError}` : ''}`);
  }
  return lines;
}

export function formatStatus(s: StatusReport): string {
  const kv = (o: Record<string, number>): string => (Object.keys(o).length === 0 ? 'none' : Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', '));
  const lines = [
    `Daemon: ${s.daemon.running ? (s.daemon.nodes !== undefined ? `running (${s.daemon.nodes.join(', ')})` : `running (PID ${s.daemon.pid})`) : 'NOT RUNNING'}`,
    `Health: ${s.health.healthy ? 'ok' : 'UNHEALTHY'}${s.ops !== null ? ` (${s.ops.healthz}, metrics ${s.ops.metrics})` : ' (ops listener off: set ops.enabled for /healthz and /metrics)'}`,
    ...s.health.checks.filter((c) => !c.ok).map((c) => `  ✗ ${c.name}: ${c.detail}`),
    `Inbound messages (last ${s.window.hours} h): ${kv(s.receipts)}`,
    `Quarantine awaiting action: ${s.quarantineWaiting}`,
    `Outbox: queued ${s.outbox['queued'] ?? 0}, failed ${s.outbox['failed'] ?? 0} · of those queued in the last ${s.window.hours} h: ${kv(Object.fromEntries(Object.entries(s.outbox).filter(([k]) => k !== 'queued' && k !== 'failed')))}`,
    ...formatOutgoing(s.outgoing),
    'Mailboxes:',
  ];
  if (s.mailboxes.length === 0) lines.push('  (no IMAP mailboxes running)');
  for (const m of s.mailboxes) {
    lines.push(`  ${pad(m.mailbox, 16)} ${pad(m.state, 14)} last success ${m.last_success_at ?? 'never'} · backlog ${m.backlog}${m.failing_since !== null ? ` · failing since ${m.failing_since}` : ''}${m.alerted === 1 ? ' · admin alerted' : ''}${m.detail !== null ? ` · ${m.detail}` : ''}`);
  }
  const open = s.openCases.reduce((n, c) => n + c.n, 0);
  lines.push(`Open cases: ${open}`);
  const byStatus = new Map<string, OpenCaseCount[]>();
  for (const c of s.openCases) byStatus.set(c.status, [...(byStatus.get(c.status) ?? []), c]);
  for (const [status, rows] of byStatus) lines.push(`  ${pad(status, 10)} ${rows.map((r) => `${r.priority} ${r.n}`).join(', ')}`);
  lines.push(`SLA breaches (open cases): first response ${s.slaBreaches.firstResponse}, resolution ${s.slaBreaches.resolution}`);
  lines.push('Jobs:');
  if (s.jobs.length === 0) lines.push('  (none has run yet)');
  for (const j of s.jobs) {
    const state = j.last_error !== null ? `FAILED: ${j.last_error}` : j.last_finished_at === null || j.last_finished_at < j.last_started_at ? 'running or interrupted' : 'ok';
    lines.push(`  ${pad(j.job, 18)} last run ${j.last_started_at} · ${j.runs} run(s) · ${state}`);
  }
  return lines.join('\n') + '\n';
}
