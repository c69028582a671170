import { createHash, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';

/**
 * Signed threading references (DESIGN §2). Every Message-ID we mint is
 *   <c{case}.{nonce}.{kid}.{sig}@{domain}>   sig = HMAC-SHA256(key, "mid:c{case}.{nonce}"), 12 hex chars
 * and the optional Reply-To plus address is
 *   {local}+c{case}-{kid}-{sig}@{domain}      sig = HMAC-SHA256(key, "plus:c{case}"), 10 hex chars
 * where kid names the key that signed it (4 characters derived from the key itself, so keys need no
 * names). A reference that verifies proves the mail answers something we sent for that case; a
 * guessed case number cannot produce one.
 *
 * Staff mail (notifications, assignments, alerts, command errors …) is also bound to its recipient:
 *   <c{case}.{nonce}.{kid}.{sig}.r{rsig}@{domain}>   rsig = HMAC-SHA256(key, "rcpt:c{case}.{nonce}:{address}")
 * It threads like any of our ids; in addition, a reply carrying it proves that its writer got our
 * mail at that address — what lets an agent's mail act as the agent when sender authentication
 * cannot say (README, "Agent trust"). A customer never sees such an id, and one signed for another
 * address proves nothing.
 *
 * Rotation: a new key signs everything from now on; retired keys still verify until their
 * acceptUntil. Tokens minted before key ids existed (<c{case}.{nonce}.{sig}@…>, +c{case}-{sig}@)
 * verify with any accepted key, so the mail customers already have keeps threading.
 */

/** Keys shorter than this (in bytes) are refused: an HMAC is only as strong as its key. */
export const MIN_SECRET_BYTES = 32;

export interface SigningKey {
  /** 4 characters [a-z2-7], derived from the key. */
  readonly id: string;
  readonly secret: string;
}

export interface RetiredSecret {
  readonly secret: string;
  /** Tokens signed with it verify until this instant. */
  readonly acceptUntil: Date;
}

/** The signing key and the keys a token may verify with right now. */
export interface ThreadSecret {
  readonly current: SigningKey;
  /** The current key first, then retired keys still inside their window. */
  accepted(): readonly SigningKey[];
  /** The same keys, judged by another clock (the context's injected one). */
  withClock(clock: Clock): ThreadSecret;
}

const KID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

export function keyId(secret: string): string {
  const h = createHash('sha256').update(`casegate-key-id:${secret}`).digest();
  let id = '';
  for (let i = 0; i < 4; i++) id += KID_ALPHABET[h[i]! & 31];
  return id;
}

/** Why a secret cannot be used, or null. */
export function secretProblem(secret: string): string | null {
  const bytes = Buffer.byteLength(secret, 'utf8');
  return bytes < MIN_SECRET_BYTES ? `is ${bytes} bytes long; at least ${MIN_SECRET_BYTES} are needed (e.g. \`openssl rand -base64 32\`)` : null;
}

export function threadSecret(current: string, retired: readonly RetiredSecret[], clock: Clock): ThreadSecret {
  const cur: SigningKey = { id: keyId(current), secret: current };
  const old = retired.filter((r) => r.secret !== current).map((r) => ({ key: { id: keyId(r.secret), secret: r.secret }, until: r.acceptUntil.getTime() }));
  return {
    current: cur,
    accepted() {
      const now = clock.now().getTime();
      return [cur, ...old.filter((o) => now <= o.until).map((o) => o.key)];
    },
    withClock: (other) => threadSecret(current, retired, other),
  };
}

function sign(secret: string, input: string, length: number): string {
  return createHmac('sha256', secret).update(input).digest('hex').slice(0, length);
}

function equal(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Keys to try for a token: those with its key id, or every accepted key for a token without one. */
function candidates(secret: ThreadSecret, kid: string | undefined): readonly SigningKey[] {
  const keys = secret.accepted();
  return kid === undefined ? keys : keys.filter((k) => k.id === kid.toLowerCase());
}

/**
 * Nonces come from random bytes drawn 4 KB at a time: one call into OpenSSL per 682 Message-IDs
 * instead of one each (randomBytes(6) took 6–7 µs of the 8.5 µs a Message-ID cost, and about
 * 25 µs a confirmation in a CPU profile of the daemon under a backlog). The bytes are the same
 * CSPRNG's, each used once; a worker thread has a pool of its own.
 */
const NONCE_POOL = Buffer.alloc(4096);
let noncePoolUsed = NONCE_POOL.length;

/** `bytes` fresh random bytes as hex. */
export function randomHex(bytes: number): string {
  if (bytes > NONCE_POOL.length) throw new RangeError(`at most ${NONCE_POOL.length} random bytes at a time`);
  if (noncePoolUsed + bytes > NONCE_POOL.length) {
    randomFillSync(NONCE_POOL);
    noncePoolUsed = 0;
  }
  const hex = NONCE_POOL.toString('hex', noncePoolUsed, noncePoolUsed + bytes);
  noncePoolUsed += bytes;
  return hex;
}

/** A Message-ID for mail about the case; `recipient` (staff mail) binds it to that address too. */
export function mintMessageId(caseNumber: number | null, secret: ThreadSecret, domain: string, recipient?: string): string {
  const nonce = randomHex(6);
  const prefix = caseNumber === null ? 'n0' : `c${caseNumber}`;
  const key = secret.current;
  const bound = recipient !== undefined ? `.r${sign(key.secret, recipientInput(prefix, nonce, recipient), 12)}` : '';
  return `${prefix}.${nonce}.${key.id}.${sign(key.secret, `mid:${prefix}.${nonce}`, 12)}${bound}@${domain}`;
}

function recipientInput(prefix: string, nonce: string, recipient: string): string {
  return `rcpt:${prefix}.${nonce}:${recipient.trim().toLowerCase()}`;
}

const SIGNED_ID = /^(c\d{1,12}|n0)\.([0-9a-f]{12})\.(?:([a-z2-7]{4})\.)?([0-9a-f]{12})(?:\.r([0-9a-f]{12}))?@(.+)$/i;

/** The case number of a Message-ID we minted, null for ids that are not ours or fail the signature. */
export function verifyMessageId(id: string, secret: ThreadSecret): { caseNumber: number | null } | null {
  const m = SIGNED_ID.exec(id.trim());
  if (m === null) return null;
  const prefix = m[1]!.toLowerCase();
  const input = `mid:${prefix}.${m[2]!.toLowerCase()}`;
  const sig = m[4]!.toLowerCase();
  if (!candidates(secret, m[3]).some((k) => equal(sign(k.secret, input, 12), sig))) return null;
  return { caseNumber: prefix === 'n0' ? null : Number(prefix.slice(1)) };
}

/**
 * The case number of a staff Message-ID we minted for `address` (signed with a key that is
 * accepted now), else null: a copy of any other id of ours — a customer's, or staff mail to
 * someone else — proves nothing about `address`.
 */
export function verifyStaffMessageId(id: string, secret: ThreadSecret, address: string): number | null {
  const m = SIGNED_ID.exec(id.trim());
  if (m === null || m[3] === undefined || m[5] === undefined || m[1]!.toLowerCase() === 'n0') return null;
  const prefix = m[1]!.toLowerCase();
  const nonce = m[2]!.toLowerCase();
  const sig = m[4]!.toLowerCase();
  const rsig = m[5].toLowerCase();
  const ok = candidates(secret, m[3]).some((k) => equal(sign(k.secret, `mid:${prefix}.${nonce}`, 12), sig) && equal(sign(k.secret, recipientInput(prefix, nonce, address), 12), rsig));
  return ok ? Number(prefix.slice(1)) : null;
}

export function plusAddress(address: string, caseNumber: number, secret: ThreadSecret): string {
  const at = address.lastIndexOf('@');
  const key = secret.current;
  return `${address.slice(0, at)}+c${caseNumber}-${key.id}-${sign(key.secret, `plus:c${caseNumber}`, 10)}${address.slice(at)}`;
}

const PLUS = /^([^+@]+)\+c(\d{1,12})-(?:([a-z2-7]{4})-)?([0-9a-f]{10})(@.+)$/i;

/** support+c10042-kid-abcdef0123@x → { base: support@x, caseNumber: 10042 } when the token verifies. */
export function verifyPlusAddress(address: string, secret: ThreadSecret): { base: string; caseNumber: number } | null {
  const m = PLUS.exec(address.trim());
  if (m === null) return null;
  const [, local, num, kid, sig, domain] = m as unknown as [string, string, string, string | undefined, string, string];
  const input = `plus:c${num}`;
  if (!candidates(secret, kid).some((k) => equal(sign(k.secret, input, 10), sig.toLowerCase()))) return null;
  return { base: `${local}${domain}`.toLowerCase(), caseNumber: Number(num) };
}

/** support+anything@x → support@x (for recipient matching). */
export function stripPlus(address: string): string {
  return address.replace(/^([^+@]+)\+[^@]*(@.+)$/, '$1$2').toLowerCase();
}

/**
 * Our instance mark (the X-Casegate-Instance header on everything we send): `{kid}.{sig}`,
 * sig = HMAC-SHA256(key, "instance:{domain}"), 12 hex chars. X-Loop names the domain only, and two
 * installations may share one (support and billing of one company, each with its own secret):
 * the mark tells our mail from theirs. Retired keys verify until their acceptUntil, like tokens.
 */
export function instanceMark(secret: ThreadSecret, domain: string): string {
  const key = secret.current;
  return `${key.id}.${sign(key.secret, instanceInput(domain), 12)}`;
}

function instanceInput(domain: string): string {
  return `instance:${domain.trim().toLowerCase()}`;
}

const INSTANCE_MARK = /^([a-z2-7]{4})\.([0-9a-f]{12})$/i;

/** Whether an X-Casegate-Instance value is our mark (signed with a key accepted now). */
export function verifyInstanceMark(value: string, secret: ThreadSecret, domain: string): boolean {
  const m = INSTANCE_MARK.exec(value.trim());
  if (m === null) return false;
  const sig = m[2]!.toLowerCase();
  return candidates(secret, m[1]).some((k) => equal(sign(k.secret, instanceInput(domain), 12), sig));
}

/**
 * The signed envelope sender (VERP, docs/deliverability.md "Signed bounce addresses"):
 *   {local}{sep}b{outbox row}-{kid}-{sig}@{domain}   sig = HMAC-SHA256(key, "verp:b{row}:{recipient}"), 12 hex chars
 * One per recipient: a bounce sent to it is about that email to that recipient, whatever the
 * report says or leaves out. The recipient is not written into it: it is the row's recipient the
 * signature verifies for — so the token a recipient sees in his own copy's Return-Path speaks
 * for him alone, never for another reader of the same email. sep is "+" or "-" (whatever the
 * mail server delivers to the base address).
 */
export function verpAddress(address: string, rowId: number, recipient: string, secret: ThreadSecret, separator: '+' | '-'): string {
  const at = address.lastIndexOf('@');
  const key = secret.current;
  return `${address.slice(0, at)}${separator}b${rowId}-${key.id}-${sign(key.secret, verpInput(rowId, recipient), 12)}${address.slice(at)}`;
}

function verpInput(rowId: number, recipient: string): string {
  return `verp:b${rowId}:${recipient.trim().toLowerCase()}`;
}

const VERP = /^(.+?)[+-]b(\d{1,15})-([a-z2-7]{4})-([0-9a-f]{12})(@[^@\s]+)$/i;

/** What an address of the VERP form names (signature not checked): its base address and outbox row. */
export interface VerpParts {
  readonly base: string;
  readonly rowId: number;
  readonly kid: string;
  readonly sig: string;
}

export function verpParts(address: string): VerpParts | null {
  const m = VERP.exec(address.trim());
  if (m === null) return null;
  const rowId = Number(m[2]);
  if (!Number.isSafeInteger(rowId) || rowId <= 0) return null;
  return { base: `${m[1]!}${m[5]!}`.toLowerCase(), rowId, kid: m[3]!.toLowerCase(), sig: m[4]!.toLowerCase() };
}

/**
 * The recipient among `recipients` (the row's To and Cc) that a VERP token was signed for, with
 * a key accepted now; null when it verifies for none of them (forged, altered, another
 * installation's, or a key retired past its acceptUntil).
 */
export function verifyVerp(parts: VerpParts, secret: ThreadSecret, recipients: readonly string[]): string | null {
  const keys = candidates(secret, parts.kid);
  for (const r of recipients) {
    if (keys.some((k) => equal(sign(k.secret, verpInput(parts.rowId, r), 12), parts.sig))) return r;
  }
  return null;
}

/**
 * The signed envelope id (RFC 3461 ENVID, docs/deliverability.md "Who may report a bounce"):
 *   casegate.b{outbox row}.{kid}.{r|a}{sig}   sig = HMAC-SHA256(key, "envid:b{row}:{reader or *}"), 16 hex chars
 * Given with MAIL FROM to a relay that offers DSN; every DSN-speaking MTA on the way keeps it with
 * the envelope and writes it into its report (`Original-Envelope-Id`) — and no MTA writes it into
 * the message a reader gets. So a report carrying it was written by an MTA that carried this very
 * envelope: our relay, or the recipient's MX after it. `r`: the transaction went to one reader,
 * the signature names them (it speaks for them alone); `a`: to several readers at once (it speaks
 * for each of them — an MTA of one of them could report on another). An email to several readers
 * goes to a relay that offers DSN one transaction per reader (row-attempt.ts), so `a` is given
 * only to relays that take no ENVID at all; it is still verified for emails sent before.
 */
export function envelopeId(rowId: number, reader: string | null, secret: ThreadSecret): string {
  const key = secret.current;
  return `casegate.b${rowId}.${key.id}.${reader === null ? 'a' : 'r'}${sign(key.secret, envidInput(rowId, reader), 16)}`;
}

function envidInput(rowId: number, reader: string | null): string {
  return `envid:b${rowId}:${reader === null ? '*' : reader.trim().toLowerCase()}`;
}

const ENVID = /^casegate\.b(\d{1,15})\.([a-z2-7]{4})\.([ra])([0-9a-f]{16})$/i;

/** The outbox row an envelope id names (signature not checked), or null: not one of ours. */
export function envelopeIdRow(value: string): number | null {
  const m = ENVID.exec(value.trim());
  if (m === null) return null;
  const rowId = Number(m[1]);
  return Number.isSafeInteger(rowId) && rowId > 0 ? rowId : null;
}

/**
 * Whom an envelope id speaks for among `readers` (the row's To and Cc): `'all'` (one transaction
 * to several readers), one reader, or null — it does not verify (forged, altered, another
 * installation's, a key retired past its acceptUntil).
 */
export function verifyEnvelopeId(value: string, secret: ThreadSecret, readers: readonly string[]): 'all' | string | null {
  const m = ENVID.exec(value.trim());
  if (m === null) return null;
  const rowId = Number(m[1]);
  const keys = candidates(secret, m[2]!);
  const sig = m[4]!.toLowerCase();
  if (m[3]!.toLowerCase() === 'a') return keys.some((k) => equal(sign(k.secret, envidInput(rowId, null), 16), sig)) ? 'all' : null;
  for (const r of readers) if (keys.some((k) => equal(sign(k.secret, envidInput(rowId, r), 16), sig))) return r;
  return null;
}
