import { replaceReloadableParts, type AppContext } from './context.js';
import { templatesFor } from './context-templates.js';
import { ConfigError, problemLine, type ResolvedConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { warnStrandedQueues } from './cases/stranded-queues.js';
import { startSmtpListener } from './channels/smtp-listener.js';
import { startJobs } from './jobs/scheduler.js';
import { recomputeRunningClocks, rescheduleWaitingCases } from './cases/sla-clock.js';
import { criticalLevels } from './cases/sla-policy.js';
import { setLogLevel } from './log.js';
import { MailboxDirectory } from './mailboxes.js';
import { relayLanes, relaySettings } from './mail-out/relays.js';
import { TemplateCheckError, type TemplateEngine } from './mail-out/templates.js';
import { createRelayTransports, type MailTransport } from './mail-out/transport.js';
import type { DaemonParts } from './main.js';
import type { LiveState, Metrics } from './ops/metrics.js';
import { startOpsServer } from './ops/ops-server.js';
import { startWebServer } from './web/server.js';

/**
 * SIGHUP: read the configuration and the templates again and apply them to the running daemon
 * without dropping what did not change.
 *
 *  - A configuration that fails validation, templates that fail their checks, or an outgoing
 *    transport that cannot be made (a configured DKIM key that cannot be read) are reported
 *    (error log line with every problem) and the running configuration stays, untouched.
 *  - dataDir and database.* need a restart: such a reload is refused as a whole.
 *  - Everything that reads the configuration when it acts (the pipeline, rules, SLA, templates,
 *    the outbox's retry settings, jobs' knobs …) uses the new one from the next message on.
 *  - SLA calendars, policies, priorities or a queue's calendar/policy changed: the due times of
 *    every running clock are recomputed under the new terms (in the background).
 *  - IMAP: a mailbox whose `imap` block is unchanged keeps its session; a changed one reconnects;
 *    added and removed mailboxes start and stop (channels/imap.ts reconfigure).
 *  - SMTP listener: a new socket only when enabled/host/port changed (the new one is bound before
 *    the old one closes; if binding fails the old one keeps running and the failure is reported);
 *    hostname, maxMessageBytes, maxClients, maxClientsPerIp and trustXForwardFrom apply to new sessions.
 *  - The outgoing transport is rebuilt (the worker finishes its sends first) only when
 *    outgoing.transport, outgoing.smtp, outgoing.fileDir or outgoing.dkim changed; the web server and the ops
 *    listener restart only when their enabled/host/port changed; the jobs are rescheduled only
 *    when jobs.* changed.
 *  - log.level applies at once to every logger.
 */

export interface ReloadReport {
  readonly ok: boolean;
  /** Why the reload was refused (the running configuration stays). */
  readonly problems?: readonly string[];
  /** Top-level configuration sections that changed. */
  readonly changed: readonly string[];
  /** What was done: "imap: support kept", "listener rebound to 127.0.0.1:2526", … */
  readonly actions: readonly string[];
}

/** Keys a running daemon cannot switch (another database). */
const RESTART_ONLY = ['dataDir', 'database'] as const;

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What the SLA due times depend on: calendars, policies, priority levels, each queue's calendar and policy. */
function slaTermsOf(c: Config): unknown {
  return { sla: c.sla, priorities: c.priorities, queues: Object.fromEntries(Object.entries(c.queues).map(([q, s]) => [q, [s.calendar, s.slaPolicy]])) };
}

/** What the waiting cases' stored next step depends on (jobs.pendingReminder without its cron schedule). */
function pendingScheduleOf(c: Config): unknown {
  const p = c.jobs.pendingReminder;
  return { enabled: p.enabled, days: p.remindAfterBusinessDays, close: p.autoCloseAfterDays };
}

function criticalWatchOf(c: Config): unknown {
  const r = c.jobs.criticalReminder;
  return { enabled: r.enabled, levels: criticalLevels(c), after: r.afterMinutes };
}

function changedSections(a: Config, b: Config): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export async function reloadDaemon(ctx: AppContext, parts: DaemonParts, load: () => ResolvedConfig, ops: { readonly metrics: Metrics; readonly live: LiveState }): Promise<ReloadReport> {
  const log = ctx.log.child({ component: 'reload' });
  // The file the problems are in, named as a start names it.
  let file = 'the configuration';
  const refuse = (problems: string[], changed: string[] = []): ReloadReport => {
    log.error({ problems, config: file }, `configuration reload refused; the running configuration stays. ${file}:\n  ${problems.join('\n  ')}`);
    ops.metrics.configReload(false, ctx.clock.now());
    return { ok: false, problems, changed, actions: [] };
  };
  let next: ResolvedConfig;
  try {
    next = load();
  } catch (err) {
    if (err instanceof ConfigError) {
      file = err.source;
      return refuse([...err.lines]);
    }
    return refuse([err instanceof Error ? err.message : String(err)]);
  }
  file = next.source ?? 'embedded default';
  const old = ctx.config;
  const changed = changedSections(old, next.config);
  const restart = RESTART_ONLY.filter((k) => changed.includes(k));
  if (restart.length > 0 || next.paths.dbPath !== ctx.paths.dbPath || next.paths.dataDir !== ctx.paths.dataDir) {
    return refuse([`${restart.join(', ') || 'dataDir'} changed: that needs a restart (systemctl restart casegate)`], changed);
  }
  const mailboxes = MailboxDirectory.fromConfig(next.config);
  let templates: TemplateEngine;
  try {
    templates = templatesFor(next, mailboxes, ctx.log, next.config.templates.watch, 'full');
  } catch (err) {
    if (err instanceof TemplateCheckError) return refuse(err.problems.map((p) => `template ${p.file}${p.line !== null ? `:${p.line}` : ''}: ${p.message}`), changed);
    return refuse([`templates: ${err instanceof Error ? err.message : String(err)}`], changed);
  }
  // A new transport is made before anything changes: a DKIM key that cannot be read (a rotation
  // naming a selector whose key is not there yet, a typo, a file the daemon may not read) refuses
  // the reload here. Made after the old one was stopped, its error left the outbox stopped and
  // the transport closed — no email went out until a restart — while the log said the running
  // configuration stays.
  // Relays too: a relay's settings, which relays are in use, and which mailbox (address) sends through which.
  const transportChanged =
    !parts.fixedTransport &&
    (!same(old.outgoing.transport, next.config.outgoing.transport) || !same(old.outgoing.smtp, next.config.outgoing.smtp) || !same(old.outgoing.relays, next.config.outgoing.relays) || !same(relayLanes(old), relayLanes(next.config)) || !same(old.outgoing.fileDir, next.config.outgoing.fileDir) || !same(old.outgoing.dkim, next.config.outgoing.dkim));
  let nextTransport: Map<string, MailTransport> | null = null;
  if (transportChanged) {
    try {
      nextTransport = createRelayTransports(next, ctx.log.child({ component: 'outgoing' }));
    } catch (err) {
      templates.close();
      if (err instanceof ConfigError) return refuse(err.problems.map((p) => `${p.path || '(file)'}: ${p.message}`), changed);
      return refuse([`outgoing: ${err instanceof Error ? err.message : String(err)}`], changed);
    }
  }
  for (const w of next.warnings) log.warn({ key: w.path }, `configuration warning: ${problemLine(w, next.lineOf)}`);

  // From here on the new configuration is in force.
  const oldTemplates = ctx.templates;
  replaceReloadableParts(ctx, {
    config: next.config,
    paths: next.paths,
    secret: next.secret.withClock(ctx.clock),
    templates,
    mailboxes,
    loopId: `casegate@${next.config.instance.domain}`,
  });
  oldTemplates.close();
  await warnStrandedQueues({ db: ctx.db, config: next.config, log });
  const actions: string[] = ['templates reloaded'];
  if (old.log.level !== next.config.log.level) {
    setLogLevel(ctx.log, next.config.log.level);
    actions.push(`log level ${next.config.log.level}`);
  }

  actions.push(...(await applyListener(ctx, parts, old)));

  const imap = await parts.imap.reconfigure(next.config.mailboxes);
  for (const [what, names] of Object.entries(imap)) if (names.length > 0) actions.push(`imap ${what}: ${names.join(', ')}`);

  if (nextTransport !== null) {
    // Only the relays whose own settings changed get a new sender; a new mailbox mapping alone
    // moves lanes, and every other relay's sends in flight, pause, rate and health go on.
    const changedRelays = new Set([...nextTransport.keys()].filter((r) => !same(relaySettings(old, r), relaySettings(next.config, r))));
    const names = [...nextTransport].map(([relay, t]) => (relay === 'default' ? t.name : (t.label ?? relay))).join(', ');
    const { rebuilt, kept } = await parts.outbox.reconfigure(nextTransport, changedRelays);
    actions.push(`outgoing transport now ${names} (${[rebuilt.length > 0 ? `new sender: ${rebuilt.join(', ')}` : '', kept.length > 0 ? `kept running: ${kept.join(', ')}` : ''].filter((x) => x !== '').join('; ')})`);
  }

  const bindChanged = (a: { enabled: boolean; host: string; port: number }, b: { enabled: boolean; host: string; port: number }): boolean => a.enabled !== b.enabled || a.host !== b.host || a.port !== b.port;
  if (bindChanged(old.web, next.config.web)) {
    await parts.web?.close();
    parts.web = null;
    if (next.config.web.enabled) parts.web = await startWebServer(ctx).catch((err: unknown) => failed(`web server on ${next.config.web.host}:${next.config.web.port}`, err));
    actions.push(parts.web !== null ? `web server on ${next.config.web.host}:${parts.web.port}` : 'web server stopped');
  }
  if (bindChanged(old.ops, next.config.ops)) {
    await parts.ops?.close();
    parts.ops = null;
    if (next.config.ops.enabled) {
      parts.ops = await startOpsServer(ctx, ops.metrics, ops.live).catch((err: unknown) => failed(`ops listener on ${next.config.ops.host}:${next.config.ops.port}`, err));
    }
    actions.push(parts.ops !== null ? `ops listener on ${next.config.ops.host}:${parts.ops.port}` : 'ops listener stopped');
  }
  if (!same(old.jobs, next.config.jobs)) {
    await parts.jobs?.stop();
    parts.jobs = next.config.jobs.enabled ? startJobs(ctx) : null;
    actions.push(parts.jobs !== null ? 'jobs rescheduled' : 'jobs stopped');
  }
  const reschedule = !same(pendingScheduleOf(old), pendingScheduleOf(next.config));
  // The SLA terms, and what the critical-reminder watch of each case depends on (which levels are
  // critical, the quiet time, on or off): stored per case (stale_check_at) like the due times.
  const recompute = !same(slaTermsOf(old), slaTermsOf(next.config)) || !same(criticalWatchOf(old), criticalWatchOf(next.config));
  if (reschedule || recompute) {
    // In the background, one transaction per case: first the waiting cases' reminders under the
    // new schedule (it reads their next step as the old schedule left it), then every running
    // clock under the new terms.
    void (async () => {
      if (reschedule) {
        await rescheduleWaitingCases(ctx, old).then(
          (n) => log.info({ cases: n }, `reminder schedule of waiting cases changed after the reload: ${n} case(s) moved`),
          (err: unknown) => log.warn({ err }, 'the reminders of the waiting cases could not all be rescheduled after the reload; the others keep their next step as planned'),
        );
      }
      if (recompute) {
        await recomputeRunningClocks(ctx, () => false, old).then(
          (n) => log.info({ cases: n }, `SLA due times recomputed after the reload: ${n} case(s) changed`),
          (err: unknown) => log.warn({ err }, 'SLA due times could not all be recomputed after the reload; the others change at their next status or priority change'),
        );
      }
    })();
    if (reschedule) actions.push('reminders of cases waiting for the customer rescheduled (in the background)');
    if (recompute) actions.push('SLA due times of running cases recomputed (in the background)');
  }
  ops.metrics.configReload(true, ctx.clock.now());
  log.info({ changed, actions, config: next.source ?? 'embedded default' }, 'configuration reloaded');
  return { ok: true, changed, actions };

  function failed(what: string, err: unknown): null {
    const message = `${what} could not start: ${err instanceof Error ? err.message : String(err)}`;
    log.error({ err }, message);
    actions.push(message);
    return null;
  }
}

/** The SMTP listener after a reload: a new socket only when enabled/host/port changed. */
async function applyListener(ctx: AppContext, parts: DaemonParts, old: Config): Promise<string[]> {
  const cfg = ctx.config.listener;
  const log = ctx.log.child({ component: 'reload' });
  if (!cfg.enabled) {
    if (parts.smtp === null) return [];
    await parts.smtp.close();
    parts.smtp = null;
    return ['smtp listener stopped'];
  }
  if (parts.smtp !== null && old.listener.enabled && old.listener.host === cfg.host && old.listener.port === cfg.port) {
    parts.smtp.applyConfig();
    return [];
  }
  try {
    // Bound before the old one closes: no moment without a listener.
    const fresh = await startSmtpListener(ctx);
    const previous = parts.smtp;
    parts.smtp = fresh;
    await previous?.close();
    return [`smtp listener ${previous !== null ? 'rebound' : 'started'} on ${cfg.host}:${fresh.port}`];
  } catch (err) {
    const message = `smtp listener could not bind ${cfg.host}:${cfg.port} (${err instanceof Error ? err.message : String(err)}); ${parts.smtp !== null ? `still listening on ${parts.smtp.host}:${parts.smtp.port}` : 'not listening'}`;
    log.error({ err }, message);
    parts.smtp?.applyConfig();
    return [message];
  }
}
