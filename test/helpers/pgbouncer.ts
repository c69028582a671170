import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './pg-cluster.js';

/**
 * A private PgBouncer in front of the test cluster (never a system service): its own temp config
 * on a free port, trust authentication, as the `postgres` user when run as root (PgBouncer
 * refuses root). Fails loudly when pgbouncer is not installed (.ci/run installs it).
 */
export interface PgBouncer {
  /** One database alias per entry of `databases`: postgres://user@127.0.0.1:port/<alias>. */
  url(alias: string): string;
  stop(): Promise<void>;
}

export interface PgBouncerDatabase {
  readonly alias: string;
  /** Run by PgBouncer on every new server connection (e.g. `set search_path = "s"`). */
  readonly connectQuery?: string;
}

export async function startPgBouncer(upstreamUrl: string, opts: { poolMode: 'transaction' | 'session'; poolSize: number; databases: readonly PgBouncerDatabase[]; ignoreOptions?: boolean }): Promise<PgBouncer> {
  if (spawnSync('pgbouncer', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run installs it)');
  const u = new URL(upstreamUrl);
  const dir = mkdtempSync(join(tmpdir(), 'casegate-pgbouncer-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const dbname = u.pathname.slice(1);
  const lines = opts.databases.map((d) => `${d.alias} = host=${u.hostname} port=${u.port} dbname=${dbname}${d.connectQuery !== undefined ? ` connect_query='${d.connectQuery.replace(/'/g, "''")}'` : ''}`);
  writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(u.username)}" ""\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      ...lines,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${dir}/users.txt`,
      `pool_mode = ${opts.poolMode}`,
      `default_pool_size = ${opts.poolSize}`,
      // casegate sends search_path and lock_timeout as the startup parameter `options`, which
      // PgBouncer refuses unless told to ignore it (the search path comes from connect_query here).
      `ignore_startup_parameters = extra_float_digits${opts.ignoreOptions === false ? '' : ',options'}`,
      `logfile = ${dir}/pgbouncer.log`,
      `pidfile = ${dir}/pgbouncer.pid`,
      '',
    ].join('\n'),
  );
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const [exe, args] = root ? ['runuser', ['-u', 'postgres', '--', 'pgbouncer', join(dir, 'pgbouncer.ini')]] : ['pgbouncer', [join(dir, 'pgbouncer.ini')]];
  const child: ChildProcess = spawn(exe, args, { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`pgbouncer did not start (see ${dir}/pgbouncer.log)`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: (alias) => `postgres://${u.username}@127.0.0.1:${port}/${alias}`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
