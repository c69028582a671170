import type { ResolvedConfig } from '../config/load.js';
import { explainRouting, headerMap, type ExplainInput, type Explanation } from '../cases/route-explain.js';
import { systemClock } from '../clock.js';
import { kindFiles } from '../mail-out/template-folder.js';
import { templateEngineOptions } from '../mail-out/template-tools.js';

/** `casegate config explain`: print what the configuration does with a new message (cases/route-explain.ts). */
export interface ExplainOptions {
  readonly eml?: string;
  readonly cc?: readonly string[];
  readonly from?: string;
  readonly subject?: string;
  readonly body?: string;
  readonly header?: readonly string[];
  readonly contentLanguage?: string;
  readonly json?: boolean;
}

export async function explainConfig(r: ResolvedConfig, to: readonly string[], opts: ExplainOptions): Promise<number> {
  let input: ExplainInput;
  try {
    input = await explainInput(to, opts);
  } catch (err) {
    process.stderr.write(`casegate config explain: ${(err as Error).message}\n`);
    return 2;
  }
  const e = explainRouting(r.config, input, systemClock.now());
  const templates = e.mailbox === null ? null : kindFiles(templateEngineOptions(r), 'confirmation', { language: e.language.code, queue: e.queue.name });
  if (opts.json === true) {
    process.stdout.write(JSON.stringify({ ...e, templates: templates === null ? null : { kind: 'confirmation', ...templates, dir: r.paths.templatesDir } }, null, 2) + '\n');
    return e.mailbox === null ? 1 : 0;
  }
  process.stdout.write(text(e, templates, r.paths.templatesDir));
  return e.mailbox === null ? 1 : 0;
}

function localTime(iso: string, zone: string): string {
  return `${new Intl.DateTimeFormat('en-GB', { timeZone: zone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(iso))} ${zone}`;
}

function minutes(m: number | null): string {
  if (m === null) return '—';
  const h = Math.floor(m / 60);
  return h > 0 ? `${h}h${m % 60 > 0 ? `${m % 60}m` : ''}` : `${m}m`;
}

function text(e: Explanation, templates: ReturnType<typeof kindFiles>, dir: string): string {
  if (e.mailbox === null) return 'no mailbox serves these addresses: the SMTP listener refuses the message (550 5.1.1), `casegate ingest` exits 67; add the address to a mailbox\'s addresses\n';
  const lines: string[] = [];
  const row = (k: string, v: string): void => void lines.push(`${k.padEnd(12)} ${v}`);
  row('mailbox', `${e.mailbox.name} (our mail From ${e.mailbox.fromName} <${e.mailbox.from}>${e.mailbox.imap !== null ? `; IMAP ${e.mailbox.imap}` : '; SMTP listener or casegate ingest'})`);
  row('relay', `${e.mailbox.relay.describe}: every email of the case (confirmation, replies, staff notifications, surveys)`);
  row('rule', e.rule === null ? (e.rules.length === 0 ? 'none configured' : `none matches (${e.rules.length} tried)`) : `${e.rule.name} (rules.${e.rule.index}) sets ${JSON.stringify(e.rule.set)}`);
  const later = e.rules.filter((v) => v.matches && v.index !== e.rule?.index);
  if (later.length > 0) row('', `also matching, but the first matching rule wins: ${later.map((v) => `${v.name} (rules.${v.index})`).join(', ')}`);
  row('queue', `${e.queue.name} — by ${e.queue.by}${e.queue.configured ? '' : ' (no queues entry: no agents, tiers, calendar or policy of its own)'}${e.queue.feedback ? ' — a feedback queue: recorded closed, no SLA' : ''}`);
  row('priority', `${e.priority.level} — by ${e.priority.by}`);
  row('language', `${e.language.code} — by ${e.language.by}`);
  row('calendar', `${e.calendar.name} (${e.calendar.zone}) — by ${e.calendar.by}; ${e.calendar.openNow ? 'open now' : `closed now, opens ${localTime(e.calendar.nextOpen, e.calendar.zone)}`}`);
  row('sla', e.sla.policy === '' ? `no targets — ${e.sla.by}` : `policy ${e.sla.policy} — by ${e.sla.by}: first response ${minutes(e.sla.firstResponseMin)}, resolution ${minutes(e.sla.resolutionMin)} (${e.sla.coverage}${e.sla.afterHours === 'next-business-day' ? ', next business day after hours' : ''})${e.sla.firstResponseMin === null && e.sla.resolutionMin === null ? ` — the policy has no target for priority ${e.priority.level}` : ''}`);
  row('assignment', `${e.staff.assignment}; owner ${e.staff.owner ?? 'none'}`);
  row('notified', e.queue.feedback ? 'nobody (feedback is recorded closed and thanked)' : e.staff.owner !== null ? `the owner (assignment email)` : e.staff.notified.length > 0 ? e.staff.notified.join(', ') : 'nobody (no owner, no available agent in the queue)');
  if (e.staff.tier !== null) row('escalated', `tier ${e.staff.tier}: alerts ${e.staff.tierAlerted.join(', ') || 'nobody (no tier addresses, no instance.adminAddress)'}`);
  if (templates !== null) {
    row('templates', `confirmation in ${templates.language}:`);
    for (const f of templates.files) row('', `${f.part.padEnd(7)} ${f.file === null ? 'missing' : `${f.file} (${f.shipped ? 'shipped with casegate' : `yours, in ${dir}`})`}`);
  }
  return lines.join('\n') + '\n';
}

/** The message to explain: from the options, or from --eml (options given besides it win). */
async function explainInput(envelope: readonly string[], opts: ExplainOptions): Promise<ExplainInput> {
  const lower = (a: string): string => a.trim().toLowerCase();
  const extra = headerMap(opts.header ?? []);
  if (opts.eml === undefined) {
    if (envelope.length === 0) throw new Error('give the address the message is sent to, or --eml FILE');
    return { to: envelope.map(lower), cc: (opts.cc ?? []).map(lower), from: lower(opts.from ?? 'customer@example.net'), subject: opts.subject ?? '', body: opts.body ?? '', headers: extra, contentLanguage: opts.contentLanguage ?? null };
  }
  const { existsSync } = await import('node:fs');
  if (!existsSync(opts.eml)) throw new Error(`--eml ${opts.eml}: no such file`);
  const { parseMailFile } = await import('../mail-in/parse-mail.js');
  const { DISCARDING_BLOBS } = await import('../mail-in/attached-messages.js');
  const { visibleTextOf } = await import('../mail-in/visible-text.js');
  const mail = await parseMailFile(opts.eml, DISCARDING_BLOBS);
  const headers = new Map(mail.headers);
  for (const [k, v] of extra) headers.set(k, v);
  return {
    to: [...envelope, ...mail.to.map((a) => a.address)].map(lower),
    cc: [...(opts.cc ?? []), ...mail.cc.map((a) => a.address)].map(lower),
    from: lower(opts.from ?? mail.from?.address ?? ''),
    subject: opts.subject ?? mail.subject,
    body: opts.body ?? visibleTextOf(mail).text,
    headers,
    contentLanguage: opts.contentLanguage ?? mail.contentLanguage,
  };
}
