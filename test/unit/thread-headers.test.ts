import { describe, expect, it } from 'vitest';
import { caseConversationGuid, MAX_REFERENCES, parseThreadIndex, replyReferences, threadIndex } from '../../src/mail-out/thread-headers.js';

describe('replyReferences (RFC 5322 §3.6.4: the parent’s References, then the parent; the root kept)', () => {
  const many = Array.from({ length: 30 }, (_, i) => `m${i}@x`);
  it.each([
    ['a first reply', [], 'a@x', 'a@x', ['a@x']],
    ['the parent’s chain, then the parent', ['a@x', 'b@x'], 'c@x', 'a@x', ['a@x', 'b@x', 'c@x']],
    ['a client that dropped the root: it comes back first', ['b@x'], 'c@x', 'a@x', ['a@x', 'b@x', 'c@x']],
    ['a chain that has the root elsewhere keeps its order', ['z@y', 'a@x', 'b@x'], 'c@x', 'a@x', ['z@y', 'a@x', 'b@x', 'c@x']],
    ['duplicates (any case, with brackets) once', ['<a@x>', 'A@x', 'b@x'], 'b@x', null, ['a@x', 'b@x']],
    ['no parent: the root alone', [], null, 'a@x', ['a@x']],
    ['nothing known', [], null, null, []],
    ['a long chain: the root and the newest, the parent last', many.slice(0, 29), 'm29@x', 'm0@x', ['m0@x', ...many.slice(30 - (MAX_REFERENCES - 1))]],
  ] as const)('%s', (_name, refs, parent, root, expected) => {
    const out = replyReferences(refs, parent, root);
    expect(out).toEqual(expected);
    expect(out.length).toBeLessThanOrEqual(MAX_REFERENCES);
  });
});

describe('Thread-Index (MS-OXOMSG PidTagConversationIndex)', () => {
  const start = new Date('2026-03-02T09:00:00Z');
  const guid = caseConversationGuid('support.example.com', 10042);

  it('22-byte header (FILETIME of the case, the case GUID) and one 5-byte response level', () => {
    const value = threadIndex(guid, start, new Date('2026-03-02T10:30:00Z'), () => 7);
    const bytes = Buffer.from(value, 'base64');
    expect(bytes.length).toBe(27);
    expect(bytes[0]).toBe(0x01);
    // FILETIME 2026-03-02T09:00Z = 134169768000000000 = 0x01DCAA... : its six high bytes.
    const ft = (BigInt(start.getTime()) * 10_000n + 116_444_736_000_000_000n).toString(16).padStart(16, '0');
    expect(bytes.subarray(0, 6).toString('hex')).toBe(ft.slice(0, 12));
    expect(bytes.subarray(6, 22).equals(guid)).toBe(true);
    expect(bytes[26]! >> 4).toBe(7);
    const parsed = parseThreadIndex(value)!;
    expect(parsed.guid).toBe(guid.toString('hex'));
    expect(Math.abs(parsed.start.getTime() - start.getTime())).toBeLessThan(7_000);
    expect(parsed.children).toHaveLength(1);
    expect(parsed.children[0]!.wide).toBe(false);
    // 90 minutes, to the resolution of the 18-bit shift (~26 ms) plus the header's truncation.
    expect(Math.abs(parsed.children[0]!.deltaMs - 90 * 60_000 - (start.getTime() - parsed.start.getTime()))).toBeLessThan(100);
  });

  it('a delta beyond ~1.7 years uses the wide delta code', () => {
    const parsed = parseThreadIndex(threadIndex(guid, start, new Date('2029-03-02T09:00:00Z')))!;
    expect(parsed.children[0]!.wide).toBe(true);
    expect(Math.abs(parsed.children[0]!.deltaMs - 3 * 365.25 * 86_400_000)).toBeLessThan(2 * 86_400_000);
  });

  it('one GUID per case and installation; an RFC 4122 name-based shape', () => {
    expect(caseConversationGuid('support.example.com', 10042).equals(guid)).toBe(true);
    expect(caseConversationGuid('support.example.com', 10043).equals(guid)).toBe(false);
    expect(caseConversationGuid('other.example.com', 10042).equals(guid)).toBe(false);
    expect(guid[6]! >> 4).toBe(5);
    expect(guid[8]! >> 6).toBe(0b10);
  });

  it('rejects what is not a conversation index', () => {
    expect(parseThreadIndex('AAAA')).toBeNull();
    expect(parseThreadIndex(Buffer.alloc(23, 1).toString('base64'))).toBeNull();
  });
});
