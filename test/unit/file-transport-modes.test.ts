import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTransport } from '../../src/mail-out/transport.js';
import { writeConfig } from '../helpers/context.js';
import { tempDir } from '../helpers/temp-dirs.js';

describe('outgoing.transport file: the directory of sent mail', () => {
  it('is made 0700 (and its tmp/) whatever the umask, also when the health check makes it first', async () => {
    const dir = tempDir('casegate-filedir-');
    const out = join(dir, 'spool', 'outgoing'); // outgoing.fileDir outside the data directory
    const resolved = writeConfig(dir, { mailboxes: [{ name: 'support', addresses: ['support@example.com'] }], outgoing: { transport: 'file', fileDir: out } });
    const t = createTransport(resolved);
    const old = process.umask(0o022);
    try {
      await t.verify();
    } finally {
      process.umask(old);
      t.close();
    }
    expect(statSync(out).mode & 0o777).toBe(0o700);
    expect(statSync(join(out, 'tmp')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'spool')).mode & 0o777).toBe(0o700);
  });
});
