import type { Config, MailboxConfig } from './config/schema.js';
import { stripPlus } from './cases/thread-token.js';

/** Which mailbox serves an address; which addresses are our own (loop guard). */
export class MailboxDirectory {
  readonly #byAddress = new Map<string, MailboxConfig>();
  readonly #byName = new Map<string, MailboxConfig>();
  /** Notes addresses (agents' internal notes) → their mailbox. */
  readonly #notes = new Map<string, MailboxConfig>();

  constructor(
    readonly all: readonly MailboxConfig[],
    notesPlusTag = '',
  ) {
    for (const mb of all) {
      this.#byName.set(mb.name, mb);
      for (const a of mb.addresses) this.#byAddress.set(a, mb);
      if (mb.notesAddress !== undefined) {
        this.#notes.set(mb.notesAddress, mb);
        if (!this.#byAddress.has(stripPlus(mb.notesAddress))) this.#byAddress.set(stripPlus(mb.notesAddress), mb);
      }
      if (notesPlusTag !== '') {
        for (const a of mb.addresses) this.#notes.set(a.replace('@', `+${notesPlusTag}@`), mb);
      }
    }
  }

  static fromConfig(config: Config): MailboxDirectory {
    return new MailboxDirectory(config.mailboxes, config.agentMail.notesPlusTag);
  }

  /** Whether mail to this address is an internal note (agentMail.notesPlusTag, mailboxes[].notesAddress). */
  isNotesAddress(address: string): boolean {
    return this.#notes.has(address.trim().toLowerCase());
  }

  /** The notes address agents write to for a mailbox (the configured one, else the plus form of its first address), or null. */
  notesAddressOf(mb: MailboxConfig): string | null {
    if (mb.notesAddress !== undefined) return mb.notesAddress;
    for (const [a, m] of this.#notes) if (m === mb) return a;
    return null;
  }

  /** The mailbox serving this address (plus-addresses included), or null. */
  byAddress(address: string): MailboxConfig | null {
    return this.#byAddress.get(stripPlus(address.trim().toLowerCase())) ?? null;
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

  /** First mailbox matching any of the addresses, else the default. */
  pick(addresses: readonly string[]): MailboxConfig {
    for (const a of addresses) {
      const mb = this.byAddress(a);
      if (mb !== null) return mb;
    }
    return this.default;
  }
}
