import { declaredLanguage, languageOf, wordCounts } from '../../cases/language.js';
import { priorityScheme } from '../../cases/priority.js';
import { compiledRules, firstMatchingRule } from '../../cases/rules.js';
import { agentsOf, findAgent, queueSettings } from '../../cases/staff.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Where does it go and how urgent is it?
 *
 * A reply keeps its case's queue, priority, language and owner: rules decide about new cases only
 * (re-routing on every reply would make ownership flap, and let a customer re-route their own case
 * by wording). For a new case: its mailbox (the one it arrived in; of a message addressed to several
 * of ours, the first named in To, then Cc: MailboxDirectory.addressed), the first matching rule (config `rules`) may set queue, priority,
 * tags, tier and owner; otherwise the mailbox's queue and the scheme's default priority. An urgent
 * subject from a customer makes it the scheme's urgent level (or keeps a rule's more severe one)
 * and its topic becomes the case subject. A feedback queue records the message as feedback.
 * Language: Content-Language if configured, else detected from the words of the message (when
 * clear), else the queue's, else the default.
 */
export const classifyStage: DecideStage = {
  name: 'classify',
  run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const thread = need(msg.notes.thread, 'thread');
    const request = msg.notes.request;
    if (thread.kind === 'existing') {
      const c = thread.caseRow;
      msg.notes.classification = { mailbox: c.mailbox, queue: c.queue, priority: c.priority, language: c.language };
      msg.notes.routing = { rule: null, kind: c.kind, subject: null, tags: [], owner: null, tier: null };
      return NEXT;
    }

    const sender = need(msg.notes.sender, 'sender');
    const visible = need(msg.notes.visible, 'visible');
    const recipients = [...parsed.to, ...parsed.cc]
      .map((a) => a.address)
      .concat(msg.arrival.envelopeTo.map((a) => a.toLowerCase()), parsed.headers.get('delivered-to') ?? [], parsed.headers.get('x-original-to') ?? [])
      .map((a) => a.trim().toLowerCase());
    // A message addressed to several of our mailboxes is routed the same whichever copy is read first.
    const mailbox = ctx.mailboxes.addressed(msg.arrival.mailbox, parsed.to.map((a) => a.address), parsed.cc.map((a) => a.address));
    const rule = firstMatchingRule(compiledRules(ctx.config.rules), {
      mailbox: mailbox.name,
      recipients,
      sender: sender.address,
      subject: parsed.subject,
      body: visible.text,
      headers: parsed.headers,
    });
    const set = rule?.set ?? {};
    const queue = set.queue ?? ctx.mailboxes.queueOf(mailbox);
    const scheme = priorityScheme(ctx.config);
    let priority = (set.priority !== undefined ? scheme.resolve(set.priority) : null) ?? scheme.defaultLevel;
    if (request?.urgent != null && scheme.orderOf(scheme.urgentLevel) < scheme.orderOf(priority)) priority = scheme.urgentLevel;

    const languages = ctx.config.templates.languages;
    const detected = declaredLanguage(parsed.contentLanguage, languages) ?? languageOf(msg.notes.textFacts?.words ?? wordCounts(`${parsed.subject}\n${visible.text}`), languages);
    const language = detected ?? queueSettings(ctx.config, queue)?.language ?? ctx.config.cases.defaultLanguage;
    const kind = queueSettings(ctx.config, queue)?.feedback === true ? 'feedback' : 'case';
    const owner = set.owner !== undefined ? (findAgent(agentsOf(ctx.config, queue), set.owner)?.address ?? null) : null;
    const topic = request?.urgent?.topic ?? '';

    msg.notes.classification = { mailbox: mailbox.name, queue, priority, language };
    msg.notes.routing = {
      rule: rule !== null ? { name: rule.name, index: rule.index } : null,
      kind,
      subject: topic !== '' ? topic : null,
      tags: set.tags ?? [],
      owner,
      tier: set.tier ?? null,
    };
    if (rule !== null) {
      ctx.log.info({ component: 'rules', rule: rule.name, index: rule.index, messageId: parsed.messageId, sender: sender.address, set, queue, priority }, `rule ${rule.name} fired`);
    }
    return NEXT;
  },
};
