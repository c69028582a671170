/**
 * `casegate config explain` (cases/route-explain.ts): what the configuration does with a new
 * message, in-process — the same decisions the classify stage makes, from the configuration alone.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { explainRouting, type ExplainInput } from '../../src/cases/route-explain.js';
import { kindFiles } from '../../src/mail-out/template-folder.js';
import { templateEngineOptions } from '../../src/mail-out/template-tools.js';
import { tempDir } from '../helpers/temp-dirs.js';

const SECRET = 'x'.repeat(40);

function setup() {
  const d = tempDir('casegate-explain-');
  const templates = join(d, 'templates');
  mkdirSync(join(templates, 'billing-de', 'de'), { recursive: true });
  writeFileSync(join(templates, 'billing-de', 'de', 'confirmation.text.hbs'), '{{replyMarker}}\nDanke, Buchhaltung.\n');
  const config = {
    instance: { secret: SECRET, domain: 'example.com', adminAddress: 'ops@staff.example.com' },
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'] },
      { name: 'billing-de', addresses: ['rechnung@example.de'] },
    ],
    queues: {
      support: { agents: [{ name: 'Alice', address: 'alice@staff.example.com' }, { name: 'Bob', address: 'bob@staff.example.com', available: false }] },
      'billing-de': { language: 'de', calendar: 'berlin', slaPolicy: 'finance', agents: [{ name: 'Birgit', address: 'birgit@staff.example.com', role: 'lead' }], assignment: 'fixed', fixedOwner: 'Birgit' },
      outage: { agents: [{ name: 'Oscar', address: 'oscar@staff.example.com' }], tiers: { '2': { addresses: ['oncall@staff.example.com'] } } },
    },
    rules: [
      { name: 'outage', match: { mailbox: 'support', subject: ['down'] }, set: { queue: 'outage', priority: 'urgent', tier: 2 } },
      { name: 'vip', match: { senderDomain: 'acme.example' }, set: { priority: 'high' } },
    ],
    templates: { dir: templates },
    sla: {
      calendars: { berlin: { zone: 'Europe/Berlin', hours: { 'mon-fri': '08:00-18:00' }, holidays: { country: 'DE' } } },
      policies: { finance: { targets: { normal: { firstResponse: '8h' } } }, std: { targets: { urgent: { firstResponse: '15m', coverage: '24x7' } } } },
      defaultPolicy: 'std',
    },
  };
  writeFileSync(join(d, 'casegate.yaml'), stringify(config), { mode: 0o600 });
  return loadConfig({ path: join(d, 'casegate.yaml'), env: {} });
}

const input = (o: Partial<ExplainInput>): ExplainInput => ({ to: [], cc: [], from: 'jane@customer.example', subject: '', body: '', headers: new Map(), contentLanguage: null, ...o });
// Monday 2026-12-07 10:00 in Berlin.
const MONDAY = new Date('2026-12-07T09:00:00Z');

describe('config explain: what the configuration does with a new message', () => {
  const r = setup();

  it('a German billing address: its mailbox, queue, language, calendar, policy, fixed owner and the queue/language override of the confirmation', () => {
    const e = explainRouting(r.config, input({ to: ['Rechnung@Example.de'] }), MONDAY);
    expect(e.mailbox).toMatchObject({ name: 'billing-de', from: 'rechnung@example.de' });
    expect(e.rule).toBeNull();
    expect(e.queue).toMatchObject({ name: 'billing-de', by: 'mailbox billing-de (its name: no mailboxes[].queue)' });
    expect(e.language).toEqual({ code: 'de', by: 'queues.billing-de.language' });
    expect(e.calendar).toMatchObject({ name: 'berlin', zone: 'Europe/Berlin', by: 'queues.billing-de.calendar', openNow: true });
    expect(e.sla).toMatchObject({ policy: 'finance', by: 'queues.billing-de.slaPolicy', firstResponseMin: 480, resolutionMin: null });
    expect(e.staff).toMatchObject({ assignment: 'fixed', owner: 'Birgit <birgit@staff.example.com>' });
    const t = kindFiles(templateEngineOptions(r), 'confirmation', { language: e.language.code, queue: e.queue.name });
    expect(t?.files).toEqual([
      { part: 'subject', file: 'de/confirmation.subject.hbs', shipped: true },
      { part: 'text', file: 'billing-de/de/confirmation.text.hbs', shipped: false },
      { part: 'html', file: 'de/confirmation.html.hbs', shipped: true },
    ]);
  });

  it('a rule that moves the case: the rule, the later rules that also match, the urgent level, the default policy, the tier alerted and the agents told', () => {
    const e = explainRouting(r.config, input({ to: ['support@example.com'], from: 'it@acme.example', subject: 'Shop is down' }), MONDAY);
    expect(e.rule).toMatchObject({ index: 0, name: 'outage' });
    expect(e.rules).toEqual([
      { index: 0, name: 'outage', matches: true },
      { index: 1, name: 'vip', matches: true },
    ]);
    expect(e.queue).toMatchObject({ name: 'outage', by: 'rule outage (rules.0)', configured: true });
    expect(e.priority).toEqual({ level: 'urgent', by: 'rule outage' });
    expect(e.calendar).toMatchObject({ name: 'default', by: 'built in (09:00-17:00 Mon–Fri UTC)' });
    expect(e.sla).toMatchObject({ policy: 'std', by: 'sla.defaultPolicy', firstResponseMin: 15, coverage: '24x7' });
    expect(e.staff).toMatchObject({ owner: null, notified: ['Oscar <oscar@staff.example.com>'], tier: 2, tierAlerted: ['oncall@staff.example.com'] });
  });

  it('plain support mail: no rule, unavailable agents are not told; an "Urgent –" subject raises the level; no mailbox for a stranger address', () => {
    const e = explainRouting(r.config, input({ to: ['support@example.com'], subject: 'Urgent – invoice missing' }), MONDAY);
    expect(e.rule).toBeNull();
    expect(e.priority).toEqual({ level: 'urgent', by: 'the "Urgent – …" subject' });
    expect(e.staff.notified).toEqual(['Alice <alice@staff.example.com>']);
    expect(explainRouting(r.config, input({ to: ['sales@example.com'] }), MONDAY).mailbox).toBeNull();
  });
});
