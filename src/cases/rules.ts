import type { RuleConfig } from '../config/schema.js';
import { addressKey, asciiDomain } from '../address-form.js';
import type { HeaderMap } from '../mail-in/parsed-mail.js';
import { stripPlus } from './thread-token.js';
import { escapeRegex } from '../escape-regex.js';

/**
 * Routing rules (config `rules`): ordered, the first whose conditions all hold wins. They are
 * compiled once (per loaded configuration) and every regular expression is checked when the
 * configuration is loaded, so a broken pattern is a configuration problem with its key path, never
 * a surprise on the first matching mail.
 *
 * Conditions (all given ones must hold; a list means "any of these"):
 *   mailbox        mailbox name(s) the message arrived in
 *   recipient      address(es) in To, Cc or the envelope; support@x also matches support+tag@x,
 *                  support+tag@x matches only that tagged address
 *   senderAddress  sender address(es)
 *   senderDomain   sender domain(s); subdomains match too (acme.example matches eu.acme.example)
 *   subject        string: regular expression; list: keywords (whole words, any case)
 *   body           same, tested against the new text of the message (no quoted history)
 *   header         { name, pattern } or a list of them (all must match; pattern is a regex)
 * Regular expressions are case-insensitive.
 */

export type RuleSet = RuleConfig['set'];

export interface RuleInput {
  readonly mailbox: string;
  /** Lower-case addresses: To, Cc and envelope recipients. */
  readonly recipients: readonly string[];
  readonly sender: string;
  readonly subject: string;
  /** The new (visible) text. */
  readonly body: string;
  readonly headers: HeaderMap;
}

export interface CompiledRule {
  readonly name: string;
  /** Position in the config list (rules.<index>). */
  readonly index: number;
  readonly set: RuleSet;
  matches(input: RuleInput): boolean;
}

export interface RuleProblem {
  readonly path: (string | number)[];
  readonly message: string;
}

/**
 * The most text an admin's pattern ever meets, per field (longer input is cut before matching).
 * Patterns are vetted against these lengths when the configuration is loaded (config/regex-safety.ts).
 */
export const RULE_INPUT_LIMITS = { subject: 1_000, header: 1_000, body: 50_000 } as const;
/** At most this many values of one header are tested. */
const HEADER_VALUES_LIMIT = 20;

const list = <T>(v: T | readonly T[] | undefined): readonly T[] => (v === undefined ? [] : Array.isArray(v) ? (v as readonly T[]) : [v as T]);

function hasTag(address: string): boolean {
  return address.slice(0, address.lastIndexOf('@')).includes('+');
}

/** Keywords as one whole-word, case-insensitive pattern ("VPN down" also matches "vpn   down"). */
export function keywordPattern(keywords: readonly string[]): RegExp {
  const alts = keywords.map((k) => escapeRegex(k.trim()).replace(/\s+/g, '\\s+'));
  return new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alts.join('|')})(?![\\p{L}\\p{N}_])`, 'iu');
}

function textMatcher(spec: string | readonly string[], path: (string | number)[], problems: RuleProblem[]): RegExp | null {
  if (typeof spec !== 'string') return keywordPattern(spec);
  try {
    return new RegExp(spec, 'i');
  } catch (err) {
    problems.push({ path, message: `invalid regular expression: ${(err as Error).message}` });
    return null;
  }
}

/** Compile every rule; problems carry their path below `rules`. */
export function compileRules(rules: readonly RuleConfig[]): { readonly rules: CompiledRule[]; readonly problems: RuleProblem[] } {
  const problems: RuleProblem[] = [];
  const compiled = rules.map((r, index): CompiledRule => {
    const m = r.match;
    const base: (string | number)[] = ['rules', index, 'match'];
    const mailboxes = new Set(list(m.mailbox));
    // A recipient written with a +tag matches that tagged address only; without one, any +tag form of it.
    // Addresses and domains compare as addressKey does: case and the Unicode or punycode spelling of a domain do not count.
    const tagged = new Set(list(m.recipient).filter((a) => hasTag(a)).map(addressKey));
    const plain = new Set(list(m.recipient).filter((a) => !hasTag(a)).map((a) => addressKey(a)));
    const senders = new Set(list(m.senderAddress).map(addressKey));
    const domains = list(m.senderDomain).map((d) => asciiDomain(d.replace(/^@/, '')));
    const subject = m.subject !== undefined ? textMatcher(m.subject, [...base, 'subject'], problems) : null;
    const body = m.body !== undefined ? textMatcher(m.body, [...base, 'body'], problems) : null;
    const headers = list(m.header).map((h, j) => {
      const path = Array.isArray(m.header) ? [...base, 'header', j, 'pattern'] : [...base, 'header', 'pattern'];
      return { name: h.name.toLowerCase(), re: textMatcher(h.pattern, path, problems) };
    });
    return {
      name: r.name,
      index,
      set: r.set,
      matches(input) {
        if (mailboxes.size > 0 && !mailboxes.has(input.mailbox)) return false;
        if (tagged.size + plain.size > 0 && !input.recipients.some((a) => tagged.has(addressKey(a)) || plain.has(addressKey(stripPlus(a))))) return false;
        const sender = addressKey(input.sender);
        if (senders.size > 0 && !senders.has(sender)) return false;
        if (domains.length > 0) {
          const d = sender.slice(sender.lastIndexOf('@') + 1);
          if (!domains.some((x) => d === x || d.endsWith(`.${x}`))) return false;
        }
        if (subject !== null && !subject.test(input.subject.slice(0, RULE_INPUT_LIMITS.subject))) return false;
        if (body !== null && !body.test(input.body.slice(0, RULE_INPUT_LIMITS.body))) return false;
        for (const h of headers) {
          const values = (input.headers.get(h.name) ?? []).slice(0, HEADER_VALUES_LIMIT);
          if (h.re === null || !values.some((v) => h.re!.test(v.slice(0, RULE_INPUT_LIMITS.header)))) return false;
        }
        return true;
      },
    };
  });
  return { rules: compiled, problems };
}

const cache = new WeakMap<readonly RuleConfig[], CompiledRule[]>();

/** The compiled rules of a loaded configuration (compiled once, validated at load). */
export function compiledRules(rules: readonly RuleConfig[]): readonly CompiledRule[] {
  let hit = cache.get(rules);
  if (hit === undefined) {
    hit = compileRules(rules).rules;
    cache.set(rules, hit);
  }
  return hit;
}

/** The first rule that matches, or null. */
export function firstMatchingRule(rules: readonly CompiledRule[], input: RuleInput): CompiledRule | null {
  for (const r of rules) if (r.matches(input)) return r;
  return null;
}
