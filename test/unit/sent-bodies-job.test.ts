import { afterEach, expect, it } from 'vitest';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { listOutboxRows } from '../../src/mail-out/outbox-admin.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * Retention of sent emails' rendered bodies (jobs.sentBodies, src/jobs/sent-bodies.ts): after
 * keepDays the outbox's text and HTML of a sent email are emptied and body_dropped_at says when;
 * the row stays, so a reply to that email still threads by its Message-ID, and the case's thread
 * keeps its own copy of the email. Emails not sent (queued, failed) and younger ones keep theirs.
 */
let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

it('drops the bodies of emails sent more than keepDays ago, keeps the rows; a reply to such an email still threads into its case', async () => {
  env = await testEnv({ autoReply: { minIntervalSeconds: 0 }, jobs: { sentBodies: { keepDays: 40 } } });
  const transport = createTransport(env.resolved);
  const worker = new OutboxWorker(env.ctx, transport);
  const first = await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Printer on fire', messageId: 'jane-1@customer.example' }));
  if (first.kind !== 'stored') throw new Error(first.kind);
  await worker.drain();
  // 31 days later: one more case, its emails sent now; and one email that is not sent (failed).
  env.clock.advance(31 * 86_400_000);
  await env.ingest(eml({ from: 'Joe <joe@customer.example>', subject: 'Toner empty', messageId: 'joe-1@customer.example' }));
  await worker.drain();
  await env.ingest(eml({ from: 'Ann <ann@customer.example>', subject: 'Paper jam', messageId: 'ann-1@customer.example' }));
  await env.ctx.db.updateTable('outbox').set({ status: 'failed', last_error: 'test' }).where('status', '=', 'queued').execute();
  env.clock.advance(31 * 86_400_000 - 60_000);
  await worker.stop();
  transport.close();

  const before = await env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
  const janes = before.filter((r) => r.case_id === first.caseId);
  expect(janes.map((r) => r.status)).toEqual(janes.map(() => 'sent'));
  expect(janes.length).toBeGreaterThanOrEqual(1);
  const result = await createJobScheduler(env.ctx).run('sent-bodies', 'manual');
  expect(result).toEqual({ processed: janes.length, sent: 0 });

  const after = await env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute();
  for (const [i, row] of after.entries()) {
    const was = before[i]!;
    if (was.case_id === first.caseId) {
      // Jane's emails: sent 62 days ago (keepDays 40) — bodies gone, everything else as it was.
      expect(row).toEqual({ ...was, text: '', html: '', body_dropped_at: env.clock.now().toISOString() });
    } else {
      // Joe's (sent 31 days ago, less one minute) and Ann's (failed): untouched.
      expect(row).toEqual(was);
      expect(row.text).not.toBe('');
    }
  }
  // `outbox list` shows when a body was dropped.
  const listed = await listOutboxRows(env.ctx, ['sent'], 50);
  expect(listed.filter((r) => r.body_dropped_at !== null).map((r) => r.id).sort()).toEqual(janes.map((r) => r.id).sort());
  // The case thread's copy of Jane's confirmation is still there (`case show`, the case page).
  const confirmation = janes.find((r) => r.kind === 'confirmation')!;
  const entry = await env.ctx.db.selectFrom('messages').select(['visible_text', 'sent_at']).where('outbox_id', '=', confirmation.id).executeTakeFirstOrThrow();
  expect(entry.visible_text).not.toBe('');
  expect(entry.sent_at).not.toBeNull();

  // Jane answers the confirmation (only its Message-ID in In-Reply-To): the same case.
  const reply = await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Re: something else entirely', messageId: 'jane-2@customer.example', inReplyTo: confirmation.message_id, references: `<${confirmation.message_id}>` }));
  expect(reply).toMatchObject({ kind: 'stored', caseId: first.caseId });

  // A second run finds nothing left to drop.
  expect(await createJobScheduler(env.ctx).run('sent-bodies', 'manual')).toEqual({ processed: 0, sent: 0 });
});

it('staff mail leaves no body in the case thread (an entry of an older version loses it with the outbox copy, after keepDays); its visible text stays for `cases show`', async () => {
  env = await testEnv({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
    queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
    jobs: { sentBodies: { keepDays: 1 } },
  });
  const transport = createTransport(env.resolved);
  const worker = new OutboxWorker(env.ctx, transport);
  const stored = await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Printer on fire', messageId: 'jane-1@customer.example' }));
  if (stored.kind !== 'stored') throw new Error(stored.kind);
  await worker.drain();
  await worker.stop();
  transport.close();
  const staffEntries = env.ctx.db.selectFrom('messages').select(['id', 'text', 'html']).where('direction', '=', 'out').where('internal', '=', 1);
  const written = await staffEntries.execute();
  expect(written.length).toBeGreaterThanOrEqual(1);
  expect(written.map((m) => [m.text, m.html])).toEqual(written.map(() => [null, null]));
  // An entry as older versions wrote it (text and HTML): the retention job empties it with the outbox's copy.
  await env.ctx.db.updateTable('messages').set({ text: 'old text', html: '<html>old</html>' }).where('id', '=', written[0]!.id).execute();
  env.clock.advance(2 * 86_400_000);
  await createJobScheduler(env.ctx).run('sent-bodies', 'manual');

  const rows = await env.ctx.db
    .selectFrom('messages')
    .innerJoin('outbox', 'outbox.id', 'messages.outbox_id')
    .select(['outbox.kind', 'outbox.to_address', 'outbox.html as outboxHtml', 'messages.text', 'messages.html', 'messages.visible_text', 'messages.internal'])
    .where('messages.case_id', '=', stored.caseId)
    .execute();
  const staff = rows.filter((r) => r.to_address === 'ben@example.com');
  expect(staff.length).toBeGreaterThanOrEqual(1);
  for (const r of staff) {
    expect(r).toMatchObject({ internal: 1, outboxHtml: '', text: null, html: null });
    expect(r.visible_text).toContain('Printer on fire');
  }
  // The customer's confirmation is part of the conversation: the thread keeps it whole.
  const confirmation = rows.find((r) => r.kind === 'confirmation');
  expect(confirmation).toMatchObject({ internal: 0, outboxHtml: '' });
  expect(confirmation?.html).toContain('<html');
});
