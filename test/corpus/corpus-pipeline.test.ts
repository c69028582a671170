import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusAvailable, rawCorpusFiles, type CorpusFile } from '../helpers/corpus.js';
import { testEnv, type TestEnv } from '../helpers/context.js';
import type { Outcome } from '../../src/pipeline/types.js';

/**
 * Every raw message of ../shared/corpus through the whole pipeline on a fresh SQLite: each gets an
 * outcome, none crashes, and not one automatic reply goes to a bounce or an auto-reply.
 */
interface Result {
  readonly file: CorpusFile;
  readonly outcome: Outcome;
  readonly replies: number;
  readonly automated: string | null;
}

/** Sisimai messages that are not bounces: person-written mail (forwards of bounces) and non-mail. */
const SISIMAI_HUMAN = new Set([
  'sisimai-set-of-emails/maildir/not/is-not-bounce-01.eml',
  'sisimai-set-of-emails/maildir/not/is-not-bounce-02.eml',
  'sisimai-set-of-emails/maildir/bsd/lhost-sendmail-14.eml',
  'sisimai-set-of-emails/maildir/err/make-test-36.eml',
]);

describe.runIf(corpusAvailable())('the real-world corpus through the whole pipeline', () => {
  let env: TestEnv;
  const results: Result[] = [];

  beforeAll(async () => {
    env = await testEnv({ autoReply: { perSenderPerHour: 1000 } });
    for (const file of rawCorpusFiles()) {
      const before = await env.ctx.db.selectFrom('outbox').select('id').execute();
      const outcome = await env.ingest(readFileSync(file.file));
      const after = await env.ctx.db.selectFrom('outbox').select('id').execute();
      const receipt = await env.ctx.db.selectFrom('receipts').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
      const msg = receipt !== undefined ? await env.ctx.db.selectFrom('messages').select('automated').where('receipt_id', '=', receipt.id).executeTakeFirst() : undefined;
      results.push({ file, outcome, replies: after.length - before.length, automated: msg?.automated ?? null });
    }
  }, 600_000);

  afterAll(async () => {
    await env?.close();
  });

  it('gives every message exactly one committed outcome (no retry, no crash)', () => {
    expect(results.length).toBeGreaterThan(1200);
    const byOutcome: Record<string, Record<string, number>> = {};
    for (const r of results) {
      const set = (byOutcome[r.file.set] ??= {});
      set[r.outcome.kind] = (set[r.outcome.kind] ?? 0) + 1;
    }
    const total: Record<string, number> = {};
    for (const r of results) total[r.outcome.kind] = (total[r.outcome.kind] ?? 0) + 1;
    console.log(`corpus outcomes (${results.length} messages): ${JSON.stringify(total)}\n${JSON.stringify(byOutcome, null, 1)}`);
    const reasons: Record<string, number> = {};
    for (const r of results) if (r.outcome.kind !== 'stored') reasons[r.outcome.reason.replace(/receipt \d+/, 'receipt N').replace(/\(.*\)/, '(…)')] = (reasons[r.outcome.reason.replace(/receipt \d+/, 'receipt N').replace(/\(.*\)/, '(…)')] ?? 0) + 1;
    console.log('reasons for not storing:', JSON.stringify(reasons, null, 1));
    expect(results.filter((r) => r.outcome.kind === 'retry')).toEqual([]);
  });

  it('sends not one automatic reply to a bounce or an auto-reply', () => {
    const sisimaiReplies = results.filter((r) => r.file.set === 'sisimai-set-of-emails' && !SISIMAI_HUMAN.has(r.file.rel) && r.replies > 0);
    expect(sisimaiReplies.map((r) => r.file.rel)).toEqual([]);
    const automatedReplies = results.filter((r) => r.automated !== null && r.replies > 0);
    expect(automatedReplies.map((r) => r.file.rel)).toEqual([]);
  });

  it('answers person-written mail: most of the non-bounce corpora get a case and a confirmation', () => {
    const human = results.filter((r) => r.file.set !== 'sisimai-set-of-emails' && r.outcome.kind === 'stored' && r.automated === null);
    const confirmed = human.filter((r) => r.replies === 1);
    console.log(`person-written corpus mail stored: ${human.length}, confirmed: ${confirmed.length}`);
    // Every stored human message that opened a case was confirmed, unless its sender is a no-reply address.
    for (const r of human) {
      if (r.outcome.kind === 'stored' && r.outcome.created) expect.soft(r.replies, r.file.rel).toBeLessThanOrEqual(1);
    }
    expect(confirmed.length).toBeGreaterThan(200);
  });

  it('quarantines only for a stated reason and keeps the raw message', async () => {
    const q = await env.ctx.db.selectFrom('receipts').selectAll().where('outcome', '=', 'quarantined').execute();
    for (const r of q) {
      expect(r.reason).not.toBe('');
      expect(env.ctx.blobs.pathFor(r.raw_sha256)).toContain(r.raw_sha256);
    }
  });
});
