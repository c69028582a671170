import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A minimal private Postfix (Debian's package) for tests that need mail handled by a real MTA —
 * here: a real delivery status notification. Its own config directory, queue and data directory in
 * a temp dir, listening on a random loopback port, no local delivery, no DNS: every domain goes
 * where `routes` says (smtp:[127.0.0.1]:port). Postfix's master must start as root (it drops to the
 * postfix user); tests that need it fail under CI=true when that is not possible, never skip.
 *
 * (Issue 14 wrote this minimal harness; the issue-13 helper writes a fuller one,
 * test/helpers/postfix-server.ts — the two are meant to be merged.)
 */

export const POSTFIX = '/usr/sbin/postfix';

export interface PrivatePostfix {
  /** The SMTP port casegate relays through. */
  readonly port: number;
  readonly dir: string;
  /** Postfix's log so far (maillog_file). */
  log(): string;
  stop(): Promise<void>;
}

/** Whether a private Postfix can run here (the binary, and root to start its master). */
export function canRunPostfix(): boolean {
  const ok = existsSync(POSTFIX) && typeof process.getuid === 'function' && process.getuid() === 0 && spawnSync('id', ['postfix']).status === 0;
  if (!ok && process.env['CI'] === 'true') throw new Error('a private Postfix needs /usr/sbin/postfix (apt-get install postfix), a postfix user and root');
  return ok;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host: '127.0.0.1', port }, () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

const MASTER_CF = (port: number): string =>
  [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'pickup    unix  n - n 60 1 pickup',
    'cleanup   unix  n - n -  0 cleanup',
    'qmgr      unix  n - n 300 1 qmgr',
    'rewrite   unix  - - n -  - trivial-rewrite',
    'bounce    unix  - - n -  0 bounce',
    'defer     unix  - - n -  0 bounce',
    'trace     unix  - - n -  0 bounce',
    'verify    unix  - - n -  1 verify',
    'flush     unix  n - n 1000? 0 flush',
    'proxymap  unix  - - n -  - proxymap',
    'smtp      unix  - - n -  - smtp',
    'showq     unix  n - n -  - showq',
    'error     unix  - - n -  - error',
    'retry     unix  - - n -  - error',
    'discard   unix  - - n -  - discard',
    'anvil     unix  - - n -  1 anvil',
    'scache    unix  - - n -  1 scache',
    'postlog   unix-dgram n - n - 1 postlogd',
    '',
  ].join('\n');

/** Start a private Postfix that relays each domain of `routes` to 127.0.0.1:<port>. */
export async function startPrivatePostfix(opts: { routes: Readonly<Record<string, number>>; hostname?: string }): Promise<PrivatePostfix> {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-postfix-'));
  const etc = join(dir, 'etc');
  const data = join(dir, 'data');
  for (const d of [etc, join(dir, 'spool'), data]) mkdirSync(d, { recursive: true });
  // Postfix's daemons run as the postfix user: they must reach the queue under the temp dir.
  chmodSync(dir, 0o755);
  // Postfix refuses a data directory it does not own.
  const uid = Number(spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).stdout.trim());
  chownSync(data, uid, -1);
  const port = await freePort();
  const transport = Object.entries(opts.routes)
    .map(([domain, p]) => `${domain}=smtp:[127.0.0.1]:${p}`)
    .join(', ');
  const host = opts.hostname ?? 'mx.relay.example';
  writeFileSync(join(etc, 'master.cf'), MASTER_CF(port));
  writeFileSync(
    join(etc, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${join(dir, 'spool')}`,
      `data_directory = ${data}`,
      'mail_owner = postfix',
      'setgid_group = postdrop',
      `myhostname = ${host}`,
      `mydomain = ${host.replace(/^[^.]+\./, '')}`,
      `myorigin = ${host.replace(/^[^.]+\./, '')}`,
      'mydestination =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'mynetworks = 127.0.0.0/8',
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      `transport_maps = inline:{ ${transport} }`,
      'smtp_dns_support_level = disabled',
      'smtp_tls_security_level = none',
      'smtpd_tls_security_level = none',
      `maillog_file_prefixes = ${dir}`,
      `maillog_file = ${join(dir, 'maillog')}`,
      'alias_maps =',
      'alias_database =',
      'local_recipient_maps =',
      'biff = no',
      'delay_warning_time = 0',
      // Deliver and bounce at once: nothing waits for a queue run.
      'queue_run_delay = 1s',
      'minimal_backoff_time = 1s',
      'maximal_backoff_time = 2s',
      '',
    ].join('\n'),
  );
  const start = spawnSync(POSTFIX, ['-c', etc, 'start'], { encoding: 'utf8' });
  start.stdout ??= '';
  const log = (): string => (existsSync(join(dir, 'maillog')) ? readFileSync(join(dir, 'maillog'), 'utf8') : '');
  const end = Date.now() + 30_000;
  while (!(await listening(port))) {
    if (Date.now() > end) {
      spawnSync(POSTFIX, ['-c', etc, 'abort']);
      // Why: `postfix check` with its log on stdout.
      spawnSync('postconf', ['-c', etc, '-e', 'maillog_file=/dev/stdout']);
      const check = spawnSync(POSTFIX, ['-c', etc, 'check'], { encoding: 'utf8' });
      start.stdout += check.stdout + check.stderr;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`private Postfix did not start (exit ${start.status}): ${start.stdout}${start.stderr}\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port,
    dir,
    log,
    async stop() {
      spawnSync(POSTFIX, ['-c', etc, 'stop'], { encoding: 'utf8' });
      const pidFile = join(dir, 'spool', 'pid', 'master.pid');
      const until = Date.now() + 15_000;
      while (existsSync(pidFile) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
