import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { schemeLevels } from '../cases/priority.js';
import { compileRules } from '../cases/rules.js';
import { findAgent, knownQueues } from '../cases/staff.js';
import type { Config } from './schema.js';

type Report = (path: (string | number)[], message: string) => void;

/**
 * Cross-references of priorities, queues (tiers, agents, assignment) and rules, checked when the
 * configuration is loaded so that every problem is reported at once with its key path.
 */
export function checkRouting(cfg: Config, report: Report): void {
  // Priorities.
  const p = cfg.priorities;
  if (p.scheme === 'custom' && p.levels === undefined) report(['priorities', 'levels'], 'required when priorities.scheme is "custom"');
  if (p.scheme !== 'custom' && p.levels !== undefined) report(['priorities', 'levels'], `only allowed with scheme "custom" (scheme "${p.scheme}" has fixed levels)`);
  const names = new Map<string, number>();
  const orders = new Map<number, number>();
  (p.levels ?? []).forEach((l, i) => {
    const lower = l.name.toLowerCase();
    if (names.has(lower)) report(['priorities', 'levels', i, 'name'], `duplicate level "${l.name}"`);
    const clash = orders.get(l.order);
    if (clash !== undefined) report(['priorities', 'levels', i, 'order'], `order ${l.order} is already used by level "${p.levels?.[clash]?.name ?? ''}"`);
    names.set(lower, i);
    orders.set(l.order, i);
  });
  const levels = schemeLevels(p);
  const levelNames = levels.map((l) => l.name);
  const isLevel = (name: string): boolean => levelNames.some((n) => n.toLowerCase() === name.trim().toLowerCase());
  const levelHint = `levels: ${levelNames.join(', ') || 'none'}`;
  if (p.default !== undefined && !isLevel(p.default)) report(['priorities', 'default'], `"${p.default}" is not a priority level (${levelHint})`);
  if (p.default === undefined && p.scheme === 'custom') report(['priorities', 'default'], 'required when priorities.scheme is "custom"');
  if (p.urgent !== undefined && !isLevel(p.urgent)) report(['priorities', 'urgent'], `"${p.urgent}" is not a priority level (${levelHint})`);

  // Queues.
  const queues = knownQueues(cfg);
  for (const [name, q] of Object.entries(cfg.queues)) {
    const at = (...rest: (string | number)[]) => ['queues', name, ...rest];
    for (const key of Object.keys(q.tiers)) {
      if (!['1', '2', '3'].includes(key)) report(at('tiers', key), 'tiers are 1, 2 and 3 (tier 1 = the queue’s leads)');
    }
    const seenNames = new Set<string>();
    const seenAddresses = new Set<string>();
    q.agents.forEach((a, i) => {
      const n = a.name.toLowerCase();
      if (seenNames.has(n)) report(at('agents', i, 'name'), `duplicate agent name "${a.name}"`);
      if (seenAddresses.has(a.address)) report(at('agents', i, 'address'), `duplicate agent address ${a.address}`);
      seenNames.add(n);
      seenAddresses.add(a.address);
    });
    // An alias names one person: not another agent's address or alias (whose mail would it be?).
    q.agents.forEach((a, i) =>
      a.aliases.forEach((x, k) => {
        const other = q.agents.find((b) => b !== a && (b.address === x || b.aliases.includes(x)));
        if (x === a.address) report(at('agents', i, 'aliases', k), `${x} is ${a.name}'s address already`);
        else if (other !== undefined) report(at('agents', i, 'aliases', k), `${x} is also ${other.name}'s: an alias names one person`);
      }),
    );
    if (q.assignment === 'fixed' && q.fixedOwner === undefined) report(at('fixedOwner'), 'required when assignment is "fixed"');
    if (q.fixedOwner !== undefined) {
      if (q.assignment !== 'fixed') report(at('fixedOwner'), `only used with assignment "fixed" (assignment is "${q.assignment}")`);
      else if (findAgent(q.agents, q.fixedOwner) === null) report(at('fixedOwner'), `"${q.fixedOwner}" is not an agent of queue ${name}`);
    }
    if (q.assignment === 'round-robin' && q.agents.length === 0) report(at('assignment'), 'round-robin needs at least one agent in queues.' + name + '.agents');
    if (q.feedback && q.assignment !== 'none') report(at('assignment'), 'a feedback queue has no owners (feedback is closed at once)');
  }

  // Rules.
  const compiled = compileRules(cfg.rules);
  for (const problem of compiled.problems) report(problem.path, problem.message);
  const mailboxNames = new Set(cfg.mailboxes.map((m) => m.name));
  const ruleNames = new Map<string, number>();
  cfg.rules.forEach((r, i) => {
    const at = (...rest: (string | number)[]) => ['rules', i, ...rest];
    const other = ruleNames.get(r.name);
    if (other !== undefined) report(at('name'), `duplicate rule name "${r.name}" (also rules.${other})`);
    ruleNames.set(r.name, i);
    const mbs = r.match.mailbox === undefined ? [] : Array.isArray(r.match.mailbox) ? r.match.mailbox : [r.match.mailbox];
    mbs.forEach((mb, j) => {
      if (!mailboxNames.has(mb)) report(Array.isArray(r.match.mailbox) ? at('match', 'mailbox', j) : at('match', 'mailbox'), `no mailbox named "${mb}" (mailboxes: ${[...mailboxNames].join(', ')})`);
    });
    const s = r.set;
    if (Object.keys(s).length === 0 || (s.tags !== undefined && s.tags.length === 0 && Object.keys(s).length === 1)) report(at('set'), 'the rule sets nothing (priority, queue, tags, tier or owner)');
    if (s.priority !== undefined && !isLevel(s.priority)) report(at('set', 'priority'), `"${s.priority}" is not a priority level (${levelHint})`);
    if (s.queue !== undefined && !queues.has(s.queue)) report(at('set', 'queue'), `no queue "${s.queue}" (queues: ${[...queues].join(', ')})`);
    if (s.owner !== undefined) {
      // The owner must be an agent of every queue the rule can route a case to.
      const targets =
        s.queue !== undefined
          ? [s.queue]
          : mbs.length > 0
            ? cfg.mailboxes.filter((m) => mbs.includes(m.name)).map((m) => m.queue ?? m.name)
            : [...new Set(cfg.mailboxes.map((m) => m.queue ?? m.name))];
      const missing = targets.filter((q) => findAgent(cfg.queues[q]?.agents ?? [], s.owner!) === null);
      if (missing.length > 0) report(at('set', 'owner'), `"${s.owner}" is not an agent of queue ${missing.join(', ')}${s.queue === undefined ? ' (the rule sets no queue, so every queue it can route to counts)' : ''}`);
    }
  });
}

/**
 * A feedback queue thanks with the `confirmation` kind rendered from its queue folder
 * (templates/<queue>/confirmation.*.hbs, or per language <queue>/<lang>/…): the shipped
 * confirmation promises a case number and a response time, which feedback must not. Without the
 * override casegate does not start.
 */
export function feedbackTemplateProblems(cfg: Config, templatesDir: string): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  for (const [name, q] of Object.entries(cfg.queues)) {
    if (!q.feedback) continue;
    const missing = ['subject', 'text', 'html'].filter((part) => {
      const file = `confirmation.${part}.hbs`;
      if (existsSync(join(templatesDir, name, file))) return false;
      return !cfg.templates.languages.every((lang) => existsSync(join(templatesDir, name, lang, file)));
    });
    if (missing.length > 0) {
      problems.push({
        path: `queues.${name}.feedback`,
        message: `a feedback queue needs its own thank-you (no case number, no response time): create ${missing.map((p) => `${name}/confirmation.${p}.hbs`).join(', ')} in ${templatesDir} (see docs/cases.md, "Feedback queues")`,
      });
    }
  }
  return problems;
}

/**
 * Languages in templates.languages without one translated file — no `<lang>/` folder in the
 * admin's folder or the shipped set, nor in a queue's folder: their customers get the English
 * templates (with the language's reply marker and dates), which adding the code does not make
 * obvious. A warning: adding the language before its translation may be the plan.
 */
export function untranslatedLanguages(cfg: Config, templatesDir: string, shippedDir: string): { path: string; message: string }[] {
  const queues = [...new Set([...cfg.mailboxes.map((m) => m.queue ?? m.name), ...Object.keys(cfg.queues)])];
  const out: { path: string; message: string }[] = [];
  cfg.templates.languages.forEach((lang, i) => {
    if (lang.toLowerCase() === 'en' || lang === cfg.cases.defaultLanguage) return;
    const dirs = [join(templatesDir, lang), join(shippedDir, lang), ...queues.map((q) => join(templatesDir, q, lang))];
    if (dirs.some((d) => existsSync(d))) return;
    out.push({
      path: `templates.languages.${i}`,
      message: `no template is translated into "${lang}" (no ${lang}/ folder in ${templatesDir}${templatesDir !== shippedDir ? ' or the shipped templates' : ''}): its customers get the English emails. ${templatesDir !== shippedDir ? `Translate into ${join(templatesDir, lang)}/` : `Set templates.dir to a folder of your own (the shipped one is replaced by upgrades) and translate into its ${lang}/`} (docs/customizing-templates.md, "Another language")`,
    });
  });
  return out;
}
