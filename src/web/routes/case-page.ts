import { DateTime } from 'luxon';
import { languageOfPart, textDirection } from '../../cases/language.js';
import { localWhen } from '../../cases/promise.js';
import { calendarOf } from '../../cases/sla-policy.js';
import { isStaff, ownerName } from '../../cases/staff.js';
import type { AppContext } from '../../context.js';
import { attachmentsOfMessages } from '../../db/repos/messages.js';
import { isAttachedFile } from '../../mail-in/attached-files.js';
import { publicMessages } from '../../db/repos/public-thread.js';
import { webRepliesSince } from '../../db/repos/receipts.js';
import { pastReopenWindow } from '../../pipeline/stages/thread.js';
import type { CaseRow } from '../../db/schema.js';
import { commonData, type Recipient } from '../../mail-out/compose.js';
import type { TemplateDataMap } from '../../mail-out/template-data.js';
import { statusLabel } from '../../mail-out/template-tools.js';
import { templateLanguage } from '../../mail-out/templates.js';
import { checkFormToken, crossSiteRefusal, formToken } from '../csrf.js';
import { HttpError, redirect, relativeUrl, type Route, type WebRequest, type WebResponse } from '../http.js';
import { accessLink, noticePage, staleNotice, type StaleLink } from '../link-access.js';
import { requestFreshLink } from '../../cases/fresh-link.js';
import { renderPage } from '../render-page.js';
import { baseUrlOf, casePath, withoutSignedLinks, type LinkToken } from '../signed-link.js';
import { submitWebReply } from '../web-reply.js';

/**
 * The customer's case page (GET /c/<signed link>): status, priority, the owner's first name, what
 * is due next in the queue's time zone, the public thread (never internal notes or staff mail)
 * and a reply form. POST adds the reply through the pipeline, then redirects (303) to the page.
 */

export const MAX_REPLY_CHARS = 20_000;
/** Our replies the customer sees in the thread. */
const REPLY_KINDS = ['agent-reply'] as const;

type PageData = TemplateDataMap['case-page']['page'];

/**
 * Our text without the footer: what was written. The footer is the last paragraph naming the case
 * tag or its case-page link, the paragraphs right above it that do too, and whatever a customised
 * footer adds below it (an imprint). A web address elsewhere — a download link, a sign-off with
 * the company's site — is the agent's text and stays.
 */
function withoutFooter(text: string, tag: string, caseLinkBase: string): string {
  const paras = text.trim().split(/\n[ \t]*\n/);
  const isFooter = (p: string | undefined): boolean => p !== undefined && (p.includes(tag) || p.includes(caseLinkBase));
  let end = paras.length;
  while (end > 1 && !isFooter(paras[end - 1])) end--;
  if (end <= 1) return paras.join('\n\n');
  while (end > 1 && isFooter(paras[end - 1])) end--;
  return paras.slice(0, end).join('\n\n');
}

/** What the page shows besides the case: a notice, a form error, and the text a refused form carried (kept in the box). */
type Extra = Pick<PageData, 'notice' | 'error'> & { readonly text?: string };

/** The case and link a page is for, and whom the link names (its reader: "You" on the page, the From of a reply). */
interface Viewing {
  readonly caseRow: CaseRow;
  readonly link: LinkToken;
  readonly reader: Recipient;
}

async function pageData(ctx: AppContext, req: WebRequest, { caseRow, link, reader }: Viewing, extra: Extra): Promise<PageData> {
  const zone = calendarOf(ctx.config, caseRow.queue).zone;
  const now = ctx.clock.now();
  const when = (iso: string): string => localWhen(new Date(iso), zone, caseRow.language, now);
  let due: PageData['due'] = { kind: '', when: '' };
  if (caseRow.status === 'pending') due = { kind: 'waiting', when: '' };
  else if (caseRow.status !== 'resolved' && caseRow.status !== 'closed') {
    // The due times are stored on the case (the SLA clocks keep them there). One that has passed
    // is no promise any more: "We aim to reply by Monday 12:00" read on a Wednesday means next
    // Monday (a weekday alone within six days), so the page states none rather than that.
    const future = (iso: string | null): iso is string => iso !== null && new Date(iso) > now;
    if (caseRow.first_response_at === null) {
      if (future(caseRow.first_response_due_at)) due = { kind: 'first-response', when: when(caseRow.first_response_due_at) };
    } else if (future(caseRow.resolution_due_at)) due = { kind: 'resolution', when: when(caseRow.resolution_due_at) };
  }
  const closed = caseRow.status === 'resolved' || caseRow.status === 'closed';
  const tag = `${ctx.config.cases.tagPrefix}${caseRow.number}`;
  const shown = (await publicMessages(ctx.db, caseRow.id, REPLY_KINDS))
    // An agent's own mail (commands, notes by email) was stored as internal; besides, mail from a
    // staff address that did not act as the agent (not proven) is not the customer's either.
    .filter((m) => m.direction === 'out' || !isStaff(ctx.config, m.from_address));
  // The files the customer's mail carried, by name (not inline images such as signature logos, nor
  // signature parts; Apple Mail's "inline" PDF is a file: attached-files.ts). Our replies say
  // "Attached: …" in their text.
  const files = new Map<number, string[]>();
  for (const a of await attachmentsOfMessages(ctx.db, shown.filter((m) => m.direction === 'in').map((m) => m.id))) {
    if (isAttachedFile({ contentType: a.content_type, disposition: a.disposition === 'inline' ? 'inline' : 'attachment', contentId: a.content_id }, null)) {
      files.set(a.message_row_id, [...(files.get(a.message_row_id) ?? []), a.filename]);
    }
  }
  // The language the page is in (its <html lang>): a message in another is marked as such.
  const pageLanguage = templateLanguage(caseRow.language, { defaultLanguage: ctx.config.cases.defaultLanguage, languages: ctx.config.templates.languages });
  const messages = shown.map((m) => {
    // No signed link is shown: whoever reads this page would hold the link of whoever it names.
    const text = withoutSignedLinks(m.direction === 'out' ? withoutFooter(m.visible_text, tag, `${baseUrlOf(ctx.config.web)}${casePath('')}`) : m.visible_text);
    const lang = languageOfPart(text, pageLanguage) ?? '';
    return {
      // '' for the reader's own messages — the person the link names, the requester or a Cc'd
      // participant (link-access.ts) —: the template says "You" (not for one whose From failed
      // the sender check: someone else may have written it).
      // Others by their address (a display name alone could say "Example Support").
      from:
        m.direction === 'out'
          ? ctx.config.instance.name
          : m.from_address.toLowerCase() === reader.address.toLowerCase() && m.sender_auth !== 'fail'
            ? ''
            : m.from_name !== ''
              ? `${m.from_name} <${m.from_address}>`
              : m.from_address,
      at: DateTime.fromISO(m.created_at, { zone }).toISO() ?? m.created_at,
      text,
      lang,
      dir: lang === '' ? '' : textDirection(lang),
      fromCustomer: m.direction === 'in',
      forged: m.direction === 'in' && m.sender_auth === 'fail',
      attachments: m.direction === 'in' ? (files.get(m.id) ?? []) : [],
    };
  });
  return {
    statusLabel: statusLabel(caseRow.status, caseRow.language),
    ownerName: ownerName(ctx.config, caseRow.queue, caseRow.owner).split(/\s+/)[0] ?? '',
    zone,
    due,
    closed,
    newCase: closed && pastReopenWindow(ctx, caseRow),
    notice: extra.notice,
    error: extra.error,
    messages,
    form: { action: relativeUrl(req.path, casePath(link.token)), csrf: formToken(ctx.secret, link.sig, now), maxLength: MAX_REPLY_CHARS, text: extra.text ?? '' },
  };
}

async function render(ctx: AppContext, req: WebRequest, v: Viewing, extra: Extra, status = 200): Promise<WebResponse> {
  const { caseRow } = v;
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const data = { ...commonData(ctx, caseRow, mailbox, v.reader), caseLink: '', page: await pageData(ctx, req, v, extra) };
  return renderPage(ctx, 'case-page', data, { language: caseRow.language, queue: caseRow.queue }, { status, wantsText: req.wantsText });
}

/**
 * One reply at a time per case in this process: the web.repliesPerHour count and the reply it
 * admits are one step, so replies sent at once (a script, a held Enter key) cannot all pass the
 * count before any of them is stored.
 */
function perCaseQueue(): <T>(caseId: number, work: () => Promise<T>) => Promise<T> {
  const tails = new Map<number, Promise<unknown>>();
  return async (caseId, work) => {
    const run = (tails.get(caseId) ?? Promise.resolve()).then(work);
    const tail = run.catch(() => undefined);
    tails.set(caseId, tail);
    try {
      return await run;
    } finally {
      if (tails.get(caseId) === tail) tails.delete(caseId);
    }
  };
}

export function caseRoutes(ctx: AppContext): Route[] {
  const log = ctx.log.child({ component: 'web' });
  const oneAtATime = perCaseQueue();
  /**
   * The form posted to a case's page (a reply, or "Email me a fresh link"): refused with 403 when it
   * comes from another site; a body over web.maxBodyBytes is answered by `tooLarge` (its text was not
   * read). The form token is each caller's check (the reply keeps the text when it fails).
   */
  async function readForm(req: WebRequest, caseRow: CaseRow, form: 'reply' | 'fresh-link', tooLarge: () => WebResponse | Promise<WebResponse>): Promise<URLSearchParams | WebResponse> {
    const refusal = crossSiteRefusal(req, baseUrlOf(ctx.config.web));
    if (refusal !== null) {
      log.warn({ caseId: caseRow.id, caseNumber: caseRow.number, form, refusal }, 'case page: cross-site form refused');
      throw new HttpError(403, `cross-site form refused (${refusal})`);
    }
    try {
      return await req.form();
    } catch (err) {
      if (err instanceof HttpError && err.status === 413) return tooLarge();
      throw err;
    }
  }
  /**
   * POST on the notice page of an expired or revoked case link (link-access.ts StaleLink): "Email me
   * a fresh link" — the status summary to the person the link names (cases/fresh-link.ts), never to
   * whoever clicked. Everything is checked again here (accessLink did: signature, case, reader);
   * a GET only shows the button, so a link scanner sends nothing.
   */
  async function freshLink(req: WebRequest, stale: StaleLink): Promise<WebResponse> {
    const { caseRow, link, reader } = stale;
    const form = await readForm(req, caseRow, 'fresh-link', () => staleNotice(ctx, stale, 413, req.wantsText));
    if (!(form instanceof URLSearchParams)) return form;
    // A reply written on a page whose link has run out since: the notice with its button, nothing sent.
    if (form.get('fresh') !== '1') return staleNotice(ctx, stale, 410, req.wantsText);
    if (!checkFormToken(ctx.secret, link.sig, form.get('csrf') ?? '', ctx.clock.now())) {
      log.warn({ caseId: caseRow.id, caseNumber: caseRow.number }, 'case page: fresh link refused, form token missing or expired');
      return staleNotice(ctx, stale, 403, req.wantsText);
    }
    const outcome = await oneAtATime(caseRow.id, () => ctx.db.transaction().execute((trx) => requestFreshLink(trx, ctx, caseRow, reader, stale.why)));
    log.info({ caseId: caseRow.id, caseNumber: caseRow.number, link: stale.why, outcome: outcome.kind, ...(outcome.kind === 'suppressed' ? { reason: outcome.reason } : {}) }, 'case page: fresh link requested');
    // Suppressed (a bouncing or no-reply address …) reads as sent: the page tells nobody about the address.
    if (outcome.kind === 'too-many') return noticePage(ctx, 'fresh-too-many', 429, req.wantsText, caseRow.language);
    return noticePage(ctx, 'fresh-sent', 200, req.wantsText, caseRow.language);
  }
  return [
    {
      method: 'GET',
      name: 'case-page',
      pattern: /^\/c\/(?<token>[^/]+)$/,
      async handler(req) {
        const access = await accessLink(ctx, req.params['token'] ?? '', 'case', req.wantsText);
        if (!access.ok) return access.page;
        const sent = req.query.get('sent');
        return render(ctx, req, access, { notice: sent === '1' ? 'sent' : sent === 'new' ? 'sent-new-case' : '', error: '' });
      },
    },
    {
      method: 'POST',
      name: 'case-reply',
      pattern: /^\/c\/(?<token>[^/]+)$/,
      async handler(req) {
        const access = await accessLink(ctx, req.params['token'] ?? '', 'case', req.wantsText);
        if (!access.ok) return access.stale !== undefined ? freshLink(req, access.stale) : access.page;
        const { caseRow, link } = access;
        // Over web.maxBodyBytes: the case page says so (the text was not read, so it cannot be kept).
        const form = await readForm(req, caseRow, 'reply', () => render(ctx, req, access, { notice: '', error: 'too-long' }, 413));
        if (!(form instanceof URLSearchParams)) return form;
        const token = form.get('csrf') ?? '';
        const text = (form.get('text') ?? '').replace(/\r\n?/g, '\n').trim();
        if (!checkFormToken(ctx.secret, link.sig, token, ctx.clock.now())) return render(ctx, req, access, { notice: '', error: 'form-expired', text }, 403);
        if (text === '') return render(ctx, req, access, { notice: '', error: 'empty' }, 400);
        if (text.length > MAX_REPLY_CHARS) return render(ctx, req, access, { notice: '', error: 'too-long', text }, 400);
        const outcome = await oneAtATime(caseRow.id, async () => {
          // Every reply notifies the case's agents: one link must not become a flood of them.
          const since = new Date(ctx.clock.now().getTime() - 3_600_000).toISOString();
          if ((await webRepliesSince(ctx.db, caseRow.id, since)) >= ctx.config.web.repliesPerHour) return null;
          return submitWebReply(ctx, caseRow, access.reader, text, token);
        });
        if (outcome === null) {
          log.warn({ caseId: caseRow.id, caseNumber: caseRow.number, limit: ctx.config.web.repliesPerHour }, 'case page: reply refused, too many in the last hour');
          return render(ctx, req, access, { notice: '', error: 'too-many', text }, 429);
        }
        log.info({ caseId: caseRow.id, caseNumber: caseRow.number, outcome: outcome.kind, reason: outcome.reason }, 'case page: reply submitted');
        // Past cases.reopenWindowDays the reply opened a new case (linked to this one): the page must not say it was added here.
        const landed = outcome.kind === 'stored' || outcome.kind === 'ignored' ? outcome.caseId : null;
        if (landed !== null && landed !== caseRow.id) return redirect(`${relativeUrl(req.path, casePath(link.token))}?sent=new`);
        if (landed === caseRow.id) return redirect(`${relativeUrl(req.path, casePath(link.token))}?sent=1`);
        return render(ctx, req, access, { notice: '', error: 'retry', text }, outcome.kind === 'retry' ? 503 : 500);
      },
    },
  ];
}
