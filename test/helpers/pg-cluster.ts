import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private PostgreSQL cluster for tests and the bench: initdb in a temp directory, a free
 * loopback port, its socket in the same directory, started and stopped with pg_ctl — never the
 * system service. As root (CI) the server runs as the `postgres` user (initdb refuses root).
 * Settings favour speed over durability (fsync off): it lives for one test run.
 */

export interface PgCluster {
  readonly dir: string;
  readonly port: number;
  /** Superuser URL of the `casegate_test` database (trust authentication on 127.0.0.1). */
  readonly url: string;
  stop(): void;
  /** pg_ctl restart: every connection is dropped, the server is back when this returns. */
  restart(): void;
  /** Stop the server (fast shutdown) without removing it; start() brings it back. */
  halt(): void;
  start(): void;
  /**
   * CPU seconds the server has used so far: the postmaster's own, its reaped processes' (every
   * backend that ended) and its live processes' (checkpointer, walwriter, open connections). The
   * server daemonizes, so no test process counts it (test/setup/cpu-report.ts).
   */
  cpuSeconds(): number | null;
}

export const PG_USER = 'casegate';
export const PG_TEST_DB = 'casegate_test';

/** The directory of initdb/pg_ctl: the newest /usr/lib/postgresql/<v>/bin, else whatever PATH has. */
export function pgBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0]!, 'bin');
  }
  const found = spawnSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' });
  const p = found.stdout.trim();
  return found.status === 0 && p !== '' ? p.replace(/\/pg_ctl$/, '') : null;
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function uidOf(user: string): { uid: number; gid: number } {
  const line = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).trim().split(':');
  return { uid: Number(line[2]), gid: Number(line[3]) };
}

function run(bin: string, cmd: string, args: readonly string[]): void {
  const full = join(bin, cmd);
  const [exe, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', full, ...args]] : [full, [...args]];
  const r = spawnSync(exe, argv as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** The environment variable naming the run's initialised data directory (makePristineDataDir). */
export const PG_PRISTINE_ENV = 'CASEGATE_TEST_PG_PRISTINE';

/**
 * An initialised data directory with the empty `casegate_test` database (initdb, then CREATE
 * DATABASE in single-user mode: no server, no port), for startPgCluster to copy: made once per
 * test run. Returns its path (`dir`/data).
 */
export function makePristineDataDir(dir: string): string {
  const bin = pgBinDir();
  if (bin === null) throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql (Debian 12: postgresql-15)');
  if (isRoot()) {
    const { uid, gid } = uidOf('postgres');
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  run(bin, 'initdb', ['-D', data, '-U', PG_USER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  const full = join(bin, 'postgres');
  const args = ['--single', '-D', data, '-c', 'fsync=off', 'template1'];
  const [exe, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', full, ...args]] : [full, args];
  const r = spawnSync(exe, argv, { input: `CREATE DATABASE ${PG_TEST_DB};\n`, encoding: 'utf8' });
  if (r.status !== 0 || /ERROR/.test(r.stdout + r.stderr)) throw new Error(`CREATE DATABASE ${PG_TEST_DB} (single-user mode) failed: ${r.stderr || r.stdout}`);
  return data;
}

export async function startPgCluster(opts: { maxConnections?: number; sharedBuffers?: string } = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  if (bin === null) throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql (Debian 12: postgresql-15)');
  const dir = mkdtempSync(join(tmpdir(), 'casegate-pg-'));
  if (isRoot()) {
    const { uid, gid } = uidOf('postgres');
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  // A copy of the run's initialised data directory (test/global-setup.ts) when there is one: initdb
  // and createdb are ~1.5 s of CPU, and the PostgreSQL pass starts six clusters.
  const pristine = process.env[PG_PRISTINE_ENV];
  const copied = pristine !== undefined && pristine !== '' && existsSync(join(pristine, 'PG_VERSION')) && spawnSync('cp', ['-a', pristine, data]).status === 0;
  if (!copied) {
    rmSync(data, { recursive: true, force: true });
    run(bin, 'initdb', ['-D', data, '-U', PG_USER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  }
  const port = await freePort();
  const options = [
    `-k ${dir}`,
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c max_connections=${opts.maxConnections ?? 400}`,
    `-c shared_buffers=${opts.sharedBuffers ?? '128MB'}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_locks_per_transaction=256',
    // A throw-away cluster: no autovacuum (the tests that need planner statistics ANALYZE
    // themselves, test/unit/query-plans.pg.test.ts), no JIT compilation of the rare costly query.
    '-c autovacuum=off',
    '-c jit=off',
  ].join(' ');
  const log = join(dir, 'server.log');
  const start = (): void => run(bin, 'pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
  const stopServer = (mode: string): void => run(bin, 'pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
  try {
    start();
    const url = `postgres://${PG_USER}@127.0.0.1:${port}/${PG_TEST_DB}`;
    if (!copied) run(bin, 'createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, PG_TEST_DB]);
    let stopped = false;
    return {
      dir,
      port,
      url,
      stop() {
        if (stopped) return;
        stopped = true;
        try {
          stopServer('immediate');
        } catch {
          // already down
        }
        rmSync(dir, { recursive: true, force: true });
      },
      restart() {
        run(bin, 'pg_ctl', ['-D', data, '-l', log, '-o', options, '-m', 'fast', '-w', '-t', '60', 'restart']);
      },
      halt() {
        stopServer('fast');
      },
      start,
      cpuSeconds: () => clusterCpuSeconds(data),
    };
  } catch (err) {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
}

/** utime+stime (and, with children, cutime+cstime) of a process from /proc, in seconds; null when gone. */
function procCpu(pid: number, children: boolean): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = (i: number): number => Number(f[i - 3]) / 100;
    return tick(14) + tick(15) + (children ? tick(16) + tick(17) : 0);
  } catch {
    return null;
  }
}

/** The CPU seconds of a running cluster (its postmaster from postmaster.pid, and the postmaster's live children). */
function clusterCpuSeconds(data: string): number | null {
  try {
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    let total = procCpu(pid, true);
    if (total === null) return null;
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) total += procCpu(Number(name), false) ?? 0;
      } catch {
        // ended meanwhile (then the postmaster's reaped time has it)
      }
    }
    return total;
  } catch {
    return null;
  }
}
