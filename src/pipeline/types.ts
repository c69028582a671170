import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import type { MailboxConfig } from '../config/schema.js';
import type { AgentCommand } from '../cases/agent-commands.js';
import type { UrgentSubject } from '../cases/escalation-signals.js';
import type { WordCounts } from '../cases/language.js';
import type { CaseKind, CaseRow, Database } from '../db/schema.js';
import type { AutomatedVerdict, BounceReport } from '../mail-in/automated.js';
import type { FormMail } from '../mail-in/form-mail.js';
import type { AuthJudgement, AuthVerdict } from '../mail-in/sender-auth.js';
import type { ParsedMail } from '../mail-in/parsed-mail.js';
import type { SpamVerdict } from '../mail-in/spam-verdict.js';
import type { VisibleText } from '../mail-in/visible-text.js';
import type { AgentMailNote, AgentWorkNote, StaffClaimNote } from './stages/agent-role.js';
import type { StaffMailLedger } from './staff-mail-cap.js';
import type { BlobStore, StoredBlob } from '../storage/blob-store.js';

export type ChannelName = 'smtp' | 'pipe' | 'imap' | 'quarantine-retry' | 'import' | 'test' | 'web';

/** What a channel hands the pipeline: the raw bytes (already in the blob store) and the envelope. */
export interface Arrival {
  readonly channel: ChannelName;
  readonly mailbox: MailboxConfig;
  /** SMTP MAIL FROM / Return-Path; "" for the null sender <>; null when unknown. */
  readonly envelopeFrom: string | null;
  readonly envelopeTo: readonly string[];
  readonly receivedAt: Date;
  readonly raw: StoredBlob;
  /** The SMTP client that handed the message to our listener (sender authentication mode verify). */
  readonly client?: { readonly ip: string; readonly helo: string | null };
  /** Set by `casegate quarantine retry`: the receipt being processed again. */
  readonly retryOf?: number;
  /**
   * Set by the IMAP channel: written into mailbox_state in the same transaction as the outcome,
   * so the checkpoint can never run ahead of (or behind) what was committed.
   */
  readonly checkpoint?: MailboxCheckpoint;
  /** performance.now() when the channel began taking the message (metrics: arrival → commit); default the pipeline's start. */
  readonly arrivedMs?: number;
  /**
   * Historic mail (`casegate import` without --notify): every email its commit would queue
   * (confirmation, notifications, …) is recorded as cancelled in the same transaction, never sent.
   */
  readonly historic?: boolean;
  /**
   * Set by runPipeline on the second attempt when the first one's database connection broke during
   * its commit: a duplicate with the same bytes found now is that first attempt's commit, whose
   * answer was lost (the outcome line says so instead of a bare "duplicate").
   */
  readonly afterLostCommit?: true;
}

export interface MailboxCheckpoint {
  readonly mailbox: string;
  readonly uidvalidity: string;
  readonly uid: number;
}

/**
 * The stage named on the quarantine receipt of an IMAP message above listener.maxMessageBytes
 * (src/channels/imap-oversized.ts): only its header block is kept, so it cannot be retried here.
 */
export const SIZE_LIMIT_STAGE = 'size-limit';

/** The four endings (DESIGN §1). */
export type Outcome =
  | { readonly kind: 'stored'; readonly reason: string; readonly caseId: number; readonly caseNumber: number; readonly receiptId: number; readonly created: boolean }
  | { readonly kind: 'ignored'; readonly reason: string; readonly caseId: number | null; readonly caseNumber: number | null; readonly receiptId: number }
  | { readonly kind: 'quarantined'; readonly reason: string; readonly receiptId: number }
  | { readonly kind: 'retry'; readonly reason: string; /** The disk (or quota) is full: the SMTP listener answers 452 4.3.1. */ readonly diskFull?: boolean };

export type OutcomeKind = Outcome['kind'];

export interface SenderNote {
  readonly address: string;
  readonly name: string;
  /**
   * What sender authentication (security.senderAuth) found: pass = the From is proven, fail = it is
   * forged (DMARC fail), none = nothing proves it. Participant rights from the From address alone
   * (subject tag, known references, enrolling CCs) need pass; our signed tokens need nothing.
   */
  readonly auth: AuthVerdict;
  /** false only when auth is fail: stored, but never answered and no request honoured. */
  readonly verified: boolean;
  /**
   * Cases whose staff mail to this very address the message answers (In-Reply-To/References
   * carry a Message-ID we signed for this recipient): the other proof, besides auth pass, that a
   * staff address wrote it (cases/participation.ts staffProven; README, "Agent trust").
   */
  readonly answersStaffMail: readonly number[];
  readonly why: string;
}

export type ThreadRule =
  | 'signed-reference'
  | 'plus-token'
  | 'known-reference'
  | 'subject-tag'
  /** A bare case number in an "Urgent – …" subject ("#10042", "case 10042"), from a participant of that case. */
  | 'subject-number'
  | 'bounce-reference'
  | 'new'
  | 'new-stranger-tag'
  /** A known (unsigned) Message-ID in In-Reply-To/References from someone without rights in that case: new case linked to it. */
  | 'new-stranger-reference'
  /** A forward of the requester's own earlier message (stages/thread.ts), from that requester, sender authenticated. */
  | 'forwarded-copy'
  /** A forward of a message stored in a case, from anyone else (or unauthenticated): a new case linked to it, "possibly related". */
  | 'new-forwarded-copy'
  | 'new-after-reopen-window'
  /** Agent mail that threading would have opened a new case for, put into the case it links to (the sender works that case's queue). */
  | 'staff-link';

export type ThreadDecision =
  | {
      readonly kind: 'existing';
      readonly rule: ThreadRule;
      readonly caseRow: CaseRow;
      /**
       * reopen: a customer reply to a resolved/closed case inside the window; keep: recorded, status
       * unchanged; keep-thanks / keep-empty: so is a mere thank-you, or a reply with nothing written
       * and no file (an empty reply, one that only quotes our email), to a resolved/closed case.
       */
      readonly reopen: 'reopen' | 'keep' | 'keep-thanks' | 'keep-empty';
    }
  | { readonly kind: 'new'; readonly rule: ThreadRule; readonly linkedCaseId: number | null; readonly linkedCaseNumber: number | null };

export interface Classification {
  /** The mailbox of a new case (MailboxDirectory.addressed): its From; the case's own for a reply. */
  readonly mailbox: string;
  readonly queue: string;
  readonly priority: string;
  readonly language: string;
}

/** Routing of a new case beyond queue and priority (rules, feedback queues); neutral for replies. */
export interface RoutingDecision {
  /** The rule that fired (new cases only), else null. */
  readonly rule: { readonly name: string; readonly index: number } | null;
  readonly kind: CaseKind;
  /** Subject of a new case when not taken from the mail's subject ("Urgent – VPN down" → "VPN down"). */
  readonly subject: string | null;
  readonly tags: readonly string[];
  /** Owner (agent address) chosen by the rule, else null: the queue's assignment decides. */
  readonly owner: string | null;
  /** Tier the rule escalates the new case to, else null. */
  readonly tier: number | null;
}

/** What the writer asks for: an escalation (customers) or commands (agents of the case's queue). */
export interface EscalationRequest {
  /** Verified, not automated, not staff: their "Urgent"/"escalate" counts. */
  readonly fromCustomer: boolean;
  /** An "Urgent – …" subject that counts (new in the thread, from a customer), else null. */
  readonly urgent: UrgentSubject | null;
  /** "escalate"/"escalation" in the customer's own new text or new subject. */
  readonly keyword: boolean;
  /**
   * #commands found in mail from staff that cannot act on this case (unverified, or not of its
   * queue): recorded as refused, never executed. Agents' commands run in the agent flow.
   */
  readonly commands: readonly AgentCommand[];
  /** Why a request found in the mail does not count (unverified sender, automated mail, not an agent of the queue), else null. */
  readonly refused: string | null;
  /** An urgent subject named a case number that is not one of the sender's cases (left untouched). */
  readonly foreignCaseNumber: number | null;
}

/** What dedupe and classify read of a message's text, made with its parse (on the daemon's MIME thread). */
export interface TextFacts {
  /** contentDigest of the parsed message. */
  readonly digest: string;
  /** The language's evidence: wordCounts of the subject and the visible text. */
  readonly words: WordCounts;
}

/** Typed notes: each stage fills its own slot; later stages read them (no magic keys). */
export interface Notes {
  parsed?: ParsedMail;
  /** Set by parse, with `parsed`. */
  textFacts?: TextFacts;
  dedupeKey?: string;
  /** Set by dedupe for a message without a Message-ID that has a Date: the key its copies in other mailboxes share (stages/dedupe.ts copyKey). */
  copyKey?: string;
  /** Set by dedupe: digest of what survives relaying (sender, subject, date, normalised body, attachments). */
  contentDigest?: string;
  /** Set by resend: what a copy of this message re-sent under a new Message-ID keeps (content-digest.ts resendKey). */
  resendKey?: string;
  /** Set by resend for a re-sent copy: the receipt of the message it copies (recorded as its duplicate_of). */
  resendOf?: number;
  /** Set by dedupe: the stored message whose Message-ID this different message reuses, else unset. */
  collision?: { readonly receiptId: number; readonly messageId: string };
  /** Set by form-mail: mail a contact form (mailboxes[].formSenders) or our own group wrote on a person's behalf, else null. */
  form?: FormMail | null;
  /** Set by form-mail: the address of our own list or group it came through (its list headers are ours), else null. */
  ownList?: string | null;
  automated?: AutomatedVerdict | null;
  /**
   * Set by automated when no header or subject marks the mail automated but its words read like an
   * out-of-office reply (mail-in/auto-reply-wording.ts): why, else null. A suspicion only: an
   * agent's such mail is held instead of relayed (cases/auto-reply-hold.ts), a customer's gets no
   * automatic reply and reopens nothing.
   */
  suspectedAutoReply?: string | null;
  /**
   * Set by automated: a bounce about mail we sent, with its case. `signed`: it came to the signed
   * bounce address of that email and recipient (mailboxes[].verp, pipeline/verp-bounce.ts).
   */
  bounce?:
    | (BounceReport & {
        readonly caseRow: CaseRow;
        readonly signed?: { readonly address: string; readonly outboxId: number };
        /** It carries our signed envelope id (ENVID) of this email: the readers it speaks for (pipeline/bounce-standing.ts). */
        readonly envelope?: { readonly outboxId: number; readonly readers: readonly string[] };
      })
    | null;
  /** Set by spam: our MX's spam verdict, or null. */
  spam?: SpamVerdict | null;
  sender?: SenderNote;
  /** Set by sender-check (loop guard, sender stage): what sender authentication found for this address. */
  senderAuth?: { readonly address: string; readonly judgement: AuthJudgement };
  thread?: ThreadDecision;
  classification?: Classification;
  /** Set by escalation-request (before classify). */
  request?: EscalationRequest;
  /** Set by classify. */
  routing?: RoutingDecision;
  /** Set by escalate (inside the transaction): whether this message was answered with an escalation acknowledgement, and who was alerted (or would have been: the sender's cap held the alert). */
  escalation?: { readonly acknowledged: boolean; readonly alerted?: readonly string[] };
  /** Set by agent-role: mail from a verified agent or lead of the case's queue (the agent flow), else null. */
  agent?: AgentMailNote | null;
  /** Set by agent-role: mail claiming a staff address that is forged or not proven (a customer message; a forged one tells the real address). */
  staffClaim?: StaffClaimNote | null;
  /** Set by agent-commands (agent flow): the agent's commands and text. */
  agentWork?: AgentWorkNote;
  /** Set by status-request (customer flow): the customer only asked "status" / "?". */
  statusRequest?: boolean;
  /** Set by parse: what the writer added (the new text without quoted history and signature). */
  visible?: VisibleText;
  /** Set by survey-reply (after thread): an answer to our satisfaction survey, else null. */
  survey?: { readonly rating: number | null; readonly comment: string; readonly unsubscribe?: boolean } | null;
  /** Kept by the commit stages (staff-mail-cap.ts): the per-sender cap's decision and the staff mail this message sent or held. */
  staffMail?: StaffMailLedger;
  /**
   * Set by persist: the addresses a customer's mail copied (To/Cc) that were not made participants
   * (its sender not proven, taken off by an agent, over the limit): the agents' notification names them.
   */
  notCopied?: readonly string[];
  /** Set by persist inside the transaction. */
  persisted?: {
    readonly caseRow: CaseRow;
    readonly messageRowId: number;
    /** The Message-ID stored with it (null: none, or a collision). */
    readonly messageId: string | null;
    readonly receiptId: number;
    readonly created: boolean;
    readonly reopened: boolean;
  };
}

export interface Inbound {
  readonly arrival: Arrival;
  readonly notes: Notes;
}

/** A stage's verdict: go on, or end here with ignored/quarantined (recorded by the runner). */
export type StageVerdict = { readonly next: true } | { readonly end: 'ignored' | 'quarantined'; readonly reason: string; readonly caseRow?: CaseRow | null };

export const NEXT: StageVerdict = { next: true };

/** A stage before the commit: answers one question, reads the DB at most, no side effects. */
export interface DecideStage {
  readonly name: string;
  run(msg: Inbound, ctx: AppContext): Promise<StageVerdict> | StageVerdict;
}

/** A stage inside the one commit transaction (persist, react). */
export interface CommitStage {
  readonly name: string;
  run(msg: Inbound, ctx: AppContext, trx: Transaction<Database>): Promise<void>;
}

/**
 * Thrown by a stage for a message we will not take at all (a documented limit, e.g. mime.maxParts).
 * A channel that can still say no (the SMTP listener at the end of DATA, `casegate ingest`)
 * refuses it permanently — the sender's MTA keeps it and tells the sender — and nothing is
 * recorded; where we already hold the message (IMAP, a quarantine retry) it is quarantined.
 */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
}

/** Channels that answer before the message is theirs: they can refuse instead of quarantining. */
export function canRefuse(channel: ChannelName): boolean {
  return channel === 'smtp' || channel === 'pipe';
}

/** Thrown by a stage for transient trouble (disk full, database busy): the outcome is `retry`. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
}

/** A held raw message (BlobStore.hold) whose file could not be written: the disk's fault, not the message's, so it is offered again later. */
export function unstoredError(err: unknown): TransientError {
  const e = err as { code?: unknown; message?: unknown } | null;
  const what = typeof e?.message === 'string' ? e.message : String(err);
  return Object.assign(new TransientError(`could not store the message: ${what}`), typeof e?.code === 'string' ? { code: e.code } : {});
}

/** Write a held raw message that is not written yet (the parse normally has); nothing for any other. */
export async function storeHeld(blobs: BlobStore, raw: StoredBlob): Promise<void> {
  try {
    await blobs.settle(raw);
  } catch (err) {
    throw unstoredError(err);
  }
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`pipeline order bug: ${what} is not set`);
  return value;
}

/** The receipt columns every outcome shares: what arrived, how, and what it said it was. */
export function receiptBase(msg: Inbound, dedupeKey: string) {
  const { arrival, notes } = msg;
  return {
    dedupe_key: dedupeKey,
    message_id: notes.parsed?.messageId ?? null,
    raw_sha256: arrival.raw.sha256,
    raw_size: arrival.raw.size,
    content_digest: notes.contentDigest ?? null,
    resend_key: notes.resendKey ?? null,
    sent_at: notes.parsed?.date?.toISOString() ?? null,
    channel: arrival.channel,
    mailbox: arrival.mailbox.name,
    envelope_from: arrival.envelopeFrom,
    envelope_to_json: JSON.stringify(arrival.envelopeTo),
    from_address: notes.sender?.address ?? notes.parsed?.from?.address ?? null,
    subject: notes.parsed?.subject ?? '',
    received_at: arrival.receivedAt.toISOString(),
    message_row_id: null,
    retried_as: null,
  } as const;
}
