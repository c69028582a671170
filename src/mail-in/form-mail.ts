import { plainAddress } from './header-values.js';
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
 *  - list: someone else's mailing list that rewrote From the same way (Mailman's "Jane via Users
 *    <users@lists…>"): the writer is the person, so an agent's answer goes to them, not to the
 *    whole list. (List mail stays list mail: never answered automatically.)
 *
 * The case is then the person's and our replies go to them. Only these two: Reply-To is a header
 * anyone writes, so for anybody else it changes nothing (a stranger must not be able to make us
 * mail a third party by naming them in Reply-To). The person's address is never proven by this.
 */
export type FormMail =
  | { readonly kind: 'on-behalf'; readonly how: Relay; readonly person: MailAddress; readonly via: string }
  | { readonly kind: 'unusable'; readonly how: Relay; readonly via: string; readonly why: string };

export type Relay = 'form' | 'group' | 'list';

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
 * The addresses of the list or group the message came through: "Mailing-list: list support@…"
 * (Google Groups), List-Post mailto:, X-Spam-Checked-In-Group. Empty for mail that came through none.
 */
export function listAddresses(mail: Pick<ParsedMail, 'headers'>): string[] {
  const named = [
    /^\s*list\s+([^\s;]+)/i.exec(header(mail, 'mailing-list') ?? '')?.[1],
    ...[...(header(mail, 'list-post') ?? '').matchAll(/<mailto:([^>?]+)/gi)].map((m) => m[1]),
    header(mail, 'x-spam-checked-in-group') ?? undefined,
  ];
  return [...new Set(named.map((n) => (n === undefined ? null : plainAddress(n))).filter((a): a is string => a !== null))];
}

/** The list address when the message came through a list or group at one of our own addresses, else null. */
export function ownListAddress(mail: Pick<ParsedMail, 'headers'>, isOwn: (address: string) => boolean): string | null {
  return listAddresses(mail).find(isOwn) ?? null;
}

/**
 * Mail a group or list relayed with its From rewritten to the list's own address: the writer is in
 * X-Original-Sender (Google Groups) or X-Original-From, else the one Reply-To address that is not
 * the list's. null when the From is not the list's (the writer's own From is then the sender, as
 * for any mail).
 */
export function groupMail(
  mail: Pick<ParsedMail, 'from' | 'fromCount' | 'replyTo' | 'headers'>,
  listAddress: string,
  how: 'group' | 'list',
  refuse: (address: string) => string | null,
): FormMail | null {
  if (mail.from === null || mail.from.address !== listAddress) return null;
  const original = nameAndAddress(header(mail, 'x-original-sender') ?? header(mail, 'x-original-from') ?? '');
  const named =
    original !== null
      ? [mail.replyTo.find((r) => r.address === original.address) ?? { address: original.address, name: original.name !== '' ? original.name : groupWriterName(mail.from.name) }]
      : mail.replyTo.filter((r) => r.address !== listAddress).map((r) => (r.name !== '' ? r : { address: r.address, name: groupWriterName(mail.from?.name ?? '') }));
  return writerIn(mail, how, named, refuse);
}

/** "Bob <bob@builder.example>" or "bob@builder.example" (a header of one address), else null. */
function nameAndAddress(value: string): MailAddress | null {
  const angle = /^\s*"?([^"<]*?)"?\s*<([^<>]+)>\s*$/.exec(value);
  const address = plainAddress(angle?.[2] ?? value);
  if (address === null) return null;
  return { address, name: (angle?.[1] ?? '').replace(/[\p{Cc}<>"]/gu, '').trim() };
}

/** "'Jane Customer' via Support" → "Jane Customer". */
function groupWriterName(fromName: string): string {
  const m = /^'?(.*?)'?\s+via\s+.+$/i.exec(fromName);
  return m?.[1]?.trim() ?? '';
}

function writerIn(mail: Pick<ParsedMail, 'from' | 'fromCount'>, how: Relay, candidates: readonly MailAddress[], refuse: (address: string) => string | null): FormMail {
  const via = mail.from?.address ?? '';
  const where = how === 'form' ? 'its Reply-To' : 'its X-Original-Sender / X-Original-From / Reply-To';
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
