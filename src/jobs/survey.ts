import { surveysRefused } from '../db/repos/addresses.js';
import { lockCaseById } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { dueForSurvey, requesterMessages, type RequesterMessage } from '../db/repos/follow-up.js';
import { claim, setClaimOutbox } from '../db/repos/jobs.js';
import { queuedSince } from '../db/repos/agent-work.js';
import { commonData, queueEmail, requesterOf } from '../mail-out/compose.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { SURVEY_MAX, SURVEY_MIN, surveyLinksFor } from '../web/links.js';
import { BATCH, sweep, type JobContext, type JobDefinition } from './job.js';

/**
 * The satisfaction survey: once per case (claim "survey", with the outbox row), afterHours after
 * its resolution, with rating links (signed, when the web server is on) and the reply
 * route (a digit or words on the first line). Cases resolved more than a week before that are not
 * surveyed any more (after a long downtime, or when the survey was switched on). Like the
 * confirmation, the survey never goes to an address that did not really write to us: a case that
 * is suspected spam, or whose requester's messages were all automated, spam or failed the sender
 * check (a forged From), is skipped (event survey.skipped, claimed like a sent survey) — and so is
 * an address that asked for no more surveys: the survey carries a one-click List-Unsubscribe
 * (RFC 8058; with the web server on) that Gmail, Yahoo and Apple Mail offer as "Unsubscribe", so
 * a customer who wants none reports no spam (which would weigh on every email of the domain).
 * One survey per address a day: the cases of a flood (a script, a client sending one message again
 * and again) are resolved together, and each would ask the same person.
 */

const LOOKBACK_MS = 7 * 86_400_000;
/** At most one survey per address within this time: a flood's cases, resolved together, would each ask. */
const SURVEY_GAP_MS = 86_400_000;

/** Why this requester must not be surveyed (their messages on the case), or null when they may. */
export function surveyRefusal(spamCase: boolean, messages: readonly RequesterMessage[]): string | null {
  if (spamCase) return 'the case is suspected spam';
  if (messages.length === 0) return null;
  const genuine = messages.some((m) => m.automated === null && m.spam !== 1 && m.sender_auth !== 'fail');
  if (genuine) return null;
  const m = messages[0]!;
  return m.automated !== null ? `the requester's mail was automated (${m.automated})` : m.spam === 1 ? "the requester's mail was suspected spam" : "the requester's mail failed the sender check (the From may be forged)";
}

async function survey(j: JobContext, caseId: number): Promise<number> {
  const { ctx } = j;
  const nowIso = j.now.toISOString();
  return ctx.db.transaction().execute(async (trx) => {
    const caseRow = await lockCaseById(trx, caseId);
    if (caseRow === undefined || caseRow.kind !== 'case' || caseRow.merged_into !== null || (caseRow.status !== 'resolved' && caseRow.status !== 'closed')) return 0;
    const claimId = await claim(trx, 'survey', caseId, 'survey', nowIso);
    if (claimId === null) return 0;
    const to = requesterOf(caseRow);
    const refusal =
      surveyRefusal(caseRow.spam === 1, await requesterMessages(trx, caseId, caseRow.requester_address)) ??
      (await recipientRefusal(ctx, trx, to.address)) ??
      ((await surveysRefused(trx, to.address)) ? 'the address asked for no more surveys (unsubscribed)' : null) ??
      ((await queuedSince(trx, 'survey', to.address, new Date(j.now.getTime() - SURVEY_GAP_MS).toISOString())) > 0 ? `a survey went to ${to.address} within the past 24 hours (one a day per address: a customer whose many cases were resolved together is asked once)` : null);
    if (refusal !== null) {
      await addEvent(trx, { caseId, type: 'survey.skipped', actor: 'system', reason: `survey not sent: ${refusal}`, at: nowIso });
      return 0;
    }
    const mailbox = ctx.mailboxes.ofCase(caseRow);
    const links = surveyLinksFor(ctx, caseRow.number);
    const outboxId = await queueEmail(trx, ctx, {
      caseRow,
      mailbox,
      kind: 'survey',
      to,
      autoReply: false,
      generated: true,
      inReplyTo: null,
      references: [],
      unsubscribeUrl: links.unsubscribe,
      readerLinks: [links.url],
      ...(caseRow.resolved_at !== null ? { dueAt: new Date(new Date(caseRow.resolved_at).getTime() + ctx.config.jobs.survey.afterHours * 3_600_000).toISOString() } : {}),
      data: { ...commonData(ctx, caseRow, mailbox, to), survey: { url: links.url, min: SURVEY_MIN, max: SURVEY_MAX, ratings: links.ratings, unsubscribeUrl: links.unsubscribe } },
    });
    await setClaimOutbox(trx, claimId, outboxId);
    await addEvent(trx, { caseId, type: 'survey.sent', actor: 'system', reason: `satisfaction survey to ${to.address}`, data: { outboxId }, at: nowIso });
    j.log.info({ caseId, caseNumber: caseRow.number, to: to.address }, 'survey sent');
    return 1;
  });
}

export const surveyJob: JobDefinition = {
  name: 'survey',
  configKey: 'survey',
  runOnFirstStart: true,
  run: (j) => {
    const to = new Date(j.now.getTime() - j.ctx.config.jobs.survey.afterHours * 3_600_000);
    const from = new Date(to.getTime() - LOOKBACK_MS);
    return sweep(
      j,
      () => dueForSurvey(j.ctx.db, from.toISOString(), to.toISOString(), BATCH),
      (c) => c.id,
      (c) => survey(j, c.id),
    );
  },
};
