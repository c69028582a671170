import { simpleParser, type ParsedMail } from 'mailparser';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport } from '../../src/mail-out/transport.js';
import type { TestEnv } from './context.js';
import { readOutgoing } from './outgoing-samples.js';

/** One email the file transport wrote (data/outgoing/*.eml): its bytes and mailparser's reading. */
export interface SentMail {
  readonly raw: Buffer;
  readonly parsed: ParsedMail;
}

/**
 * Send what the outbox holds now (a test env with `outgoing.transport: file`), then return every
 * email written so far whose first To is `address`, in the order they were written.
 */
export async function sendAndCollect(env: TestEnv, address: string): Promise<SentMail[]> {
  await drainOutbox(env);
  const out: SentMail[] = [];
  for (const raw of readOutgoing(env.resolved.paths.outgoingDir)) {
    const parsed = await simpleParser(raw);
    if (parsed.to !== undefined && !Array.isArray(parsed.to) && parsed.to.value[0]?.address === address) out.push({ raw, parsed });
  }
  return out;
}

/** Send what the outbox holds now through the env's configured transport. */
export async function drainOutbox(env: TestEnv): Promise<void> {
  const transport = createTransport(env.resolved);
  try {
    await new OutboxWorker(env.ctx, transport).drain();
  } finally {
    transport.close();
  }
}

/** The first email to `address` after sending what the outbox holds; throws when there is none. */
export async function firstSentTo(env: TestEnv, address: string): Promise<SentMail> {
  const [first] = await sendAndCollect(env, address);
  if (first === undefined) throw new Error(`no mail to ${address}`);
  return first;
}
