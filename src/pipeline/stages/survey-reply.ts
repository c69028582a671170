import { isUnsubscribeReply, parseSurveyReply, recordSurveyAnswer } from '../../cases/survey.js';
import { refuseSurveys } from '../../db/repos/addresses.js';
import { addEvent } from '../../db/repos/events.js';
import { caseById } from '../../db/repos/cases.js';
import { isSurveyReference } from '../../db/repos/surveys.js';
import { need, NEXT, type CommitStage, type DecideStage } from '../types.js';

/**
 * Is it an answer to our satisfaction survey? A reply whose In-Reply-To/References name the survey
 * email we sent on its case (our signed Message-ID; threading found the case) is read as an
 * answer: the first line's digit or words are the rating, the rest a comment. It never reopens the
 * case (also after the reopen window: it stays with its case). Automated mail is never an answer.
 * A reply that only says "unsubscribe" / "stop" (English or German) stops surveys to the sender.
 */
export const surveyReplyStage: DecideStage = {
  name: 'survey-reply',
  async run(msg, ctx) {
    const thread = need(msg.notes.thread, 'thread');
    const parsed = need(msg.notes.parsed, 'parsed');
    msg.notes.survey = null;
    if (msg.notes.automated != null || msg.notes.sender?.verified !== true) return NEXT;
    const refs = [...parsed.inReplyTo, ...parsed.references];
    let caseRow = thread.kind === 'existing' ? thread.caseRow : null;
    if (thread.kind === 'new' && thread.rule === 'new-after-reopen-window' && thread.linkedCaseId !== null) caseRow = (await caseById(ctx.db, thread.linkedCaseId)) ?? null;
    if (caseRow === null || caseRow.kind !== 'case' || !(await isSurveyReference(ctx.db, caseRow.id, refs))) return NEXT;
    const text = msg.notes.visible?.text ?? '';
    // "Unsubscribe" / "stop" in answer to the survey: no more surveys to this address (as the
    // survey's List-Unsubscribe), not a comment.
    const answer = isUnsubscribeReply(text) ? { rating: null, comment: '', unsubscribe: true } : parseSurveyReply(text);
    msg.notes.survey = answer;
    // An answer stays with its case and does not reopen it.
    msg.notes.thread = { kind: 'existing', rule: thread.rule === 'new-after-reopen-window' ? 'signed-reference' : thread.rule, caseRow, reopen: 'keep' };
    ctx.log.info({ messageId: parsed.messageId, caseId: caseRow.id, caseNumber: caseRow.number, rating: answer.rating }, 'survey answer by email');
    return NEXT;
  },
};

/** Store the survey answer found above (rating, comment) and thank the first rating. */
export const surveyRecordStage: CommitStage = {
  name: 'survey-record',
  async run(msg, ctx, trx) {
    const answer = msg.notes.survey;
    if (answer == null) return;
    const persisted = need(msg.notes.persisted, 'persisted');
    const sender = need(msg.notes.sender, 'sender');
    if (answer.unsubscribe === true) {
      const now = ctx.clock.now().toISOString();
      if (await refuseSurveys(trx, sender.address, now)) {
        await addEvent(trx, { caseId: persisted.caseRow.id, messageRowId: persisted.messageRowId, type: 'survey.unsubscribed', actor: `customer:${sender.address}`, reason: `${sender.address} asked for no more surveys (reply to the survey)`, at: now });
      }
      return;
    }
    await recordSurveyAnswer(trx, ctx, persisted.caseRow, answer, { source: 'email', actor: `customer:${sender.address}`, messageRowId: persisted.messageRowId });
  },
};
