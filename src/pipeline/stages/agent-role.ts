import type { ValidCommand } from '../../cases/agent-commands.js';
import { isStaff, staffMember, type StaffMember } from '../../cases/staff.js';
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

/** Mail whose From is a staff address but that failed the sender check. */
export interface ForgedStaffNote {
  readonly address: string;
  readonly why: string;
}

/** What the agent's mail asks for (agent-commands stage). */
export interface AgentWorkNote {
  readonly commands: readonly ValidCommand[];
  /** Invalid commands (unknown, malformed, not applicable): the mail then changes nothing. */
  readonly errors: readonly { readonly line: string; readonly why: string }[];
  /** The agent's new text without command lines ("" for none). */
  readonly text: string;
  /** Internal note (notes address or #note): the text never reaches the customer. */
  readonly note: boolean;
}

/**
 * Does an agent work a case with this mail? Only a configured agent or lead of the case's queue
 * (staff.ts), only when the message passed the sender check (`verified`), never automated mail
 * (an agent's out-of-office answering a notification must not reach the customer), and not the
 * case's own requester (staff writing to support as a customer). Such mail belongs to a case by
 * the thread stage's rules; a reference or subject tag that the thread stage turned into a new
 * linked case (stranger rules) leads an agent of the linked case's queue into that case.
 * A staff address that failed the sender check is remembered: the message stays a customer's
 * message (its commands are text) and the real address is told.
 */
export const agentRoleStage: DecideStage = {
  name: 'agent-role',
  async run(msg, ctx) {
    const sender = need(msg.notes.sender, 'sender');
    const thread = need(msg.notes.thread, 'thread');
    const parsed = need(msg.notes.parsed, 'parsed');
    msg.notes.agent = null;
    msg.notes.forgedStaff = null;
    if (msg.notes.automated != null) return NEXT;
    if (!sender.verified) {
      if (isStaff(ctx.config, sender.address)) msg.notes.forgedStaff = { address: sender.address, why: sender.why };
      return NEXT;
    }
    let caseRow: CaseRow | undefined;
    let rule: ThreadRule;
    if (thread.kind === 'existing') {
      caseRow = thread.caseRow;
      rule = thread.rule;
    } else {
      if (thread.linkedCaseId === null) return NEXT;
      caseRow = await caseById(ctx.db, thread.linkedCaseId);
      rule = 'staff-link';
    }
    if (caseRow === undefined || caseRow.kind === 'feedback') return NEXT;
    const staff = staffMember(ctx.config, caseRow.queue, sender.address);
    if (staff === null || caseRow.requester_address === sender.address) return NEXT;
    const recipients = [...parsed.to, ...parsed.cc]
      .map((a) => a.address)
      .concat(msg.arrival.envelopeTo, parsed.headers.get('delivered-to') ?? [], parsed.headers.get('x-original-to') ?? []);
    const toNotesAddress = recipients.some((r) => ctx.mailboxes.isNotesAddress(r));
    msg.notes.agent = { caseRow, rule, staff: { ...staff, name: staff.name !== '' ? staff.name : sender.name }, toNotesAddress };
    return NEXT;
  },
};
