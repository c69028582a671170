import type { Kysely } from 'kysely';
import type { AppContext } from '../context.js';
import { caseByNumber, participantByAddress, participantById } from '../db/repos/cases.js';
import { continuedAs } from '../db/repos/case-merge.js';
import { isStaff } from '../cases/staff.js';
import { isLinkRevoked } from '../db/repos/links.js';
import type { CaseRow, Database } from '../db/schema.js';
import { REPLY_MARKER, requesterOf, type Recipient } from '../mail-out/compose.js';
import type { WebResponse } from './http.js';
import { formToken } from './csrf.js';
import { renderPage } from './render-page.js';
import { checkLinkToken, type LinkPurpose, type LinkToken } from './signed-link.js';

/**
 * From a signed link to its case: signature, purpose, expiry, revocation, the case itself. Every
 * page works on the case the link names and nothing else. Problems become a notice page (a
 * broken, foreign or unknown link all look the same: "not valid").
 */

/** `reader`: whom the link names — the requester, or the participant it was written for (signed-link.ts). */
export type LinkAccess = { readonly ok: true; readonly caseRow: CaseRow; readonly link: LinkToken; readonly reader: Recipient } | { readonly ok: false; readonly page: WebResponse; readonly why: string; readonly stale?: StaleLink };

/**
 * A case link of ours, signed and valid, that no longer opens the page — expired or revoked — while
 * the person it names still takes part in the case: its notice page offers "Email me a fresh link"
 * (web/routes/case-page.ts), sent to that person. `caseRow`: the case the fresh link is for (the one
 * a merged case continues as); `reader`: whom the link names there. Never for a forged, malformed or
 * unknown link: those look "not valid", as always.
 */
export interface StaleLink {
  readonly caseRow: CaseRow;
  readonly link: LinkToken;
  readonly reader: Recipient;
  readonly why: 'expired' | 'revoked';
}

/** Clocks of several daemons may differ by this much: a link is never older than its case by more. */
const ISSUED_EARLY_MS = 10 * 60_000;

export type NoticeKind = 'expired' | 'revoked' | 'invalid' | 'not-found' | 'error' | 'unsubscribe' | 'unsubscribed' | 'fresh-sent' | 'fresh-too-many';

/** `freshCsrf`: the form token of the "Email me a fresh link" button (an expired or revoked case link: StaleLink); none without. */
export function noticePage(ctx: Pick<AppContext, 'templates' | 'config'>, kind: NoticeKind, status: number, wantsText = false, language?: string, freshCsrf = ''): WebResponse {
  return renderPage(ctx, 'web-notice', { instance: { name: ctx.config.instance.name }, notice: { kind, status, fresh: { csrf: freshCsrf } }, replyMarker: REPLY_MARKER, isTest: false }, { language }, { status, wantsText });
}

/** The notice of a stale link, with its button. */
export function staleNotice(ctx: Pick<AppContext, 'templates' | 'config' | 'secret' | 'clock'>, stale: StaleLink, status: number, wantsText: boolean): WebResponse {
  return noticePage(ctx, stale.why, status, wantsText, stale.caseRow.language, formToken(ctx.secret, stale.link.sig, ctx.clock.now()));
}

/**
 * `anyAge`: an expired or revoked link of ours still opens (the survey's unsubscribe: RFC 8058
 * asks the URI to keep working, and stopping surveys harms nobody); a forged one never does.
 */
export async function accessLink(ctx: AppContext, token: string, purpose: LinkPurpose, wantsText: boolean, opts: { readonly anyAge?: boolean } = {}): Promise<LinkAccess> {
  const now = ctx.clock.now();
  const check = checkLinkToken(ctx.secret, token, now);
  const fail = (kind: NoticeKind, status: number, why: string, language?: string): LinkAccess => ({ ok: false, why, page: noticePage(ctx, kind, status, wantsText, language) });
  if (!check.ok && check.why !== 'expired') return fail('invalid', 404, check.why);
  const link = check.link!;
  if (link.purpose !== purpose) return fail('invalid', 404, `a ${link.purpose} link used for the ${purpose} page`);
  const caseRow = await caseByNumber(ctx.db, link.caseNumber);
  if (caseRow === undefined || caseRow.kind !== 'case') return fail('invalid', 404, `no case ${link.caseNumber}`);
  // Signed before this case existed: a link of an earlier case under that number (lost in a
  // restore, or purged before numbers were kept) — never a way into a stranger's case.
  if (link.issuedAt.getTime() < new Date(caseRow.created_at).getTime() - ISSUED_EARLY_MS) return fail('invalid', 404, `issued ${link.issuedAt.toISOString()}, before case ${link.caseNumber} was opened`);
  // A participant's link works while they take part in the case: removed (#cc -address), it opens nothing.
  const reader = await readerOf(ctx, caseRow, link);
  if (reader === null) return fail('revoked', 410, `participant ${link.participantId} no longer takes part in case ${caseRow.number}`, caseRow.language);
  if (opts.anyAge === true) return { ok: true, caseRow, link, reader };
  // Expired or revoked, its reader still one: a case link's notice offers a fresh link (StaleLink).
  const stale = async (why: StaleLink['why'], reason: string, into: CaseRow = caseRow): Promise<LinkAccess> => {
    // web.freshLinksPerHour 0: no fresh links, the plain notice.
    const target = purpose === 'case' && ctx.config.web.freshLinksPerHour > 0 ? await freshTarget(ctx, into, reader) : null;
    if (target === null) return fail(why, 410, reason, caseRow.language);
    const s: StaleLink = { ...target, link, why };
    return { ok: false, why: reason, page: staleNotice(ctx, s, 410, wantsText), stale: s };
  };
  if (!check.ok) return stale('expired', `expired ${link.expiresAt.toISOString()}`);
  if (await isLinkRevoked(ctx.db, caseRow.id, link.sig, link.issuedAt.toISOString())) return stale('revoked', 'revoked');
  if (purpose === 'case' && caseRow.merged_into !== null) return intoMerged(ctx, caseRow, link, reader, fail, stale);
  return { ok: true, caseRow, link, reader };
}

/** The case a fresh link is for (the one a merged case continues as) and whom the link names there; null: nobody there any more. */
async function freshTarget(ctx: AppContext, caseRow: CaseRow, reader: Recipient): Promise<{ caseRow: CaseRow; reader: Recipient } | null> {
  if (caseRow.merged_into === null) return { caseRow, reader };
  const into = await continuedAs(ctx.db, caseRow);
  if (into.kind !== 'case') return null;
  const there = readerIn(ctx, into, reader.address, await participantByAddress(ctx.db, into.id, reader.address));
  return there === null ? null : { caseRow: into, reader: there };
}

/**
 * The page of a merged case is the page of the case it continues as (cases/case-merge.ts), for a
 * reader who takes part there (the merge made every participant of the merged case one of it;
 * someone removed since opens nothing). The links of the case that goes on being revoked stops
 * these too: "revoke every link" after a link leaked must close every way in.
 */
async function intoMerged(
  ctx: AppContext,
  merged: CaseRow,
  link: LinkToken,
  reader: Recipient,
  fail: (kind: NoticeKind, status: number, why: string, language?: string) => LinkAccess,
  stale: (why: StaleLink['why'], reason: string, into: CaseRow) => Promise<LinkAccess>,
): Promise<LinkAccess> {
  const caseRow = await continuedAs(ctx.db, merged);
  if (caseRow.kind !== 'case') return fail('invalid', 404, `case ${merged.number} continues as ${caseRow.number}, no case`);
  if (await isLinkRevoked(ctx.db, caseRow.id, link.sig, link.issuedAt.toISOString())) return stale('revoked', `revoked with the links of case ${caseRow.number}, which case ${merged.number} continues as`, merged);
  const there = readerIn(ctx, caseRow, reader.address, await participantByAddress(ctx.db, caseRow.id, reader.address));
  if (there === null) return fail('revoked', 410, `${reader.address} takes no part in case ${caseRow.number}, which case ${merged.number} continues as`, caseRow.language);
  return { ok: true, caseRow, link, reader: there };
}

function readerIn(ctx: AppContext, caseRow: CaseRow, address: string, p: { address: string; name: string; role: string } | undefined): Recipient | null {
  if (address.toLowerCase() === caseRow.requester_address.toLowerCase()) return requesterOf(caseRow);
  if (p === undefined || p.role === 'agent' || isStaff(ctx.config, p.address)) return null;
  return p.role === 'requester' ? requesterOf(caseRow) : { address: p.address, name: p.name };
}

/** Whom a link names: the requester, or its participant while they are one (never an agent or staff address); null: nobody any more. */
export async function readerOf(ctx: Pick<AppContext, 'config' | 'db'>, caseRow: CaseRow, link: Pick<LinkToken, 'participantId'>, db: Kysely<Database> = ctx.db): Promise<Recipient | null> {
  if (link.participantId === null) return requesterOf(caseRow);
  const p = await participantById(db, caseRow.id, link.participantId);
  if (p === undefined || p.role === 'agent' || isStaff(ctx.config, p.address)) return null;
  return p.role === 'requester' ? requesterOf(caseRow) : { address: p.address, name: p.name };
}
