import { pendingDueAt, pendingStep } from '../cases/follow-up.js';
import { calendarOf } from '../cases/sla-policy.js';
import { setStatus } from '../cases/lifecycle.js';
import { lockCaseById } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { lastAgentReplyText } from '../db/repos/follow-up.js';
import { claim, setClaimOutbox } from '../db/repos/jobs.js';
import { duePendingActions, slaOfCase, updateSla } from '../db/repos/sla.js';
import { commonData, queueEmail, requesterOf } from '../mail-out/compose.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { BATCH, sweep, type JobContext, type JobDefinition } from './job.js';

/**
 * Cases waiting for the customer (pending): a reminder to the customer after each of
 * jobs.pendingReminder.remindAfterBusinessDays business days (the queue's calendar), and after
 * autoCloseAfterDays without a reply the case is closed with a templated notice. Each reminder and
 * the close are claimed once per pending period (job_claims, with the outbox row). A customer
 * reply ends the pending period (the SLA hooks clear it). After a downtime (cases/follow-up.ts
 * pendingStep): the latest missed reminder only, never the close before the last reminder, and a
 * step taken late moves the rest by its delay (stored in pending_next_at).
 */

async function followUp(j: JobContext, caseId: number): Promise<number> {
  const { ctx } = j;
  const nowIso = j.now.toISOString();
  return ctx.db.transaction().execute(async (trx) => {
    const caseRow = await lockCaseById(trx, caseId);
    const sla = await slaOfCase(trx, caseId);
    if (sla === undefined || caseRow === undefined || sla.pending_next_at === null || sla.pending_next_at > nowIso) return 0;
    if (caseRow.status !== 'pending' || sla.pending_since === null) {
      await updateSla(trx, caseId, { pending_next_at: null });
      return 0;
    }
    const since = new Date(sla.pending_since);
    const calendar = calendarOf(ctx.config, caseRow.queue);
    const scheduled = new Date(sla.pending_next_at);
    const step = pendingStep(ctx.config, calendar, since, sla.pending_reminders, scheduled, j.now);
    if (step === null) {
      await updateSla(trx, caseId, { pending_next_at: pendingDueAt(ctx.config, calendar, since, sla.pending_reminders, scheduled)?.toISOString() ?? null });
      return 0;
    }
    const { action } = step;
    const mailbox = ctx.mailboxes.ofCase(caseRow);
    const to = requesterOf(caseRow);
    if (action.kind === 'reminder') {
      await updateSla(trx, caseId, { pending_reminders: action.number, pending_next_at: step.nextAt?.toISOString() ?? null });
      const claimId = await claim(trx, 'pending-reminder', caseId, `reminder:${sla.pending_since}:${action.number}`, nowIso);
      if (claimId === null) return 0;
      const refusal = await recipientRefusal(ctx, trx, to.address);
      let sent = 0;
      if (refusal === null) {
        const outboxId = await queueEmail(trx, ctx, {
          caseRow,
          mailbox,
          kind: 'reminder',
          to,
          autoReply: false,
          generated: true,
          inReplyTo: null,
          references: [],
          dueAt: step.dueAt.toISOString(),
          data: { ...commonData(ctx, caseRow, mailbox, to), reminder: { number: action.number, waitingSince: sla.pending_since, closesAt: step.closesAt?.toISOString() ?? '', lastMessage: await lastAgentReplyText(trx, caseId) } },
        });
        await setClaimOutbox(trx, claimId, outboxId);
        sent = 1;
      }
      await addEvent(trx, { caseId, type: 'case.reminder', actor: 'system', reason: refusal === null ? `reminder ${action.number} to ${to.address}: waiting for the customer since ${sla.pending_since}` : `reminder ${action.number} not sent: ${refusal}`, data: { number: action.number, pendingSince: sla.pending_since }, at: nowIso });
      j.log.info({ caseId, caseNumber: caseRow.number, number: action.number, sent: sent === 1, refusal }, 'pending case: reminder');
      return sent;
    }
    const claimId = await claim(trx, 'pending-reminder', caseId, `auto-close:${sla.pending_since}`, nowIso);
    if (claimId === null) {
      await updateSla(trx, caseId, { pending_next_at: null });
      return 0;
    }
    const days = ctx.config.jobs.pendingReminder.autoCloseAfterDays;
    const after = (await setStatus(trx, ctx, caseId, 'closed', { actor: 'system', reason: `no reply from the customer for ${days} days (automatic close)` }))?.caseRow ?? caseRow;
    const refusal = await recipientRefusal(ctx, trx, to.address);
    let sent = 0;
    if (refusal === null) {
      const outboxId = await queueEmail(trx, ctx, {
        caseRow: after,
        mailbox,
        kind: 'auto-closed',
        to,
        autoReply: false,
        generated: true,
        inReplyTo: null,
        references: [],
        dueAt: step.dueAt.toISOString(),
        data: { ...commonData(ctx, after, mailbox, to), autoClose: { days }, reopenDays: ctx.config.cases.reopenWindowDays },
      });
      await setClaimOutbox(trx, claimId, outboxId);
      sent = 1;
    }
    await addEvent(trx, { caseId, type: 'case.auto-closed', actor: 'system', reason: `closed after ${days} days without a reply from the customer${refusal !== null ? `; notice not sent: ${refusal}` : `; notice to ${to.address}`}`, data: { days, pendingSince: sla.pending_since }, at: nowIso });
    j.log.info({ caseId, caseNumber: caseRow.number, days, sent: sent === 1 }, 'pending case closed automatically');
    return sent;
  });
}

export const pendingReminderJob: JobDefinition = {
  name: 'pending-reminder',
  configKey: 'pendingReminder',
  runOnFirstStart: true,
  run: (j) =>
    sweep(
      j,
      () => duePendingActions(j.ctx.db, j.now.toISOString(), BATCH),
      (r) => r.caseRow.id,
      (r) => followUp(j, r.caseRow.id),
    ),
};
