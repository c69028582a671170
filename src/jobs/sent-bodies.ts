import { dropSentBodies, sentBodiesBefore } from '../db/repos/outbox.js';
import type { JobDefinition } from './job.js';

/** Rows emptied per statement: short transactions, so mail and the pipeline never wait long for the write lock. */
const DROP_BATCH = 500;

/**
 * Retention of sent emails' rendered bodies: jobs.sentBodies.keepDays after an email was sent,
 * its text and HTML in the outbox are emptied (outbox.body_dropped_at says when). The row stays —
 * recipients, Message-ID, status, times, errors — which is what threading (replies by
 * Message-ID), bounce matching, the once-per-case and rate-limit checks and the record of what
 * was sent need. The case's thread keeps its own copy of every email that is part of the
 * conversation (messages: the customer's confirmations, agents' replies), shown on `casegate case
 * show` and the case page; what goes are the bodies of notices, reminders, alerts (whose thread
 * entries hold only their visible text: compose.ts) and the outbox's duplicate of thread emails,
 * about 6 KB an email. Only sent emails: queued and failed ones may
 * still be sent (`outbox retry`). SQLite reuses the freed pages; the file shrinks with VACUUM.
 */
export const sentBodiesJob: JobDefinition = {
  name: 'sent-bodies',
  configKey: 'sentBodies',
  runOnFirstStart: true,
  run: async (j) => {
    const days = j.ctx.config.jobs.sentBodies.keepDays;
    const before = new Date(j.now.getTime() - days * 86_400_000).toISOString();
    const at = j.now.toISOString();
    let processed = 0;
    while (!j.stopping()) {
      const ids = await sentBodiesBefore(j.ctx.db, before, DROP_BATCH);
      if (ids.length === 0) break;
      processed += await dropSentBodies(j.ctx.db, ids, at);
      if (ids.length < DROP_BATCH) break;
    }
    if (processed > 0) j.log.info({ emails: processed, sentBefore: before, keepDays: days }, 'rendered bodies of old sent emails dropped (the rows stay)');
    return { processed, sent: 0 };
  },
};
