// A process that opens the SQLite database at argv[2] (the built code, dist/), prints "ready", and
// migrates it when a line arrives on stdin; then prints {"applied": n} or {"error": "…"}. Several
// of them, released at once, race to migrate a new database (test/faults/db-lock.test.ts).
import { migrateToLatest, openDatabase } from '../../dist/src/db/database.js';

const db = openDatabase({ path: process.argv[2], busyTimeoutMs: 20_000 });
process.stdout.write('ready\n');
process.stdin.once('data', () => {
  migrateToLatest(db)
    .then(
      (r) => process.stdout.write(`${JSON.stringify({ applied: r.applied.length })}\n`),
      (err) => process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`),
    )
    .finally(() => db.destroy());
});
