import type { Config } from '../config/schema.js';
import type { HeaderMap } from '../mail-in/parsed-mail.js';
import { MailboxDirectory } from '../mailboxes.js';
import { DEFAULT_RELAY, describeRelay, relayForFrom } from '../mail-out/relays.js';
import { parseUrgentSubject } from './escalation-signals.js';
import { alertRecipients } from './escalation.js';
import { declaredLanguage, detectLanguage } from './language.js';
import { priorityScheme } from './priority.js';
import { compiledRules } from './rules.js';
import { DEFAULT_CALENDAR, slaTerms } from './sla-policy.js';
import { agentsOf, attentionAddresses, findAgent, queueSettings } from './staff.js';

/**
 * `casegate config explain`: what the configuration does with a new message — which mailbox,
 * rule, queue, priority, language, calendar, SLA policy and targets, who is told and which
 * template files write the confirmation — without a database, a daemon or a message sent. The
 * same decisions as the pipeline's classify stage (its functions, not a copy of them), for a
 * message that opens a new case.
 */

export interface ExplainInput {
  /** Lower-case addresses of To; the first one of ours is where the message arrived (envelope). */
  readonly to: readonly string[];
  readonly cc: readonly string[];
  readonly from: string;
  readonly subject: string;
  readonly body: string;
  readonly headers: HeaderMap;
  /** The Content-Language the message declares, or null. */
  readonly contentLanguage: string | null;
}

export interface RuleVerdict {
  readonly index: number;
  readonly name: string;
  readonly matches: boolean;
}

export interface Explanation {
  /** null: no mailbox serves any of the recipients (the listener refuses with 550, ingest exits 67). */
  readonly mailbox: { readonly name: string; readonly from: string; readonly fromName: string; readonly imap: string | null; readonly relay: { readonly name: string; readonly describe: string } } | null;
  readonly rules: readonly RuleVerdict[];
  /** The rule that decides (the first that matches), or null. */
  readonly rule: { readonly index: number; readonly name: string; readonly set: Config['rules'][number]['set'] } | null;
  readonly queue: { readonly name: string; readonly by: string; readonly feedback: boolean; readonly configured: boolean };
  readonly priority: { readonly level: string; readonly by: string };
  readonly language: { readonly code: string; readonly by: string };
  readonly calendar: { readonly name: string; readonly zone: string; readonly by: string; readonly openNow: boolean; readonly nextOpen: string };
  readonly sla: { readonly policy: string; readonly by: string; readonly firstResponseMin: number | null; readonly resolutionMin: number | null; readonly coverage: string; readonly afterHours: string };
  readonly staff: {
    readonly assignment: string;
    readonly owner: string | null;
    readonly notified: readonly string[];
    readonly tier: number | null;
    readonly tierAlerted: readonly string[];
  };
}

export function explainRouting(config: Config, input: ExplainInput, now: Date): Explanation {
  const mailboxes = MailboxDirectory.fromConfig(config);
  const arrival = [...input.to, ...input.cc].map((a) => mailboxes.byAddress(a)).find((m) => m !== null) ?? null;
  const mailbox = arrival !== null ? mailboxes.addressed(arrival, input.to, input.cc) : null;
  const recipients = [...input.to, ...input.cc].map((a) => a.trim().toLowerCase());
  const ruleInput = { mailbox: mailbox?.name ?? '', recipients, sender: input.from, subject: input.subject, body: input.body, headers: input.headers };
  const verdicts = mailbox === null ? [] : compiledRules(config.rules).map((r) => ({ index: r.index, name: r.name, matches: r.matches(ruleInput) }));
  const fired = verdicts.find((v) => v.matches) ?? null;
  const set = fired !== null ? (config.rules[fired.index]?.set ?? {}) : {};

  const mailboxQueue = mailbox !== null ? mailboxes.queueOf(mailbox) : '';
  const queue = set.queue ?? mailboxQueue;
  const settings = queueSettings(config, queue);
  const queueBy = set.queue !== undefined ? `rule ${fired?.name ?? ''} (rules.${fired?.index ?? ''})` : mailbox === null ? 'no mailbox' : `mailbox ${mailbox.name}${mailbox.queue === undefined ? ' (its name: no mailboxes[].queue)' : ''}`;

  const scheme = priorityScheme(config);
  let level = (set.priority !== undefined ? scheme.resolve(set.priority) : null) ?? scheme.defaultLevel;
  let priorityBy = set.priority !== undefined ? `rule ${fired?.name ?? ''}` : config.priorities.default !== undefined ? 'priorities.default' : `the default level of scheme ${config.priorities.scheme}`;
  if (parseUrgentSubject(input.subject, config.cases.tagPrefix) !== null && scheme.orderOf(scheme.urgentLevel) < scheme.orderOf(level)) {
    level = scheme.urgentLevel;
    priorityBy = 'the "Urgent – …" subject';
  }

  const languages = config.templates.languages;
  const declared = declaredLanguage(input.contentLanguage, languages);
  const detected = declared === null ? detectLanguage(`${input.subject}\n${input.body}`, languages) : null;
  const language =
    declared !== null
      ? { code: declared, by: `Content-Language ${input.contentLanguage ?? ''}` }
      : detected !== null
        ? { code: detected, by: 'the words of the message' }
        : settings?.language !== undefined
          ? { code: settings.language, by: `queues.${queue}.language` }
          : { code: config.cases.defaultLanguage, by: 'cases.defaultLanguage' };

  const terms = slaTerms(config, queue, level);
  const calendarBy = settings?.calendar !== undefined ? `queues.${queue}.calendar` : config.sla.defaultCalendar !== undefined ? 'sla.defaultCalendar' : `built in (${DEFAULT_CALENDAR.hours['mon-fri']} Mon–Fri UTC)`;
  const policyBy = settings?.slaPolicy !== undefined ? `queues.${queue}.slaPolicy` : config.sla.defaultPolicy !== undefined ? 'sla.defaultPolicy' : 'none (no queues.<q>.slaPolicy, no sla.defaultPolicy)';

  const agents = agentsOf(config, queue);
  const ruleOwner = set.owner !== undefined ? findAgent(agents, set.owner) : null;
  const assignment = settings?.assignment ?? 'none';
  const fixed = assignment === 'fixed' && settings?.fixedOwner !== undefined ? findAgent(agents, settings.fixedOwner) : null;
  const available = agents.filter((a) => a.available);
  const owner = ruleOwner ?? fixed ?? (assignment === 'round-robin' ? (available[0] ?? null) : null);
  const tier = set.tier ?? null;
  const feedback = settings?.feedback === true;

  return {
    mailbox: mailbox === null ? null : { name: mailbox.name, from: mailbox.addresses[0] ?? '', fromName: mailbox.fromName ?? config.instance.name, imap: mailbox.imap !== undefined ? `${mailbox.imap.host}:${mailbox.imap.port}, user ${mailbox.imap.auth.user}, folder ${mailbox.imap.folder}` : null, relay: relayOfExplained(config, mailbox.addresses[0] ?? '') },
    rules: verdicts,
    rule: fired === null ? null : { index: fired.index, name: fired.name, set },
    queue: { name: queue, by: queueBy, feedback, configured: settings !== undefined },
    priority: { level, by: priorityBy },
    language,
    calendar: { name: terms.calendar.name, zone: terms.calendar.zone, by: calendarBy, openNow: terms.calendar.isOpen(now), nextOpen: terms.calendar.nextOpen(now).toISOString() },
    sla: { policy: terms.policy, by: policyBy, firstResponseMin: feedback ? null : terms.firstResponseMin, resolutionMin: feedback ? null : terms.resolutionMin, coverage: terms.coverage, afterHours: terms.afterHours },
    staff: {
      assignment: ruleOwner !== null ? `rule ${fired?.name ?? ''} (set.owner)` : assignment === 'round-robin' ? 'round-robin (the next available agent in turn; the first shown)' : assignment,
      owner: feedback || owner === null ? null : `${owner.name} <${owner.address}>`,
      // A new case without an owner (or whose owner is away) tells whom attentionAddresses names
      // (agentMail.notifyAgentsOn new-case); the owner got the assignment email.
      notified:
        feedback || (owner !== null && owner.available) || !config.agentMail.notifyAgentsOn.includes('new-case')
          ? []
          : attentionAddresses(config, queue, owner?.address ?? null)
              .filter((r) => r.address !== owner?.address)
              .map((r) => (r.name !== '' ? `${r.name} <${r.address}>` : r.address)),
      tier,
      tierAlerted: tier === null ? [] : alertRecipients({ config }, queue, 0, tier),
    },
  };
}

/** "Name: value" options as a header map (names lower-case, as parsed mail has them). */
export function headerMap(lines: readonly string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`--header "${line}": write it as "Name: value"`);
    const name = line.slice(0, i).trim().toLowerCase();
    map.set(name, [...(map.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  return map;
}

/** The relay the case's emails go through (mail-out/relays.ts: by the From, the mailbox's first address), and its login. */
function relayOfExplained(config: Config, from: string): { name: string; describe: string } {
  const name = relayForFrom(config, from);
  const r = name === DEFAULT_RELAY ? config.outgoing.smtp : config.outgoing.relays[name];
  const login = config.outgoing.transport !== 'smtp' || r === undefined ? '' : r.auth !== undefined ? `, login ${r.auth.user} (${r.auth.method})` : r.user !== undefined ? `, login ${r.user} (password)` : ', no login';
  return { name, describe: `${describeRelay(config, name)}${login}` };
}
