import { findTag } from '../../cases/subject-tag.js';
import { verifyMessageId, verifyPlusAddress, verpParts } from '../../cases/thread-token.js';
import { bounceAddressOwner } from '../verp-bounce.js';
import { isThanksOnly } from '../../cases/thanks.js';
import { isOnlySignature } from '../../cases/signature.js';
import { actsAsParticipant } from '../../cases/participation.js';
import { caseGoingOnAs } from '../../db/repos/case-merge.js';
import { caseByMessageIds, messagesFromOnCases } from '../../db/repos/messages.js';
import { caseById, requesterCasesBySubject, requesterSubjectMessagesSent } from '../../db/repos/cases.js';
import { caseSubject } from '../../cases/subject-tag.js';
import { carriesText, forwardedOriginal, type ForwardedOriginal } from '../../mail-in/forwarded-original.js';
import { inWindows, sentWindows, zoneOffsetOf, type SentWindow } from '../../mail-in/forwarded-date.js';
import { header } from '../../mail-in/parsed-mail.js';
import type { CaseRow } from '../../db/schema.js';
import type { AppContext } from '../../context.js';
import type { Inbound, ThreadDecision, ThreadRule } from '../types.js';
import { need, NEXT, type DecideStage } from '../types.js';

const DAY_MS = 86_400_000;

/**
 * Which case does it belong to (DESIGN §2)? Only what we signed carries trust by itself: our
 * signed Message-IDs in In-Reply-To/References, then a signed plus-address recipient. A known but
 * unsigned Message-ID and the subject tag are claims anyone can copy (a customer's Message-ID is
 * seen by every CC and list member): they place the mail in that case only when the sender acts as
 * a participant of it (cases/participation.ts); from anyone else they open a new case linked to it
 * (new-stranger-reference, new-stranger-tag). Otherwise a new case. A case number that names a
 * merged case stands for the case it continues as (cases/case-merge.ts).
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
    let found = await bySignedToken(msg, ctx, refs);
    let linked: Claim | null = null;
    if (found === null) {
      // Imported history (the admin's own archive, nothing sent): a participant's address counts.
      const proof = msg.arrival.channel === 'import' ? 'archive' : 'address-only';
      for (const claim of [await byKnownReference(ctx, refs), await bySubjectTag(ctx, parsed.subject)]) {
        if (claim === null) continue;
        if (await actsAsParticipant(ctx.db, ctx.config, claim.caseRow, sender, proof)) {
          found = claim;
          break;
        }
        linked ??= claim;
      }
      if (found === null && linked === null) {
        const fwd = await byForwardedOriginal(msg, ctx);
        if (fwd !== null) {
          // Only the requester forwarding their own message, proven as the case's other claims
          // require: the forwarded block is text anyone can copy or type.
          if (fwd.ownMessage && (await actsAsParticipant(ctx.db, ctx.config, fwd.caseRow, sender, proof))) found = fwd;
          else linked = fwd;
        }
      }
    }

    const automated = msg.notes.automated ?? null;
    if (found === null) {
      // (Not when only its subject says "Out of office:": a person may be writing about theirs.
      // It becomes a case, answered by nobody automatically: the agents read it.)
      if (automated !== null && (automated.kind === 'auto-reply' || automated.kind === 'feedback-report') && automated.subjectOnly !== true) {
        return { end: 'ignored', reason: `${automated.kind} (${automated.reason}) that belongs to no case` };
      }
      msg.notes.thread = linked !== null ? newCase(linked.strangerRule, linked.caseRow) : newCase('new', null);
      return NEXT;
    }
    msg.notes.thread = decideReopen(msg, ctx, found.caseRow, found.rule);
    return NEXT;
  },
};

/** The case a number names, or the one it continues as when it was merged (cases/case-merge.ts). */
const caseNamed = (ctx: AppContext, number: number): Promise<CaseRow | undefined> => caseGoingOnAs(ctx.db, number);

interface Claim {
  readonly caseRow: CaseRow;
  readonly rule: ThreadRule;
  /** The rule recorded when the sender may not act on the claim: a new case linked to the claimed one. */
  readonly strangerRule: ThreadRule;
}

/** Our signed Message-ID among the references, else a signed plus address among the recipients. */
async function bySignedToken(msg: Inbound, ctx: AppContext, refs: readonly string[]): Promise<Claim | null> {
  for (const id of refs) {
    const signed = verifyMessageId(id, ctx.secret);
    if (signed?.caseNumber == null) continue;
    const caseRow = await caseNamed(ctx, signed.caseNumber);
    if (caseRow !== undefined) return { caseRow, rule: 'signed-reference', strangerRule: 'signed-reference' };
  }
  const parsed = need(msg.notes.parsed, 'parsed');
  const recipients = [...parsed.to, ...parsed.cc].map((a) => a.address).concat(msg.arrival.envelopeTo, parsed.headers.get('delivered-to') ?? [], parsed.headers.get('x-original-to') ?? []);
  for (const r of recipients) {
    const plus = verifyPlusAddress(r, ctx.secret);
    if (plus === null) continue;
    const caseRow = await caseNamed(ctx, plus.caseNumber);
    if (caseRow !== undefined) return { caseRow, rule: 'plus-token', strangerRule: 'plus-token' };
  }
  // The signed bounce address of one of our emails (mailboxes[].verp): what an out-of-office
  // answers (RFC 3834 §4: the envelope sender), often without any reference.
  for (const r of recipients) {
    const owner = verpParts(r) !== null ? await bounceAddressOwner(ctx, r) : null;
    if (owner !== null) return { caseRow: owner.caseRow, rule: 'plus-token', strangerRule: 'plus-token' };
  }
  return null;
}

/** Any stored message's Message-ID among the references (unsigned: a claim). */
async function byKnownReference(ctx: AppContext, refs: readonly string[]): Promise<Claim | null> {
  if (refs.length === 0) return null;
  const caseRow = await caseByMessageIds(ctx.db, refs);
  return caseRow !== undefined ? { caseRow, rule: 'known-reference', strangerRule: 'new-stranger-reference' } : null;
}

/**
 * A forward ("Fwd: …") of a message a case was opened with, without any reference (Outlook, Apple
 * Mail): the forwarded block's writer opened a case with that subject. A claim (anyone can forward
 * a message they got, or type such a block): it threads only the writer's own forward, proven by
 * sender authentication (thread stage); anyone else's opens a new case linked to it ("possibly
 * related", for the agents). Of several such cases the one holding the forwarded message (its Date,
 * a zone-less local time read in the forwarder's zone, else its text: forwardedCase); the newest
 * when that does not tell one; followed to where a merge took it.
 */
async function byForwardedOriginal(msg: Inbound, ctx: AppContext): Promise<(Claim & { ownMessage: boolean }) | null> {
  const parsed = need(msg.notes.parsed, 'parsed');
  const original = forwardedOriginal(parsed);
  if (original === null) return null;
  const subject = caseSubject(original.subject, ctx.config.cases.tagPrefix);
  // Her own zone reads a local time the forward shows ("Sent: Monday, December 7, 2026 3:04 PM").
  const windows = sentWindows(original.date, zoneOffsetOf(header(parsed, 'date')));
  const chosen = await forwardedCase(ctx, original, subject, windows);
  if (chosen === undefined) return null;
  const caseRow = chosen.merged_into === null ? chosen : await caseNamed(ctx, chosen.number);
  if (caseRow === undefined) return null;
  return { caseRow, rule: 'forwarded-copy', strangerRule: 'new-forwarded-copy', ownMessage: original.from === need(msg.notes.sender, 'sender').address };
}

/** Her newest cases of the forwarded subject whose messages are compared with the forward. */
const NEWEST = 20;

/**
 * Which of the writer's cases of that subject holds the forwarded message: the one case with a
 * message of its Date (forwarded-date.ts: the instant, or the shown local time read in her zone),
 * else the one case whose message's text the forward carries; the newest when neither tells
 * exactly one, or when they name different cases. Her newest NEWEST cases of the subject are
 * compared by Date and text; with more, her messages of the forwarded Date on her cases of that
 * subject are looked up by it (any age: an automated sender's report of last year among hundreds of
 * the same subject, a reply she wrote weeks into an old case).
 */
async function forwardedCase(ctx: AppContext, original: ForwardedOriginal, subject: string, windows: readonly SentWindow[]): Promise<CaseRow | undefined> {
  const newest = await requesterCasesBySubject(ctx.db, original.from, subject, NEWEST);
  if (newest.length < 2) return newest[0];
  const stored = await messagesFromOnCases(ctx.db, newest.map((c) => c.id), original.from);
  const byDate = new Set<number>();
  const byText = new Set<number>();
  for (const m of stored) {
    if (inWindows(windows, m.sent_at)) byDate.add(m.case_id);
    if (carriesText(original, m.visible_text)) byText.add(m.case_id);
  }
  if (newest.length === NEWEST && windows.length > 0) {
    // More of her cases than were read: her messages of the forwarded Date on any case of hers of
    // that subject, whatever its age and whenever it was opened (a reply weeks into an old case).
    // One look-up per stretch of time the Date may be (03/04: March or April — not the months between).
    const iso = (t: number) => new Date(t).toISOString();
    for (const span of stretches(windows)) {
      for (const m of await requesterSubjectMessagesSent(ctx.db, original.from, subject, { from: iso(span.from), to: iso(span.to) })) {
        if (inWindows(windows, m.sent_at)) byDate.add(m.case_id);
      }
    }
  }
  const one = (ids: Set<number>) => (ids.size === 1 ? [...ids][0]! : null);
  const date = one(byDate);
  const text = one(byText);
  // Two single answers that disagree: something is read wrong; neither decides.
  const id = date !== null && text !== null && date !== text ? null : (date ?? text);
  if (id === null) return newest[0];
  return newest.find((c) => c.id === id) ?? (await caseById(ctx.db, id)) ?? newest[0];
}

/** The windows joined where they overlap or lie within a day of each other (the readings of one Date: a few hours). */
function stretches(windows: readonly SentWindow[]): SentWindow[] {
  const out: Array<{ from: number; to: number }> = [];
  for (const w of [...windows].sort((a, b) => a.from - b.from)) {
    const last = out.at(-1);
    if (last !== undefined && w.from - last.to < DAY_MS) last.to = Math.max(last.to, w.to);
    else out.push({ from: w.from, to: w.to });
  }
  return out;
}

/** "[Case #10042]" in the subject (a claim: anyone can type a number). */
async function bySubjectTag(ctx: AppContext, subject: string): Promise<Claim | null> {
  const tagged = findTag(subject, ctx.config.cases.tagPrefix);
  if (tagged === null) return null;
  const caseRow = await caseNamed(ctx, tagged);
  return caseRow !== undefined ? { caseRow, rule: 'subject-tag', strangerRule: 'new-stranger-tag' } : null;
}

function newCase(rule: ThreadRule, linked: CaseRow | null): ThreadDecision {
  return { kind: 'new', rule, linkedCaseId: linked?.id ?? null, linkedCaseNumber: linked?.number ?? null };
}

/** Whether a resolved/closed case is past cases.reopenWindowDays: a reply (but a bare "thanks") opens a new linked case. */
export function pastReopenWindow(ctx: Pick<AppContext, 'config' | 'clock'>, caseRow: CaseRow): boolean {
  const since = caseRow.closed_at ?? caseRow.resolved_at ?? caseRow.updated_at;
  return ctx.clock.now().getTime() - new Date(since).getTime() > ctx.config.cases.reopenWindowDays * DAY_MS;
}

/**
 * A customer's mail with no text of its own — its visible text empty (nothing above the quote) or
 * only her signature (Outlook's empty reply with her auto-signature: "Jane Doe / ACME Corp | IT /
 * +49 …", signature.ts with her name) — and no attachment at all: a picture pasted into the HTML
 * ("still broken", as a screenshot) is something.
 */
function hasNothingWritten(msg: Inbound): boolean {
  const parsed = msg.notes.parsed;
  const text = (msg.notes.visible?.text ?? '').trim();
  return (text === '' || isOnlySignature(text, msg.notes.sender?.name ?? '')) && parsed !== undefined && parsed.attachments.length === 0;
}

/** A reply to a resolved/closed case: reopen inside the window, a new linked case after it. */
export function decideReopen(msg: Inbound, ctx: AppContext, caseRow: CaseRow, rule: ThreadRule): ThreadDecision {
  if (caseRow.status !== 'resolved' && caseRow.status !== 'closed') return { kind: 'existing', rule, caseRow, reopen: 'keep' };
  // Feedback is recorded closed and stays closed: a reply to it is appended, never reopens it.
  if (caseRow.kind === 'feedback') return { kind: 'existing', rule, caseRow, reopen: 'keep' };
  // Nor an out-of-office in words only ("I am out of the office until …" answering our resolved email): recorded, the agents told.
  if (msg.notes.automated != null || msg.notes.suspectedAutoReply != null) return { kind: 'existing', rule, caseRow, reopen: 'keep' };
  const thanks = isThanksOnly(msg.notes.visible?.text ?? '');
  // Nothing written (or only a signature) and no file (sent empty by mistake; Outlook's empty
  // reply quoting our "resolved" email): it asks for nothing, so it neither reopens the case (no "reopened" email to
  // the customer quoting nothing) nor opens a new one after the window. Recorded on the case, and
  // the agents told as for any reply (their notification says it has no text).
  if (hasNothingWritten(msg)) return { kind: 'existing', rule, caseRow, reopen: 'keep-empty' };
  // After the window a reply is a new problem — but a late "thanks" is none: it is recorded on
  // the old case (no new case, no confirmation), whatever cases.reopenOnThanks says.
  if (pastReopenWindow(ctx, caseRow)) return thanks ? { kind: 'existing', rule, caseRow, reopen: 'keep-thanks' } : newCase('new-after-reopen-window', caseRow);
  if (!ctx.config.cases.reopenOnThanks && thanks) return { kind: 'existing', rule, caseRow, reopen: 'keep-thanks' };
  return { kind: 'existing', rule, caseRow, reopen: 'reopen' };
}
