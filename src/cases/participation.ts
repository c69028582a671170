import type { Transaction } from 'kysely';
import type { Config } from '../config/schema.js';
import type { AppContext } from '../context.js';
import type { Db } from '../db/database.js';
import { addParticipant, isParticipant, participants } from '../db/repos/cases.js';
import { addEvent, addressesTakenOff } from '../db/repos/events.js';
import type { CaseRow, Database } from '../db/schema.js';
import type { AuthVerdict } from '../mail-in/sender-auth.js';
import { isStaff, isStaffOf } from './staff.js';

/**
 * Who may act as a participant of a case (DESIGN §2): its requester and enrolled addresses, and the
 * staff of its queue. A From address is only a claim, so it counts when sender authentication
 * proved it (`pass`) — or when the mail carries our signed token for this case (a signed
 * Message-ID or plus address), which only someone we wrote to can hold. A forged sender (`fail`)
 * never counts.
 *
 * Staff addresses are held to more (README, "Agent trust"): a token the customer side holds (a
 * confirmation's Message-ID, seen by every Cc) proves nothing about an agent, so a staff address
 * gets its rights (staff of the queue, having worked the case) only when proven for this case —
 * `pass`, or a reply to staff mail we sent to that very address about it (staffProven). Unproven,
 * it counts only as what a customer could be: the requester (staff are never enrolled Cc's).
 *
 * `archive`: history an admin imports from their own archive (`casegate import`): its mail was
 * authenticated, if at all, by a server long ago, so the address of a participant counts unless
 * it is forged — otherwise no reply in an archive would thread without sender authentication.
 * No mail goes out for imported history (its confirmations are recorded as cancelled).
 */
export type Proof = 'signed-token' | 'address-only' | 'archive';

export interface SenderClaim {
  readonly address: string;
  readonly auth: AuthVerdict;
  /** Cases whose staff mail to this address the message answers (SenderNote.answersStaffMail). */
  readonly answersStaffMail?: readonly number[];
}

/** A staff address proven for this case: authenticated, or answering staff mail we sent it about the case. */
export function staffProven(sender: SenderClaim, caseRow: Pick<CaseRow, 'number'>): boolean {
  if (sender.auth === 'fail') return false;
  return sender.auth === 'pass' || (sender.answersStaffMail ?? []).includes(caseRow.number);
}

export async function actsAsParticipant(db: Db, config: Pick<Config, 'queues' | 'instance' | 'mailboxes'>, caseRow: CaseRow, sender: SenderClaim, proof: Proof): Promise<boolean> {
  if (sender.auth === 'fail') return false;
  const staff = isStaff(config, sender.address);
  if (staff && staffProven(sender, caseRow)) return isStaffOf(config, caseRow.queue, sender.address) || (await isParticipant(db, caseRow.id, sender.address));
  if (proof === 'address-only' && sender.auth !== 'pass') return false;
  if (proof === 'archive' && staff) return false;
  // Unproven staff count only as the requester (an agent who opened the case from their address):
  // staff are never enrolled as copied customers (copiedIn), and a row older versions wrote so
  // must not let a forged staff From enrol accomplices.
  if (staff) return sender.address === caseRow.requester_address;
  // Having worked the case as an agent counts only while staff (proven, above): an agent removed
  // from the configuration is no participant of their old cases.
  return isParticipant(db, caseRow.id, sender.address, { exceptRole: 'agent' });
}

/**
 * Enrol the To/Cc addresses of a message whose sender may copy people in (a participant, or
 * staff): every address but our own mailboxes and the sender's.
 */
export async function enrolRecipients(
  trx: Transaction<Database>,
  ctx: Pick<AppContext, 'mailboxes' | 'config'>,
  caseId: number,
  recipients: readonly { readonly address: string; readonly name: string }[],
  sender: string,
  now: string,
  o: { readonly byCustomer?: boolean; readonly unproven?: string; readonly customerMail?: boolean } = {},
): Promise<string[]> {
  const copied = copiedIn(ctx, recipients, sender);
  // A customer's mail copies in at most CUSTOMER_COPIED_MAX people (a case's participants in all):
  // a stranger's new mail Cc'ing 500 addresses made every answer of ours go to each of them.
  const present = o.customerMail === true ? new Set((await participants(trx, caseId)).map((p) => p.address.toLowerCase())) : null;
  const over: string[] = [];
  const unproven: string[] = [];
  // A customer's mail does not copy back in whom an agent took off the case (#uncc): their client
  // still copies them (answer all to mail that named them). An agent copies them in again.
  let takenOff: Set<string> | null = null;
  const notCopied: string[] = [];
  for (const a of copied) {
    if (o.byCustomer === true && !(await isParticipant(trx, caseId, a.address))) {
      // Nothing proves the sender (o.unproven says why): a From is typed, and our signed token is in
      // every copy of our mail and every forward of it — so an ex-participant or whoever the
      // customer forwarded our email to could write "From: <the requester>" and copy themselves
      // in, getting every later reply and a link to the whole case. An agent copies them in.
      if (o.unproven !== undefined) {
        unproven.push(a.address);
        notCopied.push(a.address);
        continue;
      }
      takenOff ??= await addressesTakenOff(trx, caseId);
      if (takenOff.has(a.address.toLowerCase())) {
        await addEvent(trx, { caseId, type: 'participant.not-added', actor: `customer:${sender}`, reason: `${a.address} was taken off the case by an agent: not copied on its mail again by ${sender}'s mail (an agent adds them with #cc ${a.address})`, data: { address: a.address }, at: now });
        notCopied.push(a.address);
        continue;
      }
    }
    if (present !== null && !present.has(a.address.toLowerCase())) {
      if (present.size >= CUSTOMER_COPIED_MAX) {
        over.push(a.address);
        notCopied.push(a.address);
        continue;
      }
      present.add(a.address.toLowerCase());
    }
    await addParticipant(trx, caseId, a.address, a.name, 'cc', now);
  }
  // One event per address, or one for them all when a mail copies many.
  for (const a of unproven.length <= 10 ? unproven : []) {
    await addEvent(trx, { caseId, type: 'participant.not-added', actor: `customer:${sender}`, reason: `${a} was copied by ${sender}'s mail, but nothing proves it came from ${sender} (${o.unproven}): not copied on the case's mail (an agent adds them with #cc ${a})`, data: { address: a }, at: now });
  }
  if (unproven.length > 10) {
    await addEvent(trx, { caseId, type: 'participant.not-added', actor: `customer:${sender}`, reason: `${unproven.length} addresses were copied by ${sender}'s mail, but nothing proves it came from ${sender} (${o.unproven}): not copied on the case's mail (an agent adds them with #cc): ${unproven.slice(0, 10).join(', ')} and ${unproven.length - 10} more`, data: { addresses: unproven }, at: now });
  }
  if (over.length > 0) {
    const named = over.slice(0, 10).join(', ') + (over.length > 10 ? ` and ${over.length - 10} more` : '');
    await addEvent(trx, { caseId, type: 'participant.not-added', actor: `customer:${sender}`, reason: `${over.length} address(es) copied by ${sender}'s mail not copied on the case's mail: a customer's mail makes at most ${CUSTOMER_COPIED_MAX} people take part in a case (an agent adds them with #cc): ${named}`, data: { addresses: over }, at: now });
  }
  return notCopied;
}

/** The most participants a case gets from customers' mail (requester included); an agent's #cc is not limited. */
export const CUSTOMER_COPIED_MAX = 50;

/**
 * The To/Cc addresses enrolRecipients enrols: every address but our own mailboxes, the sender's
 * and staff's. Staff take part by being staff (as `#cc` says): a colleague copied on a reply
 * enrolled as a copied customer would make their From — which proves nothing unauthenticated —
 * count as a participant's, and a stranger forging it could enrol accomplices.
 */
export function copiedIn<T extends { readonly address: string }>(ctx: Pick<AppContext, 'mailboxes' | 'config'>, recipients: readonly T[], sender: string): T[] {
  return recipients.filter((a) => !ctx.mailboxes.isOwnAddress(a.address) && a.address !== sender && !isStaff(ctx.config, a.address));
}
