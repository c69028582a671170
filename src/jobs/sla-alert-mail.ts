import { DateTime } from 'luxon';
import { ownerName, queueSettings } from '../cases/staff.js';
import { formatTag } from '../cases/subject-tag.js';
import { calendarOf } from '../cases/sla-policy.js';
import { caseById } from '../db/repos/cases.js';
import { claim, takeClaims, unsentClaims, type JobClaimRow } from '../db/repos/jobs.js';
import type { CaseRow, Database } from '../db/schema.js';
import { caseCommand, queueStaffEmail, REPLY_MARKER } from '../mail-out/compose.js';
import { queueSystemEmail } from '../mail-out/system-email.js';
import type { Transaction } from 'kysely';
import type { JobContext } from './job.js';

/**
 * The emails of the SLA alerts one sla-check run decided (sla-check.ts), per recipient: alerts
 * about one case go as its own sla-warning / sla-breach emails (threaded under the case's staff
 * mail); alerts about more than one case as one `sla-digest` listing them all — after a downtime
 * (a weekend, an upgrade) or in a busy hour, a lead whose 40 cases breached gets one email, not 40.
 *
 * Each alert is staged (a job_claims row of the job `sla-alert`, outbox_id null) in the
 * transaction that claims the case's flag and writes its `sla.*` event; `sendStagedAlerts`, at
 * the end of each run, takes a recipient's staged rows (deleting them) in the transaction that
 * writes the email. A crash in between leaves them staged: the next run (at start: catch-up)
 * sends them. Never lost, never twice.
 */

const JOB = 'sla-alert';

/** A digest lists this many alerts (the most overdue first) and counts the rest: an email people read, not a 600-line dump. */
export const DIGEST_ITEMS = 100;

export type AlertTarget = 'fr' | 'res';
export type AlertWhat = 'warning' | 'breach';
const KIND = { fr: 'first-response', res: 'resolution' } as const;

interface Staged {
  readonly id: number;
  readonly caseId: number;
  readonly address: string;
  readonly target: AlertTarget;
  readonly what: AlertWhat;
  readonly dueAt: string;
}

/** Stage one alert to `address` (inside the case's transaction). */
export async function stageAlert(trx: Transaction<Database>, caseId: number, address: string, target: AlertTarget, what: AlertWhat, dueAt: string, at: string): Promise<void> {
  await claim(trx, JOB, caseId, `${address} ${target} ${what} ${dueAt}`, at);
}

function parse(row: JobClaimRow): Staged | null {
  const [address, target, what, dueAt] = row.claim_key.split(' ');
  if (address === undefined || dueAt === undefined || (target !== 'fr' && target !== 'res') || (what !== 'warning' && what !== 'breach')) return null;
  return { id: row.id, caseId: row.case_id, address, target, what, dueAt };
}

/** Queue the emails of every staged alert, one transaction per recipient; the number of emails. */
export async function sendStagedAlerts(j: JobContext): Promise<number> {
  const { ctx } = j;
  const byAddress = new Map<string, number[]>();
  for (const row of await unsentClaims(ctx.db, JOB)) {
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
        const alerts = taken.filter((s) => cases.has(s.caseId));
        if (alerts.length === 0) return 0;
        const minutes = (s: Staged) => Math.round(Math.abs(new Date(s.dueAt).getTime() - j.now.getTime()) / 60_000);
        const dueLocal = (s: Staged, c: CaseRow) => DateTime.fromISO(s.dueAt, { zone: calendarOf(ctx.config, c.queue).zone }).toISO() ?? s.dueAt;
        const owner = (c: CaseRow) => ownerName(ctx.config, c.queue, c.owner);
        if (cases.size === 1) {
          for (const s of alerts) {
            const c = cases.get(s.caseId)!;
            const r = { address, name: '' };
            if (s.what === 'warning') await queueStaffEmail(trx, ctx, c, 'sla-warning', r, { sla: { kind: KIND[s.target], dueAt: dueLocal(s, c), remaining: minutes(s) }, owner: { name: owner(c) } });
            else await queueStaffEmail(trx, ctx, c, 'sla-breach', r, { sla: { kind: KIND[s.target], dueAt: dueLocal(s, c), overdue: minutes(s) }, owner: { name: owner(c) } });
          }
          return alerts.length;
        }
        // Missed targets first, longest overdue first; then warnings, soonest due first.
        const ordered = [...alerts].sort((a, b) => (a.what === b.what ? a.dueAt.localeCompare(b.dueAt) : a.what === 'breach' ? -1 : 1));
        const first = cases.get(ordered[0]!.caseId)!;
        const queues = new Set([...cases.values()].map((c) => c.queue));
        const language = queues.size === 1 ? queueSettings(ctx.config, first.queue)?.language : undefined;
        const breaches = alerts.filter((s) => s.what === 'breach').length;
        await queueSystemEmail(trx, ctx, {
          kind: 'sla-digest',
          to: address,
          mailbox: ctx.mailboxes.ofCase(first),
          ...(language !== undefined ? { language } : {}),
          event: { type: 'sla.digest', reason: `${alerts.length} SLA alerts about ${cases.size} cases to ${address} in one email`, data: { cases: [...cases.values()].map((c) => c.number) } },
          data: {
            instance: { name: ctx.config.instance.name },
            replyMarker: REPLY_MARKER,
            isTest: false,
            digest: {
              cases: cases.size,
              breaches,
              warnings: alerts.length - breaches,
              more: Math.max(0, ordered.length - DIGEST_ITEMS),
              items: ordered.slice(0, DIGEST_ITEMS).map((s) => {
                const c = cases.get(s.caseId)!;
                return { alert: s.what, kind: KIND[s.target], caseNumber: c.number, caseTag: formatTag(ctx.config.cases.tagPrefix, c.number), subject: c.subject, queue: c.queue, priority: c.priority, owner: owner(c), dueAt: dueLocal(s, c), minutes: minutes(s), caseCommand: caseCommand(c.number) };
              }),
            },
          },
        });
        j.log.info({ to: address, alerts: alerts.length, cases: [...cases.values()].map((c) => c.number) }, 'sla digest');
        return 1;
      });
    } catch (err) {
      j.log.warn({ err, to: address }, 'SLA alert email failed; it is tried again with the next run');
    }
  }
  if (sent > 0) ctx.outboxSignal.wake();
  return sent;
}
