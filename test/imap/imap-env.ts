/**
 * Shared pieces of the IMAP channel tests: a casegate config pointing at the private Dovecot,
 * an in-process daemon with a log capture, "wait until" polling, and IMAP/SQL peeks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ConfigInput } from '../../src/config/schema.js';
import type { ResolvedConfig } from '../../src/config/load.js';
import { startDaemon, type Daemon } from '../../src/main.js';
import type { Logger } from '../../src/log.js';
import { writeConfig } from '../helpers/context.js';
import type { DovecotServer } from '../helpers/dovecot.js';

type MailboxInput = NonNullable<ConfigInput['mailboxes']>[number];
type ImapInput = NonNullable<MailboxInput['imap']>;

/** The `imap` block of a mailbox watching `user` on the test Dovecot (plain IMAP, fast reconnects). */
export function imapOf(server: DovecotServer, user: string, over: Partial<ImapInput> = {}): ImapInput {
  const password = server.users.find((u) => u.user === user)?.password ?? 'unknown';
  return {
    host: server.host,
    port: server.port,
    tls: 'none',
    auth: { method: 'password', user, password },
    reconnectMinSeconds: 0.2,
    reconnectMaxSeconds: 1,
    ...over,
  };
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export function captureLogger(level: 'info' | 'debug' = 'info'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}

export interface RunningDaemon {
  readonly dir: string;
  readonly resolved: ResolvedConfig;
  readonly daemon: Daemon;
  readonly lines: LogLine[];
  stop(): Promise<void>;
}

/** Write a config into a fresh temp dir and start the daemon in this process. */
export async function runDaemon(config: ConfigInput, dir = mkdtempSync(join(tmpdir(), 'casegate-imap-'))): Promise<RunningDaemon> {
  const resolved = writeConfig(dir, {
    listener: { enabled: false },
    templates: { watch: false },
    outgoing: { transport: 'file', sweepSeconds: 1 },
    ...config,
  });
  const { log, lines } = captureLogger();
  const daemon = await startDaemon({ resolved, log });
  let stopped = false;
  return {
    dir,
    resolved,
    daemon,
    lines,
    async stop() {
      if (stopped) return;
      stopped = true;
      await daemon.stop();
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Poll until `cond` returns a truthy value; fails with `what` (and the last value) after the timeout (generous: the suite runs files side by side on 2 cores). */
export async function until<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 60_000, intervalMs?: number): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  // Without an interval: 25 ms at first, then 1.5 times longer each time up to 100 ms. A condition
  // that looks at the IMAP server (folderContents) logs in anew each time, and a wait can last
  // seconds (tens of them on a loaded machine): polled every 25 ms that was most of the CPU of
  // such a wait. A test that must catch a moment gives its own interval (kept as given).
  let wait = intervalMs ?? UNTIL_FIRST_MS;
  for (;;) {
    last = await cond();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, wait));
    if (intervalMs === undefined) wait = Math.min(UNTIL_MAX_MS, Math.ceil(wait * 1.5));
  }
}

const UNTIL_FIRST_MS = 25;
const UNTIL_MAX_MS = 100;

export interface FolderMessage {
  readonly uid: number;
  readonly flags: string[];
  readonly subject: string;
}

/** What is in a folder (uid, flags, subject), oldest first; [] when the folder does not exist. */
export async function folderContents(server: DovecotServer, user: string, folder = 'INBOX'): Promise<FolderMessage[]> {
  const client = await server.connect(user);
  try {
    const exists = (await client.list()).some((b) => b.path === folder);
    if (!exists) return [];
    const lock = await client.getMailboxLock(folder, { readOnly: true });
    try {
      if (client.mailbox === false || client.mailbox.exists === 0) return [];
      const msgs = await client.fetchAll('1:*', { uid: true, flags: true, envelope: true });
      return msgs
        .map((m) => ({ uid: m.uid, flags: [...(m.flags ?? [])].sort(), subject: m.envelope?.subject ?? '' }))
        .sort((a, b) => a.uid - b.uid);
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}
