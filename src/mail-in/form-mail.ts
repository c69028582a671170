import type { MailAddress, ParsedMail } from './parsed-mail.js';

/**
 * Is this mail written by a program on behalf of a person? Web contact forms and shop systems send
 * From their own address (often a no-reply one, or the support address itself) and put the person
 * who filled in the form in Reply-To. For senders the admin named (mailboxes[].formSenders) the
 * person in Reply-To is the writer: the case is theirs and our replies go to them.
 *
 * Only named senders: Reply-To is a header anyone writes, so for anybody else it changes nothing
 * (a stranger must not be able to make us mail a third party by naming them in Reply-To). The
 * person's address is never proven by this: the form typed it, nothing authenticated it.
 */
export type FormMail =
  | { readonly kind: 'on-behalf'; readonly person: MailAddress; readonly via: string }
  | { readonly kind: 'unusable'; readonly via: string; readonly why: string };

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
  const via = mail.from.address;
  if (mail.fromCount > 1) return { kind: 'unusable', via, why: `it names ${mail.fromCount} From addresses` };
  const people = [...new Map(mail.replyTo.map((r) => [r.address, r])).values()];
  const person = people[0];
  if (person === undefined) return { kind: 'unusable', via, why: 'it has no Reply-To address' };
  if (people.length > 1) return { kind: 'unusable', via, why: `its Reply-To names ${people.length} addresses` };
  if (person.address === via) return { kind: 'unusable', via, why: 'its Reply-To is the form’s own address' };
  const refused = refuse(person.address);
  if (refused !== null) return { kind: 'unusable', via, why: `its Reply-To ${person.address} is ${refused}` };
  return { kind: 'on-behalf', person, via };
}
