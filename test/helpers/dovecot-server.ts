/**
 * A private Dovecot IMAP server for tests.
 *
 * Every `startDovecot()` call writes a complete, standalone dovecot.conf into a fresh temp dir
 * and runs `dovecot -F -c <that conf>` as a child process. Nothing of the system installation is
 * used except the binaries: no /etc/dovecot includes, own base_dir (sockets, pid file), own
 * state_dir, own log file, own Maildir tree, own random port on 127.0.0.1. A system Dovecot
 * service started by the Debian package (ports 143/993, /run/dovecot) is neither needed nor in
 * the way.
 *
 * Written for Dovecot 2.3 (Debian 12 ships 2.3.19). The server speaks plain IMAP only:
 * `ssl = no`, so no STARTTLS is offered and imapflow stays in cleartext.
 *
 * Missing binary: under CI (`CI=true`) tests must fail, never skip. Use `describeWithDovecot()`
 * or `requireDovecotOrSkip()`; outside CI they skip with a message saying why.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { aclFile, HOST, passwdLine, renderConf, resolveIdentity, validateUser, type Identity } from './dovecot-conf.js';

export interface DovecotUser {
  user: string;
  password: string;
}

export interface StartDovecotOptions {
  users: DovecotUser[];
  /** How long start/restart may take before failing. Default 15 s. */
  startTimeoutMs?: number;
  /** Turn on Dovecot's auth_debug/mail_debug (goes to the log file). Also via DOVECOT_DEBUG=1. */
  debug?: boolean;
  /**
   * Also accept XOAUTH2 / OAUTHBEARER logins: Dovecot's oauth2 passdb POSTs each token to this
   * RFC 7662 introspection URL and lets the user in when the answer is {"active": true,
   * "username": "<user>"} — the way Microsoft 365 and Google Workspace tokens are checked.
   * Password logins keep working (passwd-file). `mechanisms`: what the server offers (default
   * XOAUTH2 only, like Microsoft 365; Gmail also offers OAUTHBEARER).
   */
  oauth2?: { introspectionUrl: string; mechanisms?: readonly ('xoauth2' | 'oauthbearer')[] };
  /**
   * These users may set \\Seen and \\Deleted but no keywords (an ACL without the `w` right):
   * PERMANENTFLAGS (\\Seen \\Deleted), like Exchange Online, which offers no keywords at all.
   */
  noKeywordUsers?: readonly string[];
}

export interface AppendOptions {
  flags?: string[];
  date?: Date;
}

export interface DovecotServer {
  readonly host: string;
  /** Fixed for the life of the server, also across restart()/down()/up(). */
  readonly port: number;
  /** Current users (a copy; setPassword() updates it). */
  readonly users: DovecotUser[];
  /** The temp dir holding config, passwd file, Maildirs, sockets and the log. */
  readonly dir: string;
  readonly logPath: string;
  /** Output of `dovecot --version`, e.g. "2.3.19.1 (9b53102964)". */
  readonly version: string;
  /** True while the dovecot process is running. */
  readonly running: boolean;

  /** Stops the server for good and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops the process but keeps port, users and mail, e.g. to test an outage. Idempotent. */
  down(): Promise<void>;
  /** Starts again after down(), same port, same mail. No-op if running. */
  up(): Promise<void>;
  /** down() then up(): same port, same mail; existing client connections are dropped. */
  restart(): Promise<void>;

  /** Appends a raw RFC 822 message via imapflow; creates the folder if missing. Returns the UID. */
  append(user: string, raw: string | Buffer, folder?: string, opts?: AppendOptions): Promise<number | undefined>;
  /** UIDs of all messages in the folder, ascending. */
  listUids(user: string, folder?: string): Promise<number[]>;
  /**
   * Changes a user's password, or adds the user. Effective for the next login once it resolves
   * (takes up to a second: Dovecot re-reads the passwd file at most once per second).
   */
  setPassword(user: string, password: string): Promise<void>;

  /** imapflow options for this server and user (cleartext, no STARTTLS, logging off). */
  imapOptions(user: string): ImapFlowOptions;
  /** A connected imapflow client for the user; the caller must logout(). */
  connect(user: string): Promise<ImapFlow>;
  /** The Dovecot log so far. */
  readLog(): Promise<string>;
  /** End every IMAP session of a user from the server side (`doveadm kick`), as a provider does when a token expires. */
  kick(user: string): Promise<void>;
  /**
   * SIGSTOP every process of this Dovecot (master, login and session processes): connections stay
   * open and new ones are accepted by the kernel, but nothing answers — a hung server. resume()
   * (SIGCONT) lets it go on; stop()/down() resume it first.
   */
  pause(): void;
  resume(): void;
}

const STOP_TIMEOUT_MS = 5_000;
const EXTRA_SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const INSTALL_HINT =
  'Install it with `apt-get install dovecot-imapd` (Debian/Ubuntu) or point DOVECOT_BIN at the binary.';

// ---------------------------------------------------------------------------------------------
// Availability and the CI rule
// ---------------------------------------------------------------------------------------------

let cachedBinary: string | null | undefined;

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Path of the dovecot binary (DOVECOT_BIN, else PATH plus the sbin dirs), or null. */
export function dovecotBinary(): string | null {
  if (cachedBinary !== undefined) return cachedBinary;
  const override = process.env.DOVECOT_BIN;
  if (override !== undefined && override !== '') {
    cachedBinary = isExecutable(override) ? override : null;
    return cachedBinary;
  }
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_SBIN_DIRS];
  cachedBinary = null;
  for (const dir of dirs) {
    const candidate = path.join(dir, 'dovecot');
    if (isExecutable(candidate)) {
      cachedBinary = candidate;
      break;
    }
  }
  return cachedBinary;
}

/** True when a dovecot binary was found. */
export function dovecotAvailable(): boolean {
  return dovecotBinary() !== null;
}

let cachedVersion: string | undefined;

/** `dovecot --version` output, e.g. "2.3.19.1 (9b53102964)", or null when not installed. */
export function dovecotVersion(): string | null {
  const bin = dovecotBinary();
  if (bin === null) return null;
  cachedVersion ??= execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  return cachedVersion;
}

/** True when running under CI (CI set to anything but "", "0" or "false"). */
export function isCI(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

export function missingMessage(): string {
  const where = process.env.DOVECOT_BIN
    ? `DOVECOT_BIN=${process.env.DOVECOT_BIN} is not executable`
    : `no "dovecot" in PATH or ${EXTRA_SBIN_DIRS.join(', ')}`;
  return `Dovecot IMAP server not found (${where}). ${INSTALL_HINT}`;
}



// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A port that was free a moment ago: listen on port 0, note the port, close. */
export async function findFreePort(host = HOST): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function imapQuote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

type ProbeResult = 'ok' | 'refused' | 'not-ready' | 'auth-failed' | 'mailbox-failed';

/**
 * Connects and reads the greeting; when a user is given also logs in, opens INBOX read-only
 * (proves the mail storage works, not just auth) and logs out. Raw socket rather than imapflow
 * so readiness checks stay quiet and cheap.
 */
function probe(port: number, user: DovecotUser | undefined, timeoutMs = 2_000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let buffer = '';
    let stage: 'greeting' | 'login' | 'examine' | 'logout' = 'greeting';
    let done = false;
    const finish = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish('not-ready'), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code === 'ECONNREFUSED' ? 'refused' : 'not-ready'));
    // closed right after LOGIN: "Logged in, but initialization failed" (mail storage broken)
    socket.on('close', () => finish(stage === 'examine' ? 'mailbox-failed' : 'not-ready'));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (stage === 'greeting') {
          if (!line.startsWith('* OK')) return finish('not-ready');
          if (!user) return finish('ok');
          stage = 'login';
          socket.write(`p1 LOGIN ${imapQuote(user.user)} ${imapQuote(user.password)}\r\n`);
        } else if (stage === 'login' && line.startsWith('p1 ')) {
          if (!line.startsWith('p1 OK')) return finish('auth-failed');
          stage = 'examine';
          socket.write('p2 EXAMINE INBOX\r\n');
        } else if (stage === 'examine' && line.startsWith('p2 ')) {
          if (!line.startsWith('p2 OK')) return finish('mailbox-failed');
          stage = 'logout';
          socket.write('p3 LOGOUT\r\n');
        } else if (stage === 'logout' && line.startsWith('p3 ')) {
          return finish('ok');
        } else if ((stage === 'login' || stage === 'examine') && line.startsWith('* BYE')) {
          // e.g. "* BYE Internal error occurred" when the mail process cannot start
          return finish('mailbox-failed');
        }
      }
    });
  });
}

/**
 * PIDs of the processes Dovecot started for one instance, found by their process title
 * ("dovecot-<instance_name>/imap", ".../imap-login", ".../auth", ...). The master does not take
 * its children down reliably: imap processes serving a client outlive it, so halting the
 * server signals them directly. Linux /proc only; elsewhere returns [].
 */
function instancePids(instanceName: string, service?: string): number[] {
  const prefix = `dovecot-${instanceName}/${service ?? ''}`;
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.startsWith(prefix)) continue;
      // a service's title is "dovecot-<instance>/<service>", maybe followed by NUL or details
      if (service !== undefined && !/^[\0 ]?$/.test(cmdline.charAt(prefix.length))) continue;
      pids.push(Number(entry));
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return pids;
}

function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

// Servers still running when the test process exits get a SIGTERM (master and children), so an
// afterAll that never ran does not leave a daemon behind.
const liveServers = new Set<{ killSync(): void }>();
let exitHookInstalled = false;
function trackServer(server: { killSync(): void }): void {
  liveServers.add(server);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const s of liveServers) s.killSync();
    });
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

class DovecotInstance implements DovecotServer {
  readonly host = HOST;
  readonly logPath: string;
  private child: ChildProcess | null = null;
  private output = '';
  private userList: DovecotUser[];
  private stopped = false;
  private paused = false;
  private passwdMtime = 0;
  /** Unique per server: Dovecot puts it in every process title ("dovecot-<name>/imap"). */
  readonly instanceName: string;

  constructor(
    readonly dir: string,
    public port: number,
    readonly version: string,
    private readonly bin: string,
    private readonly identity: Identity,
    users: DovecotUser[],
    private readonly debug: boolean,
    private readonly startTimeoutMs: number,
    private readonly oauth2?: { introspectionUrl: string; mechanisms?: readonly ('xoauth2' | 'oauthbearer')[] },
    private readonly noKeywordUsers: readonly string[] = [],
  ) {
    this.logPath = path.join(dir, 'dovecot.log');
    this.instanceName = `casegate-test-${path.basename(dir).replace(/^casegate-dovecot-/, '').replace(/[^A-Za-z0-9]/g, '')}`;
    this.userList = users.map((u) => ({ ...u }));
  }

  get users(): DovecotUser[] {
    return this.userList.map((u) => ({ ...u }));
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get confPath(): string {
    return path.join(this.dir, 'dovecot.conf');
  }

  async writeFiles(): Promise<void> {
    await writeFile(this.confPath, renderConf({ dir: this.dir, instanceName: this.instanceName, port: this.port, identity: this.identity, debug: this.debug, oauth2: this.oauth2, noKeywordUsers: this.noKeywordUsers }));
    if (this.noKeywordUsers.length > 0) await writeFile(path.join(this.dir, 'dovecot-acl'), aclFile(this.noKeywordUsers));
    if (this.oauth2 !== undefined) {
      await writeFile(
        path.join(this.dir, 'dovecot-oauth2.conf.ext'),
        ['introspection_mode = post', `introspection_url = ${this.oauth2.introspectionUrl}`, 'force_introspection = yes', 'username_attribute = username', 'active_attribute = active', 'active_value = true', ''].join('\n'),
      );
    }
    await this.writePasswd();
  }

  private async writePasswd(): Promise<void> {
    const file = path.join(this.dir, 'passwd');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, this.userList.map(passwdLine).join('\n') + '\n', { mode: 0o644 });
    // Dovecot's passwd-file driver reloads when mtime (whole seconds) or size changed; make sure
    // the mtime differs from the previous version even when both writes fall in one second.
    const mtime = Math.max(Math.floor(Date.now() / 1000), this.passwdMtime + 1);
    this.passwdMtime = mtime;
    await utimes(tmp, mtime, mtime);
    await rename(tmp, file);
  }

  async readLog(): Promise<string> {
    try {
      return await readFile(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  private async failure(message: string): Promise<Error> {
    const log = (await this.readLog()).trim().split('\n').slice(-30).join('\n');
    const out = this.output.trim();
    return new Error(
      `[dovecot] ${message}\n  config: ${this.confPath}\n  log: ${this.logPath}` +
        (out ? `\n--- dovecot stdout/stderr ---\n${out}` : '') +
        (log ? `\n--- last lines of ${this.logPath} ---\n${log}` : ''),
    );
  }

  /** Starts the process and waits until the port answers and a login works. */
  async launch(): Promise<'ok' | 'port-in-use'> {
    if (this.stopped) throw new Error('[dovecot] server was stopped for good; start a new one');
    if (this.running) return 'ok';
    this.output = '';
    const logBefore = (await this.readLog()).length;
    const child = spawn(this.bin, ['-F', '-c', this.confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    trackServer(this);
    const collect = (chunk: Buffer) => {
      if (this.output.length < 20_000) this.output += chunk.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let spawnError: Error | null = null;
    child.once('error', (err) => {
      spawnError = err;
    });

    const deadline = Date.now() + this.startTimeoutMs;
    const firstUser = this.userList[0];
    let last: ProbeResult = 'refused';
    while (Date.now() < deadline) {
      if (spawnError) throw await this.failure(`could not run ${this.bin}: ${String(spawnError)}`);
      if (!this.running) {
        const newLog = (await this.readLog()).slice(logBefore);
        if (/Address already in use/i.test(newLog + this.output)) {
          await this.halt();
          return 'port-in-use';
        }
        throw await this.failure(`dovecot exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
      }
      last = await probe(this.port, firstUser);
      if (last === 'ok') return 'ok';
      if (last === 'auth-failed' || last === 'mailbox-failed') {
        await this.halt();
        const what = last === 'auth-failed' ? 'LOGIN' : 'opening INBOX';
        throw await this.failure(`dovecot is up but ${what} as ${firstUser?.user} failed`);
      }
      await sleep(last === 'refused' ? 25 : 100);
    }
    await this.halt();
    throw await this.failure(`dovecot did not become ready on ${HOST}:${this.port} within ${this.startTimeoutMs} ms (last probe: ${last})`);
  }

  /** Starts on the current port, waiting for it to be released if a previous run still holds it. */
  async launchSamePort(): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if ((await this.launch()) === 'ok') return;
      if (Date.now() > deadline) throw await this.failure(`port ${this.port} stayed in use`);
      await sleep(100);
    }
  }

  /**
   * graceful: SIGTERM to the imap session processes (so client connections drop at once) and to
   * the master, which then stops the rest (takes Dovecot about a second); SIGKILL after a timeout.
   * kill: SIGKILL to everything at once.
   * Either way leftovers are killed and it waits until the port stops answering.
   */
  private async halt(mode: 'graceful' | 'kill' = 'graceful'): Promise<void> {
    this.resume();
    const child = this.child;
    if (!child) return;
    const wasRunning = this.running;
    if (wasRunning && mode === 'kill') {
      child.kill('SIGKILL');
      signalPids(instancePids(this.instanceName), 'SIGKILL');
      await waitForExit(child, STOP_TIMEOUT_MS);
    } else if (wasRunning) {
      signalPids(instancePids(this.instanceName, 'imap'), 'SIGTERM');
      child.kill('SIGTERM');
      if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
        child.kill('SIGKILL');
        await waitForExit(child, STOP_TIMEOUT_MS);
      }
    }
    this.child = null;
    liveServers.delete(this);
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    for (;;) {
      const leftovers = instancePids(this.instanceName);
      if (leftovers.length === 0 || Date.now() > deadline) break;
      signalPids(leftovers, 'SIGKILL');
      await sleep(20);
    }
    while (wasRunning && Date.now() < deadline && (await probe(this.port, undefined, 500)) !== 'refused') {
      await sleep(25);
    }
  }

  /** Synchronous best-effort kill, for process exit. */
  killSync(): void {
    this.resume();
    if (this.running) this.child?.kill('SIGTERM');
    signalPids(instancePids(this.instanceName), 'SIGTERM');
  }

  pause(): void {
    signalPids(instancePids(this.instanceName), 'SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    signalPids(instancePids(this.instanceName), 'SIGCONT');
    this.paused = false;
  }

  async down(): Promise<void> {
    await this.halt();
  }

  async up(): Promise<void> {
    if (this.running) return;
    await this.launchSamePort();
  }

  async restart(): Promise<void> {
    await this.halt();
    await this.launchSamePort();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    // The mail is about to be deleted, so there is nothing to shut down gracefully.
    await this.halt('kill');
    this.stopped = true;
    if (process.env.DOVECOT_KEEP_DIR !== '1') {
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  private password(user: string): string {
    const found = this.userList.find((u) => u.user === user);
    if (!found) throw new Error(`[dovecot] unknown user ${user}; known: ${this.userList.map((u) => u.user).join(', ')}`);
    return found.password;
  }

  async kick(user: string): Promise<void> {
    const doveadm = path.join(path.dirname(this.bin), 'doveadm');
    const bin = isExecutable(doveadm) ? doveadm : '/usr/bin/doveadm';
    execFileSync(bin, ['-c', this.confPath, 'kick', user], { stdio: 'pipe' });
  }

  async setPassword(user: string, password: string): Promise<void> {
    const entry = { user, password };
    validateUser(entry);
    const existing = this.userList.find((u) => u.user === user);
    if (existing) existing.password = password;
    else this.userList.push(entry);
    await this.writePasswd();
    if (this.running) {
      // Dovecot stats the passwd file at most once per second (per ioloop second): wait for the
      // next second so that the very next login already sees the change.
      const nextSecond = (Math.floor(Date.now() / 1000) + 1) * 1000;
      await sleep(nextSecond - Date.now() + 20);
    }
  }

  imapOptions(user: string): ImapFlowOptions {
    return {
      host: this.host,
      port: this.port,
      secure: false,
      doSTARTTLS: false,
      auth: { user, pass: this.password(user) },
      logger: false,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
    };
  }

  async connect(user: string): Promise<ImapFlow> {
    const client = new ImapFlow({ ...this.imapOptions(user), disableAutoIdle: true });
    // An 'error' event without a listener would crash the test process.
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  private async withClient<T>(user: string, fn: (client: ImapFlow) => Promise<T>): Promise<T> {
    const client = await this.connect(user);
    try {
      return await fn(client);
    } finally {
      await client.logout().catch(() => client.close());
    }
  }

  async append(user: string, raw: string | Buffer, folder = 'INBOX', opts: AppendOptions = {}): Promise<number | undefined> {
    return this.withClient(user, async (client) => {
      if (folder.toUpperCase() !== 'INBOX') {
        const exists = (await client.list()).some((box) => box.path === folder);
        if (!exists) await client.mailboxCreate(folder);
      }
      const result = await client.append(folder, raw, opts.flags, opts.date);
      if (!result) throw new Error(`[dovecot] APPEND to ${user}/${folder} failed`);
      return result.uid;
    });
  }

  async listUids(user: string, folder = 'INBOX'): Promise<number[]> {
    return this.withClient(user, async (client) => {
      const lock = await client.getMailboxLock(folder, { readOnly: true });
      try {
        const uids = await client.search({ all: true }, { uid: true });
        return (uids || []).slice().sort((a, b) => a - b);
      } finally {
        lock.release();
      }
    });
  }
}

/**
 * Starts a private Dovecot on 127.0.0.1 and a free port, with the given users (passwd-file,
 * plain passwords) and empty Maildirs. Resolves once a login works. Call stop() when done.
 */
export async function startDovecot(opts: StartDovecotOptions): Promise<DovecotServer> {
  const bin = dovecotBinary();
  if (bin === null) throw new Error(missingMessage());
  const version = dovecotVersion() ?? 'unknown';
  opts.users.forEach(validateUser);
  const names = opts.users.map((u) => u.user);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new Error(`[dovecot] user ${duplicate} is listed twice`);

  const identity = resolveIdentity();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'casegate-dovecot-'));
  // The login and mail processes run unprivileged and must traverse the dir.
  await chmod(dir, 0o755);
  await mkdir(path.join(dir, 'state'), { recursive: true });
  const mailDir = path.join(dir, 'mail');
  await mkdir(mailDir, { recursive: true });
  if (process.getuid?.() === 0) await chown(mailDir, identity.mailUid, identity.mailGid);

  const debug = opts.debug ?? process.env.DOVECOT_DEBUG === '1';
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const server = new DovecotInstance(dir, 0, version, bin, identity, opts.users, debug, startTimeoutMs, opts.oauth2, opts.noKeywordUsers);
  try {
    // The free port can be taken between probing and Dovecot binding it: retry with a new one.
    for (let attempt = 1; ; attempt++) {
      server.port = await findFreePort();
      await server.writeFiles();
      if ((await server.launch()) === 'ok') return server;
      if (attempt >= 5) throw new Error(`[dovecot] could not bind a free port after ${attempt} attempts (log: ${server.logPath})`);
    }
  } catch (err) {
    // Keep the dir for inspection: the error message points at its config and log.
    await server.down().catch(() => undefined);
    throw err;
  }
}
