import type { Config, MailboxConfig } from './config/schema.js';
import { stripPlus } from './cases/thread-token.js';

/** Which mailbox serves an address; which addresses are our own (loop guard). */
export class MailboxDirectory {
  readonly #byAddress = new Map<string, MailboxConfig>();
  readonly #byName = new Map<string, MailboxConfig>();

  constructor(readonly all: readonly MailboxConfig[]) {
    for (const mb of all) {
      this.#byName.set(mb.name, mb);
      for (const a of mb.addresses) this.#byAddress.set(a, mb);
    }
  }

  static fromConfig(config: Config): MailboxDirectory {
    return new MailboxDirectory(config.mailboxes);
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
