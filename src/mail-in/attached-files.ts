import type { ParsedMail, StoredAttachment } from './parsed-mail.js';

/**
 * Which files did the writer attach, as opposed to pictures embedded in their HTML body (a
 * signature logo, an image pasted into the text)? Relaying an agent's reply needs the first and
 * leaves the second behind (the reply goes out as text; the stored mail keeps every part).
 *
 * `Content-Disposition: inline` alone does not tell: Apple Mail and iOS Mail mark every
 * attachment inline (a PDF between two text parts, a photo in a plain-text mail). A part is
 * embedded only when it is an image the HTML shows by its Content-ID (`cid:`); every other part
 * was attached — except the signature part of a signed mail (S/MIME, PGP), which the client adds.
 */
export function attachedFiles(mail: Pick<ParsedMail, 'attachments' | 'html'>): StoredAttachment[] {
  const shown = cidReferences(mail.html ?? '');
  return mail.attachments.filter((a) => isAttachedFile(a, shown));
}

/**
 * The same rule for one stored part. `shown`: the Content-IDs its message's HTML shows; null when
 * the HTML is not at hand — then an inline image with a Content-ID counts as embedded (what a
 * signature logo or a pasted picture is).
 */
export function isAttachedFile(a: Pick<StoredAttachment, 'contentType' | 'disposition' | 'contentId'>, shown: ReadonlySet<string> | null): boolean {
  const type = a.contentType.toLowerCase();
  if (SIGNATURES.has(type)) return false;
  if (a.disposition === 'attachment' || !type.startsWith('image/') || a.contentId === null) return true;
  return shown !== null && !shown.has(a.contentId.toLowerCase());
}

/** A signed mail's signature part (S/MIME smime.p7s, PGP/MIME): the client's, not a file the writer attached. */
const SIGNATURES: ReadonlySet<string> = new Set(['application/pkcs7-signature', 'application/x-pkcs7-signature', 'application/pgp-signature']);

/** Content-IDs the HTML refers to ("cid:logo@x" in src, background, CSS url()), lower-cased. */
export function cidReferences(html: string): Set<string> {
  const out = new Set<string>();
  for (const m of html.matchAll(/cid:([^\s"'()<>]+)/gi)) {
    const id = m[1]!;
    let decoded = id;
    try {
      decoded = decodeURIComponent(id);
    } catch {
      // a stray "%" in the id: compare it as written
    }
    out.add(id.toLowerCase());
    out.add(decoded.toLowerCase());
  }
  return out;
}
