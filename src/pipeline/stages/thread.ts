import { findTag } from '../../cases/subject-tag.js';
import { verifyMessageId, verifyPlusAddress } from '../../cases/thread-token.js';
import { isThanksOnly } from '../../cases/thanks.js';
import { caseByNumber, isParticipant } from '../../db/repos/cases.js';
import { caseByMessageIds } from '../../db/repos/messages.js';
import type { CaseRow } from '../../db/schema.js';
import type { AppContext } from '../../context.js';
import type { Inbound, ThreadDecision, ThreadRule } from '../types.js';
import { need, NEXT, type DecideStage } from '../types.js';

const DAY_MS = 86_400_000;

/**
 * Which case does it belong to (DESIGN §2)? In order: our signed Message-IDs in
 * In-Reply-To/References, a signed plus-address recipient, any known Message-ID, the subject tag
 * (only from a verified participant; a stranger's tagged mail opens a new linked case), else new.
 */
export const threadStage: DecideStage = {
  name: 'thread',
  async run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const sender = need(msg.notes.sender, 'sender');
    if (msg.notes.bounce != null) {
      msg.notes.thread = { kind: 'existing', rule: 'bounce-reference', caseRow: msg.notes.bounce.caseRow, reopen: 'keep' };
      return NEXT;
    }
    const refs = [...parsed.inReplyTo, ...[...parsed.references].reverse()];
    let found: { caseRow: CaseRow; rule: ThreadRule } | null = null;

    for (const id of refs) {
      const signed = verifyMessageId(id, ctx.secret);
      if (signed?.caseNumber != null) {
        const caseRow = await caseByNumber(ctx.db, signed.caseNumber);
        if (caseRow !== undefined) {
          found = { caseRow, rule: 'signed-reference' };
          break;
        }
      }
    }
    if (found === null) {
      const recipients = [...parsed.to, ...parsed.cc].map((a) => a.address).concat(msg.arrival.envelopeTo, parsed.headers.get('delivered-to') ?? [], parsed.headers.get('x-original-to') ?? []);
      for (const r of recipients) {
        const plus = verifyPlusAddress(r, ctx.secret);
        if (plus !== null) {
          const caseRow = await caseByNumber(ctx.db, plus.caseNumber);
          if (caseRow !== undefined) {
            found = { caseRow, rule: 'plus-token' };
            break;
          }
        }
      }
    }
    if (found === null && refs.length > 0) {
      const caseRow = await caseByMessageIds(ctx.db, refs);
      if (caseRow !== undefined) found = { caseRow, rule: 'known-reference' };
    }
    let linked: CaseRow | null = null;
    if (found === null) {
      const tagged = findTag(parsed.subject, ctx.config.cases.tagPrefix);
      if (tagged !== null) {
        const caseRow = await caseByNumber(ctx.db, tagged);
        if (caseRow !== undefined) {
          if (sender.verified && (await isParticipant(ctx.db, caseRow.id, sender.address))) found = { caseRow, rule: 'subject-tag' };
          else linked = caseRow;
        }
      }
    }

    const automated = msg.notes.automated ?? null;
    if (found === null) {
      if (automated !== null && (automated.kind === 'auto-reply' || automated.kind === 'feedback-report')) {
        return { end: 'ignored', reason: `${automated.kind} (${automated.reason}) that belongs to no case` };
      }
      msg.notes.thread = linked !== null ? newCase('new-stranger-tag', linked) : newCase('new', null);
      return NEXT;
    }
    msg.notes.thread = decideReopen(msg, ctx, found.caseRow, found.rule);
    return NEXT;
  },
};

function newCase(rule: ThreadRule, linked: CaseRow | null): ThreadDecision {
  return { kind: 'new', rule, linkedCaseId: linked?.id ?? null, linkedCaseNumber: linked?.number ?? null };
}

/** A reply to a resolved/closed case: reopen inside the window, a new linked case after it. */
export function decideReopen(msg: Inbound, ctx: AppContext, caseRow: CaseRow, rule: ThreadRule): ThreadDecision {
  if (caseRow.status !== 'resolved' && caseRow.status !== 'closed') return { kind: 'existing', rule, caseRow, reopen: 'keep' };
  // Feedback is recorded closed and stays closed: a reply to it is appended, never reopens it.
  if (caseRow.kind === 'feedback') return { kind: 'existing', rule, caseRow, reopen: 'keep' };
  if (msg.notes.automated != null) return { kind: 'existing', rule, caseRow, reopen: 'keep' };
  const since = caseRow.closed_at ?? caseRow.resolved_at ?? caseRow.updated_at;
  const ageMs = ctx.clock.now().getTime() - new Date(since).getTime();
  if (ageMs > ctx.config.cases.reopenWindowDays * DAY_MS) return newCase('new-after-reopen-window', caseRow);
  if (!ctx.config.cases.reopenOnThanks && isThanksOnly(msg.notes.visible?.text ?? '')) return { kind: 'existing', rule, caseRow, reopen: 'keep-thanks' };
  return { kind: 'existing', rule, caseRow, reopen: 'reopen' };
}
