import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDbTemplate } from './helpers/db-template.js';
import { makePristineDataDir, PG_PRISTINE_ENV, startPgCluster } from './helpers/pg-cluster.js';

/**
 * The suite runs against SQLite (default) or PostgreSQL (CASEGATE_TEST_DB=postgres). For the
 * PostgreSQL pass this starts a private cluster (test/helpers/pg-cluster.ts) unless
 * CASEGATE_TEST_PG_URL names one already, and stops it at the end. Every test environment then
 * gets its own schema in it (test/helpers/test-db.ts), so files run in parallel, isolated. It also
 * names the directory where the runs keep their records of checked template sets.
 */
export default async function setup(): Promise<() => void> {
  const root = runTempRoot();
  // Records of checked template sets, shared by the run's workers (test/helpers/template-check-seed.ts).
  process.env['CASEGATE_TEST_TEMPLATE_CHECKS'] = templateCheckStore();
  const stops: (() => void)[] = [];
  if (root !== null) stops.unshift(() => rmSync(root, { recursive: true, force: true }));
  if (process.env['CASEGATE_TEST_DB'] === 'postgres' && (process.env['CASEGATE_TEST_PG_URL'] ?? '') === '') {
    // One initdb for the run: the private clusters of the cluster tests copy it (test/helpers/pg-cluster.ts).
    const pristine = mkdtempSync(join(root ?? tmpdir(), 'casegate-pg-pristine-'));
    stops.push(() => rmSync(pristine, { recursive: true, force: true }));
    process.env[PG_PRISTINE_ENV] = makePristineDataDir(pristine);
    const cluster = await startPgCluster();
    process.env['CASEGATE_TEST_PG_URL'] = cluster.url;
    console.log(`[casegate tests] PostgreSQL pass: private cluster on 127.0.0.1:${cluster.port} (${cluster.dir})`);
    stops.push(() => {
      // CASEGATE_TEST_CPU_REPORT (test/setup/cpu-report.ts): the server's CPU, which no test process counts.
      const report = process.env['CASEGATE_TEST_CPU_REPORT'];
      const cpu = cluster.cpuSeconds();
      if (report !== undefined && report !== '' && cpu !== null) appendFileSync(report, `(postgresql cluster)\t0.00\t${cpu.toFixed(2)}\t0.00\t0\n`);
      cluster.stop();
    });
  }
  // What test files of the run share (test/helpers/outgoing-samples.ts sharedSampleCorpus).
  const shared = mkdtempSync(join(root ?? tmpdir(), 'casegate-shared-'));
  if (root === null) stops.unshift(() => rmSync(shared, { recursive: true, force: true }));
  process.env['CASEGATE_TEST_SHARED'] = shared;
  // A migrated database every test environment starts from (test/helpers/db-template.ts).
  const templateDir = mkdtempSync(join(root ?? tmpdir(), 'casegate-db-template-'));
  if (root === null) stops.unshift(() => rmSync(templateDir, { recursive: true, force: true }));
  Object.assign(process.env, await makeDbTemplate(templateDir, process.env['CASEGATE_TEST_DB'] === 'postgres' ? process.env['CASEGATE_TEST_PG_URL'] : undefined));
  return () => {
    for (const stop of stops.reverse()) stop();
  };
}

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where the records of checked template sets are kept: data/test-template-checks/KEY, KEY a hash
 * of the built CLI (its chunks' names carry esbuild's content hashes) and of the shipped templates,
 * so both passes of `npm test` (and the next run of an unchanged build) share the records the first
 * one made: each costs a `casegate templates preview` process (a check and trial render of every
 * template). Another build or other templates get a directory of their own; the others are removed.
 */
function templateCheckStore(): string {
  const h = createHash('sha256');
  const bin = join(REPO_ROOT, 'dist', 'bin');
  // Every file's path; the content of the templates and of dist/bin's entries (a chunk's name is
  // esbuild's hash of its content).
  const walk = (dir: string, content: (file: string) => boolean): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, content);
      else {
        h.update(`${relative(REPO_ROOT, p)}\0`);
        if (content(p)) h.update(readFileSync(p));
      }
    }
  };
  walk(bin, (p) => dirname(p) === bin && p.endsWith('.js'));
  walk(join(REPO_ROOT, 'templates'), () => true);
  const parent = join(REPO_ROOT, 'data', 'test-template-checks');
  const key = h.digest('hex').slice(0, 24);
  mkdirSync(join(parent, key), { recursive: true });
  for (const name of readdirSync(parent)) if (name !== key) rmSync(join(parent, name), { recursive: true, force: true });
  return join(parent, key);
}

const RUN_PREFIX = 'casegate-test-';
/** A run's directory this old was left by a run that was killed before its teardown. */
const STALE_MS = 24 * 3600_000;

/** Remove what killed runs left behind (memory, on tmpfs); a run still going is never that old. */
function removeStaleRuns(parent: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(RUN_PREFIX)) continue;
    const path = join(parent, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}

/** Room a memory file system needs for the run's files (the largest test writes a few hundred MB). */
const MIN_FREE_BYTES = 4 * 1024 ** 3;

/**
 * Where the run's temporary files go (TMPDIR for the workers and every process they start: SQLite
 * files, blob stores, Maildirs, Postfix's queue, PostgreSQL's cluster, Chromium's profile). The
 * suite makes and deletes a few hundred thousand small files. On this machine's ext4 /tmp the kernel
 * then searches ever longer for a free inode that was not just deleted (`recently_deleted`,
 * `find_inode_bit` in a whole-suite `perf record`): 15 s of system CPU a SQLite pass. So the run
 * gets a directory of its own on /dev/shm when that is a file system with room (tmpfs on Linux),
 * made like /tmp (mode 1777: Dovecot's mail user, Postfix's `nobody` and PostgreSQL's `postgres`
 * write there too) and removed at the end. CASEGATE_TEST_TMPDIR names another place; `os` keeps
 * the OS's temporary directory. Returns the directory made, or null.
 */
function runTempRoot(): string | null {
  const wanted = process.env['CASEGATE_TEST_TMPDIR'] ?? '/dev/shm';
  if (wanted === 'os') return null;
  try {
    removeStaleRuns(wanted);
    const fs = statfsSync(wanted);
    if (fs.bavail * fs.bsize < MIN_FREE_BYTES) return null;
    const dir = mkdtempSync(join(wanted, RUN_PREFIX));
    chmodSync(dir, 0o1777);
    process.env['TMPDIR'] = dir;
    return dir;
  } catch {
    return null;
  }
}
