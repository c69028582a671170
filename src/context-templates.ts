import { SHIPPED_TEMPLATES, type ResolvedConfig } from './config/load.js';
import type { Logger } from './log.js';
import type { MailboxDirectory } from './mailboxes.js';
import { loadTemplates, templateCheckCache, type TemplateEngine } from './mail-out/templates.js';

/**
 * Load (and check) the template set a configuration names. Throws TemplateCheckError.
 * Its own module: src/context.ts imports it only when a context loads templates, so a command that
 * renders no email (`cases list`, `status` …) does not load Handlebars and the template modules.
 */
export function templatesFor(resolved: ResolvedConfig, mailboxes: MailboxDirectory, log: Logger, watch: boolean, check: 'full' | 'cached'): TemplateEngine {
  const { config, paths } = resolved;
  return loadTemplates({
    dir: paths.templatesDir,
    shippedDir: SHIPPED_TEMPLATES,
    defaultLanguage: config.cases.defaultLanguage,
    languages: config.templates.languages,
    queues: [...new Set([...config.mailboxes.map((m) => mailboxes.queueOf(m)), ...Object.keys(config.queues)])],
    watch,
    check,
    cacheFile: templateCheckCache(paths.dataDir),
    cacheKey: resolved.secret.current.secret,
    log: log.child({ component: 'templates' }),
  });
}
