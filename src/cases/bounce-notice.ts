import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { bouncedEmail } from '../db/repos/case-thread.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { queueEmail, staffCaseData } from '../mail-out/compose.js';
import { attentionAddresses, isStaff, ownerName } from './staff.js';

/**
 * Closing the loop on a hard bounce (issue 14): when an address of a case starts bouncing, the
 * owner of the case (unowned: the queue's available agents; none: instance.adminAddress) gets one
 * bounce-notice; a staff address that bounced (never marked: see persist) goes to
 * instance.adminAddress, and the bouncing address is never the one told. "Once": only on the change from reachable to bouncing — further bounces of an
 * address already bouncing tell nobody again; after a mail from the address cleared it, a new
 * hard bounce is news again.
 */
export interface HardBounce {
  readonly address: string;
  readonly status: string | null;
  readonly diagnostic: string | null;
  readonly originalMessageIds: readonly string[];
  /** The message that reported it (a DSN); null when the relay refused the email as we sent it. */
  readonly messageRowId: number | null;
  /** The address is now marked bouncing (casegate sends it nothing more); default true. */
  readonly permanent?: boolean;
}

export async function tellOwnerOfBounce(trx: Transaction<Database>, ctx: AppContext, caseRow: CaseRow, b: HardBounce): Promise<string[]> {
  const now = ctx.clock.now().toISOString();
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const admin = ctx.config.instance.adminAddress;
  // A staff address that bounces is the administrator's problem (the bounced mail was ours to
  // that person); and whoever bounced is never the one told.
  const staff = isStaff(ctx.config, b.address) ? [] : attentionAddresses(ctx.config, caseRow.queue, caseRow.owner).filter((r) => r.address !== b.address);
  const to = staff.length > 0 ? staff : admin !== undefined && admin !== b.address ? [{ address: admin, name: '' }] : [];
  const log = ctx.log.child({ caseId: caseRow.id, caseNumber: caseRow.number });
  // A DSN reported it, or our relay refused the email as we sent it (messageRowId null).
  const what = b.messageRowId === null ? 'was refused by the relay' : 'bounced hard';
  if (to.length === 0) {
    log.warn({ address: b.address }, `address ${what}; nobody to tell (no owner, no available agent, no instance.adminAddress)`);
    return [];
  }
  const bounced = await bouncedEmail(trx, b.originalMessageIds);
  for (const r of to) {
    await queueEmail(trx, ctx, {
      caseRow,
      mailbox,
      kind: 'bounce-notice',
      to: r,
      autoReply: false,
      inReplyTo: null,
      references: [],
      data: {
        ...staffCaseData(ctx, caseRow, mailbox),
        bounce: {
          address: b.address,
          status: b.status ?? '',
          diagnostic: b.diagnostic ?? '',
          permanent: b.permanent ?? true,
          kind: bounced?.kind ?? '',
          subject: bounced?.subject ?? '',
          at: now,
        },
      },
    });
  }
  const told = to.map((r) => r.address);
  await addEvent(trx, {
    caseId: caseRow.id,
    messageRowId: b.messageRowId,
    type: 'bounce.notice-sent',
    actor: 'system',
    reason: `${b.address} ${what}: told ${told.join(', ')}`,
    data: { address: b.address, to: told, owner: caseRow.owner !== null ? ownerName(ctx.config, caseRow.queue, caseRow.owner) : null },
    at: now,
  });
  log.info({ address: b.address, to: told }, `address ${what}; owner told`);
  return told;
}
