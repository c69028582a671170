import { alertRecipients } from '../cases/escalation.js';
import { staleCheck } from '../cases/sla-clock.js';
import { activeOwner, presentOwner } from '../cases/staff.js';
import { lockCaseById } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { queuedSince } from '../db/repos/agent-work.js';
import { claim, setClaimOutbox } from '../db/repos/jobs.js';
import { dueStaleChecks, slaOfCase, updateSla } from '../db/repos/sla.js';
import { commonData, queueEmail, requesterOf } from '../mail-out/compose.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { capCaseMail } from '../pipeline/staff-mail-cap.js';
import { BATCH, sweep, type JobContext, type JobDefinition } from './job.js';
import { sendStagedAlerts, stageStaleReminder } from './sla-alert-mail.js';

/**
 * A critical case (jobs.criticalReminder.priorities) without an update from the team for
 * afterMinutes: a reminder to its owner (unassigned: the queue's leads), again after each further
 * quiet period; with notifyCustomer a "we are still working on it" update to the customer, once
 * per quiet stretch (until the team's next update). Each quiet period and each customer update is
 * claimed once (job_claims; the team's reminders staged with it and written per recipient at the
 * run's end — one case alone its stale-reminder, several one sla-digest — the customer's update
 * with its outbox row). Suspected spam is not watched until it is
 * marked ham. The reminders count against the requester's agentMail.notifyPerSenderPerHour
 * (pipeline/staff-mail-cap.ts): a flood of urgent mail from one sender makes as many critical
 * cases, each reminding every hour.
 */

const MIN = 60_000;

async function remind(j: JobContext, caseId: number): Promise<number> {
  const { ctx } = j;
  const nowIso = j.now.toISOString();
  const settings = ctx.config.jobs.criticalReminder;
  const sent = await ctx.db.transaction().execute(async (trx) => {
    const caseRow = await lockCaseById(trx, caseId);
    const sla = await slaOfCase(trx, caseId);
    if (sla === undefined || caseRow === undefined || sla.stale_check_at === null || sla.stale_check_at > nowIso) return 0;
    const dueAt = sla.stale_check_at;
    if (caseRow.spam === 1) {
      // Suspected spam: no reminder to the team, no "still working" to the sender, until it is marked ham (releaseHeldChecks).
      await updateSla(trx, caseId, { stale_check_at: null });
      return 0;
    }
    // Still critical and active? Else the watch ends (staleCheck says null).
    if (staleCheck(ctx, caseRow, sla.last_update_at) === null) {
      await updateSla(trx, caseId, { stale_check_at: null });
      return 0;
    }
    // The next quiet period; after a long downtime not a burst of reminders, one now and the next later.
    const following = new Date(Math.max(new Date(dueAt).getTime(), j.now.getTime()) + settings.afterMinutes * MIN).toISOString();
    await updateSla(trx, caseId, { stale_check_at: following });
    const claimId = await claim(trx, 'critical-reminder', caseId, `stale:${dueAt}`, nowIso);
    if (claimId === null) return 0;
    const minutes = Math.round((j.now.getTime() - new Date(sla.last_update_at).getTime()) / MIN);
    const mailbox = ctx.mailboxes.ofCase(caseRow);
    // The owner; one marked away (available: false) as well as the leads, who can act meanwhile.
    const present = presentOwner(ctx.config, caseRow.queue, caseRow.owner);
    const away = activeOwner(ctx.config, caseRow.queue, caseRow.owner);
    const owner = present !== null ? [present] : [...new Set([...(away !== null ? [away] : []), ...alertRecipients(ctx, caseRow.queue, 0, 1)])];
    let n = 0;
    // Counted against the requester's per-sender cap: a flood of urgent mail makes as many critical
    // cases. Staged: the run's end writes each recipient's emails (sla-alert-mail.ts) — one case:
    // its stale-reminder; more (a weekend nobody touched 30 urgent cases): one sla-digest.
    const { sent: reminded, held } = await capCaseMail(trx, ctx, caseRow, 'stale-reminder', owner, async (to) => {
      for (const address of to) await stageStaleReminder(trx, caseId, address, sla.last_update_at, nowIso);
    });
    let customer = 'not configured';
    if (settings.notifyCustomer) {
      // The customer hears "we are still working on it … we will write again as soon as we know
      // more" once per quiet stretch (since the team's last update), not with every reminder to
      // the team: an urgent case nobody touched over a weekend sent them one every hour.
      const customerClaim = await claim(trx, 'critical-reminder', caseId, `still-working:${sla.last_update_at}`, nowIso);
      const to = requesterOf(caseRow);
      // And one per address and quiet period: a customer (or a flood's sender) with many critical
      // cases would get one per case every hour.
      const since = new Date(j.now.getTime() - settings.afterMinutes * MIN).toISOString();
      const refusal =
        customerClaim === null
          ? null
          : ((await recipientRefusal(ctx, trx, to.address)) ??
            ((await queuedSince(trx, 'still-working', to.address, since)) > 0 ? `one went to ${to.address} within the past ${settings.afterMinutes} min (about another of its cases)` : null));
      if (customerClaim === null) {
        customer = 'the customer was told already since the last update from the team';
      } else if (refusal === null) {
        const id = await queueEmail(trx, ctx, { caseRow, mailbox, kind: 'still-working', to, autoReply: false, generated: true, inReplyTo: null, references: [], dueAt, data: { ...commonData(ctx, caseRow, mailbox, to), update: { minutes } } });
        await setClaimOutbox(trx, customerClaim, id);
        n++;
        customer = `update to ${to.address}`;
      } else {
        customer = `no update to the customer: ${refusal}`;
      }
    }
    await addEvent(trx, {
      caseId,
      type: 'sla.stale-reminder',
      actor: 'system',
      reason: `critical case without an update for ${minutes} min: reminder to ${reminded.join(', ') || (held.length > 0 ? 'nobody' : 'nobody (no owner, no tier 1, no instance.adminAddress)')}${held.length > 0 ? `; held for ${held.join(', ')} (agentMail.notifyPerSenderPerHour: mail from ${caseRow.requester_address} caused too much staff email within the hour)` : ''}; ${customer}`,
      data: { minutes, lastUpdateAt: sla.last_update_at, recipients: reminded, ...(held.length > 0 ? { held } : {}) },
      at: nowIso,
    });
    j.log.info({ caseId, caseNumber: caseRow.number, minutes, recipients: reminded, ...(held.length > 0 ? { held } : {}), customer }, 'critical case without update: reminder');
    return n;
  });
  return sent;
}

export const criticalReminderJob: JobDefinition = {
  name: 'critical-reminder',
  configKey: 'criticalReminder',
  runOnFirstStart: true,
  run: async (j) => {
    const { processed, sent } = await sweep(
      j,
      () => dueStaleChecks(j.ctx.db, j.now.toISOString(), BATCH),
      (r) => r.caseRow.id,
      (r) => remind(j, r.caseRow.id),
    );
    return { processed, sent: sent + (await sendStagedAlerts(j, 'stale-alert')) };
  },
};
