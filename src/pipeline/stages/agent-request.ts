import { parseAgentMail } from '../../cases/agent-commands.js';
import { checkCommands, mergedReaders, replyRefusal } from '../../cases/agent-work.js';
import { copiedIn } from '../../cases/participation.js';
import { agentMergeTarget } from '../../cases/case-merge.js';
import { expandSavedReplies } from '../../cases/saved-replies.js';
import { autoReplyHoldReason, heldTextToSend } from '../../cases/auto-reply-hold.js';
import { isOnlySignature } from '../../cases/signature.js';
import { isForwardSubject } from '../../mail-in/visible-text/vocabulary.js';
import { isOnlyHeaderBlock } from '../../mail-in/visible-text/quote-headers.js';
import { attachedFiles } from '../../mail-in/attached-files.js';
import { forwardedBlock } from '../../mail-in/attached-messages.js';
import type { ParsedMail } from '../../mail-in/parsed-mail.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * What does the agent's mail ask for? Its commands (checked against the case: levels, agents,
 * one status change per mail, a #merge's target, a reply no customer may get) and its text (saved
 * replies put in: cases/saved-replies.ts); an internal note when it went to a notes address or
 * says #note. Any problem is an error: the mail will change nothing and the agent gets the syntax —
 * also attachments without any text for the customer.
 */
export const agentRequestStage: DecideStage = {
  name: 'agent-request',
  async run(msg, ctx) {
    const agent = need(msg.notes.agent ?? undefined, 'agent');
    const visible = need(msg.notes.visible, 'visible');
    const parsed = need(msg.notes.parsed, 'parsed');
    // Commands are read from what the agent typed, never from mail they forward below it: a line
    // below an inline forward that reads as a command is an error (parseAgentMail), messages
    // attached as forwards are text only.
    const own = visible.ownText;
    const attached = attachedForwardText(parsed);
    const forwarded = own === undefined ? '' : forwardedPart(visible.text, own);
    const inline = attached !== '' && forwarded.endsWith(attached) ? forwarded.slice(0, -attached.length).trimEnd() : forwarded;
    // Outlook's empty reply: its From:/Sent: block of the email answered with nothing above it reads
    // as a forward with nothing added (visible-text.ts) when text is left below the block (the
    // block alone, our email's text cut at our reply marker, is no text there already). Not a
    // forward by its subject and carrying no attached message, it is the quote of what the agent
    // answers: nothing of it goes anywhere. Forwarded with nothing added (FW:), a block with no
    // text below it carries nothing either.
    const quotedOnly = own === '' && attached === '' && (!isForwardSubject(parsed.subject) || isOnlyHeaderBlock(inline.split('\n')));
    const mail = own === undefined ? parseAgentMail(visible.text) : parseAgentMail(own, quotedOnly ? '' : inline, attached);
    // A text that is only the agent's signature ("Ben Agent / Support Team", "Regards,\nBen", "-- …") is nothing written either.
    const signature = (own === undefined || quotedOnly) && mail.text !== '' && isOnlySignature(mail.text, agent.staff.name) ? mail.text : '';
    const commands = mail.commands;
    const checked = checkCommands(ctx, agent.caseRow, agent.staff.address, commands);
    // A #merge that will be refused is an error now, before agent-persist enrols the mail's Cc's:
    // a refused mail changes nothing (agent-act checks again under lock).
    const merge = checked.errors.length === 0 ? checked.commands.find((c) => c.kind === 'merge') : undefined;
    const merging = merge !== undefined ? await agentMergeTarget(ctx.db, ctx, agent.caseRow, merge.into, need(msg.notes.sender, 'sender'), { lock: false }) : null;
    if (merge !== undefined && merging !== null && 'refusal' in merging) checked.errors.push({ line: merge.line, why: merging.refusal });
    const note = agent.toNotesAddress || commands.some((c) => c.kind === 'note');
    const lines = signature !== '' && !note ? [] : mail.lines;
    // "#saved <name>" lines get their saved replies now, after the commands were read (the text
    // put in is never read for commands), written for the case the reply goes to: after a #merge
    // the case that goes on, after a #queue in the same mail that queue's.
    const replyCase = merging !== null && 'target' in merging ? merging.target : agent.caseRow;
    const moved = checked.commands.findLast((c) => c.kind === 'queue');
    const expanded = expandSavedReplies(ctx, { caseRow: replyCase, queue: moved?.kind === 'queue' ? moved.queue : replyCase.queue, agentName: agent.staff.name }, lines);
    checked.errors.push(...expanded.errors);
    // A reply with nothing written to an out-of-office-held notice sends the held text as it was
    // (cases/auto-reply-hold.ts): one step for a real answer that only read like an absence. Nothing
    // written counts the agent's own part only: Outlook's quoted block (dropped above) and a
    // signature are nothing.
    const wroteNothing = expanded.text.trim() === '';
    const resend =
      checked.errors.length === 0 && !note && commands.length === 0 && wroteNothing && attachedFiles(parsed).length === 0
        ? await heldTextToSend(ctx.db, ctx, agent.caseRow, { agent: agent.staff.address, references: [...parsed.inReplyTo, ...parsed.references] })
        : null;
    const text = resend === null || !resend.answersNotice ? expanded.text : (resend.text ?? '');
    // So is a reply no customer address may get — counting those the mail copies in, which
    // agent-persist would enrol, and after a #merge the case that goes on with the merged case's
    // customers (agent-act checks again after).
    if (checked.errors.length === 0) {
      const copied = copiedIn(ctx, [...parsed.to, ...parsed.cc], need(msg.notes.sender, 'sender').address);
      const target = merging !== null && 'target' in merging ? merging.target : null;
      const also = target !== null ? [...copied, ...(await mergedReaders(ctx.db, agent.caseRow))] : copied;
      const refusal = await replyRefusal(ctx.db, ctx, target ?? agent.caseRow, { commands: checked.commands, text, note }, also);
      if (refusal !== null) checked.errors.push({ line: '(your reply)', why: refusal });
    }
    // Files and nothing else (a phone's share sheet: no text, no command) would be dropped unseen:
    // the agent is told, as `casegate cases reply` refuses them.
    const files = attachedFiles(parsed);
    const errors = !note && text === '' && commands.length === 0 && files.length > 0 ? [...checked.errors, { line: `(${files.map((f) => f.filename).join(', ')})`, why: 'attachments need a text for the customer: nothing was sent; send them again with a few words' }] : checked.errors;
    // A reply in the words of an out-of-office and nothing else (no command, not a note) is held, not relayed.
    const held =
      errors.length === 0 && !note && commands.length === 0 && text !== '' && resend?.text == null
        ? await autoReplyHoldReason(ctx.db, ctx, agent.caseRow, { agent: agent.staff.address, suspected: msg.notes.suspectedAutoReply, text, references: [...parsed.inReplyTo, ...parsed.references] })
        : null;
    // Nothing written and nothing asked for: nothing goes, the agent is told (cases/empty-reply.ts).
    const empty = errors.length === 0 && !note && commands.length === 0 && text === '' && files.length === 0;
    msg.notes.agentWork = { commands: checked.commands, errors, text, note, saved: expanded.used, ...(held !== null ? { heldAutoReply: held } : {}), ...(empty ? { empty: { signature } } : {}) };
    return NEXT;
  },
};

/** The forwarded part of a visible text that starts with its own part `own` (VisibleText.ownText). */
function forwardedPart(text: string, own: string): string {
  const at = own === '' ? 0 : text.indexOf(own);
  // Not found as it stands (never seen): the forward is what follows the first blank line after
  // the own text's length — commands are still read from `own` alone.
  const end = at < 0 ? Math.min(text.length, own.length) : at + own.length;
  return text.slice(end).replace(/^\s*\n/, '');
}

/** The text of the messages attached as forwards, as visibleTextOf puts it at the end of the visible text. */
function attachedForwardText(parsed: Pick<ParsedMail, 'forwarded'>): string {
  return (parsed.forwarded ?? []).map(forwardedBlock).filter((t) => t.trim() !== '').join('\n\n');
}
