import { afterEach, describe, expect, it } from 'vitest';
import { sizeLabel } from '../../src/cases/customer-files.js';
import { diskName } from '../../src/cli/case-files.js';
import { attachmentsOfOutboxRows } from '../../src/db/repos/agent-work.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/** agentMail.attachFilesMaxBytes at its edges, and the names `cases files --save` writes (e2e: test/e2e/customer-files.test.ts). */

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

function withFile(name: string, base64: string): string {
  return eml({ subject: 'Log', body: '' }).replace(
    'Content-Type: text/plain; charset=utf-8\r\n\r\n',
    ['Content-Type: multipart/mixed; boundary=x', '', '--x', 'Content-Type: text/plain; charset=utf-8', '', 'The log is attached.', '--x', `Content-Type: text/plain; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', base64, '--x--', ''].join('\r\n'),
  );
}

describe('agentMail.attachFilesMaxBytes', () => {
  it.each([
    [0, 0],
    [5, 1],
  ])('%i bytes: the notification carries %i file(s); a file it does not carry is named with its command', async (budget, carried) => {
    env = await testEnv({ queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } }, agentMail: { attachFilesMaxBytes: budget } });
    const out = await env.ingest(withFile('app.log', Buffer.from('ERROR').toString('base64')));
    expect(out.kind).toBe('stored');
    const [row] = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'agent-notification').execute();
    const files = (await attachmentsOfOutboxRows(env.ctx.db, [row!.id])).get(row!.id) ?? [];
    expect(files.map((f) => f.filename)).toEqual(carried === 1 ? ['app.log'] : []);
    expect(row!.text.includes('app.log (5 bytes): casegate cases files 10001 --id ')).toBe(carried === 0);
  });
});

describe('names and sizes', () => {
  it.each([
    ['invoice.pdf', 'invoice.pdf'],
    ['../../.bashrc', '_.._.bashrc'],
    ['..', 'file-7'],
    ['.hidden', 'hidden'],
    ['a\\b/c\u0000.txt', 'a_b_c_.txt'],
    ['', 'file-7'],
  ])('%j is saved as %j', (name, saved) => {
    expect(diskName(name, 7)).toBe(saved);
  });

  it.each([
    [812, '812 bytes'],
    [20 * 1024, '20 KB'],
    [12.4 * 1024 * 1024, '12.4 MB'],
  ])('%i bytes read "%s"', (bytes, label) => {
    expect(sizeLabel(bytes)).toBe(label);
  });
});
