import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { CliSandbox, describeResult } from '../helpers/cli.js';
import { testEnv } from '../helpers/context.js';

/**
 * Mail with more MIME parts than mime.maxParts (issue 9 item 9): the sender hears it. Through the
 * real SMTP listener the answer at the end of DATA is a permanent 554 and nothing is kept (the
 * sending MTA returns the message to its sender); `casegate ingest` exits 65 (EX_DATAERR: the MTA
 * bounces it); a message we already hold (IMAP) is quarantined with the reason.
 */
function mimeWithParts(parts: number, id: string): string {
  const lines = [
    'From: Jane Customer <jane@customer.example>',
    'To: support@example.com',
    `Subject: ${parts} attachments`,
    `Message-ID: <${id}@customer.example>`,
    'Date: Mon, 02 Mar 2026 08:59:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'See the attached files.',
  ];
  for (let i = 1; i < parts; i++) lines.push('--b', 'Content-Type: text/plain; charset=utf-8', `Content-Disposition: attachment; filename="f${i}.txt"`, '', `file ${i}`);
  lines.push('--b--', '');
  return lines.join('\r\n');
}

describe('mime.maxParts through the real SMTP listener', () => {
  let env: TestDaemon;
  beforeAll(async () => {
    env = await startTestDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'] }], mime: { maxParts: 20 } });
  });
  afterAll(async () => env?.stop());

  it('answers 554 with the reason at the end of DATA and keeps nothing', async () => {
    const err = await env
      .client()
      .sendMail({ envelope: { from: 'jane@customer.example', to: ['support@example.com'] }, raw: mimeWithParts(40, 'many') })
      .then(
        () => null,
        (e: unknown) => e as { responseCode?: number; response?: string },
      );
    expect(err?.responseCode).toBe(554);
    expect(err?.response).toMatch(/^554 5\.6\.0 Message refused: message has more than 20 MIME parts \(mime\.maxParts\)/);
    const receipts = await env.daemon.ctx.db.selectFrom('receipts').select('id').execute();
    expect(receipts).toEqual([]);
  });

  it('takes a message within the limit as usual (250, stored)', async () => {
    const info = await env.client().sendMail({ envelope: { from: 'jane@customer.example', to: ['support@example.com'] }, raw: mimeWithParts(5, 'few') });
    expect(info.response).toMatch(/^250 .*Stored in case 10001/);
  });
});

describe('mime.maxParts through casegate ingest', () => {
  let box: CliSandbox;
  beforeAll(() => {
    box = CliSandbox.create({ mime: { maxParts: 20 } });
  });
  afterAll(() => box?.cleanup());

  it('exits 65 (EX_DATAERR) for the refused file, records nothing for it, and takes the rest', async () => {
    const many = box.write('many.eml', mimeWithParts(40, 'many'));
    const few = box.write('few.eml', mimeWithParts(5, 'few'));
    const r = await box.run(['ingest', many, few]);
    expect(r.code, describeResult(r)).toBe(65);
    expect(r.stdout).toContain(`${many}: rejected — message has more than 20 MIME parts (mime.maxParts)`);
    expect(r.stdout).toMatch(/few\.eml: stored \(case 10001\)/);
    const list = await box.json<{ number: number }[]>(['cases', 'list', '--json']);
    expect(list.map((c) => c.number)).toEqual([10001]);
  });
});

describe('mime.maxParts for mail we already hold', () => {
  it('quarantines it with the reason (IMAP, quarantine retry)', async () => {
    const env = await testEnv({ mime: { maxParts: 20 } });
    try {
      const out = await env.ingest(mimeWithParts(40, 'held'), { channel: 'imap' });
      expect(out.kind).toBe('quarantined');
      expect(out.reason).toBe('parse failed: message has more than 20 MIME parts (mime.maxParts)');
    } finally {
      await env.close();
    }
  });

  it('the default limit (1000) takes a message with 999 parts', async () => {
    const env = await testEnv();
    try {
      expect((await env.ingest(mimeWithParts(999, 'big'), { channel: 'imap' })).kind).toBe('stored');
    } finally {
      await env.close();
    }
  });
});
