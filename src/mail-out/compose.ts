import type { Transaction } from 'kysely';
import type { StoredAttachment } from '../mail-in/parsed-mail.js';
import type { AppContext } from '../context.js';
import type { Config, MailboxConfig } from '../config/schema.js';
import { formatTag } from '../cases/subject-tag.js';
import { instanceMark, mintMessageId, plusAddress } from '../cases/thread-token.js';
import { addEvent } from '../db/repos/events.js';
import { insertAttachments, insertMessage } from '../db/repos/messages.js';
import { enqueue, freshlyQueued, holdRow } from '../db/repos/outbox.js';
import { restoreFence } from '../db/repos/jobs.js';
import { statusLabel } from '../cases/lifecycle.js';
import { queueSettings } from '../cases/staff.js';
import { calendarOf } from '../cases/sla-policy.js';
import { priorityLabel } from '../cases/priority.js';
import { customerTexts } from '../cases/customer-texts.js';
import type { CaseRow, Database } from '../db/schema.js';
import { oneLine } from '../mail-in/header-values.js';
import { staffTemplateNames, templateDeclaration } from './template-data.js';
import { caseConversationGuid, replyReferences, threadIndex } from './thread-headers.js';
import { caseThreadRoot, staffMailThread } from '../db/repos/case-thread.js';
import { customerThreadAnchor } from '../db/repos/agent-work.js';
import { templateLanguage, type TemplateDataMap, type TemplateName } from './templates.js';
import { caseLinkFor, recipientCaseLink } from '../web/links.js';
import { withoutSignedLinks } from '../web/signed-link.js';
import type { RenderedEmail } from './template-set.js';
import { REPLY_MARKER, REPLY_MARKERS } from './reply-marker.js';
import { addressKey } from '../address-form.js';

export { REPLY_MARKER } from './reply-marker.js';

type CommonKeys = 'instance' | 'mailbox' | 'case' | 'customer' | 'caseLink' | 'replyMarker' | 'isTest';
export type CommonTemplateData = Pick<TemplateDataMap['confirmation'], CommonKeys>;

export interface Recipient {
  readonly address: string;
  readonly name: string;
}

export function commonData(ctx: AppContext, caseRow: CaseRow, mailbox: MailboxConfig, customer: Recipient, isTest = false): CommonTemplateData {
  return {
    instance: { name: ctx.config.instance.name },
    // The case's queue (a routing rule may have put it elsewhere than the mailbox's queue).
    mailbox: { name: mailbox.name, address: mailbox.addresses[0] ?? '', queue: caseRow.queue },
    case: {
      number: caseRow.number,
      tag: formatTag(ctx.config.cases.tagPrefix, caseRow.number),
      subject: caseRow.subject,
      status: caseRow.status,
      statusLabel: statusLabel(caseRow.status, caseRow.language),
      priority: caseRow.priority,
      priorityLabel: priorityLabel(caseRow.priority, caseRow.language),
      createdAt: caseRow.created_at,
      language: caseRow.language,
    },
    customer: { name: customer.name, address: customer.address, greetingName: customer.name !== '' ? customer.name : 'there' },
    // A fresh signed link to the customer's case page (issue 11); '' when the web server is off.
    caseLink: isTest || caseRow.kind !== 'case' ? '' : caseLinkFor(ctx, caseRow.number),
    replyMarker: REPLY_MARKER,
    isTest,
  };
}

/** The customer who opened the case, as the recipient of customer mail. */
export function requesterOf(caseRow: CaseRow): Recipient {
  return { address: caseRow.requester_address, name: caseRow.requester_name };
}

/** What the confirmation adds for a queue: expected response and what helps (queues.<q>, else cases.*; customerTexts: in the case's language). */
export function confirmationExtras(config: Config, queue: string, language: string): Pick<TemplateDataMap['confirmation'], 'expectedResponse' | 'helpfulInfo'> {
  const t = customerTexts(config, queue, language);
  return { expectedResponse: t.expectedResponse, helpfulInfo: [...t.helpfulInfo] };
}

/** For staff mail about a case: the command that shows it (`caseCommand`). */
export function caseCommand(caseNumber: number): string {
  return `casegate cases show ${caseNumber}`;
}

/** The data every staff-facing case email starts from: the case's common data and the CLI command to look at it. */
export function staffCaseData(ctx: AppContext, caseRow: CaseRow, mailbox: MailboxConfig) {
  // The customer's signed link never goes to staff.
  return { ...commonData(ctx, caseRow, mailbox, requesterOf(caseRow)), caseLink: '', caseCommand: caseCommand(caseRow.number) };
}

/** What a staff email's template gets from the case itself. */
export type StaffCaseData = ReturnType<typeof staffCaseData>;

/**
 * One staff email about a case (notification, assignment, escalation or SLA alert, command error
 * …): from the case's mailbox, generated (Auto-Submitted), outside the customer's thread, with the
 * case's staff data and `data`. Its Message-ID is bound to the recipient (queueEmail).
 */
export async function queueStaffEmail<N extends TemplateName>(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  kind: N,
  to: Recipient,
  data: Omit<TemplateDataMap[N], keyof StaffCaseData>,
  /** A customer's files the email carries (cases/customer-files.ts): staff mail only. */
  files: readonly OutgoingAttachment[] = [],
): Promise<number> {
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const full = { ...staffCaseData(ctx, caseRow, mailbox), ...data } as unknown as TemplateDataMap[N];
  // One conversation per case in the recipient's mail client (Thunderbird, Apple Mail: by
  // References): under the staff mail this address already got about the case.
  const earlier = await staffMailThread(trx, caseRow.id, to.address, staffTemplateNames);
  return queueEmail(trx, ctx, { caseRow, mailbox, kind, to, autoReply: false, generated: true, inReplyTo: earlier?.last ?? null, references: earlier !== undefined && earlier.first !== earlier.last ? [earlier.first] : [], data: full, attachments: files });
}

export interface QueueEmail<N extends TemplateName> {
  readonly caseRow: CaseRow;
  readonly mailbox: MailboxConfig;
  readonly kind: N;
  readonly data: TemplateDataMap[N];
  readonly to: Recipient;
  /** An automatic reply to a customer: Auto-Submitted: auto-replied and the per-sender rate limit. */
  readonly autoReply: boolean;
  /**
   * Mail casegate writes by itself that answers nobody. Informational: every kind but an agent's
   * own reply is marked automatic anyway (automationOf), whatever the caller says here.
   */
  readonly generated?: boolean;
  /**
   * A job's email (reminder, automatic close, survey, still-working): when its item fell due. Due
   * before the last `casegate restore` (restoreFence), a customer's copy is held (`failed`, an
   * `email.held` event) like the outbox the restore found: the lost instance may have sent it
   * between the backup and the restore, and a second reminder or survey would reach the customer.
   */
  readonly dueAt?: string;
  /**
   * The Message-ID we answer and its References chain (oldest first). Null/[] for customer mail:
   * the newest public message of the case is answered.
   */
  readonly inReplyTo: string | null;
  readonly references: readonly string[];
  /**
   * The Message-ID that starts the case's conversation, when the caller knows it without asking
   * the database (a new case: the customer's message just stored); null or absent: looked up.
   */
  readonly threadRoot?: string | null;
  /** Further recipients (an agent's reply goes to every external participant). */
  readonly cc?: readonly Recipient[];
  /**
   * Readers who have what this email says already: an agent answered them from their own mail
   * client (reply-all, support in Cc), so the agent's own mail reached them directly. The email is
   * written to them as to everyone (its To/Cc, the case's thread, the first response) but not sent
   * to them a second time; nobody else to send it to: it is recorded as sent at once.
   */
  readonly reached?: readonly string[];
  /**
   * Signed links in `data` written for the To reader besides the case link (the survey's links):
   * kept in their email. Every other signed link the email would carry is cut (onlyOwnLinks).
   */
  readonly readerLinks?: readonly string[];
  /** From display name instead of the mailbox's (an agent's reply: the agent's name). */
  readonly fromName?: string;
  /** Stored files to attach (blob store, by sha256). */
  readonly attachments?: readonly OutgoingAttachment[];
  /** The agent it is written for (messages.author). */
  readonly author?: string | null;
  /**
   * An https URL that stops this kind of mail to the recipient with one POST (RFC 8058): written as
   * List-Unsubscribe with List-Unsubscribe-Post (both DKIM-signed). Only the survey has one: every
   * other email is about the recipient's own case, nothing to unsubscribe from.
   */
  readonly unsubscribeUrl?: string;
}

/** A stored file sent with an email: an agent's attachment relayed to the customer (as the blob store keeps it). */
export type OutgoingAttachment = StoredAttachment;

/**
 * How automatic an email is, as receivers read it (RFC 3834): an automatic reply to a message
 * (`auto-replied`), other mail casegate writes by itself (`auto-generated`: notices, reminders,
 * surveys, alerts), or human mail (null: only an agent's own reply).
 */
export type Automation = 'auto-replied' | 'auto-generated' | null;

/**
 * The headers that mark automatic mail: Auto-Submitted (RFC 3834), `Precedence: bulk` (what
 * vacation programs and list servers that predate RFC 3834 look for) and
 * X-Auto-Response-Suppress for Exchange/Outlook — every kind of automatic answer except
 * non-delivery reports, which must still reach us (bounce handling). Human mail gets none.
 */
export function automationHeaders(a: Automation): Record<string, string> {
  if (a === null) return {};
  return { 'Auto-Submitted': a, Precedence: 'bulk', 'X-Auto-Response-Suppress': 'DR, RN, NRN, OOF, AutoReply' };
}

/** The automation of a case email: only the agent's own reply is human mail. */
export function automationOf(kind: TemplateName, autoReply: boolean): Automation {
  if (autoReply) return 'auto-replied';
  return kind === 'agent-reply' ? null : 'auto-generated';
}

/**
 * An email as it may go to one reader: every signed link of ours in it cut to "…"
 * (web/signed-link.ts withoutSignedLinks, as the case page does) but those it was written with
 * for that reader (`keep`: their own fresh case link, the survey's links). A signed link is its
 * owner's credential — whoever holds it reads the case and writes on the page as the person it
 * names — and text written by one party reaches others: a customer's message in the agents'
 * notification, a link an agent pasted (or a message of the customer's they quoted) in a reply
 * that goes to the requester and every Cc'd participant, an earlier reply in a reminder. Staff
 * mail keeps none: a link never names an agent. The subject keeps none either (one subject for
 * every copy).
 */
export function onlyOwnLinks(r: RenderedEmail, keep: readonly string[] = []): RenderedEmail {
  return { subject: withoutSignedLinks(r.subject), text: withoutSignedLinks(r.text, keep), html: withoutSignedLinks(r.html, keep) };
}

/**
 * The language an email about a case is written in. Customers read their case's language; staff
 * the team's — the queue's language, else cases.defaultLanguage, as the instance's own alerts — so
 * a German customer's case does not send an English-speaking team its instructions in German.
 */
export function mailLanguage(config: Pick<Config, 'queues' | 'cases'>, kind: TemplateName, caseRow: Pick<CaseRow, 'language' | 'queue'>): string {
  if (templateDeclaration(kind).audience !== 'staff') return caseRow.language;
  return queueSettings(config, caseRow.queue)?.language ?? config.cases.defaultLanguage;
}

/**
 * The time zone an email about a case shows its times in (formatDate's default, @zone): customer
 * mail the queue's calendar's — the zone its promised reply time is stated in, and the case
 * page's — so that one email does not mix "by Tuesday 10:00 CST" with "opened 3:00 PM UTC".
 * Staff mail: none (each time in its own offset).
 */
export function mailZone(config: Pick<Config, 'sla' | 'queues'>, kind: TemplateName, queue: string): string | undefined {
  return templateDeclaration(kind).audience === 'customer' ? calendarOf(config, queue).zone : undefined;
}

/**
 * Render and write one outgoing email as an outbox row (and its thread entry), inside the caller's
 * transaction. The Message-ID is minted now, so a resend after a crash is the same message.
 *
 * Threading (issue 14): mail to a customer always answers something — the message the caller
 * names, else the newest public message of the case — and its References start with the case's
 * first message (RFC 5322 §3.6.4, trimmed keeping the root); every case email carries
 * Thread-Topic / Thread-Index with one conversation GUID per case for Outlook.
 */
export async function queueEmail<N extends TemplateName>(trx: Transaction<Database>, ctx: AppContext, q: QueueEmail<N>): Promise<number> {
  const now = ctx.clock.now().toISOString();
  const staff = templateDeclaration(q.kind).audience === 'staff';
  const requested = mailLanguage(ctx.config, q.kind, q.caseRow);
  const renderOpts = { language: requested, queue: q.caseRow.queue, zone: mailZone(ctx.config, q.kind, q.caseRow.queue) };
  // A customer email with a case-page link: each reader gets one that names them (web/links.ts),
  // so a Cc'd colleague (or whoever they forward it to) writes on the page as that colleague,
  // never as the requester. The To's link is in the row's body; each Cc gets a copy of its own.
  const shownLink = (q.data as { readonly caseLink?: unknown }).caseLink;
  const linked = !staff && typeof shownLink === 'string' && shownLink !== '';
  // Any other signed link the text would carry (quoted, pasted) is cut from each copy (onlyOwnLinks).
  const renderFor = async (address: string, links: readonly string[]) => {
    const caseLink = await recipientCaseLink(trx, ctx, q.caseRow, address);
    return onlyOwnLinks(ctx.templates.render(q.kind, { ...q.data, caseLink }, renderOpts), [caseLink, ...links]);
  };
  const rendered = linked ? await renderFor(q.to.address, q.readerLinks ?? []) : onlyOwnLinks(ctx.templates.render(q.kind, q.data, renderOpts), q.readerLinks ?? []);
  const fromAddress = q.mailbox.addresses[0] ?? '';
  // Staff mail is bound to its recipient: answering it proves the agent's address (README, "Agent trust").
  const messageId = mintMessageId(q.caseRow.number, ctx.secret, ctx.config.instance.domain, staff ? q.to.address : undefined);
  let inReplyTo = q.inReplyTo;
  let parentReferences: readonly string[] = q.references;
  let root: string | null = null;
  if (!staff) {
    if (inReplyTo === null) {
      const anchor = await customerThreadAnchor(trx, q.caseRow.id);
      if (anchor !== undefined) {
        inReplyTo = anchor.message_id;
        parentReferences = JSON.parse(anchor.references_json) as string[];
      }
    }
    root = q.threadRoot ?? (await caseThreadRoot(trx, q.caseRow.id));
  }
  const references = replyReferences(parentReferences, inReplyTo, root);
  const headers: Record<string, string> = {
    'X-Loop': ctx.loopId,
    'X-Casegate-Instance': instanceMark(ctx.secret, ctx.config.instance.domain),
    'X-Casegate-Case': String(q.caseRow.number),
    // Outlook/Exchange conversations: the case subject without tag, one GUID per case.
    'Thread-Topic': withoutSignedLinks(oneLine(q.caseRow.subject)),
    'Thread-Index': threadIndex(caseConversationGuid(ctx.config.instance.domain, q.caseRow.number), new Date(q.caseRow.created_at), ctx.clock.now()),
    // The language the email is written in (RFC 3282): the templates' language. Clients offer
    // translation and screen readers pick their voice by it.
    'Content-Language': templateLanguage(requested, { defaultLanguage: ctx.config.cases.defaultLanguage, languages: ctx.config.templates.languages }),
    ...automationHeaders(automationOf(q.kind, q.autoReply)),
    ...(q.unsubscribeUrl !== undefined && q.unsubscribeUrl !== '' ? { 'List-Unsubscribe': `<${q.unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } : {}),
  };
  // Reply-To only when it says more than From: the signed plus address of the case.
  const replyTo = q.mailbox.plusAddressing ? plusAddress(fromAddress, q.caseRow.number, ctx.secret) : null;
  const subject = oneLine(rendered.subject);
  const toName = oneLine(q.to.name);
  const fromName = oneLine(q.fromName !== undefined && q.fromName.trim() !== '' ? q.fromName : (q.mailbox.fromName ?? ctx.config.instance.name));
  const cc = (q.cc ?? []).map((r) => ({ address: r.address, name: oneLine(r.name) }));
  // One rendering per further reader, only when there is one (an email to the requester alone costs what it did).
  // Compared by addressKey: a client may write an internationalised domain in punycode where we store Unicode.
  const have = new Set((q.reached ?? []).map(addressKey));
  const readers = [q.to.address, ...cc.map((r) => r.address)];
  // Who it goes out to when some readers have it already (outbox.pending_rcpt_json), else null: all.
  const waiting = readers.some((a) => have.has(addressKey(a))) ? readers.filter((a) => !have.has(addressKey(a))) : null;
  const copies: { address: string; text: string; html: string }[] = [];
  if (linked) {
    for (const r of cc) {
      if (waiting !== null && !waiting.includes(r.address)) continue;
      const copy = await renderFor(r.address, []);
      copies.push({ address: r.address, text: copy.text, html: copy.html });
    }
  }
  const outboxId = await enqueue(trx, {
    case_id: q.caseRow.id,
    kind: q.kind,
    auto_reply: q.autoReply ? 1 : 0,
    from_address: fromAddress,
    from_name: fromName,
    to_address: q.to.address,
    to_name: toName,
    reply_to: replyTo,
    subject,
    message_id: messageId,
    in_reply_to: inReplyTo,
    references_text: references.length > 0 ? references.map((r) => `<${r}>`).join(' ') : null,
    headers_json: JSON.stringify(headers),
    cc_json: JSON.stringify(cc),
    text: rendered.text,
    html: rendered.html,
    copies_json: copies.length > 0 ? JSON.stringify(copies) : null,
    ...freshlyQueued(now),
    ...(waiting !== null ? { pending_rcpt_json: JSON.stringify(waiting), ...(waiting.length === 0 ? { status: 'sent' as const, sent_at: now } : {}) } : {}),
  });
  const messageRowId = await insertMessage(trx, {
    case_id: q.caseRow.id,
    direction: 'out',
    message_id: messageId,
    in_reply_to: inReplyTo,
    references_json: JSON.stringify(references),
    from_address: fromAddress,
    from_name: fromName,
    to_json: JSON.stringify([{ address: q.to.address, name: toName }]),
    cc_json: JSON.stringify(cc),
    subject,
    sent_at: null,
    // Staff mail's thread entry is its visible text alone (`cases show`): nothing reads its text or
    // HTML there, and the outbox's copy of those goes after jobs.sentBodies.keepDays — kept here,
    // ~5 KB of every notification and alert would stay for good.
    text: staff ? null : rendered.text,
    html: staff ? null : rendered.html,
    visible_text: REPLY_MARKERS.reduce((text, marker) => text.replace(marker, ''), rendered.text).trim(),
    body_truncated: 0,
    raw_sha256: null,
    raw_size: null,
    automated: q.autoReply ? 'auto-reply' : null,
    thread_rule: 'outgoing',
    receipt_id: null,
    outbox_id: outboxId,
    created_at: now,
    // Mail to staff (notifications, alerts) is internal: never part of what a customer may see.
    internal: staff ? 1 : 0,
    author: q.author ?? null,
  });
  await insertAttachments(trx, messageRowId, q.attachments ?? []);
  await addEvent(trx, {
    caseId: q.caseRow.id,
    type: 'email.queued',
    actor: 'system',
    reason: `${q.kind} to ${q.to.address}${cc.length > 0 ? ` (cc ${cc.map((r) => r.address).join(', ')})` : ''}${waiting !== null ? `; not sent again to ${readers.filter((a) => !waiting.includes(a)).join(', ')}: the agent's own mail reached them` : ''}`,
    data: { outboxId, messageId, kind: q.kind },
    at: now,
  });
  if (q.dueAt !== undefined && !staff) await holdIfDueBeforeRestore(trx, q.caseRow.id, outboxId, `${q.kind} to ${q.to.address}`, q.dueAt, now);
  return outboxId;
}

/** A job's customer email for an item due before the last restore: held for the admin (queueEmail `dueAt`). */
async function holdIfDueBeforeRestore(trx: Transaction<Database>, caseId: number, outboxId: number, what: string, dueAt: string, now: string): Promise<void> {
  const fence = await restoreFence(trx);
  if (fence === null || dueAt > fence) return;
  await holdRow(trx, outboxId, `held by casegate restore: due at ${dueAt}, before the restore (${fence}); the lost instance may have sent it after the backup. Send it with casegate outbox retry, drop it with casegate outbox cancel`);
  await addEvent(trx, { caseId, type: 'email.held', actor: 'restore', reason: `${what}: held (due at ${dueAt}, before the restore of ${fence}; the lost instance may have sent it)`.slice(0, 500), data: { outboxId }, at: now });
}
