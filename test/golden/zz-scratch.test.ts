import { it } from 'vitest';
import { eml, testEnv } from '../helpers/context.js';
it('scratch', async () => {
  const env = await testEnv();
  const out = await env.ingest(eml({ subject: 'Cannot log in to portal', from: 'Anna Schmidt <anna.schmidt@kunde.example>' }));
  console.log(out);
  const rows = await env.ctx.db.selectFrom('outbox').selectAll().execute();
  console.log(rows[0]);
  await env.close();
});
