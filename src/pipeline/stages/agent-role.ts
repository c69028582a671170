import type { ValidCommand } from '../../cases/agent-commands.js';
import { staffProven } from '../../cases/participation.js';
import { isStaff, staffAddress, staffMember, type StaffMember } from '../../cases/staff.js';
import type { AuthVerdict } from '../../mail-in/sender-auth.js';
import { caseById } from '../../db/repos/cases.js';
import type { CaseRow } from '../../db/schema.js';
import { need, NEXT, type DecideStage, type ThreadRule } from '../types.js';

/** Mail from a verified agent or lead of the case's queue: it goes through the agent flow. */
export interface AgentMailNote {
  readonly caseRow: CaseRow;
  /** How the mail found the case. */
  readonly rule: ThreadRule;
  readonly staff: StaffMember;
  /** Sent to a notes address: the whole mail is an internal note. */
  readonly toNotesAddress: boolean;
}

/**
 * Mail whose From is a staff address that is not proven: forged (auth fail, any staff address), or
 * unproven for the case (auth none and no reply to staff mail we sent that address; staff of the
 * case's queue). Either way a customer's message.
 */
export interface StaffClaimNote {
  readonly address: string;
  readonly why: string;
  readonly auth: AuthVerdict;
  /**
   * The case of their queue the mail referred to (a reply or subject tag), when the address is
   * staff of that queue but not proven for it; null for a forged sender. The real address is told
   * that nothing was done (notify-staff stage).
   */
  readonly about: Pick<CaseRow, 'id' | 'number'> | null;
  /** Staff, but of another queue than the case's (not a question of proof). */
  readonly otherQueue?: boolean;
}

/** What the agent's mail asks for (agent-commands stage). */
export interface AgentWorkNote {
  readonly commands: readonly ValidCommand[];
  /** Invalid commands (unknown, malformed, not applicable): the mail then changes nothing. */
  readonly errors: readonly { readonly line: string; readonly why: string }[];
  /** The agent's new text without command lines, its "#saved" lines filled in ("" for none). */
  readonly text: string;
  /** Internal note (notes address or #note): the text never reaches the customer. */
  readonly note: boolean;
  /** Saved replies put into the text ("#saved <name>", cases/saved-replies.ts), in order. */
  readonly saved?: readonly string[];
  /** Why the reply is held as a suspected out-of-office (cases/auto-reply-hold.ts), else unset: it goes. */
  readonly heldAutoReply?: string;
  /**
   * Set when the agent wrote nothing of their own and the mail asks for nothing (no command, file or
   * note): nothing goes to the customer, the agent is told (cases/empty-reply.ts). The signature that
   * was all it said, or "".
   */
  readonly empty?: { readonly signature: string };
}

/**
 * Does an agent work a case with this mail? Only a configured agent or lead of the case's queue
 * (staff.ts), only when the address is proven for that case (README, "Agent trust"): sender
 * authentication passed, or the mail answers staff mail we sent to that very address about the
 * case (our recipient-bound Message-ID; participation.ts staffProven) — with
 * security.senderAuth.mode none the From address alone proves nothing. Never automated mail (an
 * agent's out-of-office answering a notification must not reach the customer), and not the case's
 * own requester (staff writing to support as a customer). Such mail belongs to a case by the
 * thread stage's rules; a reference or subject tag that the thread stage turned into a new linked
 * case (stranger rules, the reopen window) leads a proven agent of the linked case's queue into
 * that case. A staff address that failed the sender check, or is unproven, is remembered
 * (staffClaim): the message stays a customer's message (its commands are text); a forged one
 * (fail) also tells the real address.
 */
export const agentRoleStage: DecideStage = {
  name: 'agent-role',
  async run(msg, ctx) {
    const sender = need(msg.notes.sender, 'sender');
    const thread = need(msg.notes.thread, 'thread');
    const parsed = need(msg.notes.parsed, 'parsed');
    msg.notes.agent = null;
    msg.notes.staffClaim = null;
    if (msg.notes.automated != null) return NEXT;
    if (!sender.verified) {
      if (isStaff(ctx.config, sender.address)) msg.notes.staffClaim = { address: staffAddress(ctx.config, sender.address), why: sender.why, auth: sender.auth, about: null };
      return NEXT;
    }
    let caseRow: CaseRow | undefined;
    let rule: ThreadRule;
    if (thread.kind === 'existing') {
      caseRow = thread.caseRow;
      rule = thread.rule;
    } else {
      // A forwarded copy of a customer's message (an agent forwarding it to open a case for them)
      // is not the agent working that case: it never becomes an answer to its customer.
      if (thread.linkedCaseId === null || thread.rule === 'new-forwarded-copy') return NEXT;
      caseRow = await caseById(ctx.db, thread.linkedCaseId);
      rule = 'staff-link';
    }
    if (caseRow === undefined || caseRow.kind === 'feedback') return NEXT;
    const staff = staffMember(ctx.config, caseRow.queue, sender.address);
    if (caseRow.requester_address === sender.address) return NEXT;
    if (staff === null) {
      // Staff of another queue answering this case's mail (a forwarded notification): not theirs
      // to work. A customer's message — and they are told, as an unproven agent is.
      if (isStaff(ctx.config, sender.address)) {
        const why = `${sender.address} is no agent of queue ${caseRow.queue}, which case ${caseRow.number} belongs to`;
        msg.notes.staffClaim = { address: staffAddress(ctx.config, sender.address), why, auth: sender.auth, about: { id: caseRow.id, number: caseRow.number }, otherQueue: true };
      }
      return NEXT;
    }
    if (!staffProven(sender, caseRow)) {
      const why = `${sender.why}; not a reply to staff mail we sent to ${sender.address} about case ${caseRow.number}`;
      msg.notes.staffClaim = { address: staff.address, why, auth: sender.auth, about: { id: caseRow.id, number: caseRow.number } };
      ctx.log.info({ messageId: parsed.messageId, caseId: caseRow.id, caseNumber: caseRow.number, address: sender.address, why }, 'staff address not proven: handled as a customer message');
      return NEXT;
    }
    const recipients = [...parsed.to, ...parsed.cc]
      .map((a) => a.address)
      .concat(msg.arrival.envelopeTo, parsed.headers.get('delivered-to') ?? [], parsed.headers.get('x-original-to') ?? []);
    const toNotesAddress = recipients.some((r) => ctx.mailboxes.isNotesAddress(r));
    msg.notes.agent = { caseRow, rule, staff: { ...staff, name: staff.name !== '' ? staff.name : sender.name }, toNotesAddress };
    return NEXT;
  },
};
