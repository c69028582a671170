import { parseAgentCommands, type AgentCommand } from '../../cases/agent-commands.js';
import { mentionsEscalation, normalSubject, ourTextMatcher, parseUrgentSubject, withoutRepeatedFooter, writtenText, type OurText, type UrgentSubject } from '../../cases/escalation-signals.js';
import { isStaff, isStaffOf } from '../../cases/staff.js';
import { actsAsParticipant } from '../../cases/participation.js';
import { caseGoingOnAs } from '../../db/repos/case-merge.js';
import { inboundTextsFrom, outgoingTexts, subjectsOfCase } from '../../db/repos/thread-history.js';
import type { AppContext } from '../../context.js';
import { decideReopen } from './thread.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Does the writer ask for an escalation, or give an agent command?
 *
 *  - Customers (verified sender, not automated mail, not staff of any queue): an "Urgent – …"
 *    subject, or escalate/escalation in their own new text — not in ">" quotes, not below a
 *    forward marker, not in lines that repeat what we sent on the case, not in the footer their
 *    earlier mail on the case ended with too (signature, disclaimer) — or in a subject that is
 *    new to the thread (a reply's "Re: …" of an earlier subject does not count again).
 *  - An urgent subject naming a bare case number ("#10042", "case 10042") of one of the sender's
 *    own cases threads the mail into that case (rule subject-number); a number that is not the
 *    sender's is left alone: the mail opens a new case and the other case is not touched.
 *  - Staff who may not act on the case (unverified, or of another queue): their #commands are
 *    recorded as refused (agents of the queue take the agent flow instead).
 * Reads the database (earlier subjects and our sent text of the case) only when the mail contains
 * something that looks like a request.
 */
export const escalationRequestStage: DecideStage = {
  name: 'escalation-request',
  async run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const sender = need(msg.notes.sender, 'sender');
    const visible = need(msg.notes.visible, 'visible');
    let thread = need(msg.notes.thread, 'thread');
    const automated = msg.notes.automated ?? null;
    const prefix = ctx.config.cases.tagPrefix;
    const staff = isStaff(ctx.config, sender.address);
    const spam = msg.notes.spam ?? null;
    const fromCustomer = sender.verified && automated === null && spam === null && !staff;

    let commands: AgentCommand[] = [];
    let refused: string | null = null;
    if (thread.kind === 'existing' && automated === null && spam === null && staff) {
      const found = parseAgentCommands(visible.text);
      if (found.length > 0) {
        if (!sender.verified) refused = `commands from ${sender.address} ignored: sender not verified (DMARC failed)`;
        else if (!isStaffOf(ctx.config, thread.caseRow.queue, sender.address)) refused = `commands from ${sender.address} ignored: not an agent or lead of queue ${thread.caseRow.queue}`;
        // Agents of the queue work the case in the agent flow; here only refused commands are recorded.
        if (refused !== null) commands = found;
      }
    }

    let urgent: UrgentSubject | null = parseUrgentSubject(parsed.subject, prefix);
    const looksLikeRequest = urgent !== null || mentionsEscalation(visible.text) || mentionsEscalation(parsed.subject);
    if (!looksLikeRequest || !fromCustomer) {
      // Say why, so a lead reading the case understands. Not for automated replies in a thread:
      // an out-of-office answering our acknowledgement quotes "escalated" all the time.
      if (looksLikeRequest && !staff && (automated === null || thread.kind === 'new')) {
        refused =
          automated !== null
            ? `escalation request in automated mail (${automated.kind}) ignored`
            : spam !== null
              ? `escalation request in suspected spam ignored (${spam.reason})`
              : 'escalation request ignored: sender not verified (DMARC failed)';
      }
      msg.notes.request = { fromCustomer, urgent: null, keyword: false, commands, refused, foreignCaseNumber: null };
      return NEXT;
    }

    let foreignCaseNumber: number | null = null;
    if (urgent !== null && urgent.caseNumber !== null && thread.kind === 'new') {
      const named = thread.rule === 'new' ? await caseGoingOnAs(ctx.db, urgent.caseNumber) : undefined;
      if (named !== undefined && (await actsAsParticipant(ctx.db, ctx.config, named, sender, 'address-only'))) {
        thread = decideReopen(msg, ctx, named, 'subject-number');
        msg.notes.thread = thread;
      } else if (thread.linkedCaseNumber !== urgent.caseNumber) {
        foreignCaseNumber = urgent.caseNumber;
      }
    }

    const caseIds = thread.kind === 'existing' ? [thread.caseRow.id] : thread.linkedCaseId !== null ? [thread.linkedCaseId] : [];
    const sent = await sentLines(ctx, caseIds);
    let subjectIsNew = true;
    if (thread.kind === 'existing') {
      const normal = normalSubject(parsed.subject, prefix);
      const seen = (await subjectsOfCase(ctx.db, thread.caseRow.id)).map((s) => normalSubject(s, prefix));
      subjectIsNew = !seen.includes(normal) && normal !== thread.caseRow.subject.toLowerCase();
    }
    if (!subjectIsNew) urgent = null;
    // The footer the customer's earlier mail on the case ended with too is no new request. Only
    // mail whose text mentions escalation at all needs the earlier mail read (cutting a footer
    // never adds a mention): most replies make no query for it.
    const inBody =
      mentionsEscalation(writtenText(visible.text, sent)) &&
      mentionsEscalation(writtenText(withoutRepeatedFooter(visible.text, await inboundTextsFrom(ctx.db, caseIds, sender.address, EARLIER_MESSAGES)), sent));
    const keyword = inBody || (subjectIsNew && mentionsEscalation(writtenText(parsed.subject, sent)));
    msg.notes.request = { fromCustomer, urgent, keyword, commands, refused, foreignCaseNumber };
    return NEXT;
  },
};

/** How many of the sender's earlier messages on the case are compared for a repeated footer. */
const EARLIER_MESSAGES = 10;

/** What we sent to customers on these cases (mail to staff is not the customer's to quote). */
async function sentLines(ctx: AppContext, caseIds: readonly number[]): Promise<OurText> {
  const texts: string[] = [];
  for (const m of await outgoingTexts(ctx.db, caseIds)) {
    const to = JSON.parse(m.to_json) as { address: string }[];
    if (to.length > 0 && to.every((r) => isStaff(ctx.config, r.address))) continue;
    texts.push(m.visible_text);
  }
  return ourTextMatcher(texts);
}
