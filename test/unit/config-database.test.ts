import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { databaseTarget, describeTarget } from '../../src/db/database.js';

/** database.* (issue 15): which backend a configuration chooses, and what is refused. */

const SECRET = 'test-secret-0123456789abcdef-0123456789';

function load(database: Record<string, unknown>, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-dbcfg-'));
  try {
    const file = join(dir, 'casegate.yaml');
    writeFileSync(file, stringify({ dataDir: 'data', instance: { secret: SECRET }, database }));
    return loadConfig({ path: file, env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function problems(database: Record<string, unknown>): string[] {
  try {
    load(database);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('database configuration', () => {
  it.each([
    [{}, 'sqlite'],
    [{ path: 'x.db' }, 'sqlite'],
    [{ url: 'postgres://casegate@db/casegate' }, 'postgres'],
    [{ driver: 'postgres', url: 'postgresql://casegate@db:5433/casegate?sslmode=require', schema: 'support_eu' }, 'postgres'],
    [{ url: 'postgres://casegate:a,b@db/casegate?application_name=x,y' }, 'postgres'],
  ])('%j → %s', (database, driver) => {
    expect(load(database).config.database.driver).toBe(driver);
  });

  it.each([
    [{ driver: 'postgres' }, /database\.url: database\.driver postgres needs database\.url/],
    [{ url: 'mysql://db/x' }, /database\.url: must be a postgres:\/\/ or postgresql:\/\/ URL/],
    [{ url: 'postgres://db/x', path: 'x.db' }, /database\.path: database\.path is the SQLite file/],
    [{ driver: 'sqlite', url: 'postgres://db/x' }, /database\.url: database\.url is for PostgreSQL/],
    [{ url: 'postgres://db/x', schema: 'drop table; --' }, /database\.schema: must be a plain identifier/],
    [{ url: 'postgres://db/x', leaseSeconds: 1 }, /database\.leaseSeconds/],
    // libpq's failover form: node-postgres cannot read it ("TypeError: Invalid URL" and a stack at start).
    [{ url: 'postgres://casegate:pw@db1:5432,db2:5432/casegate?target_session_attrs=read-write' }, /database\.url: lists several hosts \(db1:5432,db2:5432\).*one name that always leads to the primary/],
  ])('%j is refused', (database, message) => {
    expect(problems(database).join('\n')).toMatch(message);
  });

  it('takes the password from the environment and never shows it', () => {
    const r = load({ url: 'postgres://casegate:urlpw@db/casegate', password: '${CASEGATE_DB_PASSWORD}' }, { CASEGATE_DB_PASSWORD: 's3cret' });
    const t = databaseTarget(r.config, r.paths);
    expect(t).toMatchObject({ kind: 'postgres', url: 'postgres://casegate:urlpw@db/casegate', password: 's3cret', schema: 'public', poolSize: 10, lockTimeoutMs: 5000 });
    expect(describeTarget(t)).toBe('postgres://casegate:***@db/casegate (schema public)');
    expect(problems({ url: 'postgres://db/x', password: '${UNSET_VAR_FOR_TEST}' })).toEqual(['database.password: environment variable UNSET_VAR_FOR_TEST is not set']);
  });

  it('hides a password given as a URL parameter too (?password=, ?sslpassword=)', () => {
    const r = load({ url: 'postgres://casegate:urlpw@db/casegate?password=qspw&sslmode=require&sslpassword=keypw' });
    const shown = describeTarget(databaseTarget(r.config, r.paths));
    expect(shown).not.toMatch(/urlpw|qspw|keypw/);
    expect(shown).toBe('postgres://casegate:***@db/casegate?password=***&sslmode=require&sslpassword=*** (schema public)');
  });
});
