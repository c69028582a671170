import type { Transaction } from 'kysely';
import type { MailboxConfig } from '../config/schema.js';
import type { AppContext } from '../context.js';
import type { CaseRow, Database } from '../db/schema.js';
import { commonData, confirmationExtras, queueEmail } from '../mail-out/compose.js';
import { promiseData } from './promise.js';

export interface ConfirmationTarget {
  readonly caseRow: CaseRow;
  readonly mailbox: MailboxConfig;
  readonly to: { readonly address: string; readonly name: string };
  /** Message-ID of the customer's message it answers, and that message's References. */
  readonly inReplyTo: string | null;
  readonly references: readonly string[];
  /** The case's first message (its Message-ID as stored) when the caller just stored it; else null (looked up). */
  readonly threadRoot: string | null;
}

/**
 * Queue the confirmation of a new case (the automatic reply with the case number and the expected
 * response time), in the caller's transaction. The caller decided that an automatic reply is
 * allowed (react stage for new mail; `casegate cases ham` for a case released from spam).
 */
export async function queueConfirmation(trx: Transaction<Database>, ctx: AppContext, t: ConfirmationTarget): Promise<number> {
  return queueEmail(trx, ctx, {
    caseRow: t.caseRow,
    mailbox: t.mailbox,
    to: t.to,
    autoReply: true,
    inReplyTo: t.inReplyTo,
    references: [...t.references],
    threadRoot: t.threadRoot,
    kind: 'confirmation',
    data: {
      ...commonData(ctx, t.caseRow, t.mailbox, t.to),
      ...confirmationExtras(ctx.config, t.caseRow.queue, t.caseRow.language),
      // The SLA promise in the queue's time zone (issue 11).
      promise: promiseData(ctx.config, t.caseRow, ctx.clock.now()),
    },
  });
}
