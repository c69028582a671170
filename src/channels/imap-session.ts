import type { ImapFlow } from 'imapflow';
import type { Settler } from './imap-settler.js';

/** A message that ended in `retry`: how often it was tried and when to try it again. */
export interface Deferred {
  attempts: number;
  notBefore: number;
}

/** What the connection's event handlers report. */
export interface ConnectionState {
  closed: boolean;
  lastError: Error | null;
}

/** State of one connection. */
export interface Session {
  readonly client: ImapFlow;
  readonly conn: ConnectionState;
  uidValidity: string;
  readonly keywords: boolean;
  readonly idle: boolean;
  readonly processedPath: string | null;
  readonly quarantinePath: string | null;
  /** Messages that ended in `retry`, by UID: when to try again. */
  readonly deferred: Map<number, Deferred>;
  readonly settler: Settler;
  /** performance.now() of the last SELECT. */
  selectedAt: number;
  /** Settles when the current large message is done (they are downloaded and processed one at a time). */
  largeLane: Promise<void>;
}

/** The connection (or the folder's selection) is gone: the session ends and the watcher reconnects. */
export class ConnectionLost extends Error {
  override readonly name = 'ConnectionLost';
}

/** Run `fn` after every earlier call for this session has finished (the large-message lane). */
export async function oneAtATime<T>(s: Session, fn: () => Promise<T>): Promise<T> {
  const before = s.largeLane;
  let done: () => void = () => undefined;
  s.largeLane = new Promise<void>((resolve) => {
    done = resolve;
  });
  try {
    await before;
    return await fn();
  } finally {
    done();
  }
}

