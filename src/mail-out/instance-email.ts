import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import type { MailboxConfig } from '../config/schema.js';
import { mintMessageId } from '../cases/thread-token.js';
import { addEvent } from '../db/repos/events.js';
import { enqueue, freshlyQueued } from '../db/repos/outbox.js';
import type { Database } from '../db/schema.js';
import { oneLine } from '../mail-in/parse-mail.js';
import { automationHeaders } from './compose.js';
import type { CaseTemplateName, TemplateDataMap, TemplateName } from './template-data.js';

/** Kinds about the installation, not one case (the report). */
export type InstanceTemplateName = Exclude<TemplateName, CaseTemplateName>;

export interface InstanceEmail<K extends InstanceTemplateName> {
  readonly kind: K;
  readonly to: string;
  /** The mailbox whose address sends it. */
  readonly mailbox: MailboxConfig;
  readonly data: TemplateDataMap[K];
  readonly eventType: string;
}

/**
 * Render and write one outbox row about the installation (no case, no thread entry, not an
 * automatic reply to a customer), inside the caller's transaction; the Message-ID is minted now,
 * so a resend is the same message. (The same shape as channels/imap-health.ts queueSystemEmail,
 * for any instance-scope kind.)
 */
export async function queueInstanceEmail<K extends InstanceTemplateName>(trx: Transaction<Database>, ctx: AppContext, q: InstanceEmail<K>): Promise<number> {
  const now = ctx.clock.now().toISOString();
  const rendered = ctx.templates.render(q.kind, q.data, { language: ctx.config.cases.defaultLanguage });
  const messageId = mintMessageId(null, ctx.secret, ctx.config.instance.domain);
  const outboxId = await enqueue(trx, {
    case_id: null,
    kind: q.kind,
    auto_reply: 0,
    from_address: q.mailbox.addresses[0] ?? '',
    from_name: oneLine(`${ctx.config.instance.name} (casegate)`),
    to_address: q.to,
    to_name: '',
    reply_to: null,
    subject: oneLine(rendered.subject),
    message_id: messageId,
    in_reply_to: null,
    references_text: null,
    headers_json: JSON.stringify({ 'X-Loop': ctx.loopId, ...automationHeaders('auto-generated') }),
    text: rendered.text,
    html: rendered.html,
    ...freshlyQueued(now),
  });
  await addEvent(trx, { caseId: null, type: q.eventType, actor: 'system', reason: `${q.kind} to ${q.to}`, data: { outboxId, messageId }, at: now });
  return outboxId;
}
