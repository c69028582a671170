import { primaryReceipt } from '../../db/repos/receipts.js';
import { need, NEXT, type DecideStage } from '../types.js';

/** Have we seen this message before (any mailbox, any channel)? Message-ID, else a hash of the raw bytes. */
export function dedupeKey(messageId: string | null, rawSha256: string): string {
  return messageId !== null ? `mid:${messageId}` : `sha256:${rawSha256}`;
}

export const dedupeStage: DecideStage = {
  name: 'dedupe',
  async run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const key = dedupeKey(parsed.messageId, msg.arrival.raw.sha256);
    msg.notes.dedupeKey = key;
    const seen = await primaryReceipt(ctx.db, key);
    if (seen !== undefined && seen.id !== msg.arrival.retryOf) {
      return { end: 'ignored', reason: `duplicate of receipt ${seen.id} (${seen.outcome})`, caseRow: null };
    }
    return NEXT;
  },
};
