import type { Config, MailboxConfig } from './config/schema.js';
import { addressKey } from './address-form.js';
import { stripPlus, verpParts } from './cases/thread-token.js';

/**
 * The key an address is looked up by: without its +tag (or the -b… tag of a signed bounce address
 * written with "-", mailboxes[].verpSeparator), compared as addressKey does (case, and the
 * Unicode or ASCII/punycode spelling of an internationalised domain, do not count: a mailbox
 * configured as hilfe@bücher.example is the one RCPT TO:<hilfe@xn--bcher-kva.example> reaches).
 */
export function lookupKey(address: string): string {
  const a = address.trim().toLowerCase();
  return addressKey(verpParts(a)?.base ?? stripPlus(a));
}

/** Which mailbox serves an address; which addresses are our own (loop guard). */
export class MailboxDirectory {
  readonly #byAddress = new Map<string, MailboxConfig>();
  readonly #byName = new Map<string, MailboxConfig>();
  /** Notes addresses (agents' internal notes, by addressKey) → their mailbox and the address as configured. */
  readonly #notes = new Map<string, { readonly mb: MailboxConfig; readonly address: string }>();

  constructor(
    readonly all: readonly MailboxConfig[],
    notesPlusTag = '',
  ) {
    for (const mb of all) {
      this.#byName.set(mb.name, mb);
      for (const a of mb.addresses) this.#byAddress.set(lookupKey(a), mb);
      if (mb.notesAddress !== undefined) {
        this.#notes.set(addressKey(mb.notesAddress), { mb, address: mb.notesAddress });
        if (!this.#byAddress.has(lookupKey(mb.notesAddress))) this.#byAddress.set(lookupKey(mb.notesAddress), mb);
      }
      if (notesPlusTag !== '') {
        for (const a of mb.addresses) {
          const address = a.replace('@', `+${notesPlusTag}@`);
          this.#notes.set(addressKey(address), { mb, address });
        }
      }
    }
  }

  static fromConfig(config: Config): MailboxDirectory {
    return new MailboxDirectory(config.mailboxes, config.agentMail.notesPlusTag);
  }

  /** Whether mail to this address is an internal note (agentMail.notesPlusTag, mailboxes[].notesAddress). */
  isNotesAddress(address: string): boolean {
    return this.#notes.has(addressKey(address));
  }

  /** The notes address agents write to for a mailbox (the configured one, else the plus form of its first address), or null. */
  notesAddressOf(mb: MailboxConfig): string | null {
    if (mb.notesAddress !== undefined) return mb.notesAddress;
    for (const n of this.#notes.values()) if (n.mb === mb) return n.address;
    return null;
  }

  /** The mailbox serving this address (plus-addresses included), or null. */
  byAddress(address: string): MailboxConfig | null {
    return this.#byAddress.get(lookupKey(address)) ?? null;
  }

  byName(name: string): MailboxConfig | null {
    return this.#byName.get(name) ?? null;
  }

  get default(): MailboxConfig {
    const first = this.all[0];
    if (first === undefined) throw new Error('no mailbox configured');
    return first;
  }

  isOwnAddress(address: string): boolean {
    return this.byAddress(address) !== null;
  }

  queueOf(mb: MailboxConfig): string {
    return mb.queue ?? mb.name;
  }

  /**
   * The mailbox a new case from this message belongs to. One message addressed to several of our
   * mailboxes (To support@, Cc billing@) reaches each of them; its copies are one message
   * (dedupe), and the case must not depend on which copy is read first: when the mailbox a copy
   * arrived in is named in To or Cc, the case goes to the first of our mailboxes named there, To
   * before Cc (that one got the message too). A copy that arrived by Bcc, a redirect or an alias
   * (its mailbox named nowhere in To or Cc) stays in the mailbox it arrived in.
   */
  addressed(arrival: MailboxConfig, to: readonly string[], cc: readonly string[]): MailboxConfig {
    const named: MailboxConfig[] = [];
    for (const a of [...to, ...cc]) {
      const mb = this.isNotesAddress(a) ? null : this.byAddress(a);
      if (mb !== null) named.push(mb);
    }
    return named.includes(arrival) ? named[0]! : arrival;
  }

  /**
   * The mailbox a case's mail goes out from: the one it was opened in. When the configuration no
   * longer has that one (renamed or removed), the first mailbox of the case's queue — a mailbox
   * renamed from billing to finance-desk keeps sending its cases' mail From billing@ — and only
   * when no mailbox serves the queue either, the default mailbox.
   */
  ofCase(caseRow: { readonly mailbox: string; readonly queue: string }): MailboxConfig {
    return this.byName(caseRow.mailbox) ?? this.all.find((mb) => this.queueOf(mb) === caseRow.queue) ?? this.default;
  }

  /** First mailbox matching any of the addresses, else the default. */
  pick(addresses: readonly string[]): MailboxConfig {
    for (const a of addresses) {
      const mb = this.byAddress(a);
      if (mb !== null) return mb;
    }
    return this.default;
  }
}
