import { mergedReaders, replyRefusal, workCase } from '../../cases/agent-work.js';
import { agentMergeTarget } from '../../cases/case-merge.js';
import { attachedFiles } from '../../mail-in/attached-files.js';
import { bccAddresses } from '../../mail-in/parsed-headers.js';
import { sendCommandError } from '../../cases/staff-mail.js';
import { holdCollidingReply, replyCollision } from '../../cases/reply-collision.js';
import { holdAutoReply } from '../../cases/auto-reply-hold.js';
import { noticeEmptyReply } from '../../cases/empty-reply.js';
import { addressKey } from '../../address-form.js';
import type { CaseRow } from '../../db/schema.js';
import { need, type CommitStage } from '../types.js';

/**
 * Do what the agent's mail asks, in the same transaction: with any command error nothing is done
 * or relayed and the agent gets the command-error email; otherwise the commands, then the reply
 * to the customer (attachments included) or the internal note (cases/agent-work.ts) — on the case
 * that goes on after a #merge (the agent's mail moves there too). Images the
 * agent's HTML shows inline (signature logos; the reply is relayed as text) are not relayed; they
 * stay on the agent's stored mail. Apple Mail's "inline" attachments are attachments (attachedFiles).
 */
export const agentActStage: CommitStage = {
  name: 'agent-act',
  async run(msg, ctx, trx) {
    const persisted = need(msg.notes.persisted, 'persisted');
    const agent = need(msg.notes.agent ?? undefined, 'agent');
    const work = need(msg.notes.agentWork, 'agentWork');
    const parsed = need(msg.notes.parsed, 'parsed');
    const sender = need(msg.notes.sender, 'sender');
    // The agent as configured: mail from one of their aliases acts as (and is answered at) their address.
    const me = agent.staff.address;
    const name = agent.staff.name !== '' ? agent.staff.name : sender.address;
    let errors = work.errors;
    let replyCase = persisted.caseRow;
    // #merge N refused (no such case, merged already, feedback, spam, not the agent's queue; checked
    // by agent-request already, here again under lock) is answered in words like a command error:
    // nothing done. Done, the reply goes to the case that goes on.
    const merge = errors.length === 0 ? work.commands.find((c) => c.kind === 'merge') : undefined;
    if (merge !== undefined) {
      const m = await agentMergeTarget(trx, ctx, persisted.caseRow, merge.into, sender, { lock: true });
      if ('refusal' in m) errors = [{ line: merge.line, why: m.refusal }];
      else replyCase = m.target;
    }
    // A reply that can reach no customer address is refused like a command error: nothing done.
    // After a merge the merged case's customers (the mail's Cc's among them, enrolled) join the case that goes on.
    const refusal = errors.length === 0 ? await replyRefusal(trx, ctx, replyCase, work, replyCase.id !== persisted.caseRow.id ? await mergedReaders(trx, persisted.caseRow) : []) : null;
    if (refusal !== null) errors = [{ line: '(your reply)', why: refusal }];
    if (errors.length > 0) {
      await sendCommandError(trx, ctx, persisted.caseRow, {
        to: { address: me, name },
        errors,
        subject: parsed.subject,
        text: msg.notes.visible?.text ?? '',
        messageRowId: persisted.messageRowId,
      });
      ctx.log.info({ caseNumber: persisted.caseRow.number, agent: me, messageId: parsed.messageId, errors }, 'agent mail with command errors: nothing done');
      return;
    }
    // Nothing written, nothing asked for: nothing sent, the agent told (cases/empty-reply.ts).
    if (work.empty !== undefined) {
      await noticeEmptyReply(trx, ctx, persisted.caseRow, { agent: me, agentName: name, subject: parsed.subject, signature: work.empty.signature, references: [...parsed.inReplyTo, ...parsed.references], messageId: parsed.messageId, messageRowId: persisted.messageRowId });
      return;
    }
    // Words of an out-of-office and nothing else: held, the agent told (cases/auto-reply-hold.ts).
    if (work.heldAutoReply !== undefined) {
      await holdAutoReply(trx, ctx, persisted.caseRow, { agent: me, agentName: name, reason: work.heldAutoReply, matched: msg.notes.suspectedAutoReply ?? '', subject: parsed.subject, text: msg.notes.visible?.text ?? work.text, messageId: parsed.messageId, messageRowId: persisted.messageRowId });
      return;
    }
    // Reply collision: a colleague answered the customer while this agent wrote (cases/reply-collision.ts).
    // Whom the agent's own mail reached (reply-all from their client to the customer, support in Cc; a Bcc header left in).
    const reached = [...parsed.to, ...parsed.cc, ...bccAddresses(parsed.headers)].map((a) => a.address);
    if (merge === undefined && !work.note && work.text !== '' && !reachedTheCustomer(persisted.caseRow, reached)) {
      const collision = await replyCollision(trx, ctx, persisted.caseRow, { agent: me, references: [...parsed.inReplyTo, ...parsed.references] });
      if (collision !== null) {
        await holdCollidingReply(trx, ctx, persisted.caseRow, collision, { agent: me, agentName: agent.staff.name, subject: parsed.subject, text: msg.notes.visible?.text ?? work.text, messageId: parsed.messageId, messageRowId: persisted.messageRowId });
        return;
      }
    }
    const out = await workCase(
      trx,
      ctx,
      persisted.caseRow.id,
      { actor: `agent:${me}`, by: name, address: me, replyName: agent.staff.name },
      // Whom the agent's own mail reached: no second copy for them.
      // Only what the mail shows proves it: its To and Cc, and a Bcc header where one is left in. A Bcc'd customer is
      // normally invisible here (the header goes before the mail does): they get the case's copy too — a second one, never none.
      // With a saved reply ("#saved <name>") put into the text, those the agent's own mail reached
      // directly saw the bare "#saved" line: they get the case's copy too, with the saved reply.
      { commands: work.commands, text: work.text, note: work.note, attachments: attachedFiles(parsed), messageRowId: persisted.messageRowId, reached: (work.saved?.length ?? 0) > 0 ? [] : reached },
    );
    msg.notes.persisted = { ...persisted, caseRow: out.caseRow };
  },
};

/**
 * Whether the agent's own mail went to the case's customer (its requester) directly: a reply-all
 * from the agent's client. Such an answer is out already, so it is never held as a reply
 * collision; a copy to a colleague or a vendor does not count (the addresses the mail copies in
 * are enrolled as readers before this stage, so only the requester tells).
 */
function reachedTheCustomer(caseRow: CaseRow, reached: readonly string[]): boolean {
  const customer = addressKey(caseRow.requester_address);
  return reached.some((a) => addressKey(a) === customer);
}
