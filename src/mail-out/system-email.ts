import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import type { MailboxConfig } from '../config/schema.js';
import { instanceMark, mintMessageId } from '../cases/thread-token.js';
import { addEvent } from '../db/repos/events.js';
import { enqueue, freshlyQueued } from '../db/repos/outbox.js';
import type { Database } from '../db/schema.js';
import { oneLine } from '../mail-in/header-values.js';
import { automationHeaders, onlyOwnLinks } from './compose.js';
import type { InstanceTemplateName, TemplateDataMap } from './template-data.js';

export interface SystemEmail<K extends InstanceTemplateName> {
  readonly kind: K;
  readonly to: string;
  /** The mailbox whose address sends it. */
  readonly mailbox: MailboxConfig;
  readonly data: TemplateDataMap[K];
  /** The language to write it in; default cases.defaultLanguage. */
  readonly language?: string;
  /** The event recorded with it (type, reason, extra data). */
  readonly event: { readonly type: string; readonly reason: string; readonly data?: Record<string, unknown> };
}

export interface QueuedSystemEmail {
  readonly outboxId: number;
  readonly subject: string;
  readonly text: string;
}

/**
 * The case-less sibling of compose.ts `queueEmail`: render and write one outbox row about the
 * system (no case, no thread entry, not an auto-reply to a customer), inside the caller's
 * transaction. The Message-ID is minted now (case-less form), so a resend is the same message.
 */
export async function queueSystemEmail<K extends InstanceTemplateName>(trx: Transaction<Database>, ctx: AppContext, q: SystemEmail<K>): Promise<QueuedSystemEmail> {
  const now = ctx.clock.now().toISOString();
  // About the installation, to staff: no signed link of a customer's (a subject quoted in it) goes out.
  const rendered = onlyOwnLinks(ctx.templates.render(q.kind, q.data, { language: q.language ?? ctx.config.cases.defaultLanguage }));
  const messageId = mintMessageId(null, ctx.secret, ctx.config.instance.domain);
  const headers: Record<string, string> = { 'X-Loop': ctx.loopId, 'X-Casegate-Instance': instanceMark(ctx.secret, ctx.config.instance.domain), ...automationHeaders('auto-generated') };
  const subject = oneLine(rendered.subject);
  const outboxId = await enqueue(trx, {
    case_id: null,
    kind: q.kind,
    auto_reply: 0,
    from_address: q.mailbox.addresses[0] ?? '',
    from_name: oneLine(`${ctx.config.instance.name} (casegate)`),
    to_address: q.to,
    to_name: '',
    reply_to: null,
    subject,
    message_id: messageId,
    in_reply_to: null,
    references_text: null,
    headers_json: JSON.stringify(headers),
    text: rendered.text,
    html: rendered.html,
    ...freshlyQueued(now),
  });
  await addEvent(trx, { caseId: null, type: q.event.type, actor: 'system', reason: q.event.reason, data: { outboxId, messageId, ...q.event.data }, at: now });
  return { outboxId, subject, text: rendered.text };
}
