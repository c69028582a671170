import { escapeRegex } from '../escape-regex.js';
import { Memo } from '../memo.js';

/**
 * The case tag in subjects, "[Case #10042]" with a configurable prefix, and reply/forward
 * prefixes in the languages customers' mail clients use.
 */

export function formatTag(prefix: string, caseNumber: number): string {
  return `[${prefix}${caseNumber}]`;
}

/** The tag in a subject (`find`), every occurrence (`all`, for replace) and at the start (`leading`, with the spaces after it). */
export interface TagPatterns {
  readonly find: RegExp;
  readonly all: RegExp;
  readonly leading: RegExp;
}

/** Compiled once per prefix (the configured one, in practice): several look-ups a message use them. */
const patternsByPrefix = new Memo<string, TagPatterns>(16);

export function tagPatterns(prefix: string): TagPatterns {
  return patternsByPrefix.get(prefix, () => {
    // Tolerate spacing and case changes clients make: "[case # 10042]", "[CASE #10042]".
    const p = escapeRegex(prefix.trim()).replace(/\\?\s+/g, '\\s*').replace(/#/g, '\\s*#\\s*');
    const source = `\\[\\s*${p}\\s*(\\d{1,12})\\s*\\]`;
    return { find: new RegExp(source, 'i'), all: new RegExp(source, 'gi'), leading: new RegExp(`^${source}\\s*`, 'i') };
  });
}

export function tagPattern(prefix: string): RegExp {
  return tagPatterns(prefix).find;
}

/** Case number from the subject's tag, or null. */
export function findTag(subject: string, prefix: string): number | null {
  const m = tagPattern(prefix).exec(subject);
  return m?.[1] !== undefined ? Number(m[1]) : null;
}

/**
 * Re:, RE[2]:, AW:, SV:, VS:, Antw:, Fwd:, FW:, WG:, TR:, RV:, Odp:, YNT:, R:, RIF:, 回复:, 转发: …, and
 * what Outlook writes in other languages: Réf. :, RES:, PD:, İLT:, VÁ:, Atb.:, Pārs.:, ATS:, PRS:,
 * Odg:, BLS:, TRS:, Svar:, Greek ΑΠ:/ΣΧΕΤ:/ΠΡΘ:, Russian Отв:/Ответ:, Hebrew השב:/העבר:, Arabic
 * رد:/إعادة توجيه:, Korean 회신:/답장:/전달:, Japanese 返信:/転送:, Thai ตอบกลับ:.
 */
const REPLY_PREFIX =
  /^\s*(?:(?:re|aw|sv|vs|antw|antwort|r[ée]f\.?|ref|rif|r|r[ée]p\.?|res|fwd?|wg|tr|rv|odp\.?|ynt|[iİı]lt|enc|doorst|atb\.?|p[āa]rs\.?|ats|prs|odg|bls|trs|svar|vá|pd|vl|vb|απ|σχετ|πρθ|отв|ответ|השב|העבר|رد|إعادة توجيه|اعادة توجيه|회신|답장|전달|返信|転送|ตอบกลับ|回复|回覆|转发|轉寄|答复)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+/i;

export function stripReplyPrefixes(subject: string): string {
  return subject.replace(REPLY_PREFIX, '').trim();
}

/**
 * The mark a mail system puts before the subject of mail from outside the organisation
 * (Exchange/Microsoft 365 and Google transport rules): "[EXTERNAL]", "[EXT]", "*EXTERNAL*",
 * "(External)", "[External Email]", "[EXTERN]" …
 */
const EXTERNAL_TAG = /^\s*(?:\[\s*EXT(?:ERN(?:AL|E)?)?(?:\s+(?:E-?MAIL|SENDER|MESSAGE))?\s*\]|\(\s*EXT(?:ERN(?:AL|E)?)?(?:\s+(?:E-?MAIL|SENDER|MESSAGE))?\s*\)|\*\s*EXT(?:ERN(?:AL|E)?)?\s*\*)\s*/i;

/** The subject without an "[EXTERNAL]"-style mark at its start. */
export function stripExternalTag(subject: string): string {
  return subject.replace(EXTERNAL_TAG, '').trim();
}

/** Reply prefixes and "[EXTERNAL]" marks, in any order ("RE: [EXTERNAL] AW: …"), gone from the start. */
function stripLeadingMarks(subject: string): string {
  let s = subject;
  for (;;) {
    const next = stripExternalTag(stripReplyPrefixes(s));
    if (next === s) return s;
    s = next;
  }
}

/** Most characters (code points) of a case subject. */
const CASE_SUBJECT_MAX = 300;

/** "(no subject)" in the languages an admin may add templates for (docs/customizing-templates.md); English for others. */
const NO_SUBJECT: Readonly<Record<string, string>> = {
  en: '(no subject)',
  de: '(kein Betreff)',
  fr: '(sans objet)',
  es: '(sin asunto)',
  it: '(nessun oggetto)',
  nl: '(geen onderwerp)',
  pt: '(sem assunto)',
  pl: '(brak tematu)',
  sv: '(inget ämne)',
  da: '(intet emne)',
  no: '(intet emne)',
  fi: '(ei aihetta)',
  cs: '(bez předmětu)',
  tr: '(konu yok)',
  ru: '(без темы)',
  uk: '(без теми)',
  el: '(χωρίς θέμα)',
  ar: '(بلا موضوع)',
  he: '(ללא נושא)',
  ja: '(件名なし)',
  zh: '(无主题)',
  ko: '(제목 없음)',
};

function noSubject(language: string): string {
  if (/^zh[-_](?:tw|hk|mo|hant)\b/i.test(language)) return '(無主旨)';
  const primary = language.toLowerCase().split(/[-_]/)[0] ?? 'en';
  const key = primary === 'nb' || primary === 'nn' ? 'no' : primary === 'iw' ? 'he' : primary;
  return Object.hasOwn(NO_SUBJECT, key) ? NO_SUBJECT[key]! : NO_SUBJECT.en!;
}

/**
 * Subject for a new case: without reply prefixes, without our tag, and without the "[EXTERNAL]"
 * mark the customer's mail system added (so a reply under a marked subject is the same subject).
 * At most CASE_SUBJECT_MAX characters, cut between code points (never inside an emoji's
 * surrogate pair: a lone half is a U+FFFD in every subject the customer gets); none at all is
 * "(no subject)" in the case's language ("(kein Betreff)"), as it stands in the customer's mail.
 */
export function caseSubject(subject: string, prefix: string, language = 'en'): string {
  const s = stripLeadingMarks(subject.replace(tagPatterns(prefix).all, ' ')).replace(/\s+/g, ' ').trim();
  if (s === '') return noSubject(language);
  return s.length <= CASE_SUBJECT_MAX ? s : Array.from(s).slice(0, CASE_SUBJECT_MAX).join('').trimEnd();
}
