import { escapeRegex } from '../escape-regex.js';

/**
 * The case tag in subjects, "[Case #10042]" with a configurable prefix, and reply/forward
 * prefixes in the languages customers' mail clients use.
 */

export function formatTag(prefix: string, caseNumber: number): string {
  return `[${prefix}${caseNumber}]`;
}

export function tagPattern(prefix: string): RegExp {
  // Tolerate spacing and case changes clients make: "[case # 10042]", "[CASE #10042]".
  const p = escapeRegex(prefix.trim()).replace(/\\?\s+/g, '\\s*').replace(/#/g, '\\s*#\\s*');
  return new RegExp(`\\[\\s*${p}\\s*(\\d{1,12})\\s*\\]`, 'i');
}

/** Case number from the subject's tag, or null. */
export function findTag(subject: string, prefix: string): number | null {
  const m = tagPattern(prefix).exec(subject);
  return m?.[1] !== undefined ? Number(m[1]) : null;
}

/** Re:, RE[2]:, AW:, SV:, VS:, Antw:, Fwd:, FW:, WG:, TR:, RV:, Odp:, YNT:, 回复:, 转发: … */
const REPLY_PREFIX = /^\s*(?:(?:re|aw|sv|vs|antw|antwort|réf|ref|fwd?|wg|tr|rv|odp|ynt|enc|doorst|atb|vl|vb|回复|回覆|转发|轉寄|答复)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+/i;

export function stripReplyPrefixes(subject: string): string {
  return subject.replace(REPLY_PREFIX, '').trim();
}

/** Subject for a new case: without reply prefixes and without our tag. */
export function caseSubject(subject: string, prefix: string): string {
  const s = stripReplyPrefixes(subject.replace(new RegExp(tagPattern(prefix).source, 'gi'), ' ')).replace(/\s+/g, ' ').trim();
  return s === '' ? '(no subject)' : s.slice(0, 300);
}
