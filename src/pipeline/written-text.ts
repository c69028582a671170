import { writtenText } from '../cases/escalation-signals.js';
import type { Inbound } from './types.js';

/**
 * What the writer of this message typed, as agents are shown it and as the status question is
 * read: for mail the visible text without `>` lines and forwarded parts (writtenText); for a reply
 * typed on the case page (channel web) all of it — it quotes nothing, so a `>` line or a pasted
 * "-----Original Message-----" is the customer's own text.
 */
export function writtenTextOf(msg: Pick<Inbound, 'arrival' | 'notes'>): string {
  const text = msg.notes.visible?.text ?? '';
  return msg.arrival.channel === 'web' ? text : writtenText(text);
}
