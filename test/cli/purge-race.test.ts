import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult } from '../helpers/cli.js';
import { eml, TRUSTED_SENDER_AUTH } from '../helpers/context.js';

/**
 * `casegate purge --closed-before` beside a running daemon: the cases it picked may change before
 * its deleting transaction gets the write lock. A customer's reply that reopened one meanwhile
 * keeps that case (and the reply). SQLite: the daemon's commit is played by a connection that
 * holds the write lock while purge waits for it.
 */

let box: CliSandbox;
afterEach(() => box?.cleanup());

describe('purge --closed-before while mail arrives', () => {
  it('a case reopened between the choice and the deletion is kept', async () => {
    box = CliSandbox.create({ security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false } });
    for (const who of ['ann', 'bob']) {
      const r = await box.run(['ingest'], { stdin: eml({ from: `${who}@customer.example`, subject: `${who} asks`, messageId: `${who}-1@customer.example` }) });
      expect(r.code, describeResult(r)).toBe(0);
    }
    const db = new SQLite(box.dbPath, { timeout: 10_000 });
    try {
      db.exec("update cases set status = 'closed', closed_at = '2023-03-01T10:00:00.000Z'");
      // The "daemon" takes the write lock; purge starts, picks both cases and waits for the lock.
      db.exec('BEGIN IMMEDIATE');
      const purge = box.run(['purge', '--closed-before', '2024-01-01', '--json'], { childProcess: true });
      await new Promise((r) => setTimeout(r, 4000));
      // Ann's reply reopens her case, committed before purge's transaction begins.
      db.exec("update cases set status = 'open', closed_at = null where requester_address = 'ann@customer.example'");
      db.exec('COMMIT');
      const r = await purge;
      expect(r.code, describeResult(r)).toBe(0);
      expect((JSON.parse(r.stdout) as { caseNumbers: number[] }).caseNumbers).toEqual([10002]);
      const left = db.prepare('select number, status from cases').all();
      expect(left).toEqual([{ number: 10001, status: 'open' }]);
      const audit = db.prepare("select data_json from events where type = 'purge.closed-before'").all() as { data_json: string }[];
      expect(audit.map((a) => JSON.parse(a.data_json) as { caseNumbers: number[] }).map((d) => d.caseNumbers)).toEqual([[10002]]);
    } finally {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
  }, 60_000);
});
