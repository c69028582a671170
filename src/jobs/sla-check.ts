import { alertRecipients } from '../cases/escalation.js';
import { nextCheck } from '../cases/sla-clock.js';
import { activeOwner } from '../cases/staff.js';
import { lockCaseById } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { countSlaBreach } from '../db/repos/ops.js';
import { claimSlaFlag, dueSlaChecks, slaOfCase, updateSla } from '../db/repos/sla.js';
import type { CaseRow, CaseSlaRow } from '../db/schema.js';
import { capCaseMail } from '../pipeline/staff-mail-cap.js';
import { BATCH, sweep, type JobContext, type JobDefinition } from './job.js';
import { sendStagedAlerts, stageAlert } from './sla-alert-mail.js';

/**
 * SLA warnings and breaches (issue 11): when a share of a target (sla.warnAt) has passed, and when
 * the target was missed, alert the owner and the queue's leads (tier 1; else instance.adminAddress)
 * with a templated email, record an event and set the flag — each once per case and target. The
 * flag is claimed (set only when unset) in the transaction that writes the outbox rows, so a
 * restart or a crash never alerts twice. When a breach is already due, its warning is not sent.
 * A case that is suspected spam alerts nobody: its checks are held until it is marked ham. The
 * alerts count against the requester's agentMail.notifyPerSenderPerHour (pipeline/staff-mail-cap.ts):
 * a flood's cases breach together; past the cap, one flood notice per recipient, then none.
 * The emails are written at the end of the run, per recipient (sla-alert-mail.ts): alerts about one
 * case as its sla-warning / sla-breach emails, about several cases as one sla-digest.
 */

type Target = 'fr' | 'res';
const KIND = { fr: 'first-response', res: 'resolution' } as const;
/** The label of /metrics casegate_sla_breaches_total. */
const METRIC_TARGET = { fr: 'first_response', res: 'resolution' } as const;

/** Owner first, then the leads (or the admin), without duplicates. */
export function slaRecipients(j: JobContext, caseRow: CaseRow): string[] {
  const out = new Set<string>();
  const owner = activeOwner(j.ctx.config, caseRow.queue, caseRow.owner);
  if (owner !== null) out.add(owner);
  for (const a of alertRecipients(j.ctx, caseRow.queue, 0, 1)) out.add(a);
  return [...out];
}

async function checkCase(j: JobContext, caseId: number): Promise<number> {
  const { ctx } = j;
  const nowIso = j.now.toISOString();
  return ctx.db.transaction().execute(async (trx) => {
    const caseRow = await lockCaseById(trx, caseId);
    const sla = await slaOfCase(trx, caseId);
    if (sla === undefined || caseRow === undefined || sla.next_check_at === null || sla.next_check_at > nowIso) return 0;
    if (caseRow.spam === 1) {
      // Suspected spam pages nobody: the checks are held until it is marked ham (releaseHeldChecks).
      await updateSla(trx, caseId, { next_check_at: null });
      await addEvent(trx, { caseId, type: 'sla.held', actor: 'system', reason: 'suspected spam: no SLA alerts until it is marked ham', at: nowIso });
      return 0;
    }
    for (const t of ['fr', 'res'] as const) {
      const due = t === 'fr' ? sla.fr_due_at : sla.res_due_at;
      const warn = t === 'fr' ? sla.fr_warn_at : sla.res_warn_at;
      const done = t === 'fr' ? caseRow.first_response_at : sla.res_done_at;
      if (due === null || done !== null) continue;
      if (due <= nowIso) {
        if (!(await claimSlaFlag(trx, caseId, `${t}_breached_at`, nowIso))) continue;
        // A warning not sent yet is pointless now: marked, not sent.
        await claimSlaFlag(trx, caseId, `${t}_warned_at`, nowIso);
        await alert(j, caseRow, sla, t, 'breach', due);
      } else if (warn !== null && warn <= nowIso) {
        if (!(await claimSlaFlag(trx, caseId, `${t}_warned_at`, nowIso))) continue;
        await alert(j, caseRow, sla, t, 'warning', due);
      }
    }
    const after = await slaOfCase(trx, caseId);
    if (after !== undefined) await updateSla(trx, caseId, { next_check_at: nextCheck(after, caseRow.first_response_at) });
    return 0;

    async function alert(j: JobContext, c: CaseRow, s: CaseSlaRow, t: Target, what: 'warning' | 'breach', dueAt: string): Promise<void> {
      const minutes = Math.round(Math.abs(new Date(dueAt).getTime() - j.now.getTime()) / 60_000);
      const recipients = slaRecipients(j, c);
      // Counted against the requester's per-sender cap: a flood's cases breach together. Staged:
      // the run's end writes each recipient's emails (one case: its alerts; more: one digest).
      const { sent, held } = await capCaseMail(trx, ctx, c, `sla-${what}`, recipients, async (to) => {
        for (const address of to) await stageAlert(trx, c.id, address, t, what, dueAt, nowIso);
      });
      const heldNote = held.length > 0 ? `; held for ${held.join(', ')} (agentMail.notifyPerSenderPerHour: mail from ${c.requester_address} caused too much staff email within the hour)` : '';
      await addEvent(trx, {
        caseId: c.id,
        type: `sla.${what}`,
        actor: 'system',
        reason: `${KIND[t]} ${what === 'warning' ? `due in ${minutes} min` : `missed (due ${dueAt})`}; alert to ${sent.join(', ') || (held.length > 0 ? 'nobody' : 'nobody (configure tier 1 or instance.adminAddress)')}${heldNote}`,
        data: { target: KIND[t], dueAt, recipients: sent, ...(held.length > 0 ? { held } : {}), policy: s.policy },
        at: nowIso,
      });
      // /metrics casegate_sla_breaches_total: kept with the event, in its transaction.
      if (what === 'breach') await countSlaBreach(trx, METRIC_TARGET[t]);
      j.log.info({ caseId: c.id, caseNumber: c.number, target: KIND[t], dueAt, recipients: sent, ...(held.length > 0 ? { held } : {}) }, `sla ${what}`);
    }
  });
}

export const slaCheckJob: JobDefinition = {
  name: 'sla-check',
  configKey: 'slaCheck',
  runOnFirstStart: true,
  run: async (j) => {
    const { processed } = await sweep(
      j,
      () => dueSlaChecks(j.ctx.db, j.now.toISOString(), BATCH),
      (r) => r.caseRow.id,
      (r) => checkCase(j, r.caseRow.id),
    );
    return { processed, sent: await sendStagedAlerts(j) };
  },
};
