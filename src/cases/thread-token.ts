import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signed threading references (DESIGN §2). Every Message-ID we mint is
 *   <c{case}.{nonce}.{sig}@{domain}>   sig = HMAC-SHA256(secret, "mid:c{case}.{nonce}"), 12 hex chars
 * and the optional Reply-To plus address is
 *   {local}+c{case}-{sig}@{domain}      sig = HMAC-SHA256(secret, "plus:c{case}"), 10 hex chars
 * A reference that verifies proves the mail answers something we sent for that case; a guessed
 * case number cannot produce one.
 */

function sign(secret: string, input: string, length: number): string {
  return createHmac('sha256', secret).update(input).digest('hex').slice(0, length);
}

function equal(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export function mintMessageId(caseNumber: number | null, secret: string, domain: string): string {
  const nonce = randomBytes(6).toString('hex');
  const prefix = caseNumber === null ? 'n0' : `c${caseNumber}`;
  return `${prefix}.${nonce}.${sign(secret, `mid:${prefix}.${nonce}`, 12)}@${domain}`;
}

const SIGNED_ID = /^(c\d{1,12}|n0)\.([0-9a-f]{12})\.([0-9a-f]{12})@(.+)$/i;

/** The case number of a Message-ID we minted, null for ids that are not ours or fail the signature. */
export function verifyMessageId(id: string, secret: string): { caseNumber: number | null } | null {
  const m = SIGNED_ID.exec(id.trim());
  if (m === null) return null;
  const [, prefix, nonce, sig] = m as unknown as [string, string, string, string];
  if (!equal(sign(secret, `mid:${prefix.toLowerCase()}.${nonce.toLowerCase()}`, 12), sig.toLowerCase())) return null;
  return { caseNumber: prefix.toLowerCase() === 'n0' ? null : Number(prefix.slice(1)) };
}

export function plusAddress(address: string, caseNumber: number, secret: string): string {
  const at = address.lastIndexOf('@');
  return `${address.slice(0, at)}+c${caseNumber}-${sign(secret, `plus:c${caseNumber}`, 10)}${address.slice(at)}`;
}

/** support+c10042-abcdef0123@x → { base: support@x, caseNumber: 10042 } when the token verifies. */
export function verifyPlusAddress(address: string, secret: string): { base: string; caseNumber: number } | null {
  const m = /^([^+@]+)\+c(\d{1,12})-([0-9a-f]{10})(@.+)$/i.exec(address.trim());
  if (m === null) return null;
  const [, local, num, sig, domain] = m as unknown as [string, string, string, string, string];
  if (!equal(sign(secret, `plus:c${num}`, 10), sig.toLowerCase())) return null;
  return { base: `${local}${domain}`.toLowerCase(), caseNumber: Number(num) };
}

/** support+anything@x → support@x (for recipient matching). */
export function stripPlus(address: string): string {
  return address.replace(/^([^+@]+)\+[^@]*(@.+)$/, '$1$2').toLowerCase();
}
