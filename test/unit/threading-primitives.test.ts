import { describe, expect, it } from 'vitest';
import { caseSubject, findTag, formatTag, stripExternalTag, stripReplyPrefixes } from '../../src/cases/subject-tag.js';
import { isThanksOnly } from '../../src/cases/thanks.js';
import { ManualClock } from '../../src/clock.js';
import { mintMessageId, plusAddress, randomHex, stripPlus, threadSecret, verifyMessageId, verifyPlusAddress, verifyStaffMessageId } from '../../src/cases/thread-token.js';

const clock = new ManualClock('2026-03-02T09:00:00Z');
const SECRET = threadSecret('unit-test-secret-0123456789-0123456789', [], clock);
const OTHER = threadSecret('another-secret-0123456789-0123456789', [], clock);

describe('subject tag', () => {
  it.each([
    ['[Case #10042] Printer', 10042],
    ['Re: [Case #10042] Printer', 10042],
    ['AW: WG: [case #10042]', 10042],
    ['RE[2]: [CASE # 10042] x', 10042],
    ['Fwd: [Case#10042]', 10042],
    ['R: [Case #10042] Printer', 10042],
    ['RIF: [EXTERNAL] [Case #10042] Printer', 10042],
    ['Printer [Case #7] again', 7],
    ['Case #10042 without brackets', null],
    ['[Ticket #10042] other system', null],
    ['[Case #] empty', null],
    ['', null],
  ])('%j → %s', (subject, expected) => {
    expect(findTag(subject, 'Case #')).toBe(expected);
  });

  it('works with another prefix', () => {
    expect(formatTag('SUP-', 5)).toBe('[SUP-5]');
    expect(findTag('Re: [sup-5] hi', 'SUP-')).toBe(5);
    expect(findTag('Re: [Case #5] hi', 'SUP-')).toBeNull();
  });

  it.each([
    ['Re: Printer', 'Printer'],
    ['RE: AW: SV: Fwd: FW: WG: Printer', 'Printer'],
    ['Re[3]: Printer', 'Printer'],
    ['Antw: VS: TR: RV: Odp: Printer', 'Printer'],
    ['回复: Printer', 'Printer'],
    ['R: RIF: Printer', 'Printer'],
    ['Rif: R: [Case #10042] Printer', '[Case #10042] Printer'],
    ['R2: not a prefix', 'R2: not a prefix'],
    ['Rates: not a prefix', 'Rates: not a prefix'],
    ['Regarding the printer', 'Regarding the printer'],
    ['Fwdx: not a prefix', 'Fwdx: not a prefix'],
    // Outlook in other languages
    ['Réf. : RE : TR : Printer', 'Printer'],
    ['RES: ENC: Printer', 'Printer'],
    ['YNT: İLT: Printer', 'Printer'],
    ['VÁ: Printer', 'Printer'],
    ['Atb.: Pārs.: Printer', 'Printer'],
    ['ΑΠ: ΣΧΕΤ: ΠΡΘ: Printer', 'Printer'],
    ['Отв: Ответ: Printer', 'Printer'],
    ['השב: העבר: Printer', 'Printer'],
    ['رد: إعادة توجيه: Printer', 'Printer'],
    ['회신: 전달: 답장: Printer', 'Printer'],
    ['返信：転送: Printer', 'Printer'],
    ['ตอบกลับ: Printer', 'Printer'],
    ['Vast: not a prefix', 'Vast: not a prefix'],
    ['Responses: not a prefix', 'Responses: not a prefix'],
  ])('strips reply prefixes: %j', (subject, expected) => {
    expect(stripReplyPrefixes(subject)).toBe(expected);
  });

  it.each([
    ['[EXTERNAL] Printer', 'Printer'],
    ['[EXT] Printer', 'Printer'],
    ['[ External ] Printer', 'Printer'],
    ['[External Email] Printer', 'Printer'],
    ['[EXTERN] Drucker', 'Drucker'],
    ['*EXTERNAL* Printer', 'Printer'],
    ['(External) Printer', 'Printer'],
    ['External monitor flickers', 'External monitor flickers'],
    ['[EXTRA] Printer', '[EXTRA] Printer'],
    ['Re: [EXTERNAL] Printer', 'Re: [EXTERNAL] Printer'],
  ])('strips an "[EXTERNAL]" mark at the start: %j', (subject, expected) => {
    expect(stripExternalTag(subject)).toBe(expected);
  });

  it('builds a case subject without prefixes and our tag', () => {
    expect(caseSubject('Re: [Case #10001] Printer on fire', 'Case #')).toBe('Printer on fire');
    expect(caseSubject('R: [Case #10001] Printer on fire', 'Case #')).toBe('Printer on fire');
    expect(caseSubject('RIF: Printer on fire', 'Case #')).toBe('Printer on fire');
    expect(caseSubject('   ', 'Case #')).toBe('(no subject)');
    expect(caseSubject('x'.repeat(1000), 'Case #')).toHaveLength(300);
  });
});

describe('signed threading tokens', () => {
  it('mints Message-IDs that verify to their case, and only with the right secret', () => {
    const id = mintMessageId(10042, SECRET, 'support.example.com');
    expect(id).toMatch(/^c10042\.[0-9a-f]{12}\.[a-z2-7]{4}\.[0-9a-f]{12}@support\.example\.com$/);
    expect(verifyMessageId(id, SECRET)).toEqual({ caseNumber: 10042 });
    expect(verifyMessageId(id, OTHER)).toBeNull();
    expect(mintMessageId(10042, SECRET, 'x')).not.toBe(mintMessageId(10042, SECRET, 'x'));
  });

  it('never mints the same nonce twice, also across refills of the random pool (4 KB: 682 nonces a fill)', () => {
    const nonces = Array.from({ length: 3000 }, () => /^c1\.([0-9a-f]{12})\./.exec(mintMessageId(1, SECRET, 'x'))![1]!);
    expect(new Set(nonces).size).toBe(3000);
    // Each byte value turns up about equally often (3000 × 6 bytes: about 70 each), not a pool read twice or left zero.
    const counts = new Array<number>(256).fill(0);
    for (const n of nonces) for (const b of Buffer.from(n, 'hex')) counts[b]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(20);
    expect(Math.max(...counts)).toBeLessThan(140);
    expect(randomHex(4096)).toMatch(/^[0-9a-f]{8192}$/);
    expect(() => randomHex(4097)).toThrow(RangeError);
  });

  it.each([
    ['a changed case number', (id: string) => id.replace('c10042', 'c10043')],
    ['a changed nonce', (id: string) => id.replace(/\.([0-9a-f])/, '.f')],
    ['a truncated signature', (id: string) => id.replace(/\.[0-9a-f]{12}@/, '.abc@')],
    ['a foreign id', () => 'CAF=abc@mail.gmail.com'],
  ])('rejects %s', (_name, forge) => {
    const id = mintMessageId(10042, SECRET, 'support.example.com');
    const forged = forge(id);
    if (forged !== id) expect(verifyMessageId(forged, SECRET)).toBeNull();
  });

  it('binds staff Message-IDs to their recipient: they thread like any of ours and prove only that address', () => {
    const id = mintMessageId(10042, SECRET, 'support.example.com', 'Ben@Example.com');
    expect(id).toMatch(/^c10042\.[0-9a-f]{12}\.[a-z2-7]{4}\.[0-9a-f]{12}\.r[0-9a-f]{12}@support\.example\.com$/);
    expect(verifyMessageId(id, SECRET)).toEqual({ caseNumber: 10042 });
    expect(verifyStaffMessageId(id, SECRET, 'ben@example.com')).toBe(10042);
    expect(verifyStaffMessageId(`  ${id}`, SECRET, 'BEN@example.com')).toBe(10042);
    expect(verifyStaffMessageId(id, SECRET, 'carla@example.com')).toBeNull();
    expect(verifyStaffMessageId(id, OTHER, 'ben@example.com')).toBeNull();
    // Any other id of ours proves nothing about an address: the customer's, or one without a case.
    expect(verifyStaffMessageId(mintMessageId(10042, SECRET, 'support.example.com'), SECRET, 'ben@example.com')).toBeNull();
    expect(verifyStaffMessageId(mintMessageId(null, SECRET, 'support.example.com', 'ben@example.com'), SECRET, 'ben@example.com')).toBeNull();
    // Tampering with either signature, or moving the recipient part to another id.
    const flipped = id.replace(/(\.r[0-9a-f]{11})([0-9a-f])@/, (_m, head: string, last: string) => `${head}${last === '0' ? '1' : '0'}@`);
    expect(flipped).not.toBe(id);
    expect(verifyStaffMessageId(flipped, SECRET, 'ben@example.com')).toBeNull();
    expect(verifyStaffMessageId(id.replace('c10042', 'c10043'), SECRET, 'ben@example.com')).toBeNull();
    const other = mintMessageId(10042, SECRET, 'support.example.com');
    expect(verifyStaffMessageId(other.replace('@', `.${/\.(r[0-9a-f]{12})@/.exec(id)![1]}@`), SECRET, 'ben@example.com')).toBeNull();
  });

  it('a staff Message-ID signed before a rotation proves its recipient until the old key retires', () => {
    const old = mintMessageId(7, SECRET, 'support.example.com', 'ben@example.com');
    const c = new ManualClock('2026-03-02T09:00:00Z');
    const rotated = threadSecret('rotated-secret-0123456789-0123456789', [{ secret: 'unit-test-secret-0123456789-0123456789', acceptUntil: new Date('2026-03-09T00:00:00Z') }], c);
    expect(verifyStaffMessageId(old, rotated, 'ben@example.com')).toBe(7);
    c.set('2026-03-09T00:00:01Z');
    expect(verifyStaffMessageId(old, rotated, 'ben@example.com')).toBeNull();
  });

  it('signs plus addresses', () => {
    const a = plusAddress('support@example.com', 10042, SECRET);
    expect(a).toMatch(/^support\+c10042-[a-z2-7]{4}-[0-9a-f]{10}@example\.com$/);
    expect(verifyPlusAddress(a, SECRET)).toEqual({ base: 'support@example.com', caseNumber: 10042 });
    expect(verifyPlusAddress(a.replace('c10042', 'c10041'), SECRET)).toBeNull();
    expect(verifyPlusAddress('support+c10042-0000000000@example.com', SECRET)).toBeNull();
    expect(verifyPlusAddress(a, OTHER)).toBeNull();
    expect(stripPlus('Support+anything@Example.com')).toBe('support@example.com');
  });
});

describe('thank-you replies', () => {
  it.each(['Thanks!', 'thank you', 'Thanks a lot!\n\nJane', 'Danke schön!', 'Merci beaucoup', 'Perfect, thanks!', '👍', 'ok thx', 'Thank you so much!', 'Thanks for your help!', 'Thanks for the quick reply, it’s working now.', 'Vielen lieben Dank für die schnelle Hilfe!', 'Danke, hat funktioniert', 'Much appreciated!\nJane', 'Muchas gracias'])('%j is a bare thank-you', (text) => {
    expect(isThanksOnly(text)).toBe(true);
  });
  it.each(['Thanks, but it is broken again', 'Thanks!\nThe printer is on fire again.', '', 'Danke, aber es geht immer noch nicht', 'Again!', 'Fixed?', 'Thanks for your help, the toner is empty now', 'Thank you so much for nothing'])('%j is not', (text) => {
    expect(isThanksOnly(text)).toBe(false);
  });
});
