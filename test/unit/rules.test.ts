import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { priorityScheme } from '../../src/cases/priority.js';
import { compiledRules, firstMatchingRule, type RuleInput } from '../../src/cases/rules.js';
import { nextRoundRobin } from '../../src/cases/assignment.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';

/** Priority schemes, routing rules and their validation at load (issue 5, items 1, 2 and 5). */

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function load(config: ConfigInput) {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-rules-'));
  dirs.push(dir);
  const f = join(dir, 'casegate.yaml');
  writeFileSync(f, stringify({ dataDir: 'data', instance: { secret: 'test-secret-0123456789abcdef-0123456789' }, ...config }));
  return loadConfig({ path: f, env: {} }).config;
}

function problems(config: ConfigInput): string[] {
  try {
    load(config);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const mailboxes = [
  { name: 'support', addresses: ['support@example.com'] },
  { name: 'vip', addresses: ['vip@example.com'], queue: 'vip' },
];

describe('priority schemes', () => {
  it('default: urgent, high, normal, low; new cases normal; urgent subjects urgent', () => {
    const s = priorityScheme(load({}));
    expect(s.levels.map((l) => l.name)).toEqual(['urgent', 'high', 'normal', 'low']);
    expect([s.defaultLevel, s.urgentLevel]).toEqual(['normal', 'urgent']);
    expect(s.resolve('URGENT')).toBe('urgent');
    expect(s.resolve('S1')).toBeNull();
  });

  it('s1-s5: S1 most severe, S3 by default', () => {
    const s = priorityScheme(load({ priorities: { scheme: 's1-s5' } }));
    expect(s.levels.map((l) => l.name)).toEqual(['S1', 'S2', 'S3', 'S4', 'S5']);
    expect([s.defaultLevel, s.urgentLevel]).toEqual(['S3', 'S1']);
    expect(s.resolve('s2')).toBe('S2');
    expect(s.orderOf('S1')).toBeLessThan(s.orderOf('S5'));
    expect(s.orderOf('normal')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('custom: levels in any order, sorted by order; default and urgent named', () => {
    const s = priorityScheme(
      load({ priorities: { scheme: 'custom', levels: [{ name: 'minor', order: 30 }, { name: 'blocker', order: 10 }, { name: 'major', order: 20 }], default: 'minor', urgent: 'major' } }),
    );
    expect(s.levels.map((l) => l.name)).toEqual(['blocker', 'major', 'minor']);
    expect([s.defaultLevel, s.urgentLevel]).toEqual(['minor', 'major']);
  });
});

describe('rules: first match wins', () => {
  const config = load({
    mailboxes,
    queues: {
      vip: { agents: [{ name: 'Erika Musterfrau', address: 'erika@example.com' }] },
      outage: {},
    },
    rules: [
      { name: 'vip-domain', match: { senderDomain: ['acme.example', 'globex.example'] }, set: { priority: 'high', queue: 'vip', tags: ['vip'], owner: 'Erika Musterfrau' } },
      { name: 'ceo', match: { senderAddress: 'ceo@initech.example' }, set: { priority: 'urgent', tier: 2 } },
      { name: 'outage-words', match: { subject: ['outage', 'is down', 'VPN down'] }, set: { queue: 'outage', tags: ['outage'] } },
      { name: 'invoice-regex', match: { body: 'invoice\\s*#?\\d{4,}' }, set: { tags: ['billing'] } },
      { name: 'x-priority', match: { header: { name: 'X-Priority', pattern: '^[12]\\b' } }, set: { priority: 'high' } },
      { name: 'importance', match: { header: [{ name: 'Importance', pattern: '^high$' }] }, set: { priority: 'high' } },
      { name: 'vip-mailbox', match: { mailbox: 'vip', recipient: 'vip@example.com' }, set: { tags: ['vip-mailbox'] } },
    ],
  });
  const rules = compiledRules(config.rules);
  const base: RuleInput = { mailbox: 'support', recipients: ['support@example.com'], sender: 'jane@customer.example', subject: 'Hello', body: 'Text', headers: new Map() };

  it.each<[string, Partial<RuleInput>, string | null]>([
    ['nothing special', {}, null],
    ['a VIP domain', { sender: 'bob@acme.example' }, 'vip-domain'],
    ['a VIP subdomain', { sender: 'bob@eu.acme.example' }, 'vip-domain'],
    ['not a VIP look-alike domain', { sender: 'bob@notacme.example' }, null],
    ['the second VIP domain, any case', { sender: 'Bob@GLOBEX.example' }, 'vip-domain'],
    ['the CEO', { sender: 'ceo@initech.example' }, 'ceo'],
    ['a keyword in the subject', { subject: 'Major OUTAGE in Berlin' }, 'outage-words'],
    ['a two-word keyword', { subject: 'VPN   down since 9' }, 'outage-words'],
    ['a keyword only as part of a word', { subject: 'outages report' }, null],
    ['a body regex', { body: 'About invoice #20231' }, 'invoice-regex'],
    ['X-Priority 1', { headers: new Map([['x-priority', ['1 (Highest)']]]) }, 'x-priority'],
    ['X-Priority 3', { headers: new Map([['x-priority', ['3 (Normal)']]]) }, null],
    ['Importance: high', { headers: new Map([['importance', ['High']]]) }, 'importance'],
    ['mailbox and recipient together', { mailbox: 'vip', recipients: ['vip+c1-x@example.com'] }, 'vip-mailbox'],
    ['the mailbox without the recipient', { mailbox: 'vip', recipients: ['other@example.com'] }, null],
    ['first match wins (VIP and outage)', { sender: 'bob@acme.example', subject: 'outage' }, 'vip-domain'],
  ])('%s', (_what, input, expected) => {
    expect(firstMatchingRule(rules, { ...base, ...input })?.name ?? null).toBe(expected);
  });

  it('compiles once per configuration', () => {
    expect(compiledRules(config.rules)).toBe(rules);
  });
});

describe('validation at load: every problem with its key path', () => {
  it('reports rules, queues and priorities problems together', () => {
    const found = problems({
      mailboxes,
      priorities: { scheme: 'default', levels: [{ name: 'x', order: 1 }] },
      queues: {
        vip: { tiers: { 1: { addresses: ['lead@example.com'] }, 4: { addresses: ['ceo@example.com'] } }, agents: [{ name: 'Erika', address: 'erika@example.com' }], assignment: 'fixed' },
        empty: { assignment: 'round-robin' },
        fb: { feedback: true, assignment: 'round-robin', agents: [{ name: 'A', address: 'a@example.com' }] },
      },
      rules: [
        { name: 'broken-regex', match: { subject: '(unclosed', header: { name: 'X-Priority', pattern: '[' } }, set: { priority: 'high' } },
        { name: 'bad-targets', match: { mailbox: 'nope' }, set: { queue: 'nowhere', priority: 'critical' } },
        { name: 'bad-owner', match: {}, set: { queue: 'vip', owner: 'Max' } },
        { name: 'bad-owner', match: {}, set: {} },
        { name: 'owner-without-queue', match: { mailbox: 'support' }, set: { owner: 'Erika' } },
      ],
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^priorities\.levels: only allowed with scheme "custom"/),
        expect.stringMatching(/^queues\.vip\.tiers\.4: tiers are 1, 2 and 3/),
        expect.stringMatching(/^queues\.vip\.fixedOwner: required when assignment is "fixed"/),
        expect.stringMatching(/^queues\.empty\.assignment: round-robin needs at least one agent/),
        expect.stringMatching(/^queues\.fb\.assignment: a feedback queue has no owners/),
        expect.stringMatching(/^rules\.0\.match\.subject: invalid regular expression/),
        expect.stringMatching(/^rules\.0\.match\.header\.pattern: invalid regular expression/),
        expect.stringMatching(/^rules\.1\.match\.mailbox: no mailbox named "nope"/),
        expect.stringMatching(/^rules\.1\.set\.queue: no queue "nowhere"/),
        expect.stringMatching(/^rules\.1\.set\.priority: "critical" is not a priority level/),
        expect.stringMatching(/^rules\.2\.set\.owner: "Max" is not an agent of queue vip/),
        expect.stringMatching(/^rules\.3\.name: duplicate rule name "bad-owner"/),
        expect.stringMatching(/^rules\.3\.set: the rule sets nothing/),
        expect.stringMatching(/^rules\.4\.set\.owner: "Erika" is not an agent of queue support/),
      ]),
    );
    expect(found).toHaveLength(14);
  });

  it('a tag a rule sets follows the one tag rule (as #tag and cases tag do): at most 64 characters', () => {
    expect(problems({ mailboxes, rules: [{ name: 'long', match: { subject: 'x' }, set: { tags: ['k'.repeat(65)] } }] })).toEqual([expect.stringMatching(/^rules\.0\.set\.tags\.0: tags use letters, digits, - _ : \. \(at most 64\)/)]);
    expect(() => problems({ mailboxes, rules: [{ name: 'ok', match: { subject: 'x' }, set: { tags: ['k'.repeat(64)] } }] })).toThrow('expected a ConfigError');
  });

  it('rejects unknown keys in rules (a typo never silently matches everything)', () => {
    const found = problems({ mailboxes, rules: [{ name: 'typo', match: { sender: 'a@b.example' } as never, set: { tags: ['x'] } }] });
    expect(found.join('\n')).toMatch(/rules\.0\.match/);
  });

  it('custom priorities need levels and a default; names and orders are unique', () => {
    expect(problems({ priorities: { scheme: 'custom' } })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^priorities\.levels: required/), expect.stringMatching(/^priorities\.default: required/)]),
    );
    const found = problems({ priorities: { scheme: 'custom', levels: [{ name: 'a', order: 1 }, { name: 'A', order: 1 }], default: 'b' } });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^priorities\.levels\.1\.name: duplicate level "A"/),
        expect.stringMatching(/^priorities\.levels\.1\.order: order 1 is already used by level "a"/),
        expect.stringMatching(/^priorities\.default: "b" is not a priority level/),
      ]),
    );
  });

  it('a feedback queue needs its own thank-you templates', () => {
    const found = problems({ mailboxes: [{ name: 'feedback', addresses: ['feedback@example.com'] }], queues: { feedback: { feedback: true } } });
    expect(found).toEqual([expect.stringMatching(/^queues\.feedback\.feedback: a feedback queue needs its own thank-you .*feedback\/confirmation\.subject\.hbs/)]);
  });
});

describe('round-robin order', () => {
  const agents = [
    { name: 'A', address: 'a@x', available: true },
    { name: 'B', address: 'b@x', available: false },
    { name: 'C', address: 'c@x', available: true },
  ];
  it.each<[string | null, string | null]>([
    [null, 'a@x'],
    ['a@x', 'c@x'],
    ['c@x', 'a@x'],
    ['b@x', 'c@x'],
    ['gone@x', 'a@x'],
  ])('after %s comes %s (unavailable agents skipped)', (last, next) => {
    expect(nextRoundRobin(agents, last)?.address ?? null).toBe(next);
  });
  it('nobody when nobody is available', () => {
    expect(nextRoundRobin([{ name: 'B', address: 'b@x', available: false }], null)).toBeNull();
  });
});

describe('docs/cases.md', () => {
  it('documents rules that load as written', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const readme = readFileSync(new URL('../../docs/cases.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('**Routing rules**'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    const { rules } = parse(block!) as { rules: ConfigInput['rules'] };
    const config = load({
      mailboxes: [...mailboxes, { name: 'feedback', addresses: ['feedback@example.com'] }],
      queues: { vip: { agents: [{ name: 'Vera Vip', address: 'vera@example.com' }] }, finance: {} },
      rules,
    });
    const compiled = compiledRules(config.rules);
    const input: RuleInput = { mailbox: 'support', recipients: ['support@example.com'], sender: 'jane@customer.example', subject: 'Hi', body: '', headers: new Map() };
    expect(firstMatchingRule(compiled, { ...input, sender: 'x@eu.acme.example' })?.name).toBe('vip-customers');
    expect(firstMatchingRule(compiled, { ...input, body: 'about invoice #20391' })?.name).toBe('invoices');
    expect(firstMatchingRule(compiled, { ...input, subject: 'VPN is down' })?.name).toBe('outage-words');
    expect(firstMatchingRule(compiled, { ...input, headers: new Map([['importance', ['High']]]) })?.name).toBe('outlook-high-importance');
  });
});
