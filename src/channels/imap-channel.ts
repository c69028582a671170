import type { AppContext } from '../context.js';
import type { ImapConfig, MailboxConfig } from '../config/schema.js';
import { MailboxWatcher } from './imap.js';

/**
 * The IMAP channel: one MailboxWatcher (imap.ts) per mailbox with an `imap` config, and what a
 * configuration reload changes about them.
 */

export interface ImapChannel {
  /** The current watchers (a reload may replace some). */
  readonly watchers: readonly MailboxWatcher[];
  /**
   * Apply the mailboxes of a reloaded configuration (SIGHUP): a mailbox whose `imap` block is
   * unchanged keeps its session (only its other settings are swapped in); a changed one
   * reconnects; a new one starts; a removed one stops.
   */
  reconfigure(mailboxes: readonly MailboxConfig[]): Promise<ImapChanges>;
  /** Resolves when every mailbox of the start has had its first look at its folder (MailboxWatcher.firstPass). */
  readonly firstPass: Promise<void>;
  stop(): Promise<void>;
}

export interface ImapChanges {
  readonly kept: string[];
  readonly reconnected: string[];
  readonly added: string[];
  readonly removed: string[];
}

/** Start watching every mailbox that has an `imap` config. Returns at once; connections happen in the background. */
export function startImapChannel(ctx: AppContext, mailboxes: readonly MailboxConfig[] = ctx.config.mailboxes): ImapChannel {
  let watchers = mailboxes.flatMap((mb) => (mb.imap !== undefined ? [new MailboxWatcher(ctx, mb, mb.imap)] : []));
  for (const w of watchers) w.start();
  let stopping: Promise<void> | null = null;
  const firstPass = Promise.all(watchers.map((w) => w.firstPass)).then(() => undefined);
  return {
    get watchers() {
      return watchers;
    },
    firstPass,
    async reconfigure(mailboxes) {
      const changes: ImapChanges = { kept: [], reconnected: [], added: [], removed: [] };
      const wanted = new Map(mailboxes.flatMap((mb) => (mb.imap !== undefined ? [[mb.name, mb] as const] : [])));
      const next: MailboxWatcher[] = [];
      const stops: Promise<void>[] = [];
      for (const w of watchers) {
        const mb = wanted.get(w.name);
        if (mb === undefined) {
          changes.removed.push(w.name);
          stops.push(w.stop());
        } else if (sameImap(w.imapConfig, mb.imap!)) {
          w.updateMailbox(mb);
          changes.kept.push(w.name);
          next.push(w);
        } else {
          changes.reconnected.push(w.name);
          // The old session ends (its messages in flight finish) before the new one starts.
          stops.push(w.stop());
        }
      }
      await Promise.all(stops);
      for (const [name, mb] of wanted) {
        if (changes.kept.includes(name)) continue;
        if (!changes.reconnected.includes(name)) changes.added.push(name);
        const w = new MailboxWatcher(ctx, mb, mb.imap!);
        w.start();
        next.push(w);
      }
      watchers = next;
      return changes;
    },
    stop() {
      stopping ??= Promise.all(watchers.map((w) => w.stop())).then(() => undefined);
      return stopping;
    },
  };
}

function sameImap(a: ImapConfig, b: ImapConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
