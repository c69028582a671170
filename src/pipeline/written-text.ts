import { writtenText } from '../cases/escalation-signals.js';
import type { Inbound } from './types.js';

/**
 * What the writer of this message typed, as the status question and the escalation keyword are
 * read: for mail the visible text without `>` lines and forwarded parts (writtenText); for a reply
 * typed on the case page (channel web) all of it — it quotes nothing, so a `>` line or a pasted
 * "-----Original Message-----" is the customer's own text.
 */
export function writtenTextOf(msg: Pick<Inbound, 'arrival' | 'notes'>): string {
  const text = msg.notes.visible?.text ?? '';
  return msg.arrival.channel === 'web' ? text : writtenText(text);
}

/**
 * What staff are shown of this message (the agents' notification, the leads' alert): its visible
 * text as stored, which `cases show` and the case page show too — a forwarded message included.
 * A forward is often all the customer sent ("Fwd: Your invoice"): the forward is the request.
 */
export function shownTextOf(msg: Pick<Inbound, 'notes'>): string {
  return msg.notes.visible?.text ?? '';
}
