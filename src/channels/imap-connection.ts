import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { ImapFlowOptions, Logger as ImapLogger } from 'imapflow';
import type { ImapConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { commandEnv } from '../command-env.js';

/** How long a tokenCommand may run before it counts as failed. */
const TOKEN_COMMAND_TIMEOUT_MS = 30_000;

/** Thrown when no credentials could be obtained (token command failed, env var empty): an auth failure. */
export class CredentialsError extends Error {
  override readonly name = 'CredentialsError';
  readonly authenticationFailed = true;
}

/** At most this much output from a tokenCommand (a token is a few KB). */
const TOKEN_COMMAND_MAX_BYTES = 1024 * 1024;

/**
 * Run a tokenCommand through /bin/sh in a process group of its own, so that ending it — on its
 * timeout, or when the mailbox stops — ends what it started too (the documented `curl … | jq`
 * helper: killing the shell alone left curl running until it gave up by itself). Resolves with
 * its stdout; rejects with a CredentialsError that never quotes the command line (it may carry a
 * secret): its stderr's first line, else how it ended.
 */
function runTokenCommand(command: string, env: NodeJS.ProcessEnv, stop?: AbortSignal): Promise<{ stdout: string; stderr: string }> {
  return new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let ended: string | null = null;
    const killGroup = (why: string): void => {
      if (ended !== null) return;
      ended = why;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    };
    const timer = setTimeout(() => killGroup(`killed after ${TOKEN_COMMAND_TIMEOUT_MS / 1000} s`), TOKEN_COMMAND_TIMEOUT_MS);
    const stopped = (): void => {
      killGroup('the mailbox is stopping');
      // Not waiting for the command's exit: it is ended, and the caller is stopping.
      reject(new CredentialsError('tokenCommand ended: the mailbox is stopping'));
    };
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > TOKEN_COMMAND_MAX_BYTES) killGroup(`printed more than ${TOKEN_COMMAND_MAX_BYTES} bytes`);
      else out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 16) err.push(c);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      stop?.removeEventListener('abort', stopped);
      reject(new CredentialsError(`tokenCommand failed: ${(e as NodeJS.ErrnoException).code ?? 'failed'}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      stop?.removeEventListener('abort', stopped);
      const stderr = Buffer.concat(err).toString('utf8').trim().split('\n')[0]?.slice(0, 200) ?? '';
      if (ended === null && code === 0) {
        resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr });
        return;
      }
      const how = ended ?? (code !== null ? `exit code ${code}` : `killed by ${signal ?? '?'}`);
      const why = (ended === null ? stderr : '') || how;
      reject(new CredentialsError(`tokenCommand failed: ${why}`));
    });
    if (stop?.aborted === true) stopped();
    else stop?.addEventListener('abort', stopped, { once: true });
  });
}

/**
 * The access token for XOAUTH2: from accessTokenEnv, or the trimmed stdout of tokenCommand run
 * through /bin/sh — in an environment of its own, not the daemon's with its secrets (command-env.ts;
 * the mailbox's auth.passEnv names what the helper needs, e.g. its client secret). Called on every
 * connection attempt, so a token that expired or was rejected is replaced by the next attempt
 * (token helpers cache on their side). `stop` (the watcher stopping) ends a command still running
 * at once: a helper hanging on an unreachable identity provider held every stop and reload for
 * up to TOKEN_COMMAND_TIMEOUT_MS, past the CLI's stop deadline.
 */
export async function accessToken(auth: Extract<ImapConfig['auth'], { method: 'xoauth2' }>, env: NodeJS.ProcessEnv = process.env, stop?: AbortSignal): Promise<string> {
  if (auth.tokenCommand !== undefined) {
    const { stdout, stderr } = await runTokenCommand(auth.tokenCommand, commandEnv(auth.passEnv ?? [], {}, env), stop);
    const token = stdout.trim();
    // A helper piping into `jq -r .access_token` exits 0 whatever curl got: "null" for an error
    // answer (a wrong client secret), nothing when curl could not connect. Neither is a token to
    // send the server (its refusal reads like a wrong password); what the helper said on stderr is
    // the reason.
    const said = stderr !== '' ? `: ${stderr}` : '';
    if (token === '') throw new CredentialsError(`tokenCommand printed no token${said}`);
    if (token === 'null') throw new CredentialsError(`tokenCommand printed "null", not a token (jq -r of an answer without the field: the token endpoint refused?)${said}`);
    return token;
  }
  const name = auth.accessTokenEnv ?? '';
  const token = (env[name] ?? '').trim();
  if (token === '') throw new CredentialsError(`environment variable ${name} holds no access token`);
  return token;
}

/** imapflow's Logger type leaves out isLevelEnabled, which imapflow reads (ImapFlow#getLogger). */
export type QuietImapLogger = ImapLogger & { isLevelEnabled(level: string): boolean };

/**
 * imapflow logs through this adapter: only its warnings and errors, reduced to message and error
 * code, at debug level (our own code writes the one line per failure). Nothing it logs can carry
 * message content: no payloads, no raw data.
 */
export function quietImapLogger(log: Logger, failures?: CommandFailures): QuietImapLogger {
  const forward = (entry: unknown): void => {
    failures?.record(entry);
    if (!log.isLevelEnabled('debug')) return;
    const e = (entry ?? {}) as { msg?: unknown; err?: { message?: unknown; code?: unknown } };
    log.debug(
      {
        imapflow: typeof e.msg === 'string' ? e.msg.slice(0, 200) : undefined,
        error: typeof e.err?.message === 'string' ? e.err.message.split('\n')[0]!.slice(0, 200) : undefined,
        code: typeof e.err?.code === 'string' ? e.err.code : undefined,
      },
      'imapflow',
    );
  };
  const ignore = (): void => undefined;
  return {
    trace: ignore,
    debug: ignore,
    info: ignore,
    warn: forward,
    error: forward,
    fatal: forward,
    // imapflow asks this before it serialises a command or a response for its log — every FETCH
    // response, the message's bytes with it. Without it imapflow takes a logger that has a method
    // for a level as wanting that level, and built those strings for each message only to hand
    // them to `ignore` (4.7 % of the main thread's samples on a backlog of plain mail, before).
    isLevelEnabled: (level) => FORWARDED_LEVELS.has(level) && log.isLevelEnabled('debug'),
  };
}

/**
 * The server's answers to failed commands on one connection. imapflow's messageMove(),
 * messageCopy() and messageFlagsAdd() turn a tagged NO or BAD into `false` and keep the reason to
 * themselves: the error (responseStatus, serverResponseCode, responseText, executedCommand) goes
 * only to the connection's logger, just before the call returns (imapflow's reportCommandError in
 * tools.js; its 'response' event carries the status and code, not the text). quietImapLogger hands
 * every entry it gets to record(); whoever got `false` asks take() right after.
 */
export class CommandFailures {
  /** Per command name ("UID MOVE"): the server's answer and when it came (a counter). */
  readonly #last = new Map<string, { answer: string; seq: number }>();
  #seq = 0;

  /** An entry imapflow logged at warn or above; one with a NO or BAD answer is kept. */
  record(entry: unknown): void {
    const err = (entry as { err?: unknown } | null)?.err as
      | { responseStatus?: unknown; serverResponseCode?: unknown; responseText?: unknown; executedCommand?: unknown }
      | undefined;
    if (err === undefined || err === null || (err.responseStatus !== 'NO' && err.responseStatus !== 'BAD')) return;
    // "9 UID MOVE 1:3 casegate/Processed" → "UID MOVE" (the tag first, then the command).
    const m = typeof err.executedCommand === 'string' ? /^\S+ ((?:UID )?[A-Z]+)/i.exec(err.executedCommand) : null;
    if (m === null) return;
    const code = typeof err.serverResponseCode === 'string' && err.serverResponseCode !== '' ? ` [${err.serverResponseCode}]` : '';
    const text = typeof err.responseText === 'string' && err.responseText !== '' ? ` ${err.responseText}` : '';
    // The server's own words (Dovecot adds a timestamp that finds its log line); control characters out.
    const answer = `${err.responseStatus}${code}${text}`.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 300);
    this.#last.set(m[1]!.toUpperCase(), { answer, seq: ++this.#seq });
  }

  /** The latest answer to any of these commands since the last take() of them, or null; forgets them. */
  take(commands: readonly string[]): string | null {
    let latest: { answer: string; seq: number } | undefined;
    for (const c of commands) {
      const f = this.#last.get(c);
      this.#last.delete(c);
      if (f !== undefined && (latest === undefined || f.seq > latest.seq)) latest = f;
    }
    return latest?.answer ?? null;
  }
}

/** The imapflow levels quietImapLogger passes on (at our debug level). */
const FORWARDED_LEVELS: ReadonlySet<string> = new Set(['warn', 'error', 'fatal']);

/** The idle delay that lets imapflow start IDLE right after our last command (DESIGN §7). */
export const AUTO_IDLE_DELAY_MS = 100;

/** imapflow options for one connection attempt (credentials resolved now); `failures` records the server's NO/BAD answers. */
export async function clientOptions(cfg: ImapConfig, log: Logger, id: string, failures?: CommandFailures, stop?: AbortSignal): Promise<ImapFlowOptions> {
  const tls: ConnectionOptions = {};
  if (cfg.caFile !== undefined) tls.ca = await readFile(cfg.caFile);
  if (cfg.insecureSkipVerify) tls.rejectUnauthorized = false;
  const auth =
    cfg.auth.method === 'password'
      ? { user: cfg.auth.user, pass: cfg.auth.password }
      : { user: cfg.auth.user, accessToken: await accessToken(cfg.auth, process.env, stop) };
  return {
    host: cfg.host,
    port: cfg.port,
    secure: cfg.tls === 'implicit',
    // starttls: the upgrade is required (never send credentials in clear); none: never upgrade.
    doSTARTTLS: cfg.tls === 'starttls' ? true : cfg.tls === 'none' ? false : undefined,
    tls,
    auth,
    id,
    clientInfo: { name: 'casegate' },
    logger: quietImapLogger(log, failures),
    autoIdleDelay: AUTO_IDLE_DELAY_MS,
    // Restart IDLE now and then (servers and NATs drop sessions that stay silent too long).
    maxIdleTime: 5 * 60_000,
    connectionTimeout: 30_000,
    greetingTimeout: Math.min(16_000, cfg.stallTimeoutSeconds * 1000),
    // A stalled server (TCP open, nothing answers: a hung process, a NAT that forgot the session).
    // After socketTimeout without a byte imapflow asks with a NOOP (breaking IDLE when idling; a
    // command in flight that got no answer fails at once), and when the next socketTimeout passes
    // without an answer it fails the connection with ETIMEOUT: dead within stallTimeoutSeconds.
    socketTimeout: stallSocketTimeoutMs(cfg),
  };
}

/** imapflow's socket inactivity timeout for a mailbox: half its stallTimeoutSeconds (a NOOP probe, then the verdict). */
export function stallSocketTimeoutMs(cfg: Pick<ImapConfig, 'stallTimeoutSeconds'>): number {
  return Math.round((cfg.stallTimeoutSeconds * 1000) / 2);
}

/** One line describing an IMAP/network error: code, message, the server's text. Never message content. */
export function describeImapError(err: unknown): string {
  const e = (err ?? {}) as {
    code?: unknown;
    message?: unknown;
    responseText?: unknown;
    serverResponseCode?: unknown;
    reason?: unknown;
  };
  const parts: string[] = [];
  if (typeof e.code === 'string') parts.push(e.code);
  if (typeof e.serverResponseCode === 'string' && e.serverResponseCode !== e.code) parts.push(e.serverResponseCode);
  let text = typeof e.message === 'string' ? e.message : String(err);
  if (typeof e.responseText === 'string' && e.responseText !== '' && !text.includes(e.responseText)) text += `: ${e.responseText}`;
  if (typeof e.reason === 'string' && e.reason !== '' && !text.includes(e.reason)) text += ` (${e.reason})`;
  const head = parts.length > 0 ? `${parts.join(' ')}: ` : '';
  return (head + text.split('\n')[0]!).slice(0, 300);
}

/**
 * RFC 5530 codes of a login refused for a reason of the server's own, not our credentials:
 * `NO [UNAVAILABLE] Temporary authentication failure` (Dovecot whose password database or OAuth
 * introspection endpoint is down; Gmail's "Temporary System Error"), a server bug, a lock, a limit.
 * imapflow marks every refused LOGIN/AUTHENTICATE `authenticationFailed`.
 */
const SERVER_SIDE_LOGIN_CODES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'SERVERBUG', 'INUSE', 'LIMIT']);

/** The server refused the login for a reason of its own (SERVER_SIDE_LOGIN_CODES): a temporary failure, not our credentials. */
export function isServerSideLoginFailure(err: unknown): boolean {
  const e = (err ?? {}) as { authenticationFailed?: unknown; serverResponseCode?: unknown };
  return e.authenticationFailed === true && typeof e.serverResponseCode === 'string' && SERVER_SIDE_LOGIN_CODES.has(e.serverResponseCode.toUpperCase());
}

/** Whether the server rejected our credentials (or we had none to offer). */
export function isAuthFailure(err: unknown): boolean {
  const e = (err ?? {}) as { authenticationFailed?: unknown; serverResponseCode?: unknown };
  if (isServerSideLoginFailure(err)) return false;
  return e.authenticationFailed === true || e.serverResponseCode === 'AUTHENTICATIONFAILED' || e.serverResponseCode === 'AUTHORIZATIONFAILED';
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ETIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'NoConnection', 'ClosedAfterConnectTLS', 'ClosedAfterConnectText']);

/** Whether the failure says the server could not be reached or went away (rather than refused us). */
export function isUnreachable(err: unknown): boolean {
  const e = (err ?? {}) as { code?: unknown; name?: unknown };
  if (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code)) return true;
  return e.name === 'ConnectionLost';
}

/**
 * Whether host:port accepts a TCP connection within timeoutMs (closed again at once; nothing sent).
 * With `greeting`, the server must also send its first bytes (the IMAP greeting) within that time.
 */
export function acceptsConnections(host: string, port: number, timeoutMs: number, greeting = false): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      done(ok);
    };
    if (greeting) socket.once('data', () => finish(true));
    else socket.once('connect', () => finish(true));
    socket.once('close', () => finish(false));
    socket.once('error', () => finish(false));
  });
}
