/**
 * Opaque S/MIME signed mail ("application/pkcs7-mime; smime-type=signed-data", smime.p7m): the
 * signed MIME entity is inside a CMS SignedData structure, base64 in the message. mailparser sees
 * one binary attachment and no text. This module takes the encapsulated content out (BER, also
 * with indefinite lengths and chunked octet strings as OpenSSL and Outlook write them) so the
 * message can be read. The signature is not verified here: the content is shown, never trusted.
 *
 * Detached signatures (multipart/signed with application/pkcs7-signature) need nothing: the
 * signed part is ordinary MIME and the smime.p7s part is an attachment. Encrypted mail
 * (enveloped-data) cannot be read without the recipient's key and stays an attachment.
 */
import { createRequire } from 'node:module';
import type * as Asn1js from 'asn1js';
import type { AsnType } from 'asn1js';

let asn1: typeof Asn1js | undefined;
/** asn1js, loaded at the first S/MIME part (most processes never see one; `casegate ingest` starts without it). */
function asn1js(): typeof Asn1js {
  asn1 ??= createRequire(import.meta.url)('asn1js') as typeof Asn1js;
  return asn1;
}

export const PKCS7_MIME_TYPES: ReadonlySet<string> = new Set(['application/pkcs7-mime', 'application/x-pkcs7-mime']);

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_DATA = '1.2.840.113549.1.7.1';
/** Largest encapsulated content taken out (bigger signed messages stay an attachment). */
export const SMIME_MAX_BYTES = 4 * 1024 * 1024;

/** Tagged [0] EXPLICIT wrapper → its first inner element. */
function explicitInner(block: AsnType | undefined): AsnType | undefined {
  if (block === undefined || block.idBlock.tagClass !== 3 || block.idBlock.tagNumber !== 0) return undefined;
  const inner = (block.valueBlock as { value?: AsnType[] }).value;
  return Array.isArray(inner) ? inner[0] : undefined;
}

function items(block: AsnType | undefined): AsnType[] {
  if (!(block instanceof asn1js().Sequence)) return [];
  return block.valueBlock.value;
}

/**
 * The encapsulated content of a CMS SignedData (DER or BER bytes of the smime.p7m part), or null
 * when the bytes are not a SignedData with id-data content (encrypted, detached, malformed).
 */
export function signedDataContent(der: Uint8Array): Buffer | null {
  if (der.length === 0 || der.length > SMIME_MAX_BYTES * 2) return null;
  const { fromBER, ObjectIdentifier, OctetString } = asn1js();
  let parsed: ReturnType<typeof fromBER>;
  try {
    parsed = fromBER(der);
  } catch {
    return null;
  }
  if (parsed.offset === -1) return null;
  const contentInfo = items(parsed.result);
  const type = contentInfo[0];
  if (!(type instanceof ObjectIdentifier) || type.valueBlock.toString() !== OID_SIGNED_DATA) return null;
  const signedData = items(explicitInner(contentInfo[1]));
  // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, … }
  const encap = items(signedData[2]);
  const eType = encap[0];
  if (!(eType instanceof ObjectIdentifier) || eType.valueBlock.toString() !== OID_DATA) return null;
  const eContent = explicitInner(encap[1]);
  if (!(eContent instanceof OctetString)) return null;
  const bytes = Buffer.from(eContent.getValue());
  if (bytes.length === 0 || bytes.length > SMIME_MAX_BYTES) return null;
  return bytes;
}
