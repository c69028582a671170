import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
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

describe('pictures the HTML shows', () => {
  it('a pasted screenshot (10 KB or more) is named with its command; a small logo is left out; neither is attached', async () => {
    env = await testEnv({ queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } } });
    const picture = (cid: string, name: string, bytes: number): string[] => ['--r', `Content-Type: image/png; name="${name}"`, `Content-ID: <${cid}>`, `Content-Disposition: inline; filename="${name}"`, 'Content-Transfer-Encoding: base64', '', Buffer.alloc(bytes, 7).toString('base64').replace(/.{76}/g, '$&\r\n')];
    const raw = eml({ subject: 'Error', body: '' }).replace(
      'Content-Type: text/plain; charset=utf-8\r\n\r\n',
      ['Content-Type: multipart/related; boundary=r', '', '--r', 'Content-Type: text/html; charset=utf-8', '', '<p>This error comes up:</p><img src="cid:shot@x"><p>Jane</p><img src="cid:logo@x">', ...picture('shot@x', 'image001.png', 40 * 1024), ...picture('logo@x', 'image002.png', 2 * 1024), '--r--', ''].join('\r\n'),
    );
    expect((await env.ingest(raw)).kind).toBe('stored');
    const [row] = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'agent-notification').execute();
    expect((await attachmentsOfOutboxRows(env.ctx.db, [row!.id])).get(row!.id) ?? []).toEqual([]);
    expect(row!.text).toMatch(/image001\.png \(40 KB, a picture in the message's text\): casegate cases files 10001 --id \d+ --save \./);
    expect(row!.text).not.toContain('image002.png');
    expect(row!.text).not.toContain('Attachments:');
  });
});

describe('a customer’s file gone from the store when the staff email is sent', () => {
  it('the notification goes without it (it names the file); it is not failed for the file', async () => {
    env = await testEnv({ queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } }, outgoing: { transport: 'file' } });
    expect((await env.ingest(withFile('app.log', Buffer.from('ERROR').toString('base64')))).kind).toBe('stored');
    const [file] = await env.ctx.db.selectFrom('attachments').selectAll().execute();
    rmSync(env.ctx.blobs.pathFor(file!.sha256));
    const t = createTransport(env.resolved);
    await new OutboxWorker(env.ctx, t).drain();
    t.close();
    const [row] = await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'agent-notification').execute();
    expect([row!.status, row!.last_error]).toEqual(['sent', null]);
    expect(row!.text).toContain('Attachments: app.log');
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
