import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ThreadSecret } from '../cases/thread-token.js';
import type { IncomingMessage } from 'node:http';

/**
 * Form protection. Every form carries a token bound to the signed link it was served for
 * (HMAC over the link's signature and the issue time, valid for 24 hours: over WCAG 2.2.1's 20 hours,
 * so a page left open overnight still sends), and a POST whose
 * Origin (or Sec-Fetch-Site) says it came from another site is refused. Together with the link
 * itself being a secret, a third-party page cannot submit a form in the customer's name.
 */

const VALID_MS = 24 * 3_600_000;

function sign(secret: string, linkSig: string, issued: string): string {
  return createHmac('sha256', secret).update(`csrf:v1:${linkSig}:${issued}`).digest('hex').slice(0, 24);
}

export function formToken(secret: ThreadSecret, linkSig: string, now: Date): string {
  const issued = Math.floor(now.getTime() / 1000).toString(36);
  return `v1.${issued}.${sign(secret.current.secret, linkSig, issued)}`;
}

export function checkFormToken(secret: ThreadSecret, linkSig: string, token: string, now: Date): boolean {
  const m = /^v1\.([0-9a-z]{1,10})\.([0-9a-f]{24})$/.exec(token);
  if (m === null) return false;
  const got = Buffer.from(m[2]!);
  const valid = secret.accepted().some((key) => {
    const want = Buffer.from(sign(key.secret, linkSig, m[1]!));
    return want.length === got.length && timingSafeEqual(want, got);
  });
  if (!valid) return false;
  const age = now.getTime() - parseInt(m[1]!, 36) * 1000;
  return age >= -60_000 && age <= VALID_MS;
}

/**
 * Why a POST must be refused as cross-site, or null. Browsers that send Sec-Fetch-Site are
 * believed (same-origin or none: fine; same-site or cross-site: refused); otherwise the Origin
 * must be ours (no Origin at all: an old client or a tool, the form token decides).
 */
export function crossSiteRefusal(req: Pick<IncomingMessage, 'headers'>, publicOrigin: string): string | null {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? null : `Sec-Fetch-Site: ${site}`;
  const origin = req.headers['origin'];
  if (origin === undefined) return null;
  if (origin === 'null') return 'Origin: null';
  const host = req.headers['host'];
  const allowed = new Set([new URL(publicOrigin).origin.toLowerCase(), ...(host !== undefined ? [`http://${host}`.toLowerCase(), `https://${host}`.toLowerCase()] : [])]);
  return allowed.has(origin.toLowerCase()) ? null : `Origin ${origin} is not ${new URL(publicOrigin).origin}`;
}
