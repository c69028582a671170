import { plainAddress } from './parse-mail.js';
import { header, type MailAddress, type ParsedMail } from './parsed-mail.js';

/**
 * Is this mail written on behalf of a person by something in between? Two kinds:
 *
 *  - form: web contact forms and shop systems send From their own address (often a no-reply one,
 *    or the support address itself) and put the person who filled in the form in Reply-To. For
 *    senders the admin named (mailboxes[].formSenders) that person is the writer.
 *  - group: our support address is a group or list (a Google Group support@… that forwards to the
 *    mailbox casegate reads). Its list headers name our own address; when the writer's domain
 *    enforces DMARC the group rewrites From to its own ("'Jane' via Support <support@…>") and
 *    keeps the writer in X-Original-Sender and Reply-To.
 *
 * The case is then the person's and our replies go to them. Only these two: Reply-To is a header
 * anyone writes, so for anybody else it changes nothing (a stranger must not be able to make us
 * mail a third party by naming them in Reply-To). The person's address is never proven by this.
 */
export type FormMail =
  | { readonly kind: 'on-behalf'; readonly how: 'form' | 'group'; readonly person: MailAddress; readonly via: string }
  | { readonly kind: 'unusable'; readonly how: 'form' | 'group'; readonly via: string; readonly why: string };

/** The formSenders entry that names this address ("forms@shop.example" or "@shop.example"), else null. */
export function formSenderEntry(address: string, formSenders: readonly string[]): string | null {
  const a = address.toLowerCase();
  const domain = a.slice(a.lastIndexOf('@'));
  return formSenders.find((f) => (f.startsWith('@') ? f === domain : f === a)) ?? null;
}

/**
 * null: not from a form sender. Otherwise the person it is on behalf of, or why there is none: no
 * Reply-To, several, or the form's own address again. `refuse` names addresses that may never be
 * the person (our own addresses, staff): it returns why, or null.
 */
export function formMail(mail: Pick<ParsedMail, 'from' | 'fromCount' | 'replyTo'>, formSenders: readonly string[], refuse: (address: string) => string | null): FormMail | null {
  if (mail.from === null || formSenders.length === 0) return null;
  const entry = formSenderEntry(mail.from.address, formSenders);
  if (entry === null) return null;
  return writerIn(mail, 'form', mail.replyTo, refuse);
}

/**
 * The list address when the message came through a list or group at one of our own addresses:
 * "Mailing-list: list support@…" (Google Groups), a List-Post mailto: or X-Spam-Checked-In-Group
 * naming it. Else null.
 */
export function ownListAddress(mail: Pick<ParsedMail, 'headers'>, isOwn: (address: string) => boolean): string | null {
  const named = [
    /^\s*list\s+([^\s;]+)/i.exec(header(mail, 'mailing-list') ?? '')?.[1],
    ...[...(header(mail, 'list-post') ?? '').matchAll(/<mailto:([^>?]+)/gi)].map((m) => m[1]),
    header(mail, 'x-spam-checked-in-group') ?? undefined,
  ];
  for (const n of named) {
    const a = n === undefined ? null : plainAddress(n);
    if (a !== null && isOwn(a)) return a;
  }
  return null;
}

/**
 * Mail our own group relayed with its From rewritten to the group's address: the writer is in
 * X-Original-Sender, else the one Reply-To address. null when the From is not the group's (the
 * writer's own From is then the sender, as for any mail).
 */
export function groupMail(mail: Pick<ParsedMail, 'from' | 'fromCount' | 'replyTo' | 'headers'>, listAddress: string, refuse: (address: string) => string | null): FormMail | null {
  if (mail.from === null || mail.from.address !== listAddress) return null;
  const original = plainAddress(header(mail, 'x-original-sender') ?? '');
  const named = original !== null ? [mail.replyTo.find((r) => r.address === original) ?? { address: original, name: groupWriterName(mail.from.name) }] : mail.replyTo;
  return writerIn(mail, 'group', named, refuse);
}

/** "'Jane Customer' via Support" → "Jane Customer". */
function groupWriterName(fromName: string): string {
  const m = /^'?(.*?)'?\s+via\s+.+$/i.exec(fromName);
  return m?.[1]?.trim() ?? '';
}

function writerIn(mail: Pick<ParsedMail, 'from' | 'fromCount'>, how: 'form' | 'group', candidates: readonly MailAddress[], refuse: (address: string) => string | null): FormMail {
  const via = mail.from?.address ?? '';
  const where = how === 'form' ? 'its Reply-To' : 'its X-Original-Sender / Reply-To';
  if (mail.fromCount > 1) return { kind: 'unusable', how, via, why: `it names ${mail.fromCount} From addresses` };
  const people = [...new Map(candidates.map((r) => [r.address, r])).values()];
  const person = people[0];
  if (person === undefined) return { kind: 'unusable', how, via, why: `${where} names nobody` };
  if (people.length > 1) return { kind: 'unusable', how, via, why: `${where} names ${people.length} addresses` };
  if (person.address === via) return { kind: 'unusable', how, via, why: `${where} is the ${how}’s own address` };
  const refused = refuse(person.address);
  if (refused !== null) return { kind: 'unusable', how, via, why: `${where} ${person.address} is ${refused}` };
  return { kind: 'on-behalf', how, person, via };
}
