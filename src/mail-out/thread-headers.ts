import { createHash, randomInt } from 'node:crypto';

/**
 * Threading headers of the mail we send, so that every client shows one conversation per case:
 * References as RFC 5322 §3.6.4 asks (the root first, the parent last) and, for Outlook and
 * Exchange, Thread-Topic / Thread-Index. Pure functions; compose.ts decides what to pass.
 *
 * Thread-Index is never used to thread mail we receive (a stranger can copy it): only our signed
 * Message-IDs, known references and the subject tag do (DESIGN §2). So its GUID may be derived
 * from public facts (instance domain and case number) and stays the same across secret rotations.
 */

/** Most Message-IDs written into References: the root plus the newest (MAX_REFERENCES - 1). */
export const MAX_REFERENCES = 20;

/**
 * References of a reply: the parent's References (or, without them, the parent's In-Reply-To, as
 * the caller passes in `parentReferences`) followed by the parent's Message-ID, with the case's
 * root first when it is known and missing (clients such as Outlook trim it away). Duplicates are
 * dropped (the first occurrence stays). A long chain keeps the root and the newest ids, so the
 * parent is always last.
 */
export function replyReferences(parentReferences: readonly string[], parentId: string | null, root: string | null, max = MAX_REFERENCES): string[] {
  const seen = new Set<string>();
  const ids: string[] = [];
  for (const raw of [...parentReferences, ...(parentId !== null ? [parentId] : [])]) {
    const id = bare(raw);
    if (id === '' || seen.has(id.toLowerCase())) continue;
    seen.add(id.toLowerCase());
    ids.push(id);
  }
  // The root goes first only when the chain lost it; a chain that has it keeps its own order.
  const r = root !== null ? bare(root) : '';
  if (r !== '' && !seen.has(r.toLowerCase())) ids.unshift(r);
  if (ids.length <= max) return ids;
  return [ids[0]!, ...ids.slice(ids.length - (max - 1))];
}

function bare(id: string): string {
  return id.trim().replace(/^<|>$/g, '');
}

/** 100-ns intervals between 1601-01-01 and 1970-01-01 (FILETIME epoch vs Unix epoch). */
const FILETIME_UNIX_OFFSET = 116_444_736_000_000_000n;

export function fileTime(at: Date): bigint {
  return BigInt(at.getTime()) * 10_000n + FILETIME_UNIX_OFFSET;
}

/**
 * The conversation GUID of a case: the same for every message of the case, different for every
 * case and installation (SHA-256 of domain and case number, shaped as an RFC 4122 name-based GUID).
 */
export function caseConversationGuid(domain: string, caseNumber: number): Buffer {
  const guid = createHash('sha256').update(`casegate thread-index\0${domain.toLowerCase()}\0${caseNumber}`).digest().subarray(0, 16);
  guid[6] = (guid[6]! & 0x0f) | 0x50; // version 5 (name-based)
  guid[8] = (guid[8]! & 0x3f) | 0x80; // RFC 4122 variant
  return Buffer.from(guid);
}

/**
 * Outlook's Thread-Index (MS-OXOMSG 2.2.1.3, PidTagConversationIndex), base64: a 22-byte header —
 * the six most significant bytes of the conversation's start as FILETIME (the first of them is
 * 0x01 for any date from 1829 to 2057: the "reserved" byte), then the 16-byte conversation GUID —
 * followed by one 5-byte response level for this message: delta-code bit, 31 bits of the time
 * since the start, 4 random bits and a 4-bit sequence.
 */
export function threadIndex(guid: Buffer, conversationStart: Date, messageTime: Date, random: () => number = () => randomInt(16)): string {
  if (guid.length !== 16) throw new Error('a conversation GUID has 16 bytes');
  const start = fileTime(conversationStart);
  const header = Buffer.alloc(22);
  const ft = Buffer.alloc(8);
  ft.writeBigUInt64BE(start);
  ft.copy(header, 0, 0, 6);
  guid.copy(header, 6);
  // The delta is measured from the header's truncated time (what a reader can reconstruct).
  const base = (start >> 16n) << 16n;
  const delta = fileTime(messageTime) > base ? fileTime(messageTime) - base : 0n;
  // Delta code 0: bits 49..18 of the delta (≈ 1.7 years); 1: bits 54..23 (≈ 55 years).
  const wide = delta >= 1n << 49n;
  const bits = Number((wide ? delta >> 23n : delta >> 18n) & 0x7fffffffn);
  const child = Buffer.alloc(5);
  child.writeUInt32BE(((wide ? 0x80000000 : 0) | bits) >>> 0);
  child[4] = ((random() & 0x0f) << 4) | 0;
  return Buffer.concat([header, child]).toString('base64');
}

/** A Thread-Index taken apart (tests, diagnostics). */
export interface ParsedThreadIndex {
  readonly start: Date;
  readonly guid: string;
  readonly children: readonly { readonly wide: boolean; readonly deltaMs: number }[];
}

export function parseThreadIndex(value: string): ParsedThreadIndex | null {
  const b = Buffer.from(value.replace(/\s+/g, ''), 'base64');
  if (b.length < 22 || (b.length - 22) % 5 !== 0 || b[0] !== 0x01) return null;
  const ft = Buffer.alloc(8);
  b.copy(ft, 0, 0, 6);
  const startFt = ft.readBigUInt64BE();
  const children: { wide: boolean; deltaMs: number }[] = [];
  for (let o = 22; o < b.length; o += 5) {
    const word = b.readUInt32BE(o);
    const wide = (word & 0x80000000) !== 0;
    const delta = BigInt(word & 0x7fffffff) << (wide ? 23n : 18n);
    children.push({ wide, deltaMs: Number(delta / 10_000n) });
  }
  return { start: new Date(Number((startFt - FILETIME_UNIX_OFFSET) / 10_000n)), guid: b.subarray(6, 22).toString('hex'), children };
}
