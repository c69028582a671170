import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import type { MailboxConfig } from '../config/schema.js';
import { formatTag } from '../cases/subject-tag.js';
import { mintMessageId, plusAddress } from '../cases/thread-token.js';
import { addEvent } from '../db/repos/events.js';
import { insertMessage } from '../db/repos/messages.js';
import { enqueue } from '../db/repos/outbox.js';
import type { CaseRow, Database } from '../db/schema.js';
import { oneLine } from '../mail-in/parse-mail.js';
import type { TemplateDataMap, TemplateName } from './templates.js';

/** The first line of every email we send; replies are cut there (visible text). */
export const REPLY_MARKER = '##- Please type your reply above this line -##';

type CommonKeys = 'instance' | 'mailbox' | 'case' | 'customer' | 'replyMarker' | 'isTest';
export type CommonTemplateData = Pick<TemplateDataMap['confirmation'], CommonKeys>;

export interface Recipient {
  readonly address: string;
  readonly name: string;
}

export function commonData(ctx: AppContext, caseRow: CaseRow, mailbox: MailboxConfig, customer: Recipient, isTest = false): CommonTemplateData {
  return {
    instance: { name: ctx.config.instance.name },
    mailbox: { name: mailbox.name, address: mailbox.addresses[0] ?? '', queue: ctx.mailboxes.queueOf(mailbox) },
    case: {
      number: caseRow.number,
      tag: formatTag(ctx.config.cases.tagPrefix, caseRow.number),
      subject: caseRow.subject,
      status: caseRow.status,
      priority: caseRow.priority,
      createdAt: caseRow.created_at,
      language: caseRow.language,
    },
    customer: { name: customer.name, address: customer.address, greetingName: customer.name !== '' ? customer.name : 'there' },
    replyMarker: REPLY_MARKER,
    isTest,
  };
}

export interface QueueEmail<N extends TemplateName> {
  readonly caseRow: CaseRow;
  readonly mailbox: MailboxConfig;
  readonly kind: N;
  readonly data: TemplateDataMap[N];
  readonly to: Recipient;
  /** An automatic reply to a customer: Auto-Submitted: auto-replied and the per-sender rate limit. */
  readonly autoReply: boolean;
  /** The Message-ID we answer and its References chain (oldest first). */
  readonly inReplyTo: string | null;
  readonly references: readonly string[];
}

/**
 * Render and write one outgoing email as an outbox row (and its thread entry), inside the caller's
 * transaction. The Message-ID is minted now, so a resend after a crash is the same message.
 */
export async function queueEmail<N extends TemplateName>(trx: Transaction<Database>, ctx: AppContext, q: QueueEmail<N>): Promise<number> {
  const now = ctx.clock.now().toISOString();
  const rendered = ctx.templates.render(q.kind, q.data, { language: q.caseRow.language, queue: q.caseRow.queue });
  const fromAddress = q.mailbox.addresses[0] ?? '';
  const messageId = mintMessageId(q.caseRow.number, ctx.secret, ctx.config.instance.domain);
  const references = [...q.references, ...(q.inReplyTo !== null && !q.references.includes(q.inReplyTo) ? [q.inReplyTo] : [])].slice(-20);
  const headers: Record<string, string> = {
    'X-Loop': ctx.loopId,
    'X-Casegate-Case': String(q.caseRow.number),
  };
  if (q.autoReply) {
    headers['Auto-Submitted'] = 'auto-replied';
    // Ask Exchange/Outlook not to answer our automatic mail with their own automatic mail.
    headers['X-Auto-Response-Suppress'] = 'All';
  }
  const replyTo = q.mailbox.plusAddressing ? plusAddress(fromAddress, q.caseRow.number, ctx.secret) : fromAddress;
  const subject = oneLine(rendered.subject);
  const toName = oneLine(q.to.name);
  const fromName = oneLine(q.mailbox.fromName ?? ctx.config.instance.name);
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
    in_reply_to: q.inReplyTo,
    references_text: references.length > 0 ? references.map((r) => `<${r}>`).join(' ') : null,
    headers_json: JSON.stringify(headers),
    text: rendered.text,
    html: rendered.html,
    status: 'queued',
    attempts: 0,
    next_attempt_at: now,
    last_error: null,
    created_at: now,
    sent_at: null,
  });
  await insertMessage(trx, {
    case_id: q.caseRow.id,
    direction: 'out',
    message_id: messageId,
    in_reply_to: q.inReplyTo,
    references_json: JSON.stringify(references),
    from_address: fromAddress,
    from_name: fromName,
    to_json: JSON.stringify([{ address: q.to.address, name: toName }]),
    cc_json: '[]',
    subject,
    sent_at: null,
    text: rendered.text,
    html: rendered.html,
    visible_text: rendered.text.replace(REPLY_MARKER, '').trim(),
    body_truncated: 0,
    raw_sha256: null,
    raw_size: null,
    automated: q.autoReply ? 'auto-reply' : null,
    thread_rule: 'outgoing',
    receipt_id: null,
    outbox_id: outboxId,
    created_at: now,
  });
  await addEvent(trx, {
    caseId: q.caseRow.id,
    type: 'email.queued',
    actor: 'system',
    reason: `${q.kind} to ${q.to.address}`,
    data: { outboxId, messageId, kind: q.kind },
    at: now,
  });
  return outboxId;
}
