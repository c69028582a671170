import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { peekConfig } from '../helpers/db-peek.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { CliSandbox, describeResult, spawnCli } from '../helpers/cli.js';


/** Child processes start slowly on a loaded 2-core machine: a generous hang guard, not a speed target. */
const TIMEOUT_MS = 240_000;
/** `casegate outbox list|retry|cancel` (issue 10 item 9): look at outgoing mail, send failed mail again, withdraw mail. */

interface RowJson {
  id: number;
  case_number: number | null;
  kind: string;
  status: string;
  to_address: string;
  attempts: number;
  last_error: string | null;
}
interface ResultJson {
  id: number;
  ok: boolean;
  status: string | null;
  message: string;
}

describe('casegate outbox', () => {
  let box: CliSandbox;
  const sql = async (query: string, ...params: unknown[]): Promise<void> => {
    const db = peekConfig(box.configPath);
    try {
      await db.run(query, ...params);
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    box = CliSandbox.create({ listener: { port: 0 } });
    const files = [1, 2, 3].map((i) => box.write(`m${i}.eml`, eml({ from: `Customer ${i} <c${i}@customer.example>`, subject: `Question ${i}`, messageId: `q${i}@customer.example` })));
    const r = await box.run(['ingest', ...files]);
    expect(r.code, describeResult(r)).toBe(0);
  }, TIMEOUT_MS);
  afterAll(() => box.cleanup());

  it('lists queued and failed mail (newest first) with case number, attempts and error; --all and --status filter', async () => {
    // As if the relay had refused #1 for good and #2 were waiting for a retry.
    await sql("UPDATE outbox SET status = 'failed', attempts = 3, last_error = 'EAUTH: Invalid login: 535 5.7.8 authentication failed' WHERE id = 1");
    await sql("UPDATE outbox SET attempts = 1, next_attempt_at = '2999-01-01T00:00:00.000Z', last_error = 'EMESSAGE: 451 4.3.0 try later' WHERE id = 2");
    // And as if #2 had gone to its To while the relay refused its Cc for now: it is still to go to boss alone.
    await sql('UPDATE outbox SET pending_rcpt_json = \'["boss@customer.example"]\' WHERE id = 2');
    const rows = await box.json<RowJson[]>(['outbox', 'list', '--json']);
    expect(rows.map((r) => [r.id, r.status, r.case_number, r.kind])).toEqual([
      [3, 'queued', 10003, 'confirmation'],
      [2, 'queued', 10002, 'confirmation'],
      [1, 'failed', 10001, 'confirmation'],
    ]);
    expect(rows[2]).toMatchObject({ to_address: 'c1@customer.example', attempts: 3, last_error: expect.stringMatching(/535/) });
    const text = await box.run(['outbox', 'list']);
    expect(text.code, describeResult(text)).toBe(0);
    expect(text.stdout).toMatch(/^ID +STATUS +KIND +CASE +TO +QUEUED +TRIES +NEXT \/ ERROR$/m);
    expect(text.stdout).toMatch(/^1 +failed +confirmation +10001 +c1@customer\.example .* 3 +EAUTH: Invalid login: 535/m);
    expect(text.stdout).toMatch(/^2 +queued +confirmation +10002 +only boss@customer\.example .* next 2999-01-01 00:00:00 UTC — EMESSAGE: 451/m);
    expect(text.stdout).toMatch(/^3 +queued .* due now$/m);
    expect((await box.json<RowJson[]>(['outbox', 'list', '--status', 'failed', '--json'])).map((r) => r.id)).toEqual([1]);
    // The case's thread says so too: not "queued".
    const shown = await box.run(['cases', 'show', '10001']);
    expect(shown.stdout).toMatch(/^--- → \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC support@example\.com \[[^\]]*\] FAILED, not sent$/m);
  }, TIMEOUT_MS);

  it('retry puts failed mail back (due now, with an event) and makes waiting mail due now; clear one-line errors otherwise', async () => {
    const all = await box.json<ResultJson[]>(['outbox', 'retry', '--all-failed', '--json']);
    expect(all).toEqual([{ id: 1, ok: true, status: 'queued', message: 'email #1 (confirmation to c1@customer.example) is queued again and due now' }]);
    const waiting = await box.run(['outbox', 'retry', '2']);
    expect(waiting.code, describeResult(waiting)).toBe(0);
    expect(waiting.stdout).toBe('email #2 (confirmation to c2@customer.example) is queued again and due now\n');
    const due = await box.run(['outbox', 'retry', '#3']);
    expect(due.stdout).toBe('email #3 is already due; the daemon sends it with its next pass\n');
    const missing = await box.run(['outbox', 'retry', '999']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('casegate outbox: no email #999 in the outbox\n');
    const bad = await box.run(['outbox', 'retry', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('casegate outbox: not an outbox id: "abc"\n');
    const none = await box.run(['outbox', 'retry']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('casegate outbox: give at least one outbox id (see casegate outbox list)\n');
    const rows = await box.json<RowJson[]>(['outbox', 'list', '--json']);
    expect(rows.map((r) => r.status)).toEqual(['queued', 'queued', 'queued']);
    const cases = await box.json<{ events: { type: string; actor: string; reason: string }[] }>(['cases', 'show', '10001', '--json']);
    expect(cases.events.find((e) => e.type === 'email.retried')).toMatchObject({ actor: expect.stringMatching(/^cli:/), reason: expect.stringMatching(/back in the queue \(was failed: EAUTH/) });
  }, TIMEOUT_MS);

  it('cancel withdraws queued mail for good; sent mail and mail being sent cannot be cancelled', async () => {
    const c = await box.json<ResultJson[]>(['outbox', 'cancel', '2', '--reason', 'duplicate request', '--json']);
    expect(c).toEqual([{ id: 2, ok: true, status: 'cancelled', message: 'email #2 (confirmation to c2@customer.example) is cancelled and will not be sent' }]);
    expect((await box.run(['outbox', 'cancel', '2'])).stdout).toBe('email #2 was already cancelled\n');
    // Cancelled is for good: retry does not bring it back (nor a confirmation `import` recorded as cancelled).
    const retried = await box.run(['outbox', 'retry', '2']);
    expect(retried.code).toBe(1);
    expect(retried.stderr).toMatch(/^casegate outbox: email #2 was cancelled \(cancelled by cli:.*: duplicate request\); not sending it\n$/);
    expect((await box.json<RowJson[]>(['outbox', 'list', '--status', 'cancelled', '--json'])).map((r) => r.id)).toEqual([2]);
    await sql("UPDATE outbox SET claimed_by = 'other-host:1:abc', claim_expires_at = '2999-01-01T00:00:00.000Z' WHERE id = 3");
    const claimed = await box.run(['outbox', 'cancel', '3']);
    expect(claimed.code).toBe(1);
    expect(claimed.stderr).toBe('casegate outbox: email #3 is being sent right now; it cannot be cancelled any more\n');
    await sql('UPDATE outbox SET claimed_by = NULL, claim_expires_at = NULL WHERE id = 3');
    expect((await box.run(['cases', 'show', '10002'])).stdout).toMatch(/^--- → \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC support@example\.com \[[^\]]*\] not sent \(cancelled\)$/m);
    // Had it gone to its To before (a Cc refused for now, then cancelled), it was partly sent.
    await sql("UPDATE messages SET sent_at = '2026-01-01T00:00:00.000Z' WHERE outbox_id = 2");
    expect((await box.run(['cases', 'show', '10002'])).stdout).toMatch(/^--- → \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC support@example\.com \[[^\]]*\] partly sent, then cancelled for the others$/m);
    await sql('UPDATE messages SET sent_at = NULL WHERE outbox_id = 2');
    const events = await box.json<{ events: { type: string; reason: string }[] }>(['cases', 'show', '10002', '--json']);
    expect(events.events.find((e) => e.type === 'email.cancelled')?.reason).toMatch(/cancelled by cli:.*: duplicate request/);

    // The daemon sends what is queued, never the cancelled one.
    const daemon = spawnCli(['--config', box.configPath, 'start'], { cwd: box.dir, env: { HOME: box.dir } });
    try {
      await daemon.waitForLine(/"msg":"casegate started"/, 30_000);
      // Wait by looking into the database (cheap), then check with the real command.
      const deadline = Date.now() + 30_000;
      const sentCount = async (): Promise<number> => {
        const db = peekConfig(box.configPath);
        try {
          return Number((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM outbox WHERE status = 'sent'"))?.n ?? 0);
        } finally {
          await db.close();
        }
      };
      while ((await sentCount()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const rows = await box.json<RowJson[]>(['outbox', 'list', '--all', '--json']);
      expect(rows.map((r) => [r.id, r.status])).toEqual([
        [3, 'sent'],
        [2, 'cancelled'],
        [1, 'sent'],
      ]);
      const files = readdirSync(join(box.dataDir, 'outgoing')).filter((f) => f.endsWith('.eml'));
      expect(files).toHaveLength(2);
      const sent = await box.run(['outbox', 'cancel', '1']);
      expect(sent.code).toBe(1);
      expect(sent.stderr).toMatch(/^casegate outbox: email #1 was already sent at \S+; it cannot be cancelled\n$/);
      const again = await box.run(['outbox', 'retry', '1']);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^casegate outbox: email #1 was already sent at \S+; not sending it again\n$/);
    } finally {
      daemon.kill('SIGTERM');
      await daemon.exited;
    }
  }, TIMEOUT_MS);
});
