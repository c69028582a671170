import iconv from 'iconv-lite';

/**
 * Windows-1252, the charset mail means by "Latin-1" (WHATWG: iso-8859-1, us-ascii and latin1 are
 * its labels): 0x80 is "€", 0x93/0x94 are “ ”, 0x96 is "–". Not Node's TextDecoder: Node 20 decodes
 * 'windows-1252' as ISO-8859-1, which turns those bytes into invisible C1 control characters
 * ("=?windows-1252?Q?=93Hello=94_=80?=" became "\u0093Hello\u0094 \u0080").
 */
export function decodeWindows1252(bytes: Uint8Array): string {
  return iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'windows-1252');
}

/** Whether a TextDecoder of this encoding (its `encoding`, WHATWG-normalised) must be replaced by decodeWindows1252. */
export function isWindows1252(encoding: string): boolean {
  return encoding === 'windows-1252';
}
