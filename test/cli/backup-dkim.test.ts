import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult } from '../helpers/cli.js';

/**
 * The DKIM keys `casegate dkim keygen` writes into <dataDir>/dkim travel with `casegate backup`:
 * their public halves are in DNS, so after a restore on another host mail must be signed with the
 * same keys (a lost key means unsigned mail failing DMARC until a new record propagates).
 */

const boxes: CliSandbox[] = [];
function sandbox(): CliSandbox {
  const box = CliSandbox.create({ instance: { name: 'Example Support', domain: 'example.com' }, jobs: { enabled: false } });
  boxes.push(box);
  return box;
}

afterEach(() => {
  for (const b of boxes.splice(0)) b.cleanup();
});

interface DnsJson {
  keys: { domain: string; selector: string; record: string }[];
  fromDomains: { domain: string; signedWith: string | null }[];
}

describe('backup and restore keep the DKIM keys', () => {
  it('a key made with dkim keygen is in the backup and signs again after a restore', async () => {
    const box = sandbox();
    const made = await box.run(['dkim', 'keygen', '--domain', 'example.com', '--selector', 'cg2026', '--bits', '1024']);
    expect(made.code, describeResult(made)).toBe(0);
    const pem = join(box.dataDir, 'dkim', 'example.com.cg2026.pem');
    const before = await box.json<DnsJson>(['dkim', 'dns', '--json']);
    const backupDir = join(box.dir, 'backup');
    const backup = await box.run(['backup', backupDir]);
    expect(backup.code, describeResult(backup)).toBe(0);
    expect(backup.stdout).toMatch(/, 1 DKIM key\(s\);/);
    const manifest = JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8')) as { dkimKeys: number; files: Record<string, string> };
    expect(manifest.dkimKeys).toBe(1);
    expect(Object.keys(manifest.files)).toContain('dkim/example.com.cg2026.pem');
    expect(readFileSync(join(backupDir, 'SHA256SUMS'), 'utf8')).toMatch(/ {2}dkim\/example\.com\.cg2026\.pem\n/);

    const fresh = sandbox();
    rmSync(fresh.dataDir, { recursive: true, force: true });
    const restored = await fresh.run(['restore', backupDir]);
    expect(restored.code, describeResult(restored)).toBe(0);
    const key = join(fresh.dataDir, 'dkim', 'example.com.cg2026.pem');
    expect(readFileSync(key, 'utf8')).toBe(readFileSync(pem, 'utf8'));
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(statSync(join(fresh.dataDir, 'dkim')).mode & 0o777).toBe(0o700);
    const after = await fresh.json<DnsJson>(['dkim', 'dns', '--json']);
    expect(after.keys.map((k) => [k.domain, k.selector, k.record])).toEqual(before.keys.map((k) => [k.domain, k.selector, k.record]));
    expect(after.fromDomains).toEqual([{ domain: 'example.com', signedWith: 'example.com/cg2026' }]);
  }, 60_000);

  it('a manifest naming a key file outside dkim/ writes nothing there', async () => {
    const box = sandbox();
    await box.run(['dkim', 'keygen', '--domain', 'example.com', '--selector', 's1', '--bits', '1024']);
    const backupDir = join(box.dir, 'backup');
    expect((await box.run(['backup', backupDir])).code).toBe(0);
    // A hand-edited manifest: the key listed under a name that climbs out of the data directory.
    const manifestFile = join(backupDir, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { files: Record<string, string> };
    manifest.files['dkim/../escaped.pem'] = manifest.files['dkim/example.com.s1.pem']!;
    writeFileSync(join(backupDir, 'escaped.pem'), readFileSync(join(backupDir, 'dkim', 'example.com.s1.pem')));
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const fresh = sandbox();
    rmSync(fresh.dataDir, { recursive: true, force: true });
    const restored = await fresh.run(['restore', backupDir]);
    expect(restored.code, describeResult(restored)).toBe(0);
    expect(() => statSync(join(fresh.dir, 'escaped.pem'))).toThrow(/ENOENT/);
    expect(() => statSync(join(fresh.dataDir, 'escaped.pem'))).toThrow(/ENOENT/);
  }, 60_000);
});
