import { onCaseCreated, onStatusChange } from '../../cases/sla-clock.js';
import { caseSubject } from '../../cases/subject-tag.js';
import { clearBouncing, recordBounce } from '../../db/repos/addresses.js';
import { addParticipant, insertCase, isParticipant, nextCaseNumber, updateCase } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { insertAttachments, insertMessage } from '../../db/repos/messages.js';
import { insertReceipt, setReceiptCase, supersede } from '../../db/repos/receipts.js';
import type { CaseRow } from '../../db/schema.js';
import { need, receiptBase, type CommitStage } from '../types.js';

/** Record it: receipt, case (new, appended or reopened), participants, message, attachments, events. */
export const persistStage: CommitStage = {
  name: 'persist',
  async run(msg, ctx, trx) {
    const { arrival, notes } = msg;
    const parsed = need(notes.parsed, 'parsed');
    const sender = need(notes.sender, 'sender');
    const thread = need(notes.thread, 'thread');
    const cls = need(notes.classification, 'classification');
    const visible = need(notes.visible, 'visible');
    const now = ctx.clock.now().toISOString();
    const actor = `customer:${sender.address}`;

    const receiptId = await insertReceipt(trx, {
      ...receiptBase(msg, need(notes.dedupeKey, 'dedupeKey')),
      is_primary: 1,
      outcome: 'stored',
      reason: thread.rule,
      stage: 'persist',
      case_id: null,
      duplicate_of: null,
    });
    if (arrival.retryOf !== undefined) await supersede(trx, arrival.retryOf, receiptId);

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
        subject: routing?.subject ?? caseSubject(parsed.subject, ctx.config.cases.tagPrefix),
        requester_address: sender.address,
        requester_name: sender.name,
        status: feedback ? 'closed' : 'new',
        kind: feedback ? 'feedback' : 'case',
        priority: cls.priority,
        queue: cls.queue,
        mailbox: arrival.mailbox.name,
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
      });
      created = true;
      await addParticipant(trx, caseRow.id, sender.address, sender.name, 'requester', now);
      await addEvent(trx, {
        caseId: caseRow.id,
        type: 'case.created',
        actor,
        reason: thread.linkedCaseNumber !== null ? `${thread.rule}: linked to case ${thread.linkedCaseNumber}` : 'new email',
        data: { rule: thread.rule, linkedCaseId: thread.linkedCaseId, channel: arrival.channel, mailbox: arrival.mailbox.name },
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
      // Both SLA clocks start with the case (feedback has none).
      caseRow = await onCaseCreated(trx, ctx, caseRow);
    } else {
      caseRow = thread.caseRow;
      const automated = notes.automated != null;
      if (thread.reopen === 'reopen') {
        caseRow = await updateCase(trx, caseRow.id, { status: 'open', resolved_at: null, closed_at: null, updated_at: now, last_customer_at: now });
        caseRow = await onStatusChange(trx, ctx, thread.caseRow, caseRow, actor);
        reopened = true;
        await addEvent(trx, { caseId: caseRow.id, type: 'case.reopened', actor, reason: `customer replied to a ${thread.caseRow.status} case`, data: { from: thread.caseRow.status }, at: now });
      } else if (!automated) {
        // A customer reply on a case waiting for the customer moves it back to open.
        const status = caseRow.status === 'pending' ? 'open' : caseRow.status;
        if (status !== caseRow.status) {
          await addEvent(trx, { caseId: caseRow.id, type: 'case.status', actor, reason: 'customer replied', data: { from: caseRow.status, to: status }, at: now });
        }
        const before = caseRow;
        caseRow = await updateCase(trx, caseRow.id, { status, updated_at: now, last_customer_at: now });
        // pending → open: the resolution clock runs again.
        if (status !== before.status) caseRow = await onStatusChange(trx, ctx, before, caseRow, actor);
        if (thread.reopen === 'keep-thanks') {
          await addEvent(trx, { caseId: caseRow.id, type: 'case.not-reopened', actor, reason: 'a thank-you reply does not reopen a resolved case', at: now });
        }
      }
    }

    // Participants: a verified sender who proved thread membership, and the addresses they CC'd.
    if (sender.verified && !created && (thread.rule === 'signed-reference' || thread.rule === 'plus-token' || (await isParticipant(trx, caseRow.id, sender.address)))) {
      await addParticipant(trx, caseRow.id, sender.address, sender.name, 'cc', now);
    }
    if (sender.verified && notes.automated == null) {
      for (const a of [...parsed.to, ...parsed.cc]) {
        if (!ctx.mailboxes.isOwnAddress(a.address) && a.address !== sender.address) await addParticipant(trx, caseRow.id, a.address, a.name, 'cc', now);
      }
      await clearBouncing(trx, sender.address, now);
    }

    const messageRowId = await insertMessage(trx, {
      case_id: caseRow.id,
      direction: 'in',
      message_id: parsed.messageId,
      in_reply_to: parsed.inReplyTo[0] ?? null,
      references_json: JSON.stringify(parsed.references),
      from_address: sender.address,
      from_name: sender.name,
      to_json: JSON.stringify(parsed.to),
      cc_json: JSON.stringify(parsed.cc),
      subject: parsed.subject,
      sent_at: parsed.date?.toISOString() ?? null,
      text: parsed.text,
      html: parsed.html,
      visible_text: visible.text,
      body_truncated: parsed.bodyTruncated ? 1 : 0,
      raw_sha256: arrival.raw.sha256,
      raw_size: arrival.raw.size,
      automated: notes.automated?.kind ?? null,
      thread_rule: thread.rule,
      receipt_id: receiptId,
      outbox_id: null,
      created_at: now,
    });
    await insertAttachments(trx, messageRowId, parsed.attachments);
    await setReceiptCase(trx, receiptId, caseRow.id, messageRowId);
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
      for (const r of bounce.recipients) {
        if (r.action !== null && r.action !== 'failed' && r.action !== 'delayed') continue;
        const reason = [r.status, r.diagnostic].filter((x) => x !== null).join(' ').slice(0, 500) || 'bounced';
        await recordBounce(trx, r.address.toLowerCase(), r.permanent, reason, now);
        await addEvent(trx, {
          caseId: caseRow.id,
          messageRowId,
          type: r.permanent ? 'address.bouncing' : 'address.soft-bounce',
          actor: 'system',
          reason: `${r.address}: ${reason}`,
          data: { address: r.address, status: r.status, permanent: r.permanent },
          at: now,
        });
      }
    }
    notes.persisted = { caseRow, messageRowId, receiptId, created, reopened };
  },
};
