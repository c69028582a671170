import type { Command } from 'commander';
import { cliActor } from '../cases/case-commands.js';
import { caseByNumber, participantByAddress } from '../db/repos/cases.js';
import { isStaff } from '../cases/staff.js';
import { revokeAllLinks, revokeLink } from '../db/repos/links.js';
import { baseUrlOf, casePath, checkLinkToken, mintLinkToken, surveyPath, tokenFromLink } from '../web/signed-link.js';
import { positiveInt } from './case-args.js';
import { print, withContext } from './shared.js';

/** Links render no email; they are signed (or checked) with the instance secret: shared.ts checks it on PostgreSQL. */
const NO_TEMPLATES = { templates: 'none' } as const;

/** Signed links to the customer's case page and survey: create one, revoke one or all of a case. */
export function registerLinkCommands(program: Command): void {
  const links = program.command('links').description('signed links to the customer case page and survey');
  links
    .command('create')
    .description('print a fresh signed link to a case page (or its survey)')
    .argument('<case>', 'case number')
    .option('--survey', 'a survey link instead of the case page')
    .option('--days <n>', 'valid this many days (default web.linkDays)', positiveInt('--days'))
    .option('--for <address>', 'a case-page link naming this participant (a reply on the page is theirs); default: the requester')
    .option('--json', 'JSON output')
    .action(async (number: string, opts: { survey?: boolean; days?: number; for?: string; json?: boolean }) => {
      await withContext(async (ctx) => {
        const c = await caseByNumber(ctx.db, Number(number));
        if (c === undefined || c.kind !== 'case') {
          process.stderr.write(`casegate: no case ${number}\n`);
          process.exitCode = 1;
          return;
        }
        // Whom the link names (signed-link.ts): the requester, or a participant (not staff) by address.
        let participantId: number | null = null;
        const reader = opts.for?.trim().toLowerCase();
        if (reader !== undefined && reader !== c.requester_address.toLowerCase()) {
          const p = opts.survey === true || isStaff(ctx.config, reader) ? undefined : await participantByAddress(ctx.db, c.id, reader);
          if (p === undefined || p.role === 'agent') {
            process.stderr.write(`casegate: ${opts.survey === true ? 'a survey link names the requester only' : `${reader} is not a customer participant of case ${c.number}`}\n`);
            process.exitCode = 1;
            return;
          }
          participantId = p.role === 'requester' ? null : p.id;
        }
        const days = opts.days ?? ctx.config.web.linkDays;
        const token = mintLinkToken(ctx.secret, c.number, opts.survey === true ? 'survey' : 'case', ctx.clock.now(), days, participantId);
        const url = baseUrlOf(ctx.config.web) + (opts.survey === true ? surveyPath(token) : casePath(token));
        const expires = checkLinkToken(ctx.secret, token, ctx.clock.now()).link?.expiresAt.toISOString();
        print({ case: c.number, url, expires }, opts.json === true, () => `${url}\n(valid until ${expires}${ctx.config.web.enabled ? '' : '; web.enabled is false: start the web server to use it'})\n`);
      }, NO_TEMPLATES);
    });
  links
    .command('revoke')
    .description('revoke every link of a case issued so far (customers get fresh ones with the next email), or one link with --link')
    .argument('<case>', 'case number')
    .option('--link <url>', 'only this link (URL or token)')
    .option('--reason <text>', 'why (recorded)', '')
    .action(async (number: string, opts: { link?: string; reason: string }) => {
      await withContext(async (ctx) => {
        const c = await caseByNumber(ctx.db, Number(number));
        if (c === undefined) {
          process.stderr.write(`casegate: no case ${number}\n`);
          process.exitCode = 1;
          return;
        }
        const now = ctx.clock.now().toISOString();
        const actor = cliActor();
        if (opts.link !== undefined) {
          const check = checkLinkToken(ctx.secret, tokenFromLink(opts.link), ctx.clock.now());
          const link = check.ok ? check.link : check.link;
          if (link === undefined || link.caseNumber !== c.number) {
            process.stderr.write(`casegate: that is not a valid link of case ${c.number}\n`);
            process.exitCode = 1;
            return;
          }
          await revokeLink(ctx.db, c.id, link.sig, opts.reason, actor, now);
          process.stdout.write(`revoked that link of case ${c.number}\n`);
        } else {
          // Links carry their issue time in whole seconds: revoke up to the next whole second, and
          // return only once it has come, so a link made after this command (`links create`, a
          // reply) is never caught by it, and one made before it always is.
          const nowMs = ctx.clock.now().getTime();
          const beforeMs = Math.floor(nowMs / 1000) * 1000 + 1000;
          const before = new Date(beforeMs).toISOString();
          await revokeAllLinks(ctx.db, c.id, before, opts.reason, actor, now);
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, beforeMs - Date.now())));
          process.stdout.write(`revoked every link of case ${c.number} issued before ${before}\n`);
        }
        ctx.log.info({ caseNumber: c.number, single: opts.link !== undefined, actor }, 'links revoked');
      }, NO_TEMPLATES);
    });
}
