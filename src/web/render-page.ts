import type { AppContext } from '../context.js';
import type { TemplateDataMap, TemplateName } from '../mail-out/template-data.js';
import type { WebResponse } from './http.js';

/**
 * The page-render entry point: web pages are template kinds of audience "web" (layouts/page),
 * rendered through the same engine as email (overrides per queue and language, checks, hot
 * reload) with its public render(): the subject part is the page title, the html part the page,
 * the text part what a client asking for text/plain gets (without the reply-marker line every
 * template set starts with).
 */

export type PageKind = 'case-page' | 'survey-page' | 'web-notice';

export function renderPage<N extends PageKind & TemplateName>(
  ctx: Pick<AppContext, 'templates'>,
  kind: N,
  data: TemplateDataMap[N],
  target: { language?: string | undefined; queue?: string | undefined },
  o: { status?: number; wantsText?: boolean } = {},
): WebResponse {
  const out = ctx.templates.render(kind, data, target);
  if (o.wantsText === true) {
    const text = out.text.replace(/^[^\n]*\n/, '');
    return { status: o.status ?? 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: text };
  }
  return { status: o.status ?? 200, headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: out.html };
}
