import { recordSurveyAnswer } from '../../cases/survey.js';
import type { AppContext } from '../../context.js';
import { refuseSurveys } from '../../db/repos/addresses.js';
import { lockCaseById } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { surveyAnswersSince, surveyOfCase } from '../../db/repos/surveys.js';
import type { CaseRow } from '../../db/schema.js';
import { commonData, requesterOf } from '../../mail-out/compose.js';
import { checkFormToken, crossSiteRefusal, formToken } from '../csrf.js';
import { HttpError, redirect, relativeUrl, type Route, type WebRequest, type WebResponse } from '../http.js';
import { accessLink, noticePage } from '../link-access.js';
import { SURVEY_MAX, SURVEY_MIN } from '../links.js';
import { renderPage } from '../render-page.js';
import { baseUrlOf, surveyPath, type LinkToken } from '../signed-link.js';

/**
 * The survey (signed per case): GET /s/<link>/<1–5> (a rating clicked in the survey email) shows
 * the page with that rating chosen and a form to send it, with a comment if they like; GET
 * /s/<link> shows the page; only the POST of the form records a rating (and thanks the first one),
 * then redirects (303) back. A GET never records anything: mail security gateways (Outlook Safe
 * Links, Mimecast …) fetch every link of an email, all five ratings, before the person reads it.
 * A second rating replaces the first; comments are kept.
 *
 * /s/<link>/unsubscribe is the survey email's List-Unsubscribe (RFC 8058): a POST — the
 * receiver's one-click "List-Unsubscribe=One-Click", or the button of the page a GET shows — stops
 * surveys to the case's requester (address_status.surveys_refused_at; mail about their cases goes
 * on). No form token: the signed link is the proof, the receiver's POST carries nothing else, and
 * what it does can only spare the customer mail.
 */

/** What the page shows besides the answer so far: saved, the rating clicked (chosen), or a refused form with what it carried. */
interface View {
  readonly saved?: boolean;
  readonly chosen?: number;
  readonly error?: 'form-expired' | 'empty' | 'too-many';
  readonly draft?: string;
}

async function render(ctx: AppContext, req: WebRequest, caseRow: CaseRow, link: LinkToken, view: View, status = 200): Promise<WebResponse> {
  const { saved = false, chosen = 0, error = '', draft = '' } = view;
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const answer = await surveyOfCase(ctx.db, caseRow.id);
  const rating = answer?.rating ?? 0;
  const selected = chosen !== 0 ? chosen : rating;
  const options = [];
  for (let value = SURVEY_MIN; value <= SURVEY_MAX; value++) options.push({ value, checked: value === selected });
  return renderPage(
    ctx,
    'survey-page',
    {
      ...commonData(ctx, caseRow, mailbox, requesterOf(caseRow)),
      caseLink: '',
      survey: { rating, chosen, min: SURVEY_MIN, max: SURVEY_MAX, comment: answer?.comment ?? '', saved, error, options, form: { action: relativeUrl(req.path, surveyPath(link.token)), csrf: formToken(ctx.secret, link.sig, ctx.clock.now()), comment: draft } },
    },
    { language: caseRow.language, queue: caseRow.queue },
    { status, wantsText: req.wantsText },
  );
}

function ratingOf(raw: string | null | undefined): number | null {
  if (raw === null || raw === undefined || !/^\d$/.test(raw)) return null;
  const n = Number(raw);
  return n >= SURVEY_MIN && n <= SURVEY_MAX ? n : null;
}

export function surveyRoutes(ctx: AppContext): Route[] {
  const log = ctx.log.child({ component: 'web' });
  const actor = (c: CaseRow): string => `customer:${c.requester_address}`;
  return [
    {
      // Before survey-click, whose pattern takes any last segment.
      method: 'GET',
      name: 'survey-unsubscribe-page',
      pattern: /^\/s\/(?<token>[^/]+)\/unsubscribe$/,
      async handler(req) {
        const access = await accessLink(ctx, req.params['token'] ?? '', 'survey', req.wantsText, { anyAge: true });
        if (!access.ok) return access.page;
        return noticePage(ctx, 'unsubscribe', 200, req.wantsText, access.caseRow.language);
      },
    },
    {
      method: 'POST',
      name: 'survey-unsubscribe',
      pattern: /^\/s\/(?<token>[^/]+)\/unsubscribe$/,
      async handler(req) {
        // A survey read months later still unsubscribes: the link's age (web.linkDays) does not count here.
        const access = await accessLink(ctx, req.params['token'] ?? '', 'survey', req.wantsText, { anyAge: true });
        if (!access.ok) return access.page;
        const { caseRow } = access;
        const now = ctx.clock.now().toISOString();
        const fresh = await ctx.db.transaction().execute(async (trx) => {
          const added = await refuseSurveys(trx, caseRow.requester_address, now);
          if (added) await addEvent(trx, { caseId: caseRow.id, type: 'survey.unsubscribed', actor: actor(caseRow), reason: `${caseRow.requester_address} asked for no more surveys (List-Unsubscribe)`, at: now });
          return added;
        });
        log.info({ caseId: caseRow.id, caseNumber: caseRow.number, fresh }, 'survey: unsubscribed');
        return noticePage(ctx, 'unsubscribed', 200, req.wantsText, caseRow.language);
      },
    },
    {
      // The rating clicked in the email, chosen on the page; recorded when the person sends the form.
      method: 'GET',
      name: 'survey-click',
      pattern: /^\/s\/(?<token>[^/]+)\/(?<rating>[^/]+)$/,
      async handler(req) {
        const access = await accessLink(ctx, req.params['token'] ?? '', 'survey', req.wantsText);
        if (!access.ok) return access.page;
        const rating = ratingOf(req.params['rating']);
        if (rating === null) return noticePage(ctx, 'not-found', 404, req.wantsText, access.caseRow.language);
        return render(ctx, req, access.caseRow, access.link, { chosen: rating });
      },
    },
    {
      method: 'GET',
      name: 'survey-page',
      pattern: /^\/s\/(?<token>[^/]+)$/,
      async handler(req) {
        const access = await accessLink(ctx, req.params['token'] ?? '', 'survey', req.wantsText);
        if (!access.ok) return access.page;
        return render(ctx, req, access.caseRow, access.link, { saved: req.query.get('saved') === '1' });
      },
    },
    {
      method: 'POST',
      name: 'survey-form',
      pattern: /^\/s\/(?<token>[^/]+)$/,
      async handler(req) {
        const access = await accessLink(ctx, req.params['token'] ?? '', 'survey', req.wantsText);
        if (!access.ok) return access.page;
        const { caseRow, link } = access;
        const refusal = crossSiteRefusal(req, baseUrlOf(ctx.config.web));
        if (refusal !== null) throw new HttpError(403, `cross-site form refused (${refusal})`);
        const form = await req.form();
        const rating = ratingOf(form.get('rating'));
        const comment = (form.get('comment') ?? '').replace(/\r\n?/g, '\n').trim();
        // A page left open over 24 hours: the form comes back with the rating and comment given, to send again.
        if (!checkFormToken(ctx.secret, link.sig, form.get('csrf') ?? '', ctx.clock.now())) return render(ctx, req, caseRow, link, { chosen: rating ?? 0, error: 'form-expired', draft: comment }, 403);
        // Save with no rating chosen and no comment: nothing to record, and no "thank you" for it.
        if (rating === null && comment === '') return render(ctx, req, caseRow, link, { error: 'empty' }, 400);
        // At most web.repliesPerHour answers an hour, as the case page's replies: each comment is
        // kept, so a script holding the link could otherwise grow the case's answer without end.
        // Counted and recorded under the case's lock, so answers sent at once cannot all pass.
        const since = new Date(ctx.clock.now().getTime() - 3_600_000).toISOString();
        const out = await ctx.db.transaction().execute(async (trx) => {
          await lockCaseById(trx, caseRow.id);
          if ((await surveyAnswersSince(trx, caseRow.id, since)) >= ctx.config.web.repliesPerHour) return null;
          return recordSurveyAnswer(trx, ctx, caseRow, { rating, comment }, { source: 'web', actor: actor(caseRow) });
        });
        if (out === null) {
          log.warn({ caseId: caseRow.id, caseNumber: caseRow.number, limit: ctx.config.web.repliesPerHour }, 'survey: form refused, too many answers in the last hour');
          return render(ctx, req, caseRow, link, { chosen: rating ?? 0, error: 'too-many', draft: comment }, 429);
        }
        if (out.thanked) ctx.outboxSignal.wake();
        log.info({ caseId: caseRow.id, caseNumber: caseRow.number, rating, change: out.change }, 'survey: form saved');
        return redirect(`${relativeUrl(req.path, surveyPath(link.token))}?saved=1`);
      },
    },
  ];
}
