import type { ImapFlow } from 'imapflow';
import type { ImapConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { CommandFailures } from './imap-connection.js';

/** flag mode: extra keyword for quarantined / oversized messages (when keywords are allowed). */
const QUARANTINE_KEYWORD = '$CasegateQuarantined';

/** How a committed message is acknowledged on the server. */
export type Settle = 'processed' | 'quarantine';

/**
 * Committed messages are acknowledged ACK_BATCH at a time, and whatever is left when the reader's
 * round ends (drain). Each STORE or MOVE costs the server index and uidlist updates whatever its
 * size: acknowledged as they completed (a few per command), a backlog of 2,000 messages cost
 * Dovecot 1.6 s (plain mail) and 3.6–4.2 s (the heavy mix) of CPU, in batches of 64 0.6 s and
 * 0.7–0.8 s (npm run bench, e2e). A message committed but not yet acknowledged when the daemon dies
 * comes back as a duplicate and is then acknowledged, as before.
 */
export const ACK_BATCH = 64;

/** What the settler reports to and asks of its session. */
export interface SettlerHooks {
  /** The connection's record of NO/BAD answers (clientOptions): a failed MOVE or STORE names the server's reason. */
  readonly failures?: CommandFailures;
  /** These UIDs are acknowledged on the server now (moved, or flagged in flag mode). */
  readonly onAcknowledged?: (uids: readonly number[]) => void;
}

/** The server refused an acknowledgement (MOVE or STORE); the messages stay in the folder. */
export class AcknowledgeError extends Error {
  override readonly name = 'AcknowledgeError';
}

/** The commands whose failure can make messageMove() return false (without MOVE: COPY, then STORE \Deleted and EXPUNGE). */
const MOVE_COMMANDS = ['UID MOVE', 'MOVE', 'UID COPY', 'COPY', 'UID STORE', 'STORE', 'UID EXPUNGE', 'EXPUNGE'] as const;
const STORE_COMMANDS = ['UID STORE', 'STORE'] as const;

/** Acknowledges committed messages on the server in batches (see ACK_BATCH). */
export class Settler {
  readonly #client: ImapFlow;
  readonly #folders: { readonly processedPath: string | null; readonly quarantinePath: string | null };
  readonly #cfg: ImapConfig;
  readonly #log: Logger;
  readonly #hooks: SettlerHooks;
  #queue: { uid: number; how: Settle }[] = [];
  #running: Promise<void> | null = null;
  #error: unknown = null;
  /** Drains waiting: while any is, what is queued goes out even below a full batch. */
  #draining = 0;

  /** Keywords allowed (flag mode marks with the processed keyword); set once the folder is open. */
  keywords = false;

  constructor(client: ImapFlow, folders: { processedPath: string | null; quarantinePath: string | null }, cfg: ImapConfig, log: Logger, hooks: SettlerHooks = {}) {
    this.#client = client;
    this.#folders = folders;
    this.#cfg = cfg;
    this.#log = log;
    this.#hooks = hooks;
  }

  /** Queue a committed message; a full batch goes to the server at once. */
  add(uid: number, how: Settle): void {
    this.#queue.push({ uid, how });
    if (this.#queue.length >= ACK_BATCH) this.#start();
  }

  /** Acknowledge everything queued and wait for it; throws the first failure (then clears it). */
  async drain(): Promise<void> {
    this.#draining += 1;
    try {
      while (this.#running !== null || this.#queue.length > 0) {
        this.#start();
        await this.#running;
      }
    } finally {
      this.#draining -= 1;
    }
    const err = this.#error;
    this.#error = null;
    if (err !== null) throw err;
  }

  #start(): void {
    this.#running ??= this.#flush().finally(() => {
      this.#running = null;
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length >= ACK_BATCH || (this.#draining > 0 && this.#queue.length > 0)) {
      // A full batch at a time (more may have been queued while the last one was on its way);
      // a drain takes everything.
      const batch = this.#draining > 0 ? this.#queue.splice(0) : this.#queue.splice(0, ACK_BATCH);
      if (this.#error !== null) continue; // the connection is broken: these come back as duplicates
      try {
        await this.#apply(batch);
      } catch (err) {
        this.#error = err;
      }
    }
  }

  async #apply(batch: { uid: number; how: Settle }[]): Promise<void> {
    const client = this.#client;
    const processed = batch.filter((b) => b.how === 'processed').map((b) => b.uid);
    const quarantined = batch.filter((b) => b.how === 'quarantine').map((b) => b.uid);
    if (this.#cfg.afterProcessing === 'move') {
      await client.messageFlagsAdd(batch.map((b) => b.uid), ['\\Seen'], { uid: true, silent: true });
      for (const [uids, dest] of [
        [processed, this.#folders.processedPath],
        [quarantined, this.#folders.quarantinePath],
      ] as const) {
        if (uids.length === 0) continue;
        if (dest !== null) {
          this.#hooks.failures?.take(MOVE_COMMANDS); // forget older answers (the \Seen STORE's above)
          const res = await client.messageMove(uids, dest, { uid: true });
          // false: the server said NO or BAD (or the connection broke); undefined: no folder selected.
          if (res === false || res === undefined) throw this.#refused(`MOVE of ${count(uids.length)} to "${dest}"`, MOVE_COMMANDS);
        }
        this.#hooks.onAcknowledged?.(uids);
      }
    } else {
      const marker = this.keywords ? ['\\Seen', this.#cfg.processedKeyword] : ['\\Seen'];
      for (const [uids, flags] of [
        [processed, marker],
        [quarantined, this.keywords ? [...marker, QUARANTINE_KEYWORD] : marker],
      ] as const) {
        if (uids.length === 0) continue;
        this.#hooks.failures?.take(STORE_COMMANDS);
        const ok = await client.messageFlagsAdd(uids, [...flags], { uid: true, silent: true });
        // Without the marker the message would be found again (its acknowledgement is retried).
        if (!ok) throw this.#refused(`STORE ${flags.join(' ')} of ${count(uids.length)}`, STORE_COMMANDS);
        this.#hooks.onAcknowledged?.(uids);
      }
    }
    this.#log.debug({ processed: processed.length, quarantined: quarantined.length }, 'acknowledged on the server');
  }

  /** The error for a refused acknowledgement, with the server's answer when imapflow logged one. */
  #refused(what: string, commands: readonly string[]): AcknowledgeError {
    const answer = this.#hooks.failures?.take(commands) ?? null;
    return new AcknowledgeError(`${what} failed: ${answer ?? 'no answer from the server (connection lost?)'}`);
  }
}

function count(n: number): string {
  return n === 1 ? '1 message' : `${n} messages`;
}
