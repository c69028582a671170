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

export async function startPgCluster(opts: { maxConnections?: number; sharedBuffers?: string } = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  if (bin === null) throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql (Debian 12: postgresql-15)');
  const dir = mkdtempSync(join(tmpdir(), 'casegate-pg-'));
  if (isRoot()) {
    const { uid, gid } = uidOf('postgres');
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  run(bin, 'initdb', ['-D', data, '-U', PG_USER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
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
  ].join(' ');
  const log = join(dir, 'server.log');
  const start = (): void => run(bin, 'pg_ctl', ['-D', data, '-l', log, '-o', options, '-w', '-t', '60', 'start']);
  const stopServer = (mode: string): void => run(bin, 'pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
  try {
    start();
    const url = `postgres://${PG_USER}@127.0.0.1:${port}/${PG_TEST_DB}`;
    run(bin, 'createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, PG_TEST_DB]);
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
    };
  } catch (err) {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
}
