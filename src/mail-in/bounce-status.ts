/**
 * The result types of bounce parsing and the small pieces every bounce source (DSN fields, Amazon
 * SES JSON, plain-text notices) shares: address cleaning, status codes, hard or soft.
 */

export interface BounceRecipient {
  /** The failed address, lower-case. Original-Recipient is preferred over Final-Recipient. */
  address: string;
  /** DSN action: failed, delayed, delivered, relayed, expanded (null when unknown). */
  action: string | null;
  /** Enhanced status code, e.g. "5.1.1" (null when none was found). */
  status: string | null;
  diagnostic: string | null;
  /**
   * A hard failure. The status class decides when there is one (5.x.x hard; 4.x.x soft even with
   * action "failed" after the retry time ran out); without a status a 4xx/5xx reply code in the
   * diagnostic, then action "failed".
   */
  permanent: boolean;
}

export interface BounceReport {
  /**
   * Message-IDs (no angle brackets) of the original message the bounce is about: from the
   * returned message/rfc822 or text/rfc822-headers part, then In-Reply-To/References, then
   * "Message-ID: <…>" lines found in the body text. All candidates, best first, no duplicates.
   */
  originalMessageIds: string[];
  recipients: BounceRecipient[];
  /** The Original-Envelope-Id values of its delivery-status parts (RFC 3461): our signed ENVID when an MTA that carried our envelope wrote it. */
  envelopeIds?: string[];
}


export const MAX_RECIPIENTS = 50;

/**
 * A real bounce comes while the sending MTA still holds the message: at once, or when its queue
 * lifetime ends (Postfix 5 days, Exim and Exchange fewer). A "hard bounce" about mail we handed
 * over longer ago than this is no delivery report anyone's MTA writes — more likely a forged DSN
 * quoting an old Message-ID of ours (anyone the email reached has it) to silence an address: it
 * is recorded, and the address is not marked as bouncing.
 */
export const BOUNCE_MAX_AGE_DAYS = 7;

export function dsnAddress(value: string | undefined): string | null {
  if (value === undefined) return null;
  const semi = value.indexOf(';');
  const raw = semi >= 0 ? value.slice(semi + 1) : value;
  return cleanAddress(semi >= 0 && /^\s*utf-8\s*$/i.test(value.slice(0, semi)) ? unescapeUtf8Address(raw) : raw);
}

/**
 * An address of type utf-8 (RFC 6533): non-ASCII characters may come escaped as `\x{FC}` (the
 * code point in hex), as SMTPUTF8 MTAs write them in a delivery-status part that must stay ASCII.
 */
function unescapeUtf8Address(raw: string): string {
  return raw.replace(/\\x\{([0-9a-f]{1,6})\}/gi, (all, hex: string) => {
    const cp = Number.parseInt(hex, 16);
    return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
  });
}

export function cleanAddress(raw: string): string | null {
  if (raw.length > 512) return null;
  const inner = /<([^<>]*)>/.exec(raw)?.[1] ?? raw;
  const addr = inner
    .trim()
    .replace(/^["'(\[]+|["')\].,:;]+$/g, '')
    .replace(/^mailto:/i, '')
    .toLowerCase();
  // The domain may be internationalised (bücher.example, пример.рф): it ends in a letter or digit of any script.
  return /^[^\s@<>()",;]+@[^\s@<>()",;]+\.[^\s@<>()",;]*[\p{L}\p{N}]$/u.test(addr) || /^[^\s@<>()",;]+@[a-z0-9-]+$/i.test(addr)
    ? addr
    : null;
}

export function enhancedStatus(text: string): string | null {
  const m = /(?:^|[^\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)/.exec(text);
  return m === null ? null : `${m[1]}.${m[2]}.${m[3]}`;
}

export function smtpReplyClass(text: string): '4' | '5' | null {
  const m = /(?:^|[\s(\[:;"'-])([45])[0-9]{2}(?:[ \-]|$)/m.exec(text);
  return m === null ? null : m[1] === '4' ? '4' : '5';
}

/**
 * Hard failure? The status class decides when there is one (5.x.x hard; 4.x.x is a transient
 * condition even when the MTA finally gave up, action "failed" after expiry); without a status,
 * an SMTP reply code in the diagnostic decides, and then the action. A full mailbox (X.2.2, "over
 * quota") is the mailbox's condition of the moment, never a dead address, whatever
 * class the MTA gave it: the next mail may well arrive.
 */
export function isPermanent(status: string | null, action: string | null, diagnostic: string | null): boolean {
  if (isMailboxFull(status, diagnostic)) return false;
  if (status !== null) return status.startsWith('5');
  const reply = diagnostic !== null ? smtpReplyClass(diagnostic) : null;
  if (reply !== null) return reply === '5';
  return action === 'failed';
}

/** A full mailbox: status X.2.2, or a diagnostic that says so. */
export function isMailboxFull(status: string | null, diagnostic: string | null): boolean {
  return (status !== null && /^\d\.2\.2$/.test(status)) || (diagnostic !== null && MAILBOX_FULL.test(diagnostic));
}

/**
 * A diagnostic that says the mailbox is full: X.2.2, or the words MTAs use. (Not the bare reply
 * 552: MTAs send it for messages too large as often as for full mailboxes.)
 */
const MAILBOX_FULL = /(?:^|[^\d.])\d\.2\.2(?![\d.])|over ?quota|quota exceeded|mailbox (?:is )?full/i;

export function dedupeRecipients(list: BounceRecipient[]): BounceRecipient[] {
  const seen = new Set<string>();
  return list.filter((r) => {
    if (seen.has(r.address)) return false;
    seen.add(r.address);
    return true;
  });
}
