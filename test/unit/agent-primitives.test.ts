import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAgentMail, savedLines } from '../../src/cases/agent-commands.js';
import { customerUpdateOf, statusLabel } from '../../src/cases/lifecycle.js';
import { attentionAddresses, staffMember, tierAddresses } from '../../src/cases/staff.js';
import { hasOwnGreeting, hasOwnSignOff } from '../../src/cases/reply-text.js';
import { isOnlySignature } from '../../src/cases/signature.js';
import { extractVisibleText } from '../../src/mail-in/visible-text.js';
import { CORPUS } from '../helpers/corpus.js';
import { isStatusRequest } from '../../src/cases/status-request.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { MailboxDirectory } from '../../src/mailboxes.js';

/** Issue 10's pure parts, table-driven: the command parser, who is staff, notes addresses, status words, config. */

const dir = mkdtempSync(join(tmpdir(), 'casegate-agent-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function load(yaml: string) {
  const f = join(dir, `c${++n}.yaml`);
  writeFileSync(f, yaml);
  return loadConfig({ path: f, env: {} });
}

describe('parseAgentMail: commands on the first lines, the text below', () => {
  it.each<[string, string, unknown[], string]>([
    ['reply only', 'Hi Jane,\n\nhere you go.', [], 'Hi Jane,\n\nhere you go.'],
    ['command only', '#resolve', [{ kind: 'status', command: 'resolve', to: 'resolved' }], ''],
    ['blank lines before and between commands', '\n\n#pending\n\n#tag vpn\nWhich version?', [{ kind: 'status', to: 'pending' }, { kind: 'tag', tag: 'vpn' }], 'Which version?'],
    ['#hold with the expected time', '#hold 3–5 business days', [{ kind: 'status', command: 'hold', to: 'on_hold', text: '3–5 business days' }], ''],
    ['#open and #reopen', '#reopen', [{ kind: 'status', command: 'reopen', to: 'open' }], ''],
    ['#bug with a class (any case, "not foreseeable" too)', '#bug Not Foreseeable\nUse the old client.', [{ kind: 'bug', timeline: 'not-foreseeable' }], 'Use the old client.'],
    ['#call with when', '#call tomorrow 10:00', [{ kind: 'call', when: 'tomorrow 10:00' }], ''],
    ['#call without when', '#call', [{ kind: 'call', when: '' }], ''],
    ['#note', '#note\nInternal stuff', [{ kind: 'note' }], 'Internal stuff'],
    ['#tag is lower-cased', '#tag Key-Account', [{ kind: 'tag', tag: 'key-account' }], ''],
    ['a known command further down counts and leaves the text', 'Looking into it.\n#priority high\nBest, Ben', [{ kind: 'priority', level: 'high' }], 'Looking into it.\nBest, Ben'],
    ['a hashtag in the text is text', 'We use #hashtags a lot.\n#1 priority for us', [], 'We use #hashtags a lot.\n#1 priority for us'],
    ['an unknown #word at the top is an error', '#frobnicate\nText', [{ kind: 'invalid', why: '#frobnicate is not a command' }], 'Text'],
    ['an unknown #word further down is text', 'Text\n#frobnicate', [], 'Text\n#frobnicate'],
    ['a status command with an argument', '#resolve fixed', [{ kind: 'invalid', why: expect.stringMatching(/#resolve takes no argument/) }], ''],
    ['a sentence’s full stop or "!" after a command is no argument (a phone reply: "Fixed it.\n\n#resolve.")', 'Fixed it.\n\n#resolve.\n#Pending!\n#note.', [{ kind: 'status', command: 'resolve', to: 'resolved' }, { kind: 'status', command: 'pending', to: 'pending' }, { kind: 'invalid', why: expect.stringMatching(/#note stands on the first line/) }], 'Fixed it.'],
    ['#bug without a class', '#bug', [{ kind: 'invalid', why: expect.stringMatching(/#bug needs when a fix is expected/) }], ''],
    ['#tag with spaces', '#tag two words', [{ kind: 'invalid' }], ''],
    ['#tag of 64 characters', `#tag ${'k'.repeat(64)}`, [{ kind: 'tag', tag: 'k'.repeat(64) }], ''],
    ['#tag longer than 64 characters (an index key; no name anyone types)', `#tag ${'k'.repeat(65)}`, [{ kind: 'invalid' }], ''],
    ['#note with text on its line', '#note something', [{ kind: 'invalid' }], ''],
    ['commands in ">" quotes do not count', '> #close\nthanks', [], '> #close\nthanks'],
    ['#merge with the number as agents copy it', '#merge 10001\n#merge #10002\n#merge [Case #10003]\n#merge [Fall #10004]\n#merge case 10005', [10001, 10002, 10003, 10004, 10005].map((into) => ({ kind: 'merge', into })), ''],
    ['#merge without a number, or with two', '#merge\n#merge soon\n#merge 10001 10002', [1, 2, 3].map(() => ({ kind: 'invalid', why: expect.stringMatching(/#merge needs the number of the case/) })), ''],
    ['#mrege: did you mean #merge?', '#mrege 10001', [{ kind: 'invalid', why: '#mrege is not a command (did you mean #merge?)' }], ''],
    ['"#note" in the team’s language, or as what it means, is #note', '#Notiz\nKunde ist verärgert', [{ kind: 'note' }], 'Kunde ist verärgert'],
    ['#nota, #notitie, #intern, #internal', '#nota\n#NOTITIE\n#intern\n#internal', [1, 2, 3, 4].map(() => ({ kind: 'note' })), ''],
    ['#Notiz below a reply is refused like #note (never relayed)', 'Hallo Jane, erledigt.\n\n#Notiz\nKunde war am Telefon verärgert.', [{ kind: 'invalid', why: expect.stringMatching(/^#Notiz stands on the first line/) }], 'Hallo Jane, erledigt.\n\nKunde war am Telefon verärgert.'],
    ['#notitz below a reply: did you mean #note?', 'Hallo Jane.\n#notitz', [{ kind: 'invalid', why: '#notitz is not a command (did you mean #note?)' }], 'Hallo Jane.'],
  ])('%s', (_what, text, commands, rest) => {
    const out = parseAgentMail(text);
    expect(out.commands).toMatchObject(commands);
    expect(out.commands).toHaveLength(commands.length);
    expect(out.text).toBe(rest);
  });
});

describe('"#saved <name>": a place in the text for a saved reply, never a command', () => {
  it('stays a line of the text where it stands (any client form, any case); commands around it count; ">" quotes are text', () => {
    const out = parseAgentMail('#pending\nHi Anna,\n\n * **#Saved Need-Logs**\n\nBen\n#tag vpn\n> #saved old-one');
    expect(out.commands).toMatchObject([{ kind: 'status', command: 'pending' }, { kind: 'tag', tag: 'vpn' }]);
    expect(out.commands).toHaveLength(2);
    expect(out.lines).toEqual(['Hi Anna,', '', { saved: 'need-logs', line: '* **#Saved Need-Logs**' }, '', 'Ben', '> #saved old-one']);
    expect(out.text).toBe('Hi Anna,\n\n* **#Saved Need-Logs**\n\nBen\n> #saved old-one');
    // Alone, at the top (also "# saved"), after #note: still the text.
    expect(parseAgentMail('# saved need-logs').lines).toEqual([{ saved: 'need-logs', line: '# saved need-logs' }]);
    expect(parseAgentMail('#note\n#saved need-logs').lines).toEqual([{ saved: 'need-logs', line: '#saved need-logs' }]);
    // Malformed: an error like any command's, nothing in the text; a misspelling is named.
    expect(parseAgentMail('#saved\nText').commands).toMatchObject([{ kind: 'invalid', why: expect.stringMatching(/#saved needs the name of one saved reply/) }]);
    expect(parseAgentMail('Text\n#saved two words').commands).toMatchObject([{ kind: 'invalid', why: expect.stringMatching(/#saved needs the name/) }]);
    expect(parseAgentMail('Text\n#saevd need-logs').commands).toMatchObject([{ kind: 'invalid', why: '#saevd is not a command (did you mean #saved?)' }]);
  });

  it('savedLines (CLI text): only "#saved" lines, every other "#word" is text', () => {
    expect(savedLines('#resolve\n#saved need-logs\nBen')).toEqual({ lines: ['#resolve', { saved: 'need-logs', line: '#saved need-logs' }, 'Ben'], errors: [] });
    expect(savedLines('#saved').errors).toMatchObject([{ line: '#saved', why: expect.stringMatching(/#saved needs the name/) }]);
  });
});

describe('the agent’s own greeting and sign-off (the template then adds none)', () => {
  it.each<[string, boolean, boolean]>([
    ['Hi Jane,\n\nit works now.\n\nBest,\nBen', true, true],
    ['Guten Tag Frau Muster,\n\nerledigt.\n\nViele Grüße\nBen', true, true],
    ['It works now.', false, false],
    ['Please restart the router.\nKind regards, Ben', false, true],
    ['Hello there, this first line is far too long to be only a greeting, it is the whole answer in one line', false, false],
    ['Bestimmt hilft ein Neustart.\nDanach geht es.', false, false],
  ])('%j', (text, greeting, signOff) => {
    expect([hasOwnGreeting(text), hasOwnSignOff(text)]).toEqual([greeting, signOff]);
  });
  it.each<[string, boolean]>([
    ['Hi Jane, please restart.\nBen', true],
    ['Please restart.\n\n– Ben Agent', true],
    ['Please restart.\nben', true],
    ['Ben', false],
    ['Please restart.\nBenjamin from sales will call.', false],
    ['Please ask Ben.\nCarla', false],
  ])('signed with the agent’s own name (Ben Agent): %j', (text, signOff) => {
    expect(hasOwnSignOff(text, 'Ben Agent')).toBe(signOff);
  });
});

describe('an agent’s signature (Ben Adams), and what is none', () => {
  it.each<string>([
    'Best, B.',
    'Regards, Ben',
    'Benjamin',
    'B.',
    '-B',
    'BA',
    'B. Adams\nExample Ltd',
    'Ben Adams | Support\nExample Ltd',
    'Adams',
    'Cheers,\nB',
    '--\nSupport team | Example Ltd',
    'Support team | Example Ltd',
    'The Example Support Team',
    'Ihr Support-Team\nExample GmbH',
    'Example Ltd\nCustomer Support\nTel. +44 20 7946 0000\nsupport@example.com | www.example.com',
    'Kind regards,\nBen Adams\n\nThis email and any attachments are confidential and intended solely for the addressee. If you have received it in error, please notify the sender and delete it.',
    'Ben Adams\nPlease consider the environment before printing this email.',
    'Cheers 🎉\nSarah\n\n—————\nSarah Johnson\n📱 +1 555-0123',
    'Envoyé de mon iPhone',
  ])('only a signature: %j', (text) => {
    expect(isOnlySignature(text, 'Ben Adams')).toBe(true);
  });
  it.each<string>([
    'Done',
    'Yes',
    'OK',
    'Thanks!',
    'Thanks,\nB.',
    'Thanks Team',
    'Renewed\nBen',
    'Call me: +44 20 7946 0000',
    '+44 20 7946 0000',
    'www.example.com/kb/vpn-certificate',
    'Ben,\nthe certificate is renewed',
    'Ben\nThe certificate is renewed, please try again.',
    'Benjamin from sales will call you.',
    'Example Ltd will refund you',
    'Regards,\nBen\n\nP.S. Renew the certificate in Settings > VPN.',
    'Best wishes for the new year!',
    'Ben Adams\nCan you send the log?',
  ])('words for the customer: %j', (text) => {
    expect(isOnlySignature(text, 'Ben Adams')).toBe(false);
  });
  it('no reply body of the corpus (its visible text) is taken for only a signature, whoever the agent', () => {
    const bodies = ['crisp-email-reply-parser', 'willdurand-emailreplyparser', 'github-email_reply_parser'].flatMap((set) =>
      readdirSync(path.join(CORPUS, set))
        .filter((f) => f.endsWith('.txt') && !f.endsWith('.expected.txt'))
        .map((f) => extractVisibleText(readFileSync(path.join(CORPUS, set, f), 'utf8'), null).text),
    );
    expect(bodies.length).toBeGreaterThan(100);
    for (const name of ['Ben Adams', 'Jane Doe', 'John Doe', 'Sarah Johnson']) expect(bodies.filter((b) => isOnlySignature(b, name))).toEqual([]);
  });
  it.each<[string, boolean]>([
    ['Please restart the VPN client.\n\nBenjamin Adams\nSenior Support Engineer\nT: +44 20 7946 0000\nwww.example.com', true],
    ['Renewed it.\n\nBest, B.', true],
    ['Renewed it.\n\nExample Ltd\nCustomer Support', true],
    ['Renewed it.\nPlease try again.', false],
  ])('the text ends with a signature (the template adds no closing): %j', (text, signed) => {
    expect(hasOwnSignOff(text, 'Ben Adams')).toBe(signed);
  });
});

describe('isStatusRequest', () => {
  it.each<[string, boolean]>([
    ['status', true],
    ['Status?', true],
    ['?', true],
    ['??', true],
    ['Stand?', true],
    ['status\n\nJane', true],
    ['status please, is anybody working on this?', false],
    ['What is the status? The printer is still broken.\nAnd the scanner too.\nJane', false],
    ['', false],
    ['status\nwhy?', false],
  ])('%j → %s', (text, expected) => {
    expect(isStatusRequest(text)).toBe(expected);
  });
});

describe('status words and customer updates', () => {
  it.each<[string, string, string]>([
    ['pending', 'en', 'waiting for your reply'],
    ['open', 'en', 'open, we are working on it'],
    ['on_hold', 'de', 'in technischer Prüfung'],
    ['new', 'de-CH', 'eingegangen, wartet auf Bearbeitung'],
    ['resolved', 'fr', 'resolved'],
  ])('%s in %s', (status, lang, words) => {
    expect(statusLabel(status, lang)).toBe(words);
  });
  it.each<[string, string, string | null]>([
    ['open', 'pending', 'pending'],
    ['open', 'on_hold', 'on_hold'],
    ['new', 'resolved', 'resolved'],
    ['resolved', 'closed', 'closed'],
    ['resolved', 'open', 'reopened'],
    ['closed', 'open', 'reopened'],
    ['pending', 'open', null],
    ['new', 'open', null],
  ])('%s → %s tells the customer: %s', (from, to, update) => {
    expect(customerUpdateOf(from as never, to as never)).toBe(update);
  });
});

describe('people of a queue (config)', () => {
  const r = load(
    [
      'mailboxes:',
      '  - { name: support, addresses: [support@example.com, help@example.com] }',
      '  - { name: billing, addresses: [billing@example.com], notesAddress: billing-notes@example.com }',
      'queues:',
      '  support:',
      '    tiers: { 2: { addresses: [head@example.com] } }',
      '    agents:',
      '      - { name: Anna Lead, address: anna@example.com, role: lead }',
      '      - { name: Ben Agent, address: Ben@Example.com }',
      '      - { name: Sam Second, address: sam@example.com, tier: 2, available: false }',
    ].join('\n'),
  );
  const cfg = r.config;

  it('existing configs keep working: role defaults to agent, no tier', () => {
    expect(cfg.queues['support']!.agents[1]).toEqual({ name: 'Ben Agent', address: 'ben@example.com', aliases: [], available: true, role: 'agent' });
  });
  it.each<[string, string, object | null]>([
    ['support', 'anna@example.com', { role: 'lead', tier: 1, name: 'Anna Lead' }],
    ['support', 'BEN@example.com', { role: 'agent', tier: null, name: 'Ben Agent' }],
    ['support', 'sam@example.com', { role: 'agent', tier: 2 }],
    ['support', 'head@example.com', { role: 'lead', tier: 2, name: '', agent: null }],
    ['support', 'jane@customer.example', null],
    ['billing', 'anna@example.com', null],
  ])('staffMember(%s, %s)', (queue, address, expected) => {
    const m = staffMember(cfg, queue, address);
    if (expected === null) expect(m).toBeNull();
    else expect(m).toMatchObject(expected);
  });
  it('tiers alert their addresses and their agents; attention goes to the owner, else (or while they are away) the available agents; a team all away: the tiers', () => {
    expect(tierAddresses(cfg, 'support', 1)).toEqual(['anna@example.com']);
    expect(tierAddresses(cfg, 'support', 2)).toEqual(['head@example.com', 'sam@example.com']);
    expect(attentionAddresses(cfg, 'support', null).map((a) => a.address)).toEqual(['anna@example.com', 'ben@example.com']);
    expect(attentionAddresses(cfg, 'support', 'anna@example.com')).toEqual([{ address: 'anna@example.com', name: 'Anna Lead' }]);
    // Sam is away (available: false): he keeps his copy, the present agents hear too.
    expect(attentionAddresses(cfg, 'support', 'sam@example.com').map((a) => a.address)).toEqual(['sam@example.com', 'anna@example.com', 'ben@example.com']);
    const allAway = { ...cfg, queues: { support: { ...cfg.queues['support']!, agents: cfg.queues['support']!.agents.map((a) => ({ ...a, available: false })) } } };
    expect(attentionAddresses(allAway, 'support', null).map((a) => a.address)).toEqual(['anna@example.com']);
    expect(attentionAddresses(allAway, 'support', 'sam@example.com').map((a) => a.address)).toEqual(['sam@example.com', 'anna@example.com']);
    const noTiers = { ...allAway, queues: { support: { ...allAway.queues.support, tiers: {}, agents: allAway.queues.support.agents.map((a) => ({ ...a, role: 'agent' as const, tier: undefined })) } }, instance: { ...cfg.instance, adminAddress: 'admin@example.com' } };
    expect(attentionAddresses(noTiers, 'support', null).map((a) => a.address)).toEqual(['admin@example.com']);
  });
  it('notes addresses: the plus form of every mailbox address, and a configured one (which routes to its mailbox)', () => {
    const dir = MailboxDirectory.fromConfig(cfg);
    expect(['support+note@example.com', 'help+note@example.com', 'billing+note@example.com', 'billing-notes@example.com'].map((a) => dir.isNotesAddress(a))).toEqual([true, true, true, true]);
    expect(['support@example.com', 'support+c10001-abc@example.com', 'note@example.com'].map((a) => dir.isNotesAddress(a))).toEqual([false, false, false]);
    expect(dir.byAddress('billing-notes@example.com')?.name).toBe('billing');
    expect(dir.notesAddressOf(dir.byName('billing')!)).toBe('billing-notes@example.com');
    expect(dir.notesAddressOf(dir.byName('support')!)).toBe('support+note@example.com');
    const off = MailboxDirectory.fromConfig(load('agentMail: { notesPlusTag: "" }\n').config);
    expect(off.isNotesAddress('support+note@localhost')).toBe(false);
  });
  it('reports wrong new keys with their path', () => {
    expect(() => load('mailboxes: [{ name: support, addresses: [support@example.com], notesAddress: support@example.com }]\n')).toThrow(
      /mailboxes\.0\.notesAddress: support@example\.com is a mailbox address/,
    );
    let err: unknown;
    try {
      load(
        [
          'cases: { customerUpdates: [pending, sometimes] }',
          'queues: { support: { agents: [{ name: A, address: a@example.com, role: boss, tier: 4 }] } }',
          'agentMail: { notifyAgentsOn: [always] }',
        ].join('\n'),
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as Error).message;
    expect(text).toMatch(/cases\.customerUpdates\.1:/);
    expect(text).toMatch(/queues\.support\.agents\.0\.role:/);
    expect(text).toMatch(/queues\.support\.agents\.0\.tier:/);
    expect(text).toMatch(/agentMail\.notifyAgentsOn\.0:/);
  });
});
