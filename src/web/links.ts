import type { AppContext } from '../context.js';
import { baseUrlOf, casePath, mintLinkToken, surveyPath, surveyUnsubscribePath } from './signed-link.js';

/** Fresh signed links for mail (every customer email carries a new one), or '' when the web server is off. */

type Ctx = Pick<AppContext, 'config' | 'secret' | 'clock'>;

export function caseLinkFor(ctx: Ctx, caseNumber: number): string {
  const web = ctx.config.web;
  if (!web.enabled) return '';
  return baseUrlOf(web) + casePath(mintLinkToken(ctx.secret, caseNumber, 'case', ctx.clock.now(), web.linkDays));
}

export interface SurveyLinks {
  readonly url: string;
  readonly ratings: { readonly value: number; readonly url: string }[];
  /** The survey's List-Unsubscribe target (RFC 8058 one-click): no more surveys to this address. '' without the web server. */
  readonly unsubscribe: string;
}

export const SURVEY_MIN = 1;
export const SURVEY_MAX = 5;

export function surveyLinksFor(ctx: Ctx, caseNumber: number): SurveyLinks {
  const web = ctx.config.web;
  if (!web.enabled) return { url: '', ratings: [], unsubscribe: '' };
  const token = mintLinkToken(ctx.secret, caseNumber, 'survey', ctx.clock.now(), web.linkDays);
  const base = baseUrlOf(web);
  const ratings = [];
  for (let value = SURVEY_MIN; value <= SURVEY_MAX; value++) ratings.push({ value, url: base + surveyPath(token, value) });
  return { url: base + surveyPath(token), ratings, unsubscribe: base + surveyUnsubscribePath(token) };
}
