import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ThreadSecret } from '../cases/thread-token.js';

/**
 * Signed links for customers (issue 11), in the signing style of src/cases/thread-token.ts:
 *
 *   <case>.<purpose>[.p<participant>].<issued>.<expires>.<sig>   issued/expires: epoch seconds in base 36
 *   sig = HMAC-SHA256(secret, "link:v1:<everything before the sig>"), 24 hex chars
 *
 * purpose: "c" the case page, "s" the survey. A link proves that we sent it for that case and
 * purpose; it expires, and it can be revoked (link_revocations: one link by its signature, or
 * every link of a case issued before a time). A guessed case number cannot produce one, and a
 * case link never opens another case.
 *
 * Whom it names: without a participant segment, the case's requester (every link before
 * per-recipient links, and the survey, which only the requester gets); `p<id>` a participant
 * (case_participants.id) — the Cc'd colleague the email carrying it was written to. The page
 * shows that person's messages as "You" and a reply from it is theirs; once the participant is
 * removed from the case (#cc -address), their links open nothing.
 */

export type LinkPurpose = 'case' | 'survey';

const CODE: Record<LinkPurpose, string> = { case: 'c', survey: 's' };
const TOKEN = /^(\d{1,12})\.([cs])(?:\.p(\d{1,12}))?\.([0-9a-z]{1,10})\.([0-9a-z]{1,10})\.([0-9a-f]{24})$/;

export interface LinkToken {
  readonly caseNumber: number;
  readonly purpose: LinkPurpose;
  /** The participant it was written for (case_participants.id); null: the requester. */
  readonly participantId: number | null;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  /** The signature: what a single-link revocation names. */
  readonly sig: string;
  readonly token: string;
}

export type LinkCheck = { readonly ok: true; readonly link: LinkToken } | { readonly ok: false; readonly why: 'malformed' | 'bad-signature' | 'expired'; readonly link?: LinkToken };

function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(`link:v1:${body}`).digest('hex').slice(0, 24);
}

export function mintLinkToken(secret: ThreadSecret, caseNumber: number, purpose: LinkPurpose, now: Date, validDays: number, participantId: number | null = null): string {
  const issued = Math.floor(now.getTime() / 1000);
  const expires = issued + Math.round(validDays * 86_400);
  const body = `${caseNumber}.${CODE[purpose]}${participantId !== null ? `.p${participantId}` : ''}.${issued.toString(36)}.${expires.toString(36)}`;
  return `${body}.${sign(secret.current.secret, body)}`;
}

/** Check signature and expiry (revocations are the caller's: they live in the database). */
export function checkLinkToken(secret: ThreadSecret, token: string, now: Date): LinkCheck {
  const m = TOKEN.exec(token);
  if (m === null) return { ok: false, why: 'malformed' };
  const [, num, code, pid, iat, exp, sig] = m as unknown as [string, string, string, string | undefined, string, string, string];
  const body = `${num}.${code}${pid !== undefined ? `.p${pid}` : ''}.${iat}.${exp}`;
  // Signed with the current key, or a retired one still inside its window (instance.previousSecrets).
  const got = Buffer.from(sig);
  const valid = secret.accepted().some((key) => {
    const want = Buffer.from(sign(key.secret, body));
    return want.length === got.length && timingSafeEqual(want, got);
  });
  if (!valid) return { ok: false, why: 'bad-signature' };
  const link: LinkToken = {
    caseNumber: Number(num),
    purpose: code === 'c' ? 'case' : 'survey',
    participantId: pid !== undefined ? Number(pid) : null,
    issuedAt: new Date(parseInt(iat, 36) * 1000),
    expiresAt: new Date(parseInt(exp, 36) * 1000),
    sig,
    token,
  };
  if (link.expiresAt.getTime() <= now.getTime()) return { ok: false, why: 'expired', link };
  return { ok: true, link };
}

/** The public base URL without a trailing slash. */
export function baseUrlOf(web: { readonly baseUrl?: string | undefined; readonly host: string; readonly port: number }): string {
  return (web.baseUrl ?? `http://${web.host.includes(':') ? `[${web.host}]` : web.host}:${web.port}`).replace(/\/+$/, '');
}

export function casePath(token: string): string {
  return `/c/${token}`;
}

export function surveyPath(token: string, rating?: number): string {
  return rating === undefined ? `/s/${token}` : `/s/${token}/${rating}`;
}

/** Where a survey link's one-click unsubscribe goes (List-Unsubscribe, RFC 8058): no more surveys to the case's requester. */
export function surveyUnsubscribePath(token: string): string {
  return `/s/${token}/unsubscribe`;
}

/**
 * A text with every signed link of ours in it cut to "…" (any case, purpose or reader; the URL
 * around it stays: https://support.example.com/c/…). The case page shows everyone who takes part
 * the same thread, and a link pasted into a message — or our footer quoted back — is whoever it
 * was written for: the requester's link on a Cc'd colleague's page let the colleague write as the
 * requester. Each reader has their own link in their own email.
 *
 * `keep`: tokens (or links) left as they are — the links an email was written with for its own
 * reader (mail-out/compose.ts). Everything else that reaches that reader (a message quoted in it,
 * a link an agent pasted, the subject) is cut the same way.
 */
export function withoutSignedLinks(text: string, keep: Iterable<string> = []): string {
  const kept = new Set([...keep].filter((k) => k !== '').map(tokenFromLink));
  // A token a mail client broke over two lines is cut whole; its line breaks (and the quote
  // markers after them) stay, so the lines around it keep their shape.
  let out = '';
  let from = 0;
  for (const m of text.matchAll(LINK_TOKENS)) {
    const found = m[0];
    const broken = isBroken(found);
    if (kept.has(broken ? found.replace(LINE_BREAK, '') : found)) continue;
    out += `${text.slice(from, m.index)}…${broken ? (found.match(LINE_BREAK) ?? []).join('') : ''}`;
    from = m.index + found.length;
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * A line break inside a token: a mail client that hard-wraps plain text at 72 or 76 columns
 * (Exchange 2003 broke every ASCII plain-text line at 72; Outlook for Mac, Lotus Notes and others
 * wrap at the column whether or not a word ends there) breaks a link that is longer than the line,
 * and whoever quotes that text puts quote markers ("> ", ">> ", "> > ") at the start of each line.
 * As text ("\n> ") or as our HTML shows a quoted line ("<br>\n&gt; "). What follows must be the
 * token going on: a whole token at the end of a line is never joined with the next line (its
 * signature is exactly 24 hex digits, then no letter or digit).
 */
const BREAK = String.raw`(?:(?:<br\s*\/?>[ \t]*(?:\r?\n)?|\r?\n)[ \t]*(?:(?:>|&gt;)[ \t]?)*)`;
const LINE_BREAK = new RegExp(BREAK, 'g');
/** One character of a token, a line break allowed after it. */
const w = (cls: string): string => `${cls}${BREAK}?`;

/**
 * Anything shaped like a signed link's token (signature not checked), also when a line break splits
 * it (BREAK). Its parts come in order: case number, purpose, participant, issued, expires, signature.
 */
const LINK_TOKENS = new RegExp(
  String.raw`(?<![0-9a-z.])(?:${w('[0-9]')}){1,12}${w('[.]')}${w('[cs]')}(?:${w('[.]')}${w('p')}(?:${w('[0-9]')}){1,12})?${w('[.]')}(?:${w('[0-9a-z]')}){1,10}${w('[.]')}(?:${w('[0-9a-z]')}){1,10}${w('[.]')}(?:${w('[0-9a-f]')}){23}[0-9a-f](?![0-9a-z])`,
  'g',
);

/** Whether a token as found in a text has a line break in it (BREAK: a newline or a <br>). */
function isBroken(found: string): boolean {
  return found.includes('\n') || found.includes('<');
}

/** A token as found in a text, its line breaks (BREAK) taken out. */
function unwrapped(found: string): string {
  return isBroken(found) ? found.replace(LINE_BREAK, '') : found;
}

/** The tokens shaped like a signed link of ours in a text, each once, a token broken over lines joined (what withoutSignedLinks cuts; checkLinkToken tells which are ours). */
export function signedLinksIn(text: string): string[] {
  return [...new Set((text.match(LINK_TOKENS) ?? []).map(unwrapped))];
}

/** A token from a pasted link or the bare token. */
export function tokenFromLink(linkOrToken: string): string {
  const t = linkOrToken.trim();
  const m = /\/[cs]\/([^/?#\s]+)/.exec(t);
  return m?.[1] ?? t;
}
