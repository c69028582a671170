import { caseOpened, setStatus } from '../../cases/lifecycle.js';
import { caseSubject } from '../../cases/subject-tag.js';
import { isStaff } from '../../cases/staff.js';
import { addressKey } from '../../address-form.js';
import { clearBouncing, isBouncing, recordBounce } from '../../db/repos/addresses.js';
import { tellOwnerOfBounce } from '../../cases/bounce-notice.js';
import { BOUNCE_MAX_AGE_DAYS } from '../../mail-in/bounce-status.js';
import type { Transaction } from 'kysely';
import type { AppContext } from '../../context.js';
import { actsAsParticipant, enrolRecipients, staffProven } from '../../cases/participation.js';
import { addParticipant, insertCase, lockCaseById, nextCaseNumber, updateCase } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { outgoingRecipients } from '../../db/repos/messages.js';
import type { CaseRow, Database } from '../../db/schema.js';
import { need, type CommitStage, type Inbound } from '../types.js';
import { recordMessage, recordReceipt } from './record-inbound.js';
import { bounceStanding } from '../bounce-standing.js';
import { verpParts } from '../../cases/thread-token.js';
import { decideReopen } from './thread.js';

/** Record it: receipt, case (new, appended or reopened), participants, message, attachments, events. */
export const persistStage: CommitStage = {
  name: 'persist',
  async run(msg, ctx, trx) {
    const { arrival, notes } = msg;
    const parsed = need(notes.parsed, 'parsed');
    const sender = need(notes.sender, 'sender');
    const thread = need(notes.thread, 'thread');
    const cls = need(notes.classification, 'classification');
    const now = ctx.clock.now().toISOString();
    const actor = `customer:${sender.address}`;

    const receiptId = await recordReceipt(msg, trx, 'persist', thread.rule);

    let caseRow: CaseRow;
    let created = false;
    let reopened = false;
    if (thread.kind === 'new') {
      const number = await nextCaseNumber(trx, ctx.config.cases.firstNumber);
      const routing = notes.routing;
      // Feedback (a feedback queue's message) is recorded closed: no SLA, nobody has to act.
      const feedback = routing?.kind === 'feedback';
      caseRow = await insertCase(trx, {
        number,
        subject: routing?.subject ?? caseSubject(parsed.subject, ctx.config.cases.tagPrefix, cls.language),
        requester_address: sender.address,
        requester_name: sender.name,
        status: feedback ? 'closed' : 'new',
        kind: feedback ? 'feedback' : 'case',
        priority: cls.priority,
        queue: cls.queue,
        mailbox: cls.mailbox,
        language: cls.language,
        linked_case_id: thread.linkedCaseId,
        owner: null,
        created_at: now,
        updated_at: now,
        resolved_at: null,
        closed_at: feedback ? now : null,
        last_customer_at: now,
        first_response_due_at: null,
        resolution_due_at: null,
        spam: notes.spam != null ? 1 : 0,
      });
      created = true;
      await addParticipant(trx, caseRow.id, sender.address, sender.name, 'requester', now);
      await addEvent(trx, {
        caseId: caseRow.id,
        type: 'case.created',
        actor,
        reason: thread.linkedCaseNumber !== null ? `${thread.rule}: linked to case ${thread.linkedCaseNumber}` : 'new email',
        data: { rule: thread.rule, linkedCaseId: thread.linkedCaseId, channel: arrival.channel, mailbox: arrival.mailbox.name, ...(cls.mailbox !== arrival.mailbox.name ? { caseMailbox: cls.mailbox } : {}) },
        at: now,
      });
      if (thread.linkedCaseId !== null) {
        await addEvent(trx, {
          caseId: thread.linkedCaseId,
          type: 'case.linked',
          actor,
          reason: `${thread.rule}: new case ${number} opened from mail referring to this case`,
          data: { newCaseId: caseRow.id, newCaseNumber: number },
          at: now,
        });
      }
      // Its clocks start with it (feedback has none): the row comes back with its due times.
      caseRow = await caseOpened(trx, ctx, caseRow);
    } else {
      // The thread stage read the case before this transaction: meanwhile another daemon, the CLI
      // or a job may have changed its status (an agent closed it, it went pending). Locked
      // (PostgreSQL: FOR UPDATE; SQLite: the write lock is held) and read again, and the reopen
      // decided on what it is now — a reply must never be appended unseen to a case closed meanwhile.
      caseRow = (await lockCaseById(trx, thread.caseRow.id)) ?? thread.caseRow;
      const reopen = caseRow.status === thread.caseRow.status ? thread.reopen : reopenNow(msg, ctx, caseRow, thread);
      // Suspected spam is recorded on the case like automated mail: it neither reopens the case
      // nor counts as the customer's reply.
      const automated = notes.automated != null || notes.spam != null;
      // Status changes go through the case lifecycle (events, SLA hooks); an unverified sender
      // (DMARC failed, e.g. a forged agent address) changes no status, nor does an agent's address
      // that is not proven for the case (agent-role stage): that agent meant to work the case
      // ("#close"), not to reopen it as its customer.
      const claim = notes.staffClaim ?? null;
      if ((!sender.verified || claim !== null) && !automated) {
        if (reopen === 'reopen' || caseRow.status === 'pending') {
          const why = sender.verified && claim !== null ? `staff address ${claim.address} not proven for the case` : `sender not verified (${sender.why})`;
          await addEvent(trx, { caseId: caseRow.id, type: 'case.not-reopened', actor, reason: `${why}: the ${caseRow.status} case keeps its status`, at: now });
        }
        caseRow = await updateCase(trx, caseRow.id, { updated_at: now, last_customer_at: now });
      } else if (reopen === 'reopen' && notes.spam == null) {
        caseRow = (await setStatus(trx, ctx, caseRow.id, 'open', { actor, reason: `customer replied to a ${caseRow.status} case` }, { last_customer_at: now }))?.caseRow ?? caseRow;
        reopened = true;
      } else if (!automated) {
        // A customer reply on a case waiting for the customer moves it back to open (a mere status question does not).
        if (caseRow.status === 'pending' && notes.statusRequest !== true) {
          caseRow = (await setStatus(trx, ctx, caseRow.id, 'open', { actor, reason: 'customer replied' }))?.caseRow ?? caseRow;
        }
        caseRow = await updateCase(trx, caseRow.id, { updated_at: now, last_customer_at: now });
        if (reopen === 'keep-thanks' || reopen === 'keep-empty') {
          const what = reopen === 'keep-thanks' ? 'a thank-you reply' : 'a reply with nothing written (no text above the quoted email but perhaps a signature, no file)';
          await addEvent(trx, { caseId: caseRow.id, type: 'case.not-reopened', actor, reason: `${what} does not reopen a ${caseRow.status} case`, at: now });
        }
      }
    }

    await enrolParticipants(msg, ctx, trx, caseRow, created, now);
    // A mail from a bouncing address proves it reachable again (recorded on the case below); a
    // reply typed on the case page (channel web) was never in that mailbox and proves nothing.
    const fromMailbox = msg.arrival.channel !== 'web';
    const reachableAgain = fromMailbox && sender.verified && notes.automated == null && notes.spam == null ? await clearBouncing(trx, sender.address, now) : false;

    const recorded = await recordMessage(msg, ctx, trx, { caseRow, receiptId, threadRule: thread.rule, internal: false, author: null });
    const messageRowId = recorded.rowId;
    if (notes.spam != null) {
      await addEvent(trx, {
        caseId: caseRow.id,
        messageRowId,
        type: 'message.spam-suspected',
        actor: 'system',
        reason: `our MX called it spam: ${notes.spam.reason}${created ? '; case kept out of the default list until marked ham' : ''}`,
        data: { score: notes.spam.score },
        at: now,
      });
    }
    if (!created) {
      await addEvent(trx, {
        caseId: caseRow.id,
        messageRowId,
        type: notes.automated != null ? 'message.automated' : 'message.received',
        actor,
        reason: notes.automated != null ? `${notes.automated.kind}: ${notes.automated.reason}` : `threaded by ${thread.rule}`,
        data: { rule: thread.rule },
        at: now,
      });
    }

    const bounce = notes.bounce;
    if (bounce != null) {
      // Only the recipients of the outgoing email the report is about may be marked: a DSN can list
      // anyone. Compared by addressKey: an MTA reports `müller@xn--bcher-kva.example` for the
      // `müller@bücher.example` we wrote to (or the other way round); the mark is recorded under
      // the address as we wrote it.
      const sent = await outgoingRecipients(trx, bounce.originalMessageIds);
      const ours = new Map([...sent.keys()].map((a) => [addressKey(a), a]));
      // Only a report with standing marks (bounce-standing.ts): anyone who saw one of our
      // Message-IDs (a Cc'd reader, a forward) can write one. Others are recorded, mark nobody.
      const bounceTrust = { verp: ctx.mailboxes.ofCase(caseRow).verp, trust: ctx.config.security.bounces.trust, reporters: ctx.config.security.bounces.reporters };
      const addressedToUs = parsed.to.some((a) => ctx.mailboxes.byAddress(verpParts(a.address)?.base ?? a.address) !== null);
      const proofs = { signed: bounce.signed !== undefined, envelope: bounce.envelope ?? null, reporter: sender, addressedToUs };
      const foreign: string[] = [];
      for (const r of bounce.recipients) {
        if (r.action !== null && r.action !== 'failed' && r.action !== 'delayed') continue;
        const address = ours.get(addressKey(r.address));
        if (address === undefined) {
          foreign.push(r.address.toLowerCase());
          continue;
        }
        const reason = [r.status, r.diagnostic].filter((x) => x !== null).join(' ').slice(0, 500) || 'bounced';
        const wasBouncing = await isBouncing(trx, address);
        // A staff address is never marked: alerts and notifications to it matter more than the
        // bounce (its own server's passing fault), and the administrator is told instead. Nor is
        // an address on a bounce about mail handed over too long ago (BOUNCE_MAX_AGE_DAYS): no MTA
        // still held it, so someone wrote that report.
        const staff = isStaff(ctx.config, address);
        const sentAt = sent.get(address) ?? now;
        const stale = r.permanent && Date.parse(now) - Date.parse(sentAt) > BOUNCE_MAX_AGE_DAYS * 86_400_000;
        const standing = bounceStanding(address, proofs, bounceTrust);
        const unverified = !standing.trusted;
        const marks = r.permanent && !staff && !stale && !unverified;
        // An unverified report counts nothing against the address either (not even a soft bounce).
        if (!unverified) await recordBounce(trx, address, marks, reason, now);
        await addEvent(trx, {
          caseId: caseRow.id,
          messageRowId,
          type: unverified ? 'address.unverified-bounce' : marks ? 'address.bouncing' : staff && r.permanent ? 'address.staff-bounce' : stale ? 'address.stale-bounce' : 'address.soft-bounce',
          actor: 'system',
          reason: !standing.trusted
            ? `${address}: ${reason}; unverified bounce report from ${sender.address}: ${standing.why} — not marked as bouncing`
            : stale && !staff
              ? `${address}: ${reason}; about mail handed over at ${sentAt}, more than ${BOUNCE_MAX_AGE_DAYS} days ago — no MTA still held it (a forged report?): not marked as bouncing`
              : `${address}: ${reason}`,
          data: {
            address,
            reported: r.address,
            status: r.status,
            permanent: r.permanent,
            sentAt,
            reporter: sender.address,
            ...(standing.trusted ? { proof: standing.how } : { unproven: standing.why }),
            ...(bounce.signed !== undefined ? { bounceAddress: bounce.signed.address, outboxId: bounce.signed.outboxId } : {}),
            ...(bounce.envelope !== undefined ? { envelopeOf: bounce.envelope.outboxId } : {}),
          },
          at: now,
        });
        // The owner hears once: when the address starts bouncing, not on every further bounce.
        if (r.permanent && !stale && !unverified && !wasBouncing) {
          await tellOwnerOfBounce(trx, ctx, caseRow, { address, status: r.status, diagnostic: r.diagnostic, originalMessageIds: bounce.originalMessageIds, messageRowId });
        }
      }
      if (foreign.length > 0) {
        await addEvent(trx, {
          caseId: caseRow.id,
          messageRowId,
          type: 'bounce.recipients-ignored',
          actor: 'system',
          reason: `bounce lists ${foreign.join(', ')}, not recipient(s) of the bounced message: not marked as bouncing`,
          data: { addresses: foreign, messageIds: bounce.originalMessageIds },
          at: now,
        });
      }
    }
    if (reachableAgain) {
      await addEvent(trx, { caseId: caseRow.id, messageRowId, type: 'address.reachable', actor, reason: `${sender.address} wrote again: no longer marked as bouncing, mail to it is sent again`, at: now });
      ctx.log.info({ caseId: caseRow.id, address: sender.address }, 'bouncing address wrote again; cleared');
    }
    notes.persisted = { caseRow, messageRowId, messageId: recorded.messageId, receiptId, created, reopened };
  },
};

/**
 * Participants (DESIGN §2). A new case: the requester (added with the case) and the addresses of
 * their first mail. An existing case: the To/Cc addresses of a message are enrolled only when its
 * sender already acts as a participant of the case (or is staff of its queue) and is proven — a
 * stranger cannot enrol accomplices, nor can whoever writes the requester's From into a reply to
 * our mail (a forwardee, a participant taken off the case). A sender who is no participant but holds our signed token (a forwarded copy
 * of our mail, a colleague's) is threaded into the case, not enrolled: a token is copied with
 * every forward, and enrolment would send them every later reply and a link to the whole case.
 * The event says so; an agent copies them in with `#cc` or by copying them on a reply. Automated
 * mail and a forged sender enrol nobody.
 */
async function enrolParticipants(msg: Inbound, ctx: AppContext, trx: Transaction<Database>, caseRow: CaseRow, created: boolean, now: string): Promise<void> {
  const parsed = need(msg.notes.parsed, 'parsed');
  const sender = need(msg.notes.sender, 'sender');
  const rule = need(msg.notes.thread, 'thread').rule;
  if (!sender.verified || msg.notes.automated != null || msg.notes.spam != null) return;
  const proof = rule === 'signed-reference' || rule === 'plus-token' ? 'signed-token' : 'address-only';
  const entitled = created || (await actsAsParticipant(trx, ctx.config, caseRow, sender, proof));
  if (!entitled && proof === 'signed-token' && !isStaff(ctx.config, sender.address)) {
    await addEvent(trx, {
      caseId: caseRow.id,
      type: 'participant.not-added',
      actor: `customer:${sender.address}`,
      reason: `${sender.address} wrote in this case's thread but is not a participant: not copied on its mail (an agent adds them with #cc ${sender.address})`,
      data: { address: sender.address },
      at: now,
    });
  }
  // Into an existing case only a proven sender copies people in (sender authentication passed, or
  // staff mail to that address answered): "From: <the requester>" and one of our signed tokens are
  // both in every forward of our mail.
  // Imported history is the admin's own archive (participation.ts, Proof 'archive'): not forged is enough.
  const proven = created || sender.auth === 'pass' || msg.arrival.channel === 'import' || (isStaff(ctx.config, sender.address) && staffProven(sender, caseRow));
  const unproven = proven ? undefined : `security.senderAuth.mode ${ctx.config.security.senderAuth.mode}: ${sender.auth === 'none' ? 'the sender check found nothing' : 'the sender check failed'}`;
  // The agents' notification names whom the mail copied and the case's mail does not reach.
  if (entitled) msg.notes.notCopied = await enrolRecipients(trx, ctx, caseRow.id, [...parsed.to, ...parsed.cc], sender.address, now, { byCustomer: !created, unproven, customerMail: true });
}

type ExistingThread = Extract<NonNullable<Inbound['notes']['thread']>, { kind: 'existing' }>;

/**
 * The reopen decision for a case whose status changed after the thread stage read it. A case
 * closed only now is inside the reopen window; should the decision still call for a new case, the
 * reply stays on this one and reopens it.
 */
function reopenNow(msg: Inbound, ctx: AppContext, current: CaseRow, thread: ExistingThread): ExistingThread['reopen'] {
  const again = decideReopen(msg, ctx, current, thread.rule);
  const reopen = again.kind === 'existing' ? again.reopen : 'reopen';
  // A mere status question never reopens (status-request.ts).
  return reopen === 'reopen' && msg.notes.statusRequest === true ? 'keep' : reopen;
}
