import { setStatus } from '../cases/lifecycle.js';
import { lockCaseById } from '../db/repos/cases.js';
import { resolvedBefore } from '../db/repos/follow-up.js';
import { BATCH, sweep, type JobDefinition } from './job.js';

/**
 * Resolved cases are closed jobs.resolvedClose.afterDays after resolution (no email: the customer
 * was told when it was resolved; a reply still reopens it within cases.reopenWindowDays).
 * Idempotent by nature: the change is made only while the case is still resolved (the case is
 * locked first, so a reply being written that reopens it is seen).
 */
export const resolvedCloseJob: JobDefinition = {
  name: 'resolved-close',
  configKey: 'resolvedClose',
  runOnFirstStart: true,
  run: (j) => {
    const days = j.ctx.config.jobs.resolvedClose.afterDays;
    const before = new Date(j.now.getTime() - days * 86_400_000).toISOString();
    return sweep(
      j,
      () => resolvedBefore(j.ctx.db, before, BATCH),
      (c) => c.id,
      async (c) => {
        // Still resolved (a reply may have reopened it since the scan)?
        const out = await j.ctx.db.transaction().execute(async (trx) =>
          (await lockCaseById(trx, c.id))?.status === 'resolved' ? setStatus(trx, j.ctx, c.id, 'closed', { actor: 'system', reason: `resolved for ${days} days` }) : null,
        );
        if (out !== null) j.log.info({ caseId: c.id, caseNumber: c.number, resolvedAt: c.resolved_at }, 'resolved case closed');
        return 0;
      },
    );
  },
};
