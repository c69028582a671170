import { DateTime } from 'luxon';
import { ownerName, queueSettings } from '../cases/staff.js';
import { formatTag } from '../cases/subject-tag.js';
import { calendarOf } from '../cases/sla-policy.js';
import { staleCheck } from '../cases/sla-clock.js';
import { caseById } from '../db/repos/cases.js';
import { slaOfCase } from '../db/repos/sla.js';
import { claim, takeClaims, unsentClaims, type JobClaimRow } from '../db/repos/jobs.js';
import type { CaseRow, Database } from '../db/schema.js';
import { caseCommand, queueStaffEmail, REPLY_MARKER } from '../mail-out/compose.js';
import { queueSystemEmail } from '../mail-out/system-email.js';
import type { Transaction } from 'kysely';
import type { JobContext } from './job.js';

/**
 * The emails of the staff alerts a job run decided, per recipient: the SLA warnings and breaches
 * of sla-check (sla-check.ts) and the "no update" reminders of critical-reminder
 * (critical-reminder.ts). Alerts about one case go as its own sla-warning / sla-breach /
 * stale-reminder emails (threaded under the case's staff mail); alerts about more than one case as
 * one `sla-digest` listing them all — after a downtime (a weekend, an upgrade) or in a busy hour, a
 * lead whose 40 cases breached gets one email, not 40, and an owner whose 30 critical cases went
 * quiet one, not 30.
 *
 * Each alert is staged (a job_claims row of the job `sla-alert` or `stale-alert`, outbox_id null)
 * in the transaction that claims the case's flag or quiet period and writes its `sla.*` event;
 * `sendStagedAlerts`, at the end of each run, takes a recipient's staged rows of its job (deleting
 * them) in the transaction that writes the email. A crash in between leaves them staged: the next
 * run of that job (at start: catch-up) sends them. Never lost, never twice. Each job sends only its
 * own staged rows: a run of the other job in the middle of a sweep would split its digest.
 */

/** The staging job of each kind of alert (job_claims.job). */
export type StagingJob = 'sla-alert' | 'stale-alert';
const JOB: StagingJob = 'sla-alert';

/** A digest lists this many alerts (the most overdue first) and counts the rest: an email people read, not a 600-line dump. */
export const DIGEST_ITEMS = 100;

/** fr / res: a target of sla-check; update: the team's updates (critical-reminder). */
export type AlertTarget = 'fr' | 'res' | 'update';
/** stale: a critical case without an update from the team (its dueAt is the last update). */
export type AlertWhat = 'warning' | 'breach' | 'stale';
const KIND = { fr: 'first-response', res: 'resolution', update: 'update' } as const;
/** Order in a digest: missed targets, then critical cases gone quiet, then warnings. */
const RANK: Record<AlertWhat, number> = { breach: 0, stale: 1, warning: 2 };

interface Staged {
  readonly id: number;
  readonly caseId: number;
  readonly address: string;
  readonly target: AlertTarget;
  readonly what: AlertWhat;
  readonly dueAt: string;
}

/** Stage one SLA alert to `address` (inside the case's transaction). */
export async function stageAlert(trx: Transaction<Database>, caseId: number, address: string, target: 'fr' | 'res', what: 'warning' | 'breach', dueAt: string, at: string): Promise<void> {
  await claim(trx, JOB, caseId, `${address} ${target} ${what} ${dueAt}`, at);
}

/**
 * Stage one "no update" reminder about a critical case to `address` (inside the case's
 * transaction, which claimed its quiet period). Keyed by the team's last update: a reminder of the
 * previous quiet period still staged (a run died before its end) and this one are one email.
 */
export async function stageStaleReminder(trx: Transaction<Database>, caseId: number, address: string, lastUpdateAt: string, at: string): Promise<void> {
  await claim(trx, 'stale-alert', caseId, `${address} update stale ${lastUpdateAt}`, at);
}

function parse(row: JobClaimRow): Staged | null {
  const [address, target, what, dueAt] = row.claim_key.split(' ');
  if (address === undefined || dueAt === undefined) return null;
  const sla = (target === 'fr' || target === 'res') && (what === 'warning' || what === 'breach');
  if (!sla && !(target === 'update' && what === 'stale')) return null;
  return { id: row.id, caseId: row.case_id, address, target, what, dueAt };
}

/** Queue the emails of every alert `job` staged, one transaction per recipient; the number of emails. */
export async function sendStagedAlerts(j: JobContext, job: StagingJob = JOB): Promise<number> {
  const { ctx } = j;
  const byAddress = new Map<string, number[]>();
  for (const row of await unsentClaims(ctx.db, job)) {
    const s = parse(row);
    if (s === null) continue;
    byAddress.set(s.address, [...(byAddress.get(s.address) ?? []), s.id]);
  }
  let sent = 0;
  for (const [address, ids] of byAddress) {
    try {
      sent += await ctx.db.transaction().execute(async (trx) => {
        const taken = (await takeClaims(trx, ids)).map(parse).filter((s): s is Staged => s !== null);
        const cases = new Map<number, CaseRow>();
        for (const s of taken) {
          const c = cases.get(s.caseId) ?? (await caseById(trx, s.caseId));
          if (c !== undefined) cases.set(s.caseId, c);
        }
        // A "no update" reminder a run staged and did not send (it died) about a case the team has
        // updated since, or that is no longer watched (resolved, pending, not critical): no longer
        // true — dropped with its staged row (the quiet period stays claimed, its event recorded).
        const stillQuiet = new Map<number, boolean>();
        for (const s of taken) {
          const c = cases.get(s.caseId);
          if (s.what !== 'stale' || c === undefined || stillQuiet.has(s.caseId)) continue;
          const sla = await slaOfCase(trx, s.caseId);
          stillQuiet.set(s.caseId, sla !== undefined && sla.last_update_at === s.dueAt && c.spam !== 1 && staleCheck(ctx, c, sla.last_update_at) !== null);
        }
        const alerts = taken.filter((s) => cases.has(s.caseId) && (s.what !== 'stale' || stillQuiet.get(s.caseId) === true));
        for (const id of [...cases.keys()]) if (!alerts.some((s) => s.caseId === id)) cases.delete(id);
        if (alerts.length === 0) return 0;
        const minutes = (s: Staged) => Math.round(Math.abs(new Date(s.dueAt).getTime() - j.now.getTime()) / 60_000);
        const dueLocal = (s: Staged, c: CaseRow) => DateTime.fromISO(s.dueAt, { zone: calendarOf(ctx.config, c.queue).zone }).toISO() ?? s.dueAt;
        const owner = (c: CaseRow) => ownerName(ctx.config, c.queue, c.owner);
        if (cases.size === 1) {
          for (const s of alerts) {
            const c = cases.get(s.caseId)!;
            const r = { address, name: '' };
            if (s.what === 'stale') await queueStaffEmail(trx, ctx, c, 'stale-reminder', r, { owner: { name: owner(c) }, stale: { minutes: minutes(s), lastUpdateAt: s.dueAt } });
            else if (s.what === 'warning') await queueStaffEmail(trx, ctx, c, 'sla-warning', r, { sla: { kind: KIND[s.target], dueAt: dueLocal(s, c), remaining: minutes(s) }, owner: { name: owner(c) } });
            else await queueStaffEmail(trx, ctx, c, 'sla-breach', r, { sla: { kind: KIND[s.target], dueAt: dueLocal(s, c), overdue: minutes(s) }, owner: { name: owner(c) } });
          }
          return alerts.length;
        }
        // Missed targets first, longest overdue first; then critical cases gone quiet, longest quiet
        // first; then warnings, soonest due first.
        const ordered = [...alerts].sort((a, b) => RANK[a.what] - RANK[b.what] || a.dueAt.localeCompare(b.dueAt));
        const first = cases.get(ordered[0]!.caseId)!;
        const queues = new Set([...cases.values()].map((c) => c.queue));
        const language = queues.size === 1 ? queueSettings(ctx.config, first.queue)?.language : undefined;
        const count = (what: AlertWhat) => alerts.filter((s) => s.what === what).length;
        await queueSystemEmail(trx, ctx, {
          kind: 'sla-digest',
          to: address,
          mailbox: ctx.mailboxes.ofCase(first),
          ...(language !== undefined ? { language } : {}),
          event: { type: 'sla.digest', reason: `${alerts.length} ${job === 'stale-alert' ? 'critical-case reminders' : 'SLA alerts'} about ${cases.size} cases to ${address} in one email`, data: { cases: [...cases.values()].map((c) => c.number) } },
          data: {
            instance: { name: ctx.config.instance.name },
            replyMarker: REPLY_MARKER,
            isTest: false,
            digest: {
              cases: cases.size,
              breaches: count('breach'),
              warnings: count('warning'),
              stale: count('stale'),
              more: Math.max(0, ordered.length - DIGEST_ITEMS),
              items: ordered.slice(0, DIGEST_ITEMS).map((s) => {
                const c = cases.get(s.caseId)!;
                return { alert: s.what, kind: KIND[s.target], caseNumber: c.number, caseTag: formatTag(ctx.config.cases.tagPrefix, c.number), subject: c.subject, queue: c.queue, priority: c.priority, owner: owner(c), dueAt: dueLocal(s, c), minutes: minutes(s), caseCommand: caseCommand(c.number) };
              }),
            },
          },
        });
        j.log.info({ to: address, alerts: alerts.length, job, cases: [...cases.values()].map((c) => c.number) }, 'sla digest');
        return 1;
      });
    } catch (err) {
      j.log.warn({ err, to: address }, 'SLA alert email failed; it is tried again with the next run');
    }
  }
  if (sent > 0) ctx.outboxSignal.wake();
  return sent;
}
