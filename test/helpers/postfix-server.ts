/**
 * A private Postfix for tests (Debian's package; only its binaries are used).
 *
 * `startPostfix()` writes a complete main.cf and master.cf into a fresh temp dir and starts the
 * master with `postfix -c <dir>/conf start`: own config_directory, queue_directory and
 * data_directory, its log in <dir>/postfix.log (maillog_file, through postlogd), one smtpd on
 * 127.0.0.1 and a free port, no system service, nothing of /etc/postfix but the read-only
 * postfix-files list. Mail for the configured domains goes through `transport_maps` to the named
 * transports of master.cf (pipe transports such as `casegate ingest`, or smtp to a sink); all
 * other mail fails at once (default_transport error:), so nothing ever leaves the machine.
 *
 * The master needs root (it drops privileges to the `postfix` user; a pipe runs as its `user=`).
 * Missing binary or not root: under CI (`CI=true`) that is a failure; elsewhere the suite skips
 * saying why (describeWithPostfix).
 *
 * Used by the Postfix pipe test (test/e2e/postfix-pipe.test.ts) and, later, to make real DSNs.
 */
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'vitest';
import { findFreePort, isCI } from './dovecot-server.js';
import { tempDir } from './temp-dirs.js';

const run = promisify(execFile);
const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** One master.cf service (a transport): `name unix - n n - <maxproc> <command> <args>`. */
export interface PostfixService {
  readonly name: string;
  /** The daemon (pipe, smtp, lmtp, error, discard …) and its arguments, e.g. `pipe flags=DORX user=nobody argv=…`. */
  readonly command: string;
  /** Process limit ("-" = default). */
  readonly maxproc?: number;
}

export interface StartPostfixOptions {
  /** Domain → transport (e.g. { 'example.com': 'casegate:' }); mail for these domains is relayed there. */
  readonly routes: Readonly<Record<string, string>>;
  /** Extra master.cf services (the transports named in `routes`). */
  readonly services?: readonly PostfixService[];
  /** Extra or replaced main.cf parameters. */
  readonly main?: Readonly<Record<string, string>>;
  readonly startTimeoutMs?: number;
}

export interface QueueEntry {
  readonly queue_name: string;
  readonly queue_id: string;
  readonly sender: string;
  readonly recipients: readonly { readonly address: string; readonly delay_reason?: string }[];
}

export interface PostfixServer {
  readonly dir: string;
  readonly configDir: string;
  readonly host: string;
  readonly port: number;
  readonly logPath: string;
  /** The log so far. */
  log(): string;
  /** Resolves with the first log line matching (now or later); rejects after timeoutMs. */
  waitForLog(match: RegExp, timeoutMs?: number): Promise<string>;
  /** `postqueue -j`: what waits in the queue. */
  queue(): Promise<QueueEntry[]>;
  /** `postqueue -f`: deliver everything queued now (deferred mail included). */
  flush(): Promise<void>;
  /** `postconf -c <dir> -h name`. */
  postconf(name: string): Promise<string>;
  /** `postfix reload`: new smtpd processes read main.cf and their (texthash) tables again. */
  reload(): Promise<void>;
  /** Stop the master (`postfix stop`) and remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

function findBinary(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SBIN]) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return null;
}

/** Why a private Postfix cannot run here, or null when it can. */
export function postfixUnavailable(): string | null {
  if (findBinary('postfix') === null || findBinary('postqueue') === null) return 'Postfix not found (no postfix/postqueue in PATH or /usr/sbin). Install it with `apt-get install postfix` (debconf: "No configuration").';
  if (process.getuid?.() !== 0) return 'a private Postfix master needs root (it drops privileges itself)';
  return null;
}

/** describe() for suites that need Postfix: under CI a missing Postfix fails, elsewhere the suite is skipped with the reason. */
export function describeWithPostfix(name: string, fn: () => void): void {
  const why = postfixUnavailable();
  if (why === null) describe(name, fn);
  else if (isCI()) {
    describe(name, () => {
      it('needs a private Postfix (CI is set: failing instead of skipping)', () => {
        throw new Error(why);
      });
    });
  } else {
    console.warn(`[postfix] skipping: ${why}`);
    describe.skip(`${name} [skipped: ${why}]`, fn);
  }
}

/** The services every instance needs (no chroot anywhere: it buys nothing in a test). */
const BASE_SERVICES = [
  'pickup    unix  n       -       n       60      1       pickup',
  'cleanup   unix  n       -       n       -       0       cleanup',
  'qmgr      unix  n       -       n       300     1       qmgr',
  'rewrite   unix  -       -       n       -       -       trivial-rewrite',
  'bounce    unix  -       -       n       -       0       bounce',
  'defer     unix  -       -       n       -       0       bounce',
  'trace     unix  -       -       n       -       0       bounce',
  'verify    unix  -       -       n       -       1       verify',
  'flush     unix  n       -       n       1000?   0       flush',
  'proxymap  unix  -       -       n       -       -       proxymap',
  'smtp      unix  -       -       n       -       -       smtp',
  'showq     unix  n       -       n       -       -       showq',
  'error     unix  -       -       n       -       -       error',
  'retry     unix  -       -       n       -       -       error',
  'discard   unix  -       -       n       -       -       discard',
  'anvil     unix  -       -       n       -       1       anvil',
  'scache    unix  -       -       n       -       1       scache',
  'postlog   unix-dgram n  -       n       -       1       postlogd',
];

export async function startPostfix(opts: StartPostfixOptions): Promise<PostfixServer> {
  const why = postfixUnavailable();
  if (why !== null) throw new Error(`[postfix] ${why}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'casegate-postfix-'));
  // The postfix user (data_directory) and pipe users must get through it.
  await chmod(dir, 0o755);
  const configDir = path.join(dir, 'conf');
  const logPath = path.join(dir, 'postfix.log');
  await mkdir(configDir);
  await mkdir(path.join(dir, 'queue'));
  await mkdir(path.join(dir, 'data'));
  const owner = readFileSync('/etc/passwd', 'utf8')
    .split('\n').map((l) => l.split(':')).find((f) => f[0] === 'postfix');
  if (owner === undefined) throw new Error('[postfix] no "postfix" user (the Debian package creates it)');
  await chown(path.join(dir, 'data'), Number(owner[2]), Number(owner[3]));
  const port = await findFreePort();
  const routes = Object.entries(opts.routes)
    .map(([d, t]) => `${d}=${t}`)
    .join(' ');
  const main: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: path.join(dir, 'queue'),
    data_directory: path.join(dir, 'data'),
    maillog_file: logPath,
    maillog_file_prefixes: dir,
    syslog_name: `postfix-${path.basename(dir)}`,
    myhostname: 'mx.test.example',
    mydomain: 'test.example',
    myorigin: '$myhostname',
    mydestination: '',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    relay_domains: Object.keys(opts.routes).join(', '),
    transport_maps: `inline:{ ${routes} }`,
    smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
    local_recipient_maps: '',
    relay_recipient_maps: '',
    alias_maps: '',
    alias_database: '',
    default_transport: 'error:this test instance sends no mail elsewhere',
    smtputf8_enable: 'no',
    // Retries only when the test flushes: deferred mail waits.
    queue_run_delay: '1h',
    minimal_backoff_time: '1h',
    maximal_backoff_time: '2h',
    ...opts.main,
  };
  await writeFile(
    path.join(configDir, 'main.cf'),
    Object.entries(main)
      .map(([k, v]) => `${k} = ${v}\n`)
      .join(''),
  );
  const master = [
    '# Generated by test/helpers/postfix-server.ts for one test run.',
    `127.0.0.1:${port} inet n - n - - smtpd`,
    ...BASE_SERVICES,
    ...(opts.services ?? []).map((s) => `${s.name} unix - n n - ${s.maxproc ?? '-'} ${s.command}`),
    '',
  ];
  await writeFile(path.join(configDir, 'master.cf'), master.join('\n'));
  const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:${SBIN.join(':')}` };
  const postfix = findBinary('postfix')!;
  const postqueue = findBinary('postqueue')!;
  const readLog = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  let stopped = false;
  try {
    // `postfix start` runs the checks of `postfix check` (check-fatal, check-warn) itself first.
    await run(postfix, ['-c', configDir, 'start'], { env });
  } catch (err) {
    throw new Error(`[postfix] could not start (config ${configDir}): ${(err as Error).message}\n${readLog().split('\n').slice(-20).join('\n')}`);
  }
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  while (!(await answers(port))) {
    if (Date.now() > deadline) throw new Error(`[postfix] smtpd did not answer on 127.0.0.1:${port}\n${readLog()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const server: PostfixServer = {
    dir,
    configDir,
    host: '127.0.0.1',
    port,
    logPath,
    log: readLog,
    async waitForLog(match, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const line = readLog()
          .split('\n')
          .find((l) => match.test(l));
        if (line !== undefined) return line;
        if (Date.now() > until) throw new Error(`[postfix] no log line matching ${match} within ${timeoutMs} ms:\n${readLog().split('\n').slice(-30).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async queue() {
      const { stdout } = await run(postqueue, ['-c', configDir, '-j'], { env });
      return stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as QueueEntry);
    },
    async flush() {
      await run(postqueue, ['-c', configDir, '-f'], { env });
    },
    async postconf(name) {
      return (await run(findBinary('postconf')!, ['-c', configDir, '-h', name], { env })).stdout.trim();
    },
    async reload() {
      await run(postfix, ['-c', configDir, 'reload'], { env });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      live.delete(server);
      const master = masterPid(dir);
      try {
        execFileSync(postfix, ['-c', configDir, 'stop'], { env, stdio: 'ignore' });
      } catch {
        // not running
      }
      // The master stops its children, then exits; wait for that before the queue goes away. (Its
      // master.pid file stays behind: waiting for the file to go took the whole 5 s every time.)
      const until = Date.now() + 5_000;
      while (Date.now() < until && master !== null && alive(master)) await new Promise((r) => setTimeout(r, 20));
      if (process.env.POSTFIX_KEEP_DIR !== '1') await rm(dir, { recursive: true, force: true });
    },
  };
  live.add(server);
  return server;
}

const live = new Set<PostfixServer>();
process.once('exit', () => {
  for (const s of live) {
    try {
      execFileSync(findBinary('postfix') ?? 'postfix', ['-c', s.configDir, 'stop'], { stdio: 'ignore' });
    } catch {
      // gone
    }
  }
});

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('220'));
    });
    socket.once('error', () => resolve(false));
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The pid in the queue's pid/master.pid, if Postfix wrote one. */
function masterPid(dir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(dir, 'queue', 'pid', 'master.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A relay whose access table refuses some senders or recipients (`table`, Postfix access(5) lines), and where it delivers customer.example. */
export interface AccessRelay {
  readonly postfix: PostfixServer;
  /** The access table's file: rewrite it to change what is refused (texthash: read again at once). */
  readonly access: string;
}

/**
 * A private Postfix relaying customer.example to `customerMxPort`, with `check_sender_access` or
 * `check_recipient_access` on a texthash table holding `table`; fast queue runs, no TLS, no DNS.
 */
export async function startAccessRelay(check: 'sender' | 'recipient', table: string, customerMxPort: number): Promise<AccessRelay> {
  const dir = tempDir('casegate-relay-');
  await chmod(dir, 0o755);
  const access = path.join(dir, `${check}-access`);
  await writeFile(access, table, { mode: 0o644 });
  const restriction: Record<string, string> = check === 'sender' ? { smtpd_sender_restrictions: `check_sender_access texthash:${access}` } : { smtpd_recipient_restrictions: `check_recipient_access texthash:${access}` };
  return { postfix: await startRelayTo(customerMxPort, restriction), access };
}

/**
 * A private Postfix as casegate's relay, delivering customer.example to `customerMxPort`: fast
 * queue runs and retries, no TLS, no DNS; `main` adds or replaces main.cf parameters.
 */
export function startRelayTo(customerMxPort: number, main: Readonly<Record<string, string>> = {}): Promise<PostfixServer> {
  return startPostfix({
    routes: { 'customer.example': `smtp:[127.0.0.1]:${customerMxPort}` },
    main: { smtp_dns_support_level: 'disabled', smtp_tls_security_level: 'none', smtpd_tls_security_level: 'none', queue_run_delay: '1s', minimal_backoff_time: '1s', maximal_backoff_time: '2s', ...main },
  });
}
