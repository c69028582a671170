/**
 * Is an inbound message automated (bounce, auto-reply, machine-generated, bulk, feedback
 * report), and if it is a bounce, which recipients failed and which message was it about?
 *
 * One question, several small modules, checked from most to least specific:
 *
 *  1. bounce-detect.ts — multipart/report (delivery status, feedback report, read receipt), DSN
 *     parts, Amazon SES notifications, MAILER-DAEMON senders, postmaster senders *with* the look
 *     of a bounce, bounce subjects and wording with a weak signal. Bounces come before auto-reply
 *     headers because most MTAs also set "Auto-Submitted: auto-replied" on their bounces.
 *  2. auto-reply.ts — read receipts (MDN parts, Outlook TNEF receipts, localised "Read:" subjects
 *     with a second sign); RFC 3834 Auto-Submitted, the X-Autoreply family, Exchange's
 *     X-Auto-Response-Suppress, the providers' own headers (provider-headers.ts); machine-made
 *     subjects in many languages (auto-reply-subjects.ts: "Automatic reply:", "Abwesenheitsnotiz:",
 *     Lotus Notes' "AUTO: … is out of the office"); challenge-response filters.
 *  3. provider-headers.ts — Precedence and mailing-list headers → bulk.
 *  4. sender-roles.ts — a no-reply or bounce-collecting sender address (tokenised local part:
 *     "newsalerts-noreply@", "do_not_reply@", "bounces+abc@") → auto-generated.
 *  5. Empty Return-Path (null sender) with nothing else → auto-generated.
 *
 * Bounce parsing lives in bounce-report.ts (re-exported here). Everything is pure and defensive:
 * no check throws on odd input.
 */
import { challengeResponseVerdict, autoHeaderVerdict, readReceiptVerdict, subjectVerdict } from './auto-reply.js';
import { bounceVerdict, reportTypeVerdict } from './bounce-detect.js';
import type { ParsedMail } from './parsed-mail.js';
import { bulkVerdict } from './provider-headers.js';
import { addressRole } from './sender-roles.js';

export { noticeVerdict, parseBounce } from './bounce-report.js';
export type { BounceRecipient, BounceReport } from './bounce-status.js';

/**
 * listIsOurs: the message came through a list or group at one of our own addresses (a Google
 * Group support@…): its list headers and "Precedence: list" are our own distribution, not a sign
 * of bulk mail.
 */
export interface ListContext {
  readonly listIsOurs?: boolean;
}

export type AutomatedKind = 'bounce' | 'auto-reply' | 'auto-generated' | 'bulk' | 'feedback-report';

export interface AutomatedVerdict {
  kind: AutomatedKind;
  /** Short human-readable reason, e.g. "Auto-Submitted: auto-replied" or "sender MAILER-DAEMON". */
  reason: string;
  /**
   * True when only the subject says so ("Out of office: …" with no automation header): a person may
   * have written it about their out-of-office, so it is never dropped as belonging to no case.
   */
  subjectOnly?: boolean;
}

/** null = a human wrote it (as far as we can tell). Order of checks matters: bounce first. */
export function detectAutomated(mail: ParsedMail, opts: ListContext = {}): AutomatedVerdict | null {
  return (
    reportTypeVerdict(mail) ??
    bounceVerdict(mail) ??
    readReceiptVerdict(mail) ??
    autoHeaderVerdict(mail) ??
    subjectVerdict(mail, opts) ??
    challengeResponseVerdict(mail) ??
    bulkVerdict(mail, opts) ??
    senderRoleVerdict(mail) ??
    (mail.returnPath === '' ? { kind: 'auto-generated', reason: 'empty Return-Path' } : null)
  );
}

/** Mail from an address nobody reads (no-reply) or that collects bounces: a program sent it. */
function senderRoleVerdict(mail: ParsedMail): AutomatedVerdict | null {
  const address = mail.from?.address ?? '';
  const role = address !== '' ? addressRole(address) : null;
  if (role === 'no-reply' || role === 'bounces') return { kind: 'auto-generated', reason: `${role} sender ${address}` };
  return null;
}
