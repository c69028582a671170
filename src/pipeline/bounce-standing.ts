import { addressKey } from '../address-form.js';
import { aligned } from '../mail-in/sender-auth.js';
import type { SenderNote } from './types.js';

/**
 * Has this delivery report the standing to mark `recipient` as bouncing? A report is plain mail:
 * it can name anyone, and whoever saw one of our emails (a Cc'd reader, a forward, the customer's
 * own reply headers) knows the Message-ID it quotes. So a report marks an address only with
 * proof that a mail system which handled that delivery wrote it (docs/deliverability.md, "Who may
 * report a bounce"):
 *   - it came to the signed bounce address of that email and reader (mailboxes[].verp);
 *   - it carries our signed envelope id (RFC 3461 ENVID, Original-Envelope-Id) of that email:
 *     only MTAs that carried the envelope have it — our relay, the recipient's MX — never a reader;
 *   - it is authenticated (security.senderAuth: DMARC, aligned DKIM or SPF) as coming from a
 *     mail-system address (MAILER-DAEMON@, postmaster@ …) of the recipient's own domain, or of a
 *     domain named in security.bounces.reporters (there also Exchange's MicrosoftExchange329e…@). A person's address never has standing, even
 *     authenticated: every Gmail user sends DKIM-signed gmail.com mail, and so could report
 *     every other Gmail user — a mail-system address is one no user of the domain gets; and it
 *     must be addressed to us (To), else it is a report about someone else's mail, replayed.
 * With verp on only the first counts (unchanged: the signed address is what it is for). With
 * security.bounces.trust `any` every report counts (the behaviour before this check).
 */

export type BounceStanding = { readonly trusted: true; readonly how: string } | { readonly trusted: false; readonly why: string };

export interface BounceProofs {
  /** It came to the signed bounce address of the email and this reader (verp). */
  readonly signed: boolean;
  /** Our envelope id the report carries verified: the email (outbox row) and the readers it speaks for. */
  readonly envelope: { readonly outboxId: number; readonly readers: readonly string[] } | null;
  /** Who wrote the report, as the sender stage judged it. */
  readonly reporter: Pick<SenderNote, 'address' | 'auth' | 'why'>;
  /**
   * Its To header names one of our addresses (a report goes to the email's envelope sender). An
   * authenticated report addressed to someone else is a report about *their* mail, replayed to
   * us: whoever sends the recipient a message with our Message-ID and makes it fail gets her
   * domain's signed report about it — addressed to himself.
   */
  readonly addressedToUs: boolean;
}

export interface BounceTrustSettings {
  readonly verp: boolean;
  readonly trust: 'proven' | 'any';
  readonly reporters: readonly string[];
}

/** Local parts mail systems write their reports from; no user of a mail provider gets one. */
const MAIL_SYSTEM = /^(mailer-daemon|mailer_daemon|mailerdaemon|mail-daemon|postmaster)$/i;

/**
 * The Microsoft Exchange recipient, one fixed name in every Exchange organisation (on premises and
 * Microsoft 365): Exchange writes its reports from it only to senders *in its own organisation*;
 * to an outside sender it writes from postmaster@. So it stands for an organisation's own relay —
 * a domain named in security.bounces.reporters (ours, when our mail goes through Exchange) — and
 * never for a recipient's domain: casegate is never inside the recipient's organisation, and a
 * consumer mail service with long user names (outlook.com allows 64 characters) may let anyone
 * register this very name.
 */
const EXCHANGE_RECIPIENT = /^microsoftexchange329e71ec88ae4615bbc36ab6ce41109e$/i;

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export function bounceStanding(recipient: string, p: BounceProofs, s: BounceTrustSettings): BounceStanding {
  if (p.signed) return { trusted: true, how: "it came to the email's signed bounce address for this reader (mailboxes[].verp)" };
  if (s.verp) return { trusted: false, why: "this report did not come to the email's signed bounce address (mailboxes[].verp), where an MTA sends it — a forged report?" };
  const key = addressKey(recipient);
  if (p.envelope !== null && p.envelope.readers.some((r) => addressKey(r) === key)) {
    return { trusted: true, how: `it carries our signed envelope id of that email (outbox ${p.envelope.outboxId}): written by an MTA that carried it` };
  }
  const reporter = reporterStanding(recipient, p.reporter, p.addressedToUs, s.reporters);
  if (reporter.trusted) return reporter;
  if (s.trust === 'any') return { trusted: true, how: 'security.bounces.trust is any' };
  const envelope = p.envelope !== null ? `its envelope id is of an email to ${p.envelope.readers.join(', ')}, not to this reader` : 'it carries no envelope id of ours';
  return { trusted: false, why: `nothing proves a mail system that handled the email wrote it (${envelope}; ${reporter.why}) — a forged report?` };
}

function reporterStanding(recipient: string, r: BounceProofs['reporter'], addressedToUs: boolean, reporters: readonly string[]): BounceStanding {
  const at = r.address.lastIndexOf('@');
  if (at <= 0) return { trusted: false, why: `the reporter ${r.address} is no address of a domain` };
  const domain = domainOf(r.address);
  const forRecipient = aligned(domain, domainOf(recipient));
  const named = reporters.find((d) => aligned(domain, d));
  if (!forRecipient && named === undefined) return { trusted: false, why: `the reporter ${r.address} is not of the recipient's domain (nor of security.bounces.reporters)` };
  const local = r.address.slice(0, at);
  if (EXCHANGE_RECIPIENT.test(local) && named === undefined) {
    return { trusted: false, why: `the reporter ${r.address} is the Microsoft Exchange recipient, which reports only to senders of its own organisation, never to us about a recipient's domain (name our own Exchange's domain in security.bounces.reporters)` };
  }
  if (!MAIL_SYSTEM.test(local) && !EXCHANGE_RECIPIENT.test(local)) return { trusted: false, why: `the reporter ${r.address} is a person's address, not the domain's mail system (MAILER-DAEMON, postmaster)` };
  if (r.auth !== 'pass') return { trusted: false, why: `the reporter ${r.address} is not authenticated (${r.why})` };
  if (!addressedToUs) return { trusted: false, why: `the report from ${r.address} is addressed to someone else, not to us: a report about their mail, passed on?` };
  return { trusted: true, how: forRecipient && !EXCHANGE_RECIPIENT.test(local) ? `authenticated report from ${r.address}, the mail system of the recipient's own domain` : `authenticated report from ${r.address} (security.bounces.reporters: ${named})` };
}
