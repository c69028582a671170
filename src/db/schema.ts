import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Timestamps are UTC ISO-8601 strings everywhere (portable between SQLite and PostgreSQL). */
export type Timestamp = string;
/** SQLite has no boolean: 0/1. */
export type Flag = 0 | 1;

export type CaseStatus = 'new' | 'open' | 'pending' | 'on_hold' | 'resolved' | 'closed';
/** feedback: a feedback queue's message, recorded closed (no SLA, never reopened). */
export type CaseKind = 'case' | 'feedback';
export type Direction = 'in' | 'out';
export type InboundOutcome = 'stored' | 'ignored' | 'quarantined';
/** cancelled: an admin withdrew it (`casegate outbox cancel`). */
export type OutboxStatus = 'queued' | 'sent' | 'failed' | 'suppressed' | 'cancelled';

export interface CasesTable {
  id: Generated<number>;
  number: number;
  subject: string;
  /**
   * The subject as forwards are matched to it (cases/subject-key.ts: NFKC, case folded in
   * TypeScript, alike on both backends; 0038). Written with the case (insertCase), never changed;
   * null only on a row written by hand without it.
   */
  subject_key: ColumnType<string | null, string, never>;
  requester_address: string;
  requester_name: string;
  status: CaseStatus;
  priority: string;
  queue: string;
  mailbox: string;
  language: string;
  /** The case this one was opened from (a stranger's tagged mail, a reply after the reopen window). */
  linked_case_id: number | null;
  escalated: Generated<Flag>;
  /** 0 = not escalated, else the tier (1–3) whose addresses were alerted last. */
  escalation_level: Generated<number>;
  /** When it was last escalated (0002). */
  escalated_at: Timestamp | null;
  /** Address of the owning agent (queues.<q>.agents). */
  owner: string | null;
  /** 'case', or 'feedback' for a feedback queue's message (0002). */
  kind: Generated<CaseKind>;
  created_at: Timestamp;
  updated_at: Timestamp;
  resolved_at: Timestamp | null;
  closed_at: Timestamp | null;
  last_customer_at: Timestamp | null;
  first_response_due_at: Timestamp | null;
  resolution_due_at: Timestamp | null;
  /** 1: opened by mail our MX called spam, not yet marked ham (0005). */
  spam: Generated<Flag>;
  /**
   * The first response (0007): when an agent first answered the customer, or when the case ended
   * before anyone did; null until then. The one record of it (case_sla derives its measures from
   * it, 0010). Set only by cases/lifecycle.ts.
   */
  first_response_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  /** The case this one was merged into and continues as (0023); null when not merged. */
  merged_into: ColumnType<number | null, number | null | undefined, number | null>;
}

export type ParticipantRole = 'requester' | 'cc' | 'agent';
export interface CaseParticipantsTable {
  id: Generated<number>;
  case_id: number;
  address: string;
  name: string;
  role: ParticipantRole;
  created_at: Timestamp;
}

export interface MessagesTable {
  id: Generated<number>;
  case_id: number;
  direction: Direction;
  /** Normalised Message-ID (no angle brackets); unique when present. */
  message_id: string | null;
  in_reply_to: string | null;
  /** JSON array of Message-IDs. */
  references_json: string;
  from_address: string;
  from_name: string;
  to_json: string;
  cc_json: string;
  subject: string;
  sent_at: Timestamp | null;
  text: string | null;
  html: string | null;
  visible_text: string;
  body_truncated: Flag;
  /** Raw .eml in the blob store (null for outgoing mail not yet sent). */
  raw_sha256: string | null;
  raw_size: number | null;
  /** bounce | auto-reply | auto-generated | bulk | feedback-report, or null for human mail. */
  automated: string | null;
  /** Which threading rule placed it: signed-reference, plus-token, known-reference, subject-tag, new, … */
  thread_rule: string;
  receipt_id: number | null;
  outbox_id: number | null;
  created_at: Timestamp;
  /** 1: our MX called this message spam (0005). */
  spam: Generated<Flag>;
  /** 1 for staff-only messages (agents' mail, internal notes): never sent or shown to customers (0007). */
  internal: ColumnType<Flag, Flag | undefined, Flag>;
  /** Address of the agent who wrote it (their mail, a note, or the reply we sent for them), else null (0007). */
  author: ColumnType<string | null, string | null | undefined, string | null>;
  /** Inbound: what sender authentication found for its From — pass | none | fail; null on outgoing mail and older rows (0015). */
  sender_auth: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface AttachmentsTable {
  id: Generated<number>;
  message_row_id: number;
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  content_id: string | null;
  disposition: string;
}

export interface EventsTable {
  id: Generated<number>;
  case_id: number | null;
  message_row_id: number | null;
  type: string;
  /** system | customer:<address> | agent:<name> | cli:<user> */
  actor: string;
  reason: string;
  data_json: string;
  created_at: Timestamp;
}

export interface ReceiptsTable {
  id: Generated<number>;
  /** "mid:<message-id>" or "sha256:<hash of raw bytes>". */
  dedupe_key: string;
  /** 1 for the receipt that owns its dedupe key; duplicates and superseded receipts are 0. */
  is_primary: Flag;
  message_id: string | null;
  raw_sha256: string;
  raw_size: number;
  /** Digest of sender, subject, date and normalised body (0004; null on older receipts and unparsable mail). */
  content_digest: string | null;
  /** What a re-sent copy under a new Message-ID keeps (content-digest.ts resendKey; 0027), null when the resend stage did not see the message. */
  resend_key: string | null;
  /** The message's Date header, ISO (0027); null without one. */
  sent_at: Timestamp | null;
  channel: string;
  mailbox: string;
  envelope_from: string | null;
  envelope_to_json: string;
  from_address: string | null;
  subject: string;
  received_at: Timestamp;
  outcome: InboundOutcome;
  reason: string;
  /** Stage that decided the outcome. */
  stage: string;
  case_id: number | null;
  message_row_id: number | null;
  duplicate_of: number | null;
  /** For quarantined receipts: the receipt created when an admin retried it. */
  retried_as: number | null;
}

export interface OutboxTable {
  id: Generated<number>;
  case_id: number | null;
  /** Template kind: confirmation, reopened, … */
  kind: string;
  /** 1 when it is an automatic reply to a customer (counts towards the per-sender rate limit). */
  auto_reply: Flag;
  from_address: string;
  from_name: string;
  to_address: string;
  to_name: string;
  reply_to: string | null;
  subject: string;
  message_id: string;
  in_reply_to: string | null;
  references_text: string | null;
  /** Extra headers as a JSON object (Auto-Submitted, X-Loop, …). */
  headers_json: string;
  /** Cc recipients, JSON array of { address, name } (0007). */
  cc_json: ColumnType<string, string | undefined, string>;
  text: string;
  html: string;
  status: OutboxStatus;
  attempts: number;
  next_attempt_at: Timestamp;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: Timestamp | null;
  /** The sender process holding the row while it sends it (0003); null when nobody does. */
  claimed_by: Generated<string | null>;
  /** The claim lapses at this time (a sender that died never blocks a row for long). */
  claim_expires_at: Generated<Timestamp | null>;
  /** When it was last handed to the transport (0003). */
  last_attempt_at: Generated<Timestamp | null>;
  /** When it (last) entered the queue: created_at, or when an admin retried it (0003). */
  queued_at: Timestamp | null;
  /**
   * The relay took it for some recipients and refused these for now (4xx at RCPT TO): JSON array of
   * the addresses the next attempts go to, alone (0017). Null: every To and Cc recipient. Also
   * written at queue time when some readers have what it says already (an agent's own mail
   * reached them directly: compose.ts `reached`).
   */
  pending_rcpt_json: ColumnType<string | null, string | null | undefined, string | null>;
  /**
   * When the retention job emptied `text` and `html` of this sent email (0020, jobs.sentBodies);
   * null: the body is there. The rest of the row stays.
   */
  body_dropped_at: ColumnType<Timestamp | null, Timestamp | null | undefined, Timestamp | null>;
  /**
   * Per-recipient copies (0022): JSON array of { address, text, html } for each Cc recipient, whose
   * copy differs from the To's (`text`, `html`) only by the case-page link that names its reader;
   * each goes alone to its recipient. Null: one email to all (outbox-mail.ts).
   */
  copies_json: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Health of the outgoing transport (0003): one row per transport name. */
export type TransportState = 'ok' | 'failing' | 'paused';
export interface TransportHealthTable {
  transport: string;
  state: TransportState;
  last_error: string | null;
  /** auth | tls | connection | recipient | message | unknown (mail-out/send-errors.ts). */
  last_error_class: string | null;
  last_error_at: Timestamp | null;
  last_success_at: Timestamp | null;
  /** First failure after the last success; null while sending works. */
  failing_since: Timestamp | null;
  /** Set while sending is paused (transport broken: auth, TLS, connection) and being probed. */
  paused_since: Timestamp | null;
  alerted: Flag;
  updated_at: Timestamp;
}

export interface AddressStatusTable {
  address: string;
  bouncing: Flag;
  bounce_count: number;
  last_bounce_at: Timestamp | null;
  last_reason: string | null;
  updated_at: Timestamp;
  /** When the address asked for no more satisfaction surveys (List-Unsubscribe, 0018); null: it gets them. */
  surveys_refused_at: Timestamp | null;
}

export interface MailboxStateTable {
  mailbox: string;
  uidvalidity: string | null;
  last_uid: number;
  updated_at: Timestamp;
}

export interface MailboxHealthTable {
  mailbox: string;
  state: string;
  detail: string | null;
  last_success_at: Timestamp | null;
  failing_since: Timestamp | null;
  backlog: number;
  alerted: Flag;
  updated_at: Timestamp;
}

/** A message whose stage ran out of time on it (pipeline/give-up.ts): its attempts so far. */
export interface MessageFailuresTable {
  raw_sha256: string;
  mailbox: string;
  channel: string;
  stage: string;
  reason: string;
  /** Every attempt that ended in a stage timeout. */
  attempts: number;
  /** The attempts that count toward giving up: the stage worked for other mail since the one before. */
  strikes: number;
  first_failed_at: Timestamp;
  last_failed_at: Timestamp;
}

/** Tags on a case (set by routing rules). */
export interface CaseTagsTable {
  case_id: number;
  tag: string;
  created_at: Timestamp;
}

/** Round-robin assignment: the agent (address) who got the queue's last case. */
export interface AssignmentStateTable {
  queue: string;
  last_agent: string;
  updated_at: Timestamp;
}

/** SLA clocks of one case (0009): first response and resolution, follow-up and critical watch. */
export interface CaseSlaTable {
  case_id: number;
  /** Policy name ('' when the case's queue has none: no targets). */
  policy: string;
  calendar: string;
  /** business-hours | 24x7 (of the case's priority). */
  coverage: string;
  started_at: Timestamp;
  fr_target_min: number | null;
  fr_warn_at: Timestamp | null;
  fr_due_at: Timestamp | null;
  /** Business seconds from opening to the first response (cases.first_response_at; 0010); null until then. */
  fr_business_sec: number | null;
  fr_met: Flag | null;
  fr_warned_at: Timestamp | null;
  fr_breached_at: Timestamp | null;
  res_target_min: number | null;
  /** JSON [{ from, to|null, why }]: pending (and on hold when it pauses) and resolved periods. */
  res_pauses_json: string;
  /**
   * JSON [{ to, calendar, frMissedAt?, resMissedAt? }]: the stretches in earlier queues (0034), each
   * measured in its queue's calendar until `to` (a move); a target missed by then and when. '[]': never moved.
   */
  moves_json: Generated<string>;
  /** A target missed before a change of priority, and when (0038): it stays missed. Null: not recorded so. */
  fr_missed_at: Timestamp | null;
  res_missed_at: Timestamp | null;
  res_warn_at: Timestamp | null;
  /** Null while paused or stopped. */
  res_due_at: Timestamp | null;
  res_done_at: Timestamp | null;
  res_business_sec: number | null;
  res_met: Flag | null;
  res_warned_at: Timestamp | null;
  res_breached_at: Timestamp | null;
  /** Earliest warn/due time not yet handled by the sla-check job; null when nothing is left. */
  next_check_at: Timestamp | null;
  /** Since when the case waits for the customer (status pending), else null. */
  pending_since: Timestamp | null;
  /** Next pending reminder or automatic close. */
  pending_next_at: Timestamp | null;
  /** Reminders sent in the current pending period. */
  pending_reminders: Generated<number>;
  /** Last update from the team (reply, status change …). */
  last_update_at: Timestamp;
  /** When a critical case counts as without an update (critical-reminder job), else null. */
  stale_check_at: Timestamp | null;
  updated_at: Timestamp;
}

export interface JobRunsTable {
  job: string;
  last_started_at: Timestamp;
  last_finished_at: Timestamp | null;
  last_error: string | null;
  runs: number;
  /** The scheduled time (ISO) of the last run a daemon claimed: each slot runs once across the cluster (0013). */
  last_slot: Timestamp | null;
  /** Which daemon ran it last (host:pid:…). */
  runner: string | null;
  /** A run in progress counts as running until then; after that a crashed run may be taken over (0013). */
  lease_until: Timestamp | null;
}

/** Leases of work only one daemon may do at a time (an IMAP mailbox): held until expires_at unless renewed (0013). */
export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: Timestamp;
  acquired_at: Timestamp;
  renewed_at: Timestamp;
}

/** Named high-water marks that outlive the rows they count (0019): `case-number`, the highest case number ever handed out (SQLite). */
export interface CountersTable {
  name: string;
  value: number;
}

/**
 * A relay's per-minute budget shared by every daemon (0040, mail-out/relay-rate.ts): per budget
 * (relay host:port and login), each whole second room was taken in (ISO, the second after the
 * taking) and how many recipients; a second counts until 60 s after it.
 */
export interface RelayRateSecondsTable {
  relay: string;
  second: Timestamp;
  used: number;
}

/** What a job sent, claimed in the transaction that wrote the outbox row (never twice). */
export interface JobClaimsTable {
  id: Generated<number>;
  job: string;
  /** 0 for claims not about one case. */
  case_id: number;
  claim_key: string;
  outbox_id: number | null;
  created_at: Timestamp;
}

export interface SurveyResponsesTable {
  case_id: number;
  rating: number | null;
  /** Every comment, oldest first, separated by blank lines. */
  comment: string;
  /** web | email */
  source: string;
  rated_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface LinkRevocationsTable {
  id: Generated<number>;
  case_id: number;
  link_sig: string | null;
  revoked_before: Timestamp | null;
  reason: string;
  actor: string;
  created_at: Timestamp;
}

export interface Database {
  cases: CasesTable;
  case_participants: CaseParticipantsTable;
  messages: MessagesTable;
  attachments: AttachmentsTable;
  events: EventsTable;
  receipts: ReceiptsTable;
  outbox: OutboxTable;
  address_status: AddressStatusTable;
  mailbox_state: MailboxStateTable;
  mailbox_health: MailboxHealthTable;
  message_failures: MessageFailuresTable;
  case_tags: CaseTagsTable;
  assignment_state: AssignmentStateTable;
  transport_health: TransportHealthTable;
  case_sla: CaseSlaTable;
  job_runs: JobRunsTable;
  job_claims: JobClaimsTable;
  survey_responses: SurveyResponsesTable;
  link_revocations: LinkRevocationsTable;
  leases: LeasesTable;
  counters: CountersTable;
  relay_rate_seconds: RelayRateSecondsTable;
}

export type CaseRow = Selectable<CasesTable>;
export type NewCase = Insertable<CasesTable>;
export type CaseUpdate = Updateable<CasesTable>;
export type MessageRow = Selectable<MessagesTable>;
export type NewMessage = Insertable<MessagesTable>;
export type EventRow = Selectable<EventsTable>;
export type ReceiptRow = Selectable<ReceiptsTable>;
export type NewReceipt = Insertable<ReceiptsTable>;
export type OutboxRow = Selectable<OutboxTable>;
export type NewOutbox = Insertable<OutboxTable>;
export type AttachmentRow = Selectable<AttachmentsTable>;
export type ParticipantRow = Selectable<CaseParticipantsTable>;
export type CaseSlaRow = Selectable<CaseSlaTable>;
export type NewCaseSla = Insertable<CaseSlaTable>;
export type SurveyResponseRow = Selectable<SurveyResponsesTable>;
export type { ColumnType };
