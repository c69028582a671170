import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import type { MailboxConfig } from '../config/schema.js';
import type { CaseRow, Database } from '../db/schema.js';
import type { AutomatedVerdict, BounceReport } from '../mail-in/automated.js';
import type { ParsedMail } from '../mail-in/parsed-mail.js';
import type { VisibleText } from '../mail-in/visible-text.js';
import type { StoredBlob } from '../storage/blob-store.js';

export type ChannelName = 'smtp' | 'pipe' | 'imap' | 'quarantine-retry' | 'test';

/** What a channel hands the pipeline: the raw bytes (already in the blob store) and the envelope. */
export interface Arrival {
  readonly channel: ChannelName;
  readonly mailbox: MailboxConfig;
  /** SMTP MAIL FROM / Return-Path; "" for the null sender <>; null when unknown. */
  readonly envelopeFrom: string | null;
  readonly envelopeTo: readonly string[];
  readonly receivedAt: Date;
  readonly raw: StoredBlob;
  /** Set by `casegate quarantine retry`: the receipt being processed again. */
  readonly retryOf?: number;
  /**
   * Set by the IMAP channel: written into mailbox_state in the same transaction as the outcome,
   * so the checkpoint can never run ahead of (or behind) what was committed.
   */
  readonly checkpoint?: MailboxCheckpoint;
}

export interface MailboxCheckpoint {
  readonly mailbox: string;
  readonly uidvalidity: string;
  readonly uid: number;
}

/** The four endings (DESIGN §1). */
export type Outcome =
  | { readonly kind: 'stored'; readonly reason: string; readonly caseId: number; readonly caseNumber: number; readonly receiptId: number; readonly created: boolean }
  | { readonly kind: 'ignored'; readonly reason: string; readonly caseId: number | null; readonly caseNumber: number | null; readonly receiptId: number }
  | { readonly kind: 'quarantined'; readonly reason: string; readonly receiptId: number }
  | { readonly kind: 'retry'; readonly reason: string };

export type OutcomeKind = Outcome['kind'];

export interface SenderNote {
  readonly address: string;
  readonly name: string;
  /** false when a trusted Authentication-Results says DMARC failed: no participant rights. */
  readonly verified: boolean;
  readonly why: string;
}

export type ThreadRule =
  | 'signed-reference'
  | 'plus-token'
  | 'known-reference'
  | 'subject-tag'
  | 'bounce-reference'
  | 'new'
  | 'new-stranger-tag'
  | 'new-after-reopen-window';

export type ThreadDecision =
  | {
      readonly kind: 'existing';
      readonly rule: ThreadRule;
      readonly caseRow: CaseRow;
      /** reopen: a customer reply to a resolved/closed case inside the window; keep: recorded, status unchanged. */
      readonly reopen: 'reopen' | 'keep' | 'keep-thanks';
    }
  | { readonly kind: 'new'; readonly rule: ThreadRule; readonly linkedCaseId: number | null; readonly linkedCaseNumber: number | null };

export interface Classification {
  readonly queue: string;
  readonly priority: string;
  readonly language: string;
}

/** Typed notes: each stage fills its own slot; later stages read them (no magic keys). */
export interface Notes {
  parsed?: ParsedMail;
  dedupeKey?: string;
  automated?: AutomatedVerdict | null;
  bounce?: (BounceReport & { readonly caseRow: CaseRow }) | null;
  sender?: SenderNote;
  thread?: ThreadDecision;
  classification?: Classification;
  visible?: VisibleText;
  /** Set by persist inside the transaction. */
  persisted?: { readonly caseRow: CaseRow; readonly messageRowId: number; readonly receiptId: number; readonly created: boolean; readonly reopened: boolean };
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

/** Thrown by a stage for transient trouble (disk full, database busy): the outcome is `retry`. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`pipeline order bug: ${what} is not set`);
  return value;
}
