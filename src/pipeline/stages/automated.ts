import { verifyMessageId } from '../../cases/thread-token.js';
import { caseGoingOnAs } from '../../db/repos/case-merge.js';
import { caseByOutgoingMessageIds } from '../../db/repos/messages.js';
import { detectAutomated, parseBounce } from '../../mail-in/automated.js';
import { suspectedAutoReply } from '../../mail-in/auto-reply-wording.js';
import { need, NEXT, type DecideStage } from '../types.js';
import { envelopeOf, signedBounce } from '../verp-bounce.js';

/**
 * Did a machine write this (RFC 3834 auto-reply, bulk, DSN bounce)? Automated mail is recorded but
 * never answered. A bounce is kept only when it is about mail we sent: it joins that case. A
 * bounce sent to the signed bounce address of one of our emails (mailboxes[].verp) is about that
 * email and recipient (verp-bounce.ts); so is mail from the null sender to it that looks like
 * nothing else (a notice in words no detector knows: only MTAs write from <> to an envelope sender).
 */
export const automatedStage: DecideStage = {
  name: 'automated',
  async run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    // Form mail is judged as the person's (a no-reply form address is not a machine's mail).
    const form = msg.notes.form;
    let verdict = detectAutomated(form?.kind === 'on-behalf' ? { ...parsed, from: form.person } : parsed, { listIsOurs: msg.notes.ownList != null });
    msg.notes.bounce = null;
    const nullSender = parsed.returnPath === '' || msg.arrival.envelopeFrom === '';
    const maybeBounce = verdict?.kind === 'bounce' || (nullSender && (verdict === null || verdict.reason === 'empty Return-Path'));
    if (maybeBounce) {
      const signed = await signedBounce(msg, ctx, parsed, parseBounce(parsed));
      if (signed !== null) {
        if (verdict?.kind !== 'bounce') verdict = { kind: 'bounce', reason: 'null sender to our signed bounce address' };
        msg.notes.automated = verdict;
        msg.notes.suspectedAutoReply = null;
        msg.notes.bounce = { ...signed.report, caseRow: signed.caseRow, signed: signed.signed };
        return NEXT;
      }
    }
    msg.notes.automated = verdict;
    // No mark of automation, but the words of an out-of-office ("I am out of the office until …"): a suspicion.
    msg.notes.suspectedAutoReply = verdict === null ? suspectedAutoReply({ subject: parsed.subject, text: msg.notes.visible?.text ?? '' }) : null;
    if (verdict?.kind !== 'bounce') return NEXT;
    const report = parseBounce(parsed);
    // Our signed envelope id: the MTA that wrote the report carried that email's envelope.
    const envelope = await envelopeOf(ctx, report.envelopeIds ?? []);
    if (envelope !== null) {
      const ids = [envelope.row.message_id, ...report.originalMessageIds.filter((id) => id !== envelope.row.message_id)];
      msg.notes.bounce = { ...report, originalMessageIds: ids, caseRow: envelope.caseRow, envelope: { outboxId: envelope.row.id, readers: envelope.readers } };
      return NEXT;
    }
    for (const id of report.originalMessageIds) {
      const signed = verifyMessageId(id, ctx.secret);
      // Unsigned: only an email we sent (a bounce is never about a message someone sent us — a
      // customer's own Message-ID, which whoever was copied on it knows, puts nothing on her case).
      const caseRow = signed?.caseNumber != null ? await caseGoingOnAs(ctx.db, signed.caseNumber) : await caseByOutgoingMessageIds(ctx.db, [id]);
      if (caseRow !== undefined) {
        msg.notes.bounce = { ...report, caseRow };
        return NEXT;
      }
    }
    return { end: 'ignored', reason: `bounce (${verdict.reason}) not about mail we sent` };
  },
};
