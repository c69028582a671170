import type { Kysely } from 'kysely';
import type { AppContext } from '../context.js';
import { isStaff } from '../cases/staff.js';
import { participantByAddress } from '../db/repos/cases.js';
import type { CaseRow, Database } from '../db/schema.js';
import { baseUrlOf, casePath, mintLinkToken, surveyPath, surveyUnsubscribePath } from './signed-link.js';

/** Fresh signed links for mail (every customer email carries a new one), or '' when the web server is off. */

type Ctx = Pick<AppContext, 'config' | 'secret' | 'clock'>;

/** A case-page link naming the requester (participantId null) or that participant. */
export function caseLinkFor(ctx: Ctx, caseNumber: number, participantId: number | null = null): string {
  const web = ctx.config.web;
  if (!web.enabled) return '';
  return baseUrlOf(web) + casePath(mintLinkToken(ctx.secret, caseNumber, 'case', ctx.clock.now(), web.linkDays, participantId));
}

/**
 * The case-page link for one recipient of a customer email: each person gets a link that names
 * them, so what they write on the page is theirs (src/web/link-access.ts). The requester's link
 * names nobody else (as links always did); a participant's names their case_participants row.
 * '' for anyone else — staff, or an address that takes no part in the case: a link is never
 * given to someone the case does not know.
 */
export async function recipientCaseLink(db: Kysely<Database>, ctx: Ctx, caseRow: Pick<CaseRow, 'id' | 'number' | 'requester_address'>, address: string): Promise<string> {
  if (!ctx.config.web.enabled || isStaff(ctx.config, address)) return '';
  if (address.toLowerCase() === caseRow.requester_address.toLowerCase()) return caseLinkFor(ctx, caseRow.number);
  const p = await participantByAddress(db, caseRow.id, address);
  if (p === undefined || p.role === 'agent') return '';
  return caseLinkFor(ctx, caseRow.number, p.role === 'requester' ? null : p.id);
}

export interface SurveyLinks {
  readonly url: string;
  readonly ratings: { readonly value: number; readonly url: string }[];
  /** The survey's List-Unsubscribe target (RFC 8058 one-click): no more surveys to this address. '' without the web server. */
  readonly unsubscribe: string;
}

export const SURVEY_MIN = 1;
export const SURVEY_MAX = 5;

/** The survey's links: the survey goes to the requester alone (src/jobs/survey.ts), so they name the requester. */
export function surveyLinksFor(ctx: Ctx, caseNumber: number): SurveyLinks {
  const web = ctx.config.web;
  if (!web.enabled) return { url: '', ratings: [], unsubscribe: '' };
  const token = mintLinkToken(ctx.secret, caseNumber, 'survey', ctx.clock.now(), web.linkDays);
  const base = baseUrlOf(web);
  const ratings = [];
  for (let value = SURVEY_MIN; value <= SURVEY_MAX; value++) ratings.push({ value, url: base + surveyPath(token, value) });
  return { url: base + surveyPath(token), ratings, unsubscribe: base + surveyUnsubscribePath(token) };
}
