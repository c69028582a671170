import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { emptyReplyNotices, outboxMessageId } from '../db/repos/agent-work.js';
import { addEvent } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import { queueStaffEmail } from '../mail-out/compose.js';
import { isDeviceSignature } from '../mail-in/visible-text/quote-headers.js';

/**
 * An agent's emailed reply with nothing of their own in it — no text above what their client
 * quoted (Outlook's empty reply keeps the answered email below its From:/Sent: block, which the
 * visible text reads as a forward: agent-request drops it), or only a signature ("Ben Agent /
 * Support Team", "-- ", "Regards,\nBen", "Sent from my iPhone") — sends nothing to the customer.
 * Unless it also carries a command, a file or a #note, the agent is told with the empty-reply email
 * (the mail is stored on the case as every agent mail is; event agent.empty-reply): at most one an
 * hour per case and agent, and none for an empty reply to that email itself — an empty answer
 * to our notice never starts a ping-pong.
 */

/** An empty-reply notice is sent at most once per case and agent in this time. */
const NOTICE_INTERVAL_MS = 3_600_000;
/** A reply to an empty-reply notice is recognised for this long. */
const NOTICE_LIFE_MS = 30 * 86_400_000;

/** A signature's lines below its first one: at most this many (an address block, a phone number, a title). */
const SIGNATURE_MAX_LINES = 10;
const SIGNATURE_MAX_CHARS = 800;
/** "-- " (RFC 3676), "--", and underscore or dash-character rules. */
const DELIMITER_RE = /^(?:--|_{2,}|[\u2013\u2014\u2015]{3,})$/u;
/**
 * A closing on a line of its own (English, German, French, Spanish, Italian, Dutch, Portuguese,
 * Scandinavian). It starts a signature only with a line below it ("Regards,\nBen"). A thank-you is
 * no closing: "Thanks,\nBen" says something to the customer.
 */
const SIGN_OFF_RE =
  /^(?:(?:kind|best|warm|warmest|with kind|with best)\s+)?(?:regards|wishes|cheers|best|br|mit freundlichen gr(?:ü|ue)(?:ß|ss)en|freundliche gr(?:ü|ue)(?:ß|ss)e|(?:viele|beste|liebe|herzliche|sch(?:ö|oe)ne) gr(?:ü|ue)(?:ß|ss)e|gr(?:ü|ue)(?:ß|ss)e|gru(?:ß|ss)|mfg|vg|lg|cordialement|bien (?:à|a) vous|salutations|saludos|un saludo|atentamente|cordiali saluti|saluti|met vriendelijke groet(?:en)?|groeten|groet|mvg|atenciosamente|med vänlig hälsning|mvh|hälsningar|venlig hilsen)[\s,.!]*$/iu;
/** A P.S. is words written to the customer, never a signature. */
const POSTSCRIPT_RE = /^p\.?\s?s\.?\s?[:.,\s]/i;

/** A sentence: four words or more ending in ".", "!" or "?" — written to someone, not a signature's title or address. */
const SENTENCE_RE = /^\S+(?:\s+\S+){3,}[.!?]$/u;

/** The agent's name or first name alone ("Ben", "Ben Agent", "Ben."): not "Ben," — that greets a namesake. */
function isName(line: string, agentName: string): boolean {
  if (line.endsWith(',')) return false;
  const l = line.replace(/[\s.!]+$/u, '').toLowerCase();
  const name = agentName.trim().toLowerCase();
  if (name === '' || l === '') return false;
  return l === name || l === name.split(/\s+/)[0];
}

/**
 * Whether an agent's text (commands taken out, nothing forwarded in it) is only a signature: it
 * starts with a delimiter ("-- ": all below is signature), or with a phone's line ("Sent from my
 * iPhone", "Get Outlook for iOS"), the agent's name or first name as configured, or a closing with
 * a line below it ("Regards,\nBen") and below that at most a few short lines, none a P.S. or a
 * sentence. Whatever the agent wrote above such a line is a message.
 */
export function isOnlySignature(text: string, agentName: string): boolean {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/[\u00a0\u200b-\u200d\u2060\ufeff]/g, ' ').trim()).filter((l) => l !== '');
  const first = lines[0];
  if (first === undefined) return false;
  const rest = lines.slice(1);
  // Below "-- " everything is signature (RFC 3676); below a name, closing or phone line only short lines that are no sentences.
  if (DELIMITER_RE.test(first)) return true;
  const starts = isDeviceSignature(first) || isName(first, agentName) || (first.length <= 40 && SIGN_OFF_RE.test(first) && rest.length > 0);
  if (!starts) return false;
  return rest.length <= SIGNATURE_MAX_LINES && rest.join('\n').length <= SIGNATURE_MAX_CHARS && !rest.some((l) => POSTSCRIPT_RE.test(l) || SENTENCE_RE.test(l));
}

/** Nothing sent: the event, the log line and (see above) the empty-reply email telling the agent. */
export async function noticeEmptyReply(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  mail: { readonly agent: string; readonly agentName: string; readonly subject: string; readonly signature: string; readonly references: readonly string[]; readonly messageId: string | null; readonly messageRowId: number },
): Promise<void> {
  const now = ctx.clock.now();
  const notices = await emptyReplyNotices(trx, caseRow.id, mail.agent, new Date(now.getTime() - NOTICE_LIFE_MS).toISOString());
  const refs = new Set(mail.references.map((r) => r.replace(/^<|>$/g, '')));
  const answersNotice = notices.some((n) => refs.has(n.notice));
  const toldRecently = notices.some((n) => n.at > new Date(now.getTime() - NOTICE_INTERVAL_MS).toISOString());
  let notice: string | null = null;
  if (!answersNotice && !toldRecently) {
    const outboxId = await queueStaffEmail(trx, ctx, caseRow, 'empty-reply', { address: mail.agent, name: mail.agentName }, { reply: { subject: mail.subject, signature: mail.signature } });
    notice = await outboxMessageId(trx, outboxId);
  }
  const why = mail.signature !== '' ? 'nothing written but a signature' : 'nothing written above the quoted email';
  const told = notice !== null ? `${mail.agent} told` : answersNotice ? 'an empty reply to the empty-reply email: not told again' : `${mail.agent} was told within the hour`;
  await addEvent(trx, { caseId: caseRow.id, messageRowId: mail.messageRowId, type: 'agent.empty-reply', actor: `agent:${mail.agent}`, reason: `nothing sent to the customer: ${why}; ${told}`, data: { notice }, at: now.toISOString() });
  ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, messageId: mail.messageId, agent: mail.agent, told: notice !== null }, 'agent mail with nothing written: nothing sent');
}
