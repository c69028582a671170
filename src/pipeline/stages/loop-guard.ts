import { verifyInstanceMark, verifyMessageId } from '../../cases/thread-token.js';
import { addressKey } from '../../address-form.js';
import { header, type ParsedMail } from '../../mail-in/parsed-mail.js';
import type { AppContext } from '../../context.js';
import { authenticateSender } from '../sender-check.js';
import { need, NEXT, type DecideStage, type Inbound } from '../types.js';

/**
 * Is this mail looping? Too many Received hops; our own mail coming back: our instance mark
 * (X-Casegate-Instance), our X-Loop value, our signed Message-ID, or From one of our addresses (unless a contact form or our group
 * wrote it on someone's behalf, or a person using that mailbox's account wrote it: below).
 *
 * From one of our addresses: spam forging From support@ (to support@) is common, and nothing of
 * ours may be answered by ourselves; such mail is ignored (one log line). Except mail a person sent
 * with the mailbox's account from their mail client — the billing team forwarding a misdirected
 * customer mail from billing@ to support@ — which would vanish unseen. It goes on when all of
 * these hold (ownAddressWriter):
 *   - none of our marks: the checks above, and no reference to a Message-ID we signed (a reply
 *     to our mail, or our mail re-sent by a relay that rewrote its Message-ID);
 *   - not automatic (Auto-Submitted other than no: all we send but an agent's reply, which goes
 *     to customers only, says so);
 *   - sender authentication (security.senderAuth) proves the From (pass; one From address);
 *   - addressed (To/Cc) to one of our mailboxes other than the From's: a copy we only got by Bcc
 *     (a shop's archive copy of what it sent From support@) or a mailbox writing to itself stays
 *     ignored.
 * It opens a case like any mail; its requester, our own address, never gets mail
 * (recipient-refusal), so nothing can loop: agents see it and copy the customer in (`#cc`).
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
  async run(msg, ctx) {
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
      const person = await ownAddressWriter(msg, ctx, parsed, parsed.from.address);
      if (person.ok) {
        ctx.log.info({ messageId: parsed.messageId, address: parsed.from.address, why: person.why }, 'mail from our own address written by a person (not our mail coming back): handled as any mail');
        return NEXT;
      }
      const hint = parsed.replyTo.length > 0 ? ' (a contact form writing on behalf of its Reply-To? see mailboxes[].formSenders)' : '';
      return { end: 'ignored', reason: `loop: sent from our own address ${parsed.from.address}${hint} — ${person.why}` };
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

/**
 * Whether mail From our own `address` that carries no mark of ours was written by a person using
 * that mailbox's account (see the stage); else why it counts as our own mail or a forgery.
 */
async function ownAddressWriter(msg: Inbound, ctx: AppContext, parsed: ParsedMail, address: string): Promise<{ ok: boolean; why: string }> {
  if ([...parsed.inReplyTo, ...parsed.references].some((id) => verifyMessageId(id, ctx.secret) !== null)) {
    return { ok: false, why: 'it refers to a Message-ID we signed' };
  }
  // Everything we send but an agent's own reply says it is automatic; a person's forward does not.
  // (A header outside the X- ones, which some relays drop with our marks.)
  const auto = header(parsed, 'auto-submitted');
  if (auto !== null && !/^\s*no\b/i.test(auto)) return { ok: false, why: `it is automatic mail (Auto-Submitted: ${auto})` };
  const own = ctx.mailboxes.byAddress(address);
  const other = [...parsed.to, ...parsed.cc].map((a) => a.address).find((a) => !ctx.mailboxes.isNotesAddress(a) && ctx.mailboxes.byAddress(a) !== null && ctx.mailboxes.byAddress(a) !== own);
  if (other === undefined) return { ok: false, why: 'not addressed (To/Cc) to another of our mailboxes' };
  if (parsed.fromCount > 1) return { ok: false, why: `it names ${parsed.fromCount} From addresses` };
  const auth = await authenticateSender(msg, ctx, address);
  if (auth.verdict !== 'pass') return { ok: false, why: `the From is not authenticated (${auth.why})` };
  return { ok: true, why: `no mark of ours, authenticated (${auth.why}), addressed to ${other}` };
}
