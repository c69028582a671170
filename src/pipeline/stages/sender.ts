import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Who wrote it, and can we trust the address? From, else the envelope sender. A DMARC failure
 * reported by our own trusted MX (Authentication-Results with the configured authserv-id) makes
 * the sender unverified: stored, but without a participant's rights in existing cases.
 */
export const senderStage: DecideStage = {
  name: 'sender',
  run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    let address = parsed.from?.address ?? null;
    let name = parsed.from?.name ?? '';
    let why = 'From header';
    if (address === null) {
      const env = msg.arrival.envelopeFrom ?? parsed.returnPath;
      if (env !== null && /^[^\s@]+@[^\s@]+$/.test(env)) {
        address = env.toLowerCase();
        name = '';
        why = 'envelope sender (no usable From)';
      }
    }
    if (address === null) return { end: 'quarantined', reason: 'no sender address (From missing or unusable, no envelope sender)' };
    let verified = true;
    const trusted = ctx.config.security.trustedAuthServId;
    if (trusted !== undefined) {
      for (const ar of parsed.headers.get('authentication-results') ?? []) {
        const [servId, ...rest] = ar.split(';');
        if (servId?.trim().toLowerCase() !== trusted.toLowerCase()) continue;
        if (/\bdmarc\s*=\s*fail\b/i.test(rest.join(';'))) {
          verified = false;
          why += '; DMARC failed at trusted server';
        }
      }
    }
    msg.notes.sender = { address, name, verified, why };
    return NEXT;
  },
};
