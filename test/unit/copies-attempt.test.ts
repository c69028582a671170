import { describe, expect, it } from 'vitest';
import type { OutboxRow } from '../../src/db/schema.js';
import { sendCopies, type Attempt, type CopySender } from '../../src/mail-out/copies-attempt.js';
import type { ClassifiedSendError } from '../../src/mail-out/send-errors.js';

/**
 * One round of an email written as per-recipient copies (src/mail-out/copies-attempt.ts): what
 * the relay's answer to each copy makes of the row. The worker's side (SMTP, the claim, the
 * database) is tested against a real SMTP server in test/web/recipient-links.test.ts; here the
 * decisions, table by table.
 */

const NOW = '2026-03-02T14:00:00.000Z';
const LATER = '2026-03-02T14:00:30.000Z';

function row(over: Partial<OutboxRow> = {}): OutboxRow {
  return {
    to_address: 'jane@customer.example',
    copies_json: JSON.stringify([
      { address: 'ann@customer.example', text: 'a', html: 'a' },
      { address: 'bob@customer.example', text: 'b', html: 'b' },
    ]),
    pending_rcpt_json: null,
    attempts: 0,
    ...over,
  } as OutboxRow;
}

const classified = (errorClass: ClassifiedSendError['errorClass'], decision: ClassifiedSendError['decision'], code: number | null = null): ClassifiedSendError => ({ errorClass, decision, responseCode: code, summary: `${code ?? ''} ${errorClass}`.trim() });

/** How the worker turns a thrown send into an Attempt (outbox-worker.ts #failure), for the cases used here. */
const failures = {
  refusedForGood: { outcome: { kind: 'failed', attempts: 1, error: '550 no such user', why: 'permanent failure (recipient)' }, transport: 'works' } as Attempt,
  refusedForNow: { outcome: { kind: 'retry', attempts: 1, nextAt: LATER, error: '450 busy' }, transport: classified('recipient', 'retry', 450) } as Attempt,
  senderHeld: { outcome: { kind: 'held', attempts: 1, error: '553 sender', sender: 'support@example.com' }, transport: 'works', senderRefused: classified('sender', 'hold', 553) } as Attempt,
  loginRejected: { outcome: { kind: 'released', attempts: 1, error: '535 auth' }, transport: classified('auth', 'pause', 535) } as Attempt,
} as const;

interface Script {
  /** Per reader: accepted, or the failure its send throws. */
  readonly answers: Record<string, 'ok' | keyof typeof failures>;
  /** Sending stops (pause, stop) before the copy with this index. */
  readonly stopBefore?: number;
  /** The progress write after the copy with this index finds the claim gone. */
  readonly claimLostAfter?: number;
  /** Readers taken off the case since the email was written (asked right before their copy). */
  readonly takenOff?: readonly string[];
}

async function round(r: OutboxRow, script: Script): Promise<{ attempt: Attempt; sent: string[]; progress: string[][] }> {
  const sent: string[] = [];
  const progress: string[][] = [];
  let tried = 0;
  const s: CopySender = {
    attempts: r.attempts + 1,
    build: async (address) => ({ envelope: { from: 'support@example.com', to: [address] } }),
    turn: async () => true,
    send: async (o) => {
      const address = (o.envelope as { to: string[] }).to[0]!;
      tried++;
      const a = script.answers[address] ?? 'ok';
      if (a !== 'ok') throw Object.assign(new Error(a), { which: a });
      sent.push(address);
      return { response: '250 ok' };
    },
    failure: (err) => failures[(err as { which: keyof typeof failures }).which],
    progress: async (pending) => {
      progress.push([...pending]);
      return script.claimLostAfter !== tried - 1;
    },
    takenOff: async (address) => script.takenOff?.includes(address) === true,
    stopping: () => script.stopBefore !== undefined && tried >= script.stopBefore,
    nextAt: () => LATER,
    now: () => NOW,
  };
  return { attempt: await sendCopies(r, s), sent, progress };
}

describe('a round of per-recipient copies', () => {
  it('every reader takes theirs: sent, each recorded as it went', async () => {
    const { attempt, sent, progress } = await round(row(), { answers: {} });
    expect(sent).toEqual(['jane@customer.example', 'ann@customer.example', 'bob@customer.example']);
    expect(progress).toEqual([['ann@customer.example', 'bob@customer.example'], ['bob@customer.example'], []]);
    expect(attempt).toMatchObject({ outcome: { kind: 'sent', attempts: 1, at: NOW }, transport: 'works' });
  });

  it('only the readers still pending are sent to (a restart after some copies went)', async () => {
    const { attempt, sent } = await round(row({ pending_rcpt_json: '["bob@customer.example"]', attempts: 1 }), { answers: {} });
    expect(sent).toEqual(['bob@customer.example']);
    expect(attempt.outcome).toMatchObject({ kind: 'sent', attempts: 2 });
  });

  it('one copy refused for good: named, the others still go; the row is sent', async () => {
    const { attempt, sent } = await round(row(), { answers: { 'ann@customer.example': 'refusedForGood' } });
    expect(sent).toEqual(['jane@customer.example', 'bob@customer.example']);
    expect(attempt.outcome).toMatchObject({ kind: 'sent', refused: [{ address: 'ann@customer.example', response: '550 no such user' }] });
  });

  it('one copy refused for now: it waits alone (backoff); the others go', async () => {
    const { attempt, sent, progress } = await round(row(), { answers: { 'ann@customer.example': 'refusedForNow' } });
    expect(sent).toEqual(['jane@customer.example', 'bob@customer.example']);
    expect(progress.at(-1)).toEqual(['ann@customer.example']);
    expect(attempt.outcome).toMatchObject({ kind: 'partly-sent', nextAt: LATER, deferred: [{ address: 'ann@customer.example' }], refused: [] });
  });

  it('the first copy meets a refused sender or a rejected login: the row’s own outcome, nothing recorded as sent', async () => {
    for (const which of ['senderHeld', 'loginRejected'] as const) {
      const { attempt, sent, progress } = await round(row(), { answers: { 'jane@customer.example': which } });
      expect(sent).toEqual([]);
      expect(progress).toEqual([]);
      expect(attempt).toBe(failures[which]);
    }
  });

  it('a refused sender after a copy went: partly sent, the rest held with the sender', async () => {
    const { attempt } = await round(row(), { answers: { 'ann@customer.example': 'senderHeld' } });
    expect(attempt.outcome).toMatchObject({ kind: 'partly-sent', deferred: [{ address: 'ann@customer.example' }, { address: 'bob@customer.example' }] });
    expect(attempt.senderRefused).toMatchObject({ decision: 'hold' });
  });

  it('sending pauses mid-round: the untried copies are due as soon as sending goes on', async () => {
    const { attempt, sent } = await round(row(), { answers: {}, stopBefore: 1 });
    expect(sent).toEqual(['jane@customer.example']);
    expect(attempt.outcome).toMatchObject({ kind: 'partly-sent', nextAt: NOW, deferred: [{ address: 'ann@customer.example' }, { address: 'bob@customer.example' }] });
  });

  it('the claim is gone after a copy (another sender holds the row): the round ends, released — a claimed write that changes nothing', async () => {
    const { attempt, sent } = await round(row(), { answers: {}, claimLostAfter: 0 });
    expect(sent).toEqual(['jane@customer.example']);
    expect(attempt.outcome).toMatchObject({ kind: 'released', reason: expect.stringContaining('another sender holds the row') });
  });

  it('every copy refused for good: failed', async () => {
    const { attempt } = await round(row(), { answers: { 'jane@customer.example': 'refusedForGood', 'ann@customer.example': 'refusedForGood', 'bob@customer.example': 'refusedForGood' } });
    expect(attempt.outcome).toMatchObject({ kind: 'failed', why: 'every copy refused' });
  });

  it('a reader taken off the case since it was written: their copy never goes, no longer waited for; the others get theirs — the row is sent', async () => {
    const { attempt, sent, progress } = await round(row(), { answers: {}, takenOff: ['ann@customer.example'] });
    expect(sent).toEqual(['jane@customer.example', 'bob@customer.example']);
    expect(progress).toEqual([['ann@customer.example', 'bob@customer.example'], ['bob@customer.example'], []]);
    expect(attempt).toMatchObject({ outcome: { kind: 'sent' }, transport: 'works' });
  });

  it('every reader left taken off: nobody had it — suppressed; the others had it before — sent, and nothing said about the transport', async () => {
    const all = ['jane@customer.example', 'ann@customer.example', 'bob@customer.example'];
    expect((await round(row(), { answers: {}, takenOff: all })).attempt).toEqual({ outcome: { kind: 'suppressed', reason: expect.stringContaining('taken off the case') }, transport: null });
    const partly = await round(row({ pending_rcpt_json: '["bob@customer.example"]', attempts: 1 }), { answers: {}, takenOff: all });
    expect(partly.sent).toEqual([]);
    expect(partly.progress).toEqual([[]]);
    expect(partly.attempt).toMatchObject({ outcome: { kind: 'sent' }, transport: null });
  });
});
