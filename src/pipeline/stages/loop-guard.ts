import { verifyInstanceMark, verifyMessageId } from '../../cases/thread-token.js';
import { addressKey } from '../../address-form.js';
import { header } from '../../mail-in/parsed-mail.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Is this mail looping? Too many Received hops; our own mail coming back: our instance mark
 * (X-Casegate-Instance), our X-Loop value, our signed Message-ID, or From one of our addresses (unless a contact form or our group
 * wrote it on someone's behalf).
 *
 * Only what identifies *this* installation counts. Another casegate (a vendor's help desk that
 * answers a case we opened there) writes the same header names with its own values: its mail is
 * automated mail for the next stages (never answered, threaded where it belongs), not our loop.
 * X-Loop is compared entry by entry, whole: `casegate@example.com` is not in
 * `casegate@example.com.au` or `team-casegate@example.com`. Two installations sharing one
 * instance.domain share the X-Loop value; their instance marks differ, so mail with our X-Loop and
 * a mark that is not ours is theirs.
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
    const mark = header(parsed, 'x-casegate-instance');
    const ourMark = mark !== null && verifyInstanceMark(mark, ctx.secret, ctx.config.instance.domain);
    if (ourMark) return { end: 'ignored', reason: 'loop: carries our instance mark (X-Casegate-Instance)' };
    if (mark === null && carriesLoopId(parsed.headers.get('x-loop') ?? [], ctx.loopId)) {
      return { end: 'ignored', reason: 'loop: carries our X-Loop header' };
    }
    if (parsed.messageId !== null && verifyMessageId(parsed.messageId, ctx.secret) !== null) {
      return { end: 'ignored', reason: 'loop: our own outgoing message' };
    }
    // A contact form or our group writing From our address on someone's behalf (form-mail; one
    // that names nobody usable is quarantined by the sender stage) is no loop: the checks above
    // still catch our own mail coming back, also relayed through our group.
    if (parsed.from !== null && msg.notes.form == null && ctx.mailboxes.isOwnAddress(parsed.from.address)) {
      const hint = parsed.replyTo.length > 0 ? ' (a contact form writing on behalf of its Reply-To? see mailboxes[].formSenders)' : '';
      return { end: 'ignored', reason: `loop: sent from our own address ${parsed.from.address}${hint}` };
    }
    return NEXT;
  },
};

/**
 * Whether one of the X-Loop fields names our loop id. A field holds one value, or several separated
 * by commas (mailing lists and gateways add theirs); each is compared whole, as an address (case
 * and the IDN spelling of the domain do not count), with (comments) dropped and only the <address> of a `Name <address>` entry.
 */
export function carriesLoopId(fields: readonly string[], loopId: string): boolean {
  const ours = addressKey(loopId);
  return fields.some((field) =>
    field
      .replace(/\([^()]*\)/g, ' ')
      .split(/[,;]/)
      .some((entry) => {
        const value = (/<([^<>]*)>/.exec(entry)?.[1] ?? entry).trim();
        return value !== '' && addressKey(value) === ours;
      }),
  );
}
