/**
 * What `casegate templates preview` and `casegate templates send-test` need: the engine options
 * from the configuration, template data from the declared samples or from a real case, and a
 * test send straight through the transport (not the outbox: nothing is recorded on a case).
 */
import type Mail from 'nodemailer/lib/mailer/index.js';
import { SHIPPED_TEMPLATES, type ResolvedConfig } from '../config/load.js';
import type { Config, MailboxConfig } from '../config/schema.js';
import type { AppContext } from '../context.js';
import { statusLabel } from '../cases/lifecycle.js';
import { mintMessageId } from '../cases/thread-token.js';
import { caseByNumber } from '../db/repos/cases.js';
import { messagesOfCase } from '../db/repos/messages.js';
import { messageFiles } from '../cases/customer-files.js';
import { relatedCase } from '../cases/staff-mail.js';
import type { CaseRow, MessageRow } from '../db/schema.js';
import { oneLine } from '../mail-in/header-values.js';
import { MailboxDirectory } from '../mailboxes.js';
import { promiseData } from '../cases/promise.js';
import { automationHeaders, caseCommand, commonData, confirmationExtras, mailLanguage, onlyOwnLinks, requesterOf } from './compose.js';
import { isTemplateName, sampleTemplateData, templateDeclaration, templateNames, type TemplateDataMap, type TemplateName } from './template-data.js';
import type { RenderedEmail, TemplateEngineOptions } from './templates.js';
import { createTransport, relayTransport, type MailTransport } from './transport.js';
import { DEFAULT_RELAY, relayForFrom } from './relays.js';

// ---------------------------------------------------------------------------------------------
// Engine options and targets

/** Every queue templates can be overridden for: the mailboxes' queues and the configured queues. */
export function configuredQueues(config: Config): string[] {
  const mailboxes = MailboxDirectory.fromConfig(config);
  return [...new Set([...config.mailboxes.map((m) => mailboxes.queueOf(m)), ...Object.keys(config.queues)])];
}

/** The engine options the daemon uses (context.ts), for one-shot commands. */
export function templateEngineOptions(resolved: ResolvedConfig): Omit<TemplateEngineOptions, 'watch' | 'log'> {
  return {
    dir: resolved.paths.templatesDir,
    shippedDir: SHIPPED_TEMPLATES,
    defaultLanguage: resolved.config.cases.defaultLanguage,
    languages: resolved.config.templates.languages,
    queues: configuredQueues(resolved.config),
  };
}

export class TemplateToolError extends Error {
  override readonly name = 'TemplateToolError';
}

/** The kind, or an error that lists every kind. */
export function templateKindOf(name: string): TemplateName {
  if (isTemplateName(name)) return name;
  throw new TemplateToolError(`unknown template "${name}"; templates: ${templateNames.join(', ')}`);
}

export interface PreviewTarget {
  readonly language: string;
  readonly queue: string;
}

/**
 * The mailbox mail of a queue is sent from: the first mailbox whose queue it is, else the default
 * mailbox (a queue only named under `queues:`).
 */
export function mailboxOfQueue(config: Config, queue: string): MailboxConfig {
  const mailboxes = MailboxDirectory.fromConfig(config);
  return config.mailboxes.find((m) => mailboxes.queueOf(m) === queue) ?? mailboxes.default;
}

// ---------------------------------------------------------------------------------------------
// Data

/** `status.label` of status-changed: the status as customers read it (one table, in the case lifecycle). */
export { statusLabel };

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` merged into `base` object by object (lists and values replace). */
function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/**
 * The declared sample data of a kind, made concrete for the configuration and the target: the
 * instance name, the queue's mailbox and language, the queue's confirmation extras, the reopen
 * window. What a customer would get, with made-up case details.
 */
export function sampleDataFor<N extends TemplateName>(kind: N, config: Config, target: PreviewTarget, isTest = false): TemplateDataMap[N] {
  const sample = sampleTemplateData(kind) as unknown as Json;
  const over: Json = { instance: { name: config.instance.name }, isTest };
  if (templateDeclaration(kind).scope === 'case') {
    const mailbox = mailboxOfQueue(config, target.queue);
    over.mailbox = { name: mailbox.name, address: mailbox.addresses[0] ?? '', queue: target.queue };
    over.case = { language: target.language };
  }
  Object.assign(over, kindSpecificConfig(kind, config, target));
  if (kind === 'status-changed') {
    const status = (sample.status ?? {}) as Json;
    over.status = { label: statusLabel(String(status.to ?? ''), target.language) };
  }
  return deepMerge(sample, over) as unknown as TemplateDataMap[N];
}

/** Values a kind takes from the configuration (the same for sample and case data). */
function kindSpecificConfig(kind: TemplateName, config: Config, target: PreviewTarget): Json {
  switch (kind) {
    case 'confirmation':
      return { ...confirmationExtras(config, target.queue, target.language) };
    case 'status-changed':
    case 'auto-closed':
      return { reopenDays: config.cases.reopenWindowDays };
    default:
      return {};
  }
}

/** What staff mail would say about a message's files (its names; those it would not carry, with their commands). */
async function filesShown(ctx: AppContext, messageRowId: number): Promise<Json> {
  const f = await messageFiles(ctx.db, ctx, messageRowId);
  return { attachments: [...f.attachments], notAttached: f.notAttached.map((n) => ({ name: n.name, size: n.size, command: n.command, picture: n.picture })) };
}

export interface CaseData<N extends TemplateName> {
  readonly caseRow: CaseRow;
  readonly data: TemplateDataMap[N];
  /** The language the email would be written in (mailLanguage) and the case's queue: the default target. */
  readonly target: PreviewTarget;
}

/**
 * Template data from a real case, built the way the product builds it (commonData from the case
 * row, its mailbox and requester); fields a case does not have yet (an agent's reply, an SLA
 * deadline …) keep their sample values. Throws TemplateToolError for an unknown case or a kind
 * that is not about a case.
 */
export async function caseDataFor<N extends TemplateName>(
  ctx: AppContext,
  kind: N,
  caseNumber: number,
  opts: { language?: string | undefined; isTest?: boolean },
): Promise<CaseData<N>> {
  if (templateDeclaration(kind).scope !== 'case') {
    throw new TemplateToolError(`template "${kind}" is not about a case; preview it with sample data (leave out --case)`);
  }
  const caseRow = await caseByNumber(ctx.db, caseNumber);
  if (caseRow === undefined) throw new TemplateToolError(`no case ${caseNumber}`);
  const target = { language: opts.language ?? mailLanguage(ctx.config, kind, caseRow), queue: caseRow.queue };
  const mailbox = ctx.mailboxes.ofCase(caseRow);
  const common = commonData(ctx, caseRow, mailbox, requesterOf(caseRow), opts.isTest ?? false) as unknown as Json;
  const messages = await messagesOfCase(ctx.db, caseRow.id);
  const inbound = messages.filter((m) => m.direction === 'in');
  const last = inbound.at(-1);
  const over: Json = { ...common, caseCommand: caseCommand(caseRow.number), ...kindSpecificConfig(kind, ctx.config, target) };
  const ownerName = caseRow.owner ?? '';
  const from = (m: MessageRow): string => (m.from_name !== '' ? `${m.from_name} <${m.from_address}>` : m.from_address);
  switch (kind) {
    case 'reopened':
      if (last !== undefined) over.reply = { visibleText: last.visible_text };
      break;
    case 'confirmation':
      // The case's own SLA promise, in its queue's time zone.
      over.promise = promiseData(ctx.config, caseRow, new Date(caseRow.created_at)) as unknown as Json;
      break;
    case 'status-changed': {
      const sample = sampleTemplateData('status-changed');
      over.status = { from: caseRow.status, label: statusLabel(sample.status.to, target.language) };
      break;
    }
    case 'escalation-ack':
    case 'escalation-alert':
      over.escalation = { level: Math.max(1, caseRow.escalation_level) };
      over.owner = { name: ownerName };
      if (last !== undefined) over.lastMessage = { from: from(last), at: last.sent_at ?? last.created_at, visibleText: last.visible_text, ...(await filesShown(ctx, last.id)) };
      break;
    case 'sla-warning':
    case 'sla-breach':
      over.owner = { name: ownerName };
      if (caseRow.first_response_due_at !== null) over.sla = { kind: 'first-response', dueAt: caseRow.first_response_due_at };
      break;
    case 'agent-notification':
      over.owner = { name: ownerName };
      over.related = await relatedCase(ctx.db, caseRow);
      if (last !== undefined) {
        over.event = inbound.length > 1 ? 'customer-reply' : 'new-case';
        over.message = { from: from(last), at: last.sent_at ?? last.created_at, visibleText: last.visible_text, ...(await filesShown(ctx, last.id)) };
      }
      break;
    case 'assignment':
    case 'reassignment':
      if (ownerName !== '') over.owner = { name: ownerName };
      break;
    case 'bounce-notice':
      over.bounce = { address: caseRow.requester_address };
      break;
    default:
      break;
  }
  const data = deepMerge(sampleTemplateData(kind) as unknown as Json, pick(over, kind)) as unknown as TemplateDataMap[N];
  return { caseRow, data, target };
}

/** Only the top-level keys the kind declares (common data has fields some kinds do not). */
function pick(over: Json, kind: TemplateName): Json {
  const declared = templateDeclaration(kind).variables;
  return Object.fromEntries(Object.entries(over).filter(([k]) => Object.hasOwn(declared, k)));
}

// ---------------------------------------------------------------------------------------------
// send-test

const PLAIN_ADDRESS = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:".]+(?:\.[^\s@<>()[\]\\,;:".]+)*$/;

/** The --to of send-test: one plain address; anything that could reach a header otherwise is refused. */
export function parseTestAddress(raw: string): string {
  const address = raw.trim();
  if (/[\u0000-\u001f\u007f\u2028\u2029]/.test(address)) {
    throw new TemplateToolError('--to must be one plain address (it contains a line break or control character)');
  }
  if (address.length > 254 || !PLAIN_ADDRESS.test(address)) {
    throw new TemplateToolError(`--to must be one plain address like you@example.com, got "${address.slice(0, 100)}"`);
  }
  return address.toLowerCase();
}

export interface TestSend {
  readonly kind: TemplateName;
  readonly rendered: RenderedEmail;
  /** The mailbox it is sent from (the queue's). */
  readonly mailbox: MailboxConfig;
  readonly to: string;
}

export interface TestSendResult {
  readonly messageId: string;
  readonly subject: string;
  readonly transport: string;
  readonly response: string;
}

/** A rendered test email as nodemailer options, with our usual headers plus X-Casegate-Test. */
export function testMailOptions(resolved: ResolvedConfig, t: TestSend, messageId: string): Mail.Options {
  const config = resolved.config;
  // Rendered from a real case (--case), it may quote a customer's signed link: it goes to whoever
  // --to names, so every one is cut as in any email of ours (a test email carries no link of its own).
  const rendered = onlyOwnLinks(t.rendered);
  const subject = oneLine(rendered.subject);
  return {
    from: { name: oneLine(t.mailbox.fromName ?? config.instance.name), address: t.mailbox.addresses[0] ?? '' },
    to: t.to,
    // The shipped templates put "[TEST]" first; an edited subject without it still gets it.
    subject: subject.startsWith('[TEST]') ? subject : `[TEST] ${subject}`,
    text: rendered.text,
    html: rendered.html,
    messageId: `<${messageId}>`,
    date: new Date(),
    headers: {
      'X-Loop': `casegate@${config.instance.domain}`,
      ...automationHeaders('auto-generated'),
      'X-Casegate-Test': 'yes',
      'X-Casegate-Template': t.kind,
    },
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}

/** Send one test email through the relay of its mailbox (relays.ts; not the outbox). */
export async function sendTestEmail(resolved: ResolvedConfig, t: TestSend, transport?: MailTransport): Promise<TestSendResult> {
  const messageId = mintMessageId(null, resolved.secret, resolved.config.instance.domain);
  const options = testMailOptions(resolved, t, messageId);
  const relay = relayForFrom(resolved.config, t.mailbox.addresses[0] ?? '');
  const tr = transport ?? (relay === DEFAULT_RELAY ? createTransport(resolved) : relayTransport(resolved, relay));
  try {
    const info = await tr.send(options);
    return { messageId, subject: String(options.subject), transport: tr.label ?? tr.name, response: info.response };
  } finally {
    if (transport === undefined) tr.close();
  }
}
