import { CUSTOMER_TEXT_DEFAULTS } from '../config/customer-text-defaults.js';
import type { Config } from '../config/schema.js';
import { queueSettings } from './staff.js';

/** The configured texts a customer email states: the queue's, else cases.*, in the case's language where they are the shipped defaults. */
export interface CustomerTexts {
  /** When the team answers ("within one business day"). */
  readonly expectedResponse: string;
  /** What helps us solve it faster (the confirmation's list). */
  readonly helpfulInfo: readonly string[];
  /** The expected time of a technical review (the on-hold email). */
  readonly onHoldExpected: string;
}

/**
 * The texts for a case of `queue` in `language`: queues.<q>.* else cases.translations.<language>.*
 * else cases.*. A German case gets
 * the shipped German text for a value left at its English default — the English default
 * mid-sentence in a German email ("antwortet within one business day") or as an English list is
 * what it got before; a value the admin wrote is shown as written (one language per value).
 */
export function customerTexts(config: Pick<Config, 'cases' | 'queues'>, queue: string, language: string): CustomerTexts {
  const q = queueSettings(config, queue);
  // cases.translations.<language> (the exact tag, else its primary subtag) where the queue has no value of its own.
  const t = translationFor(config.cases.translations, language);
  const expectedResponse = q?.expectedResponse ?? t?.expectedResponse ?? config.cases.expectedResponse;
  const helpfulInfo = q?.helpfulInfo ?? t?.helpfulInfo ?? config.cases.helpfulInfo;
  const onHoldExpected = q?.onHoldExpected ?? t?.onHoldExpected ?? config.cases.onHoldExpected;
  if (!language.toLowerCase().startsWith('de')) return { expectedResponse, helpfulInfo, onHoldExpected };
  const en = CUSTOMER_TEXT_DEFAULTS.en;
  const de = CUSTOMER_TEXT_DEFAULTS.de;
  const isDefaultList = helpfulInfo.length === en.helpfulInfo.length && helpfulInfo.every((v, i) => v === en.helpfulInfo[i]);
  return {
    expectedResponse: expectedResponse === en.expectedResponse ? de.expectedResponse : expectedResponse,
    helpfulInfo: isDefaultList ? de.helpfulInfo : helpfulInfo,
    onHoldExpected: onHoldExpected === en.onHoldExpected ? de.onHoldExpected : onHoldExpected,
  };
}

type Translations = Config['cases']['translations'];

function translationFor(translations: Translations, language: string): Translations[string] | undefined {
  const lower = language.toLowerCase();
  const primary = lower.split(/[-_]/)[0] ?? lower;
  for (const want of [lower, primary]) {
    for (const [lang, texts] of Object.entries(translations)) if (lang.toLowerCase() === want) return texts;
  }
  return undefined;
}
