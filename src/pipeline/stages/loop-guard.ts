import { verifyMessageId } from '../../cases/thread-token.js';
import { header } from '../../mail-in/parsed-mail.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Is this mail looping? Too many Received hops; our own mail coming back: X-Loop with our id, our
 * signed Message-ID, or From one of our addresses (unless a contact form wrote it on someone's behalf).
 */
export const loopGuardStage: DecideStage = {
  name: 'loop-guard',
  run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    // Mail passed between servers this often is circling (RFC 5321 §6.3): keep it, answer nothing.
    const hops = parsed.headers.get('received')?.length ?? 0;
    if (hops > ctx.config.security.maxReceivedHops) {
      return { end: 'quarantined', reason: `loop: ${hops} Received headers (security.maxReceivedHops is ${ctx.config.security.maxReceivedHops})` };
    }
    const loops = parsed.headers.get('x-loop') ?? [];
    if (loops.some((v) => v.toLowerCase().includes(ctx.loopId.toLowerCase()))) {
      return { end: 'ignored', reason: 'loop: carries our X-Loop header' };
    }
    if (parsed.messageId !== null && verifyMessageId(parsed.messageId, ctx.secret) !== null) {
      return { end: 'ignored', reason: 'loop: our own outgoing message' };
    }
    // A contact form writing From our address on a person's behalf (form-mail) is no loop: the
    // checks above still catch our own mail coming back.
    if (parsed.from !== null && msg.notes.form?.kind !== 'on-behalf' && ctx.mailboxes.isOwnAddress(parsed.from.address)) {
      const hint = parsed.replyTo.length > 0 ? ' (a contact form writing on behalf of its Reply-To? see mailboxes[].formSenders)' : '';
      return { end: 'ignored', reason: `loop: sent from our own address ${parsed.from.address}${hint}` };
    }
    if (header(parsed, 'x-casegate-case') !== null && header(parsed, 'auto-submitted') !== null) {
      return { end: 'ignored', reason: 'loop: automatic mail from a casegate instance' };
    }
    return NEXT;
  },
};
