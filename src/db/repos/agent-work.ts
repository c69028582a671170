import type { Kysely } from 'kysely';
import { lockKey } from '../dialect.js';
import type { AttachmentRow, Database, MessageRow } from '../schema.js';

type Q = Kysely<Database>;

/**
 * The message our mail to the customer answers: the newest human message with a Message-ID from
 * one of the case's customer-side participants (requester, Cc) whose sender check did not fail,
 * else our newest customer-facing message (never staff-only mail). Not a stranger's message that
 * a copied token threaded into the case, nor a forged one: the customer never saw those.
 */
export async function customerThreadAnchor(db: Q, caseId: number): Promise<Pick<MessageRow, 'message_id' | 'references_json'> & { message_id: string } | undefined> {
  const base = db
    .selectFrom('messages')
    .select(['message_id', 'references_json'])
    .where('case_id', '=', caseId)
    .where('internal', '=', 0)
    .where('message_id', 'is not', null)
    .orderBy('id', 'desc')
    .limit(1);
  const theirs = base
    .where('direction', '=', 'in')
    .where('automated', 'is', null)
    .where((eb) => eb.or([eb('sender_auth', 'is', null), eb('sender_auth', '!=', 'fail')]))
    .where('from_address', 'in', (eb) => eb.selectFrom('case_participants').select('address').where('case_id', '=', caseId).where('role', '!=', 'agent'));
  const row = (await theirs.executeTakeFirst()) ?? (await base.where('direction', '=', 'out').executeTakeFirst());
  return row?.message_id != null ? { message_id: row.message_id, references_json: row.references_json } : undefined;
}

/**
 * Files to attach to outgoing emails, by outbox row: the attachments of each row's (one) messages
 * row, in order. One query for a whole claimed batch (the outbox worker); rows without files are absent.
 */
export async function attachmentsOfOutboxRows(db: Q, outboxIds: readonly number[]): Promise<Map<number, AttachmentRow[]>> {
  const files = new Map<number, AttachmentRow[]>();
  if (outboxIds.length === 0) return files;
  const rows = await db
    .selectFrom('messages')
    .innerJoin('attachments', 'attachments.message_row_id', 'messages.id')
    .selectAll('attachments')
    .select('messages.outbox_id as outbox_id')
    .where('messages.outbox_id', 'in', [...new Set(outboxIds)])
    .execute();
  // In order here, not in SQL: the few files of a batch, without a temp B-tree per query.
  rows.sort((a, b) => a.id - b.id);
  // An outbox row has one messages row; should a second ever appear, the first one's files count.
  const messageOf = new Map<number, number>();
  for (const { outbox_id, ...file } of rows) {
    if (outbox_id === null) continue;
    const owner = messageOf.get(outbox_id) ?? file.message_row_id;
    messageOf.set(outbox_id, owner);
    if (file.message_row_id !== owner) continue;
    const list = files.get(outbox_id);
    if (list === undefined) files.set(outbox_id, [file]);
    else list.push(file);
  }
  return files;
}

/** Emails of a kind queued to an address since a time (rate limits of notices; serialised per address like autoRepliesSince). */
export async function queuedSince(db: Q, kind: string, address: string, since: string): Promise<number> {
  await lockKey(db, `notice:${kind}:${address}`);
  const row = await db
    .selectFrom('outbox')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('to_address', '=', address)
    .where('kind', '=', kind)
    .where('created_at', '>', since)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Who was sent a case's customer message to look at since the case's previous answer: the
 * recipients of its agent-notification, assignment and escalation-alert emails queued after its
 * newest agent-reply (all of them when it has none). Two probes of outbox_case (case_id, id).
 */
export async function staffAskedSinceLastAnswer(db: Q, caseId: number): Promise<{ address: string; name: string }[]> {
  const last = await db.selectFrom('outbox').select('id').where('case_id', '=', caseId).where('kind', '=', 'agent-reply').orderBy('id', 'desc').limit(1).executeTakeFirst();
  const rows = await db
    .selectFrom('outbox')
    .select(['to_address', 'to_name'])
    .where('case_id', '=', caseId)
    .where('id', '>', last?.id ?? 0)
    .where('kind', 'in', ['agent-notification', 'assignment', 'escalation-alert'])
    .orderBy('id')
    .execute();
  const seen = new Map<string, { address: string; name: string }>();
  for (const r of rows) if (!seen.has(r.to_address.toLowerCase())) seen.set(r.to_address.toLowerCase(), { address: r.to_address, name: r.to_name });
  return [...seen.values()];
}

/**
 * Answers to the customer of a case by another agent than `agent`, queued after the newest of our
 * emails of the case that `references` name (what the agent's mail answers) and at or after
 * `since`: newest first, with the text the customer got. Null when the mail names none of our
 * emails of the case (nothing to tell what the agent had seen). Probes outbox by message_id, then
 * outbox_case (case_id, id) and messages_outbox.
 */
export async function answersAfter(
  db: Q,
  caseId: number,
  references: readonly string[],
  agent: string,
  since: string,
): Promise<{ author: string; at: string; text: string }[] | null> {
  if (references.length === 0) return null;
  const seen = await db.selectFrom('outbox').select('id').where('message_id', 'in', [...new Set(references)]).where('case_id', '=', caseId).orderBy('id', 'desc').limit(1).executeTakeFirst();
  if (seen === undefined) return null;
  const rows = await db
    .selectFrom('outbox')
    .innerJoin('messages', 'messages.outbox_id', 'outbox.id')
    .select(['messages.author as author', 'outbox.created_at as at', 'messages.visible_text as text'])
    .where('outbox.case_id', '=', caseId)
    .where('outbox.id', '>', seen.id)
    .where('outbox.kind', '=', 'agent-reply')
    .where('outbox.created_at', '>=', since)
    .where('messages.author', 'is not', null)
    .orderBy('outbox.id', 'desc')
    .execute();
  const me = agent.toLowerCase();
  return rows.filter((r): r is typeof r & { author: string } => r.author !== null && r.author.toLowerCase() !== me).map((r) => ({ author: r.author, at: r.at, text: r.text ?? '' }));
}

/** An agent's mail held as a suspected out-of-office (event agent.auto-reply-held), newest first. */
export interface AutoReplyHold {
  /** The held mail's text as stored. */
  readonly text: string;
  readonly at: string;
  /** The Message-ID of the out-of-office-held email that told the agent, or null (none sent: at most one an hour). */
  readonly notice: string | null;
}

/** The agent's held suspected out-of-office replies on a case since `since`, newest first (at most 20). */
export async function autoReplyHolds(db: Q, caseId: number, agent: string, since: string): Promise<AutoReplyHold[]> {
  const rows = await db
    .selectFrom('events')
    .innerJoin('messages', 'messages.id', 'events.message_row_id')
    .select(['messages.visible_text as text', 'events.created_at as at', 'events.data_json as data'])
    .where('events.case_id', '=', caseId)
    .where('events.type', '=', 'agent.auto-reply-held')
    .where('events.actor', '=', `agent:${agent}`)
    .where('events.created_at', '>', since)
    .orderBy('events.id', 'desc')
    .limit(20)
    .execute();
  return rows.map((r) => {
    const notice = (JSON.parse(r.data) as { notice?: unknown }).notice;
    return { text: r.text, at: r.at, notice: typeof notice === 'string' ? notice : null };
  });
}

/** Whether the agent answered the customer of a case (event agent.replied) at or after `since`. */
export async function agentRepliedSince(db: Q, caseId: number, agent: string, since: string): Promise<boolean> {
  const row = await db
    .selectFrom('events')
    .select('id')
    .where('case_id', '=', caseId)
    .where('type', '=', 'agent.replied')
    .where('actor', '=', `agent:${agent}`)
    .where('created_at', '>=', since)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** The Message-ID of an outbox row (null when it is gone). */
export async function outboxMessageId(db: Q, id: number): Promise<string | null> {
  const row = await db.selectFrom('outbox').select('message_id').where('id', '=', id).executeTakeFirst();
  return row?.message_id ?? null;
}

/**
 * The Message-IDs of the empty-reply emails that told this agent about this case since `since`
 * (events agent.empty-reply naming one), newest first (at most 20), with when.
 */
export async function emptyReplyNotices(db: Q, caseId: number, agent: string, since: string): Promise<{ readonly notice: string; readonly at: string }[]> {
  const rows = await db
    .selectFrom('events')
    .select(['created_at as at', 'data_json as data'])
    .where('case_id', '=', caseId)
    .where('type', '=', 'agent.empty-reply')
    .where('actor', '=', `agent:${agent}`)
    .where('created_at', '>', since)
    .orderBy('id', 'desc')
    .limit(20)
    .execute();
  return rows.flatMap((r) => {
    const notice = (JSON.parse(r.data) as { notice?: unknown }).notice;
    return typeof notice === 'string' ? [{ notice, at: r.at }] : [];
  });
}
