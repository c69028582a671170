import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { replyMarkerFor } from '../../src/mail-out/reply-marker.js';
import { silentLogger, type Logger } from '../../src/log.js';
import {
  listTemplateVariables,
  customerTemplateNames,
  sampleSavedReplyData,
  sampleTemplateData,
  type ConfirmationData,
  type ReopenedData,
} from '../../src/mail-out/template-data.js';
import {
  TemplateCheckError,
  checkTemplateDir,
  loadTemplates,
  type TemplateEngine,
  type TemplateEngineOptions,
  type TemplateProblem,
} from '../../src/mail-out/templates.js';

const SHIPPED = fileURLToPath(new URL('../../templates', import.meta.url));
const MARKER = '##- Please type your reply above this line -##';

const tempDirs: string[] = [];
const engines: TemplateEngine[] = [];

afterEach(() => {
  for (const e of engines.splice(0)) e.close();
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function copyTemplates(): string {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-templates-'));
  tempDirs.push(dir);
  cpSync(SHIPPED, dir, { recursive: true });
  return dir;
}

function write(dir: string, rel: string, content: string): void {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), content);
}

function opts(dir: string, more: Partial<TemplateEngineOptions> = {}): TemplateEngineOptions {
  return { dir, defaultLanguage: 'en', languages: ['en', 'de'], queues: ['billing', 'sales'], watch: false, log: silentLogger(), ...more };
}

function load(dir: string, more: Partial<TemplateEngineOptions> = {}): TemplateEngine {
  const e = loadTemplates(opts(dir, more));
  engines.push(e);
  return e;
}

/**
 * The shipped set as a daemon loads it, checked once for the tests that only render from it (a
 * load checks and trial-renders all 216 templates: ~0.4 s each time).
 */
let shippedEngine: TemplateEngine | null = null;
function shipped(): TemplateEngine {
  shippedEngine ??= loadTemplates(opts(SHIPPED));
  return shippedEngine;
}
afterAll(() => shippedEngine?.close());

function confirmation(over: Partial<ConfirmationData> = {}): ConfirmationData {
  return { ...sampleTemplateData('confirmation'), ...over };
}

/** What a reader sees first in the HTML part. */
function visible(html: string): string {
  return html
    .replace(/<head[\s\S]*?<\/head>/i, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function captureLogger(): { log: Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { log, lines };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function problemAt(problems: TemplateProblem[], file: string, pattern: RegExp): TemplateProblem | undefined {
  return problems.find((p) => p.file === file && pattern.test(p.message));
}

describe('shipped templates', () => {
  it('pass the check', () => {
    expect(checkTemplateDir({ dir: SHIPPED, defaultLanguage: 'en', languages: ['en', 'de'], queues: [] })).toEqual([]);
  });

  // Customer mail (greets the customer); staff mail and the kinds without a case: templates-kinds.test.ts.
  for (const name of customerTemplateNames) {
    for (const language of ['en', 'de']) {
      it(`render ${name} in ${language}`, () => {
        const engine = shipped();
        const base = sampleTemplateData(name);
        const data = { ...base, case: { ...base.case, number: 31337, tag: '[Case #31337]', language } };
        const out = engine.render(name, data, { language });
        expect(out.subject).toContain('[Case #31337]');
        expect(out.text).toContain('31337');
        expect(out.html).toContain('31337');
        expect(out.text.startsWith(`${replyMarkerFor(language)}\n`)).toBe(true);
        expect(visible(out.html).startsWith(replyMarkerFor(language))).toBe(true);
        expect(out.html).toMatch(/^<!DOCTYPE html>/);
        for (const part of [out.subject, out.text, out.html]) {
          expect(part).not.toMatch(/undefined|\[object Object\]/);
        }
        expect(out.text).not.toMatch(/\n\s*\n\s*\n\s*\n/);
        expect(out.text).toContain(language === 'de' ? 'Guten Tag Jane Doe,' : 'Hello Jane Doe,');
      });
    }
  }

  it('list what helps from the data, per queue configurable', () => {
    const engine = shipped();
    const out = engine.render('confirmation', confirmation({ helpfulInfo: ['your invoice number', 'the <b>amount</b>'] }), {});
    expect(out.text).toContain('- your invoice number\n- the <b>amount</b>\n');
    expect(out.html).toContain('the &lt;b&gt;amount&lt;/b&gt;');
    expect(out.text).toContain('within 4 business hours');
    const none = engine.render('confirmation', confirmation({ helpfulInfo: [] }), {});
    expect(none.text).not.toContain('What helps us');
  });

  it('mark test emails', () => {
    const engine = shipped();
    const out = engine.render('reopened', { ...sampleTemplateData('reopened'), isTest: true }, { language: 'de' });
    expect(out.subject.startsWith('[TEST] ')).toBe(true);
    expect(out.text.split('\n')[0]).toBe(replyMarkerFor('de'));
    expect(out.text).toContain('TEST-E-MAIL');
    expect(out.html).toContain('Test-E-Mail');
  });

  it('greet in German without the English "there" fallback', () => {
    const engine = shipped();
    const base = sampleTemplateData('confirmation');
    const data = { ...base, customer: { ...base.customer, name: '', greetingName: 'there' } };
    expect(engine.render('confirmation', data, { language: 'de' }).text).toContain('Guten Tag,\n');
    expect(engine.render('confirmation', data, { language: 'en' }).text).toContain('Hello there,\n');
  });

  it('declare variables in one inspectable place', () => {
    const vars = listTemplateVariables('confirmation');
    expect(vars.find((v) => v.path === 'case.number')).toMatchObject({ type: 'number', example: 10042 });
    expect(vars.find((v) => v.path === 'helpfulInfo')).toMatchObject({ type: 'list' });
    expect(vars.find((v) => v.itemOf === 'helpfulInfo')).toMatchObject({ path: 'this', type: 'string' });
    expect(listTemplateVariables('reopened').map((v) => v.path)).toContain('reply.visibleText');
  });
});

describe('fallback chain', () => {
  it('queue, language and queue+language overrides', () => {
    const dir = copyTemplates();
    write(dir, 'billing/confirmation.subject.hbs', 'BILLING {{case.tag}}\n');
    write(dir, 'billing/de/confirmation.subject.hbs', 'BILLING-DE {{case.tag}}\n');
    const engine = load(dir);
    const data = confirmation();
    const subject = (language?: string, queue?: string): string => engine.render('confirmation', data, { language, queue }).subject;

    expect(subject('en', 'billing')).toBe('BILLING [Case #10042]');
    expect(subject('en', 'sales')).toMatch(/^\[Case #10042\] Re: /);
    expect(subject('en')).toMatch(/^\[Case #10042\] Re: /);
    expect(subject('de', 'sales')).toMatch(/^\[Case #10042\] AW: /);
    expect(subject('de')).toMatch(/ AW: /);
    expect(subject('de', 'billing')).toBe('BILLING-DE [Case #10042]');
    // Only text and html fall through to the base/language set for billing.
    expect(engine.render('confirmation', data, { language: 'de', queue: 'billing' }).text).toContain('Guten Tag');
    // Unconfigured queue: as if none was given.
    expect(subject('en', 'nope')).toBe(subject('en'));
  });

  it('<queue>/X beats <lang>/X', () => {
    const dir = copyTemplates();
    write(dir, 'billing/confirmation.subject.hbs', 'BILLING {{case.tag}}\n');
    const engine = load(dir);
    expect(engine.render('confirmation', confirmation(), { language: 'de', queue: 'billing' }).subject).toBe('BILLING [Case #10042]');
  });

  it('languages: unknown → default, region subtags and case folded', () => {
    const engine = shipped();
    const subject = (language?: string): string => engine.render('confirmation', confirmation(), { language }).subject;
    expect(subject('fr')).toMatch(/ Re: /);
    expect(subject(undefined)).toMatch(/ Re: /);
    expect(subject('de-AT')).toMatch(/ AW: /);
    expect(subject('DE')).toMatch(/ AW: /);

    const germanDefault = load(SHIPPED, { defaultLanguage: 'de' });
    expect(germanDefault.render('confirmation', confirmation(), { language: 'fr' }).subject).toMatch(/ AW: /);
    expect(germanDefault.render('confirmation', confirmation(), { language: 'en' }).subject).toMatch(/ Re: /);
  });

  it('partials and layouts use the same chain; part variants within a folder', () => {
    const dir = copyTemplates();
    write(dir, 'billing/partials/signature.text.hbs', 'Billing team\n');
    write(dir, 'sales/layouts/default.text.hbs', '{{> reply-marker}}\nSALES LAYOUT\n{{{body}}}\n');
    write(dir, 'de/partials/greeting.text.hbs', 'Moin {{customer.name}},\n');
    const engine = load(dir);
    const data = confirmation();

    const billing = engine.render('confirmation', data, { queue: 'billing' });
    expect(billing.text).toContain('Billing team');
    expect(billing.html).toContain('The Example Support team'); // text variant only
    // billing/partials beats de/partials for a German billing case
    expect(engine.render('confirmation', data, { queue: 'billing', language: 'de' }).text).toContain('Billing team');

    const sales = engine.render('confirmation', data, { queue: 'sales' });
    expect(sales.text).toMatch(new RegExp(`^${MARKER.replace(/[#-]/g, '\\$&')}\nSALES LAYOUT\n`));
    expect(sales.html).toContain('<!DOCTYPE html>');

    const de = engine.render('confirmation', data, { language: 'de' });
    expect(de.text).toContain('Moin Jane Doe,');
    expect(de.html).toContain('Guten Tag Jane Doe,'); // de/partials/greeting.hbs for html
  });
});

describe('hostile data', () => {
  const evil = 'Eve <script>alert(1)</script>\r\nBcc: x@evil';

  it('is escaped in HTML and flattened in the subject', () => {
    const engine = shipped();
    const base = confirmation();
    const data: ConfirmationData = {
      ...base,
      case: { ...base.case, subject: `${evil}\t\u0000\u2028end` },
      customer: { ...base.customer, name: evil, greetingName: evil },
    };
    for (const language of ['en', 'de']) {
      const out = engine.render('confirmation', data, { language });
      expect(out.html).not.toContain('<script>');
      expect(out.html).toContain('Eve &lt;script&gt;alert(1)&lt;/script&gt;');
      expect(out.subject).not.toMatch(/[\r\n\t\u0000\u2028]/);
      expect(out.subject).toContain('Eve <script>alert(1)</script> Bcc: x@evil end');
      expect(out.text).not.toContain('\r');
    }
  });

  it('subject is cut at 250 characters; text blank lines are collapsed', () => {
    const engine = shipped();
    const base = sampleTemplateData('reopened');
    const data: ReopenedData = {
      ...base,
      case: { ...base.case, subject: 'x'.repeat(400) },
      reply: { visibleText: 'first\r\n\r\n\r\n\r\n\r\n\r\nsecond' },
    };
    const out = engine.render('reopened', data, {});
    expect(out.subject.length).toBe(250);
    expect(out.text).toContain('first\n\n\nsecond');
    expect(out.text).not.toMatch(/\n\s*\n\s*\n\s*\n/);
  });
});

describe('check', () => {
  it('reports unknown variables, missing partials, syntax errors and raw HTML with file and line', () => {
    const dir = copyTemplates();
    write(dir, 'confirmation.text.hbs', '{{> greeting}}\n\nCase {{case.number}}\n{{case.nubmer}}\n');
    write(dir, 'reopened.text.hbs', '{{> greeting}}\n\n{{> signatur}}\n');
    write(dir, 'de/reopened.html.hbs', '<p>{{case.number}}</p>\n{{#if isTest}}\n<p>test</p>\n');
    write(dir, 'confirmation.html.hbs', '<p>{{case.number}}</p>\n<p>{{{customer.name}}}</p>\n');
    const problems = checkTemplateDir(opts(dir));

    expect(problemAt(problems, 'confirmation.text.hbs', /^Unknown variable "case\.nubmer" \(did you mean "case\.number"\?\)$/)?.line).toBe(4);
    expect(problemAt(problems, 'reopened.text.hbs', /^Partial "signatur" not found \(did you mean "signature"\?\)$/)?.line).toBe(3);
    expect(problemAt(problems, 'de/reopened.html.hbs', /^Syntax error: \{\{#if\}\} is never closed/)?.line).toBe(2);
    expect(problemAt(problems, 'confirmation.html.hbs', /Raw output \{\{\{customer\.name\}\}\} is not allowed/)?.line).toBe(2);
    expect(problems).toHaveLength(4);
  });

  it('follows #each, #with, #if, block params, ../, @root and @index', () => {
    const dir = copyTemplates();
    write(
      dir,
      'confirmation.text.hbs',
      [
        '{{#each helpfulInfo}}{{@index}} {{this}} {{this.length}} {{../case.number}} {{@root.case.tag}} {{#if @first}}first{{/if}}{{/each}}',
        '{{#each helpfulInfo as |item i|}}{{item}} {{i}} {{@last}}{{else}}none{{/each}}',
        '{{#with customer}}{{name}} {{address}} {{../instance.name}}{{/with}}',
        '{{#with case as |c|}}{{c.number}}{{/with}}',
        '{{#unless isTest}}{{#if (eq case.priority "high")}}!{{else if isTest}}?{{/if}}{{/unless}}',
        '{{join helpfulInfo ", "}} {{formatDate case.createdAt format="dd.MM.yyyy" zone="Europe/Berlin"}} {{@language}}',
        '{{> greeting}}',
        '',
      ].join('\n'),
    );
    expect(checkTemplateDir(opts(dir))).toEqual([]);
    const out = load(dir).render('confirmation', confirmation({ helpfulInfo: ['a', 'bb'] }), { language: 'fr' });
    expect(out.text).toContain('0 a 1 10042 [Case #10042] first1 bb 2 10042 [Case #10042] ');
    expect(out.text).toContain('a 0 falsebb 1 true');
    expect(out.text).toContain('Jane Doe jane@example.org Example Support');
    expect(out.text).toContain('a, bb 14.03.2025 en');

    // The same instant in other zones, locales and formats (formatted dates are remembered by all four).
    write(
      dir,
      'confirmation.text.hbs',
      [
        '[{{formatDate case.createdAt format="dd.MM.yyyy HH:mm" zone="Europe/Berlin"}}]',
        '[{{formatDate case.createdAt format="dd.MM.yyyy HH:mm" zone="Asia/Tokyo"}}]',
        '[{{formatDate case.createdAt format="cccc" zone="Europe/Berlin" locale="de"}}]',
        '[{{formatDate case.createdAt format="cccc" zone="Europe/Berlin" locale="en"}}]',
        '[{{formatDate case.createdAt zone="UTC" locale="en"}}]',
        '[{{formatDate case.createdAt format="dd.MM.yyyy HH:mm" zone="Europe/Berlin"}}]',
        '',
      ].join('\n'),
    );
    const created = confirmation({}).case.createdAt;
    const twice = [0, 1].map(() => load(dir).render('confirmation', confirmation({}), { language: 'en' }).text);
    expect(twice[1]).toBe(twice[0]);
    const lines = twice[0]!.split('\n').filter((l) => l.startsWith('['));
    const shown = (zone: string, format: string, locale = 'en'): string => `[${DateTime.fromISO(created, { zone }).setLocale(locale).toFormat(format)}]`;
    expect(lines.slice(0, 4)).toEqual([shown('Europe/Berlin', 'dd.MM.yyyy HH:mm'), shown('Asia/Tokyo', 'dd.MM.yyyy HH:mm'), shown('Europe/Berlin', 'cccc', 'de'), shown('Europe/Berlin', 'cccc')]);
    expect(lines[1]).not.toBe(lines[0]);
    expect(lines[2]).not.toBe(lines[3]);
    expect(lines[4]).toContain('UTC');
    expect(lines[5]).toBe(lines[0]);

    // The default format shows no seconds: instants within a minute share one remembered text,
    // each still what Luxon gives for it; a format with seconds keeps them apart.
    write(dir, 'confirmation.text.hbs', ['[{{formatDate case.createdAt}}]', '[{{formatDate case.createdAt locale="de" zone="Asia/Kolkata"}}]', '[{{formatDate case.createdAt format="HH:mm:ss"}}]', ''].join('\n'));
    const renderAt = (iso: string): string[] =>
      load(dir)
        .render('confirmation', confirmation({ case: { ...confirmation({}).case, createdAt: iso } }), { language: 'en' })
        .text.split('\n')
        .filter((l) => l.startsWith('['));
    const medium = (iso: string, zone?: string, locale = 'en'): string => {
      let dt = DateTime.fromISO(iso, { setZone: true });
      if (zone !== undefined) dt = dt.setZone(zone);
      return `[${dt.setLocale(locale).toLocaleString({ ...DateTime.DATETIME_MED, timeZoneName: 'short' })}]`;
    };
    const [first, second, next] = ['2026-03-02T08:59:01.000Z', '2026-03-02T08:59:58.999Z', '2026-03-02T09:00:00.000+01:00'].map(renderAt);
    for (const [iso, out] of [['2026-03-02T08:59:01.000Z', first], ['2026-03-02T08:59:58.999Z', second], ['2026-03-02T09:00:00.000+01:00', next]] as const) {
      expect(out!.slice(0, 2)).toEqual([medium(iso), medium(iso, 'Asia/Kolkata', 'de')]);
    }
    expect(second!.slice(0, 2)).toEqual(first!.slice(0, 2));
    expect(second![2]).not.toBe(first![2]);
    expect(next![0]).not.toBe(first![0]);

    write(
      dir,
      'confirmation.text.hbs',
      [
        '{{#each helpfulInfo}}{{this.foo}}{{/each}}',
        '{{#with customer}}{{nmae}}{{/with}}',
        '{{#each case}}x{{/each}}',
        '{{customer}} {{helpfulInfo}}',
        '{{shout case.subject}} {{#repeat}}x{{/repeat}} {{join}}',
        '{{@index}} {{../x}}',
        '{{> greeting}}',
        '',
      ].join('\n'),
    );
    const problems = checkTemplateDir(opts(dir));
    const at = (line: number): string[] => problems.filter((p) => p.file === 'confirmation.text.hbs' && p.line === line).map((p) => p.message);
    expect(at(1)).toEqual(['Unknown variable "this.foo" ("this" is a string)']);
    expect(at(2)).toEqual(['Unknown variable "nmae" (did you mean "name"?)']);
    expect(at(3)).toEqual(['{{#each}} needs a list, but "case" is an object']);
    expect(at(4)).toHaveLength(2);
    expect(at(5).join('\n')).toMatch(/Unknown helper "shout"[\s\S]*Unknown block helper "#repeat"[\s\S]*Helper "join" takes 1–2 arguments, got 0/);
    expect(at(6).join('\n')).toMatch(/Unknown data variable "@index"[\s\S]*"\.\.\/x" goes above the top/);
  });

  it('checks partials and layouts in the context of each template that uses them', () => {
    const dir = copyTemplates();
    write(dir, 'partials/eta.hbs', 'Expect an answer {{expectedResponse}}.\n');
    write(dir, 'confirmation.text.hbs', '{{> greeting}}\n{{> eta}}\n');
    write(dir, 'reopened.text.hbs', '{{> greeting}}\n\n{{> eta}}\n');
    write(dir, 'layouts/default.text.hbs', '{{> reply-marker}}\n{{{body}}}\n{{reply.visibleText}}\n');
    write(dir, 'de/partials/greeting.hbs', 'Hallo {{#with customer}}{{greetingName}} {{name}}{{/with}},\n');
    write(dir, 'de/confirmation.text.hbs', '{{> greeting customer}}\n');
    expect(checkTemplateDir(opts(dir))).toEqual([
      { file: 'de/partials/greeting.hbs', line: 1, message: 'Unknown variable "customer" (included from de/confirmation.text.hbs:1)' },
      {
        file: 'layouts/default.text.hbs',
        line: 3,
        // The customer layout is checked with every customer kind; only "reopened" has reply.visibleText.
        message: `Unknown variable "reply.visibleText" (when used by templates ${customerTemplateNames
          .filter((n) => n !== 'reopened')
          .map((n) => `"${n}"`)
          .join(', ')})`,
      },
      { file: 'partials/eta.hbs', line: 1, message: 'Unknown variable "expectedResponse" (included from reopened.text.hbs:3)' },
    ]);
  });

  it('reports misplaced files, unknown folders and missing base files', () => {
    const dir = copyTemplates();
    write(dir, 'billling/confirmation.subject.hbs', 'x\n');
    write(dir, 'confirmaton.subject.hbs', 'x\n');
    write(dir, 'partials/nested/x.hbs', 'x\n');
    write(dir, 'README.md', 'not a template: ignored\n');
    rmSync(join(dir, 'reopened.html.hbs'));
    rmSync(join(dir, 'layouts/default.html.hbs'));
    const messages = checkTemplateDir(opts(dir)).map((p) => `${p.file} ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^billling\/ Folder "billling" is neither a configured queue nor a configured language .*did you mean "billing"/),
        expect.stringMatching(/^confirmaton\.subject\.hbs Unknown template "confirmaton" .*did you mean "confirmation"/),
        expect.stringMatching(/^partials\/nested\/x\.hbs Unexpected file location/),
        expect.stringMatching(/^reopened\.html\.hbs Missing template file/),
        expect.stringMatching(/^layouts\/default\.html\.hbs Missing layout file/),
      ]),
    );
    expect(messages).toHaveLength(5);
  });

  it('a folder of a few edited files over the shipped set: the rest comes from it, problems in its own files are named as ever', () => {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-templates-'));
    tempDirs.push(dir);
    write(dir, 'confirmation.text.hbs', `${readFileSync(join(SHIPPED, 'confirmation.text.hbs'), 'utf8')}\nOWN-7a2c\n`);
    write(dir, 'de/reopened.subject.hbs', '{{case.tagg}} AW: {{case.subject}}\n');
    // Alone, the folder lacks every other file.
    expect(checkTemplateDir(opts(dir)).filter((p) => /^Missing (template|layout) file/.test(p.message)).length).toBeGreaterThan(50);
    const problems = checkTemplateDir(opts(dir, { shippedDir: SHIPPED }));
    expect(problems.map((p) => `${p.file}:${p.line} ${p.message}`)).toEqual([expect.stringMatching(/^de\/reopened\.subject\.hbs:1 Unknown variable "case\.tagg" \(did you mean "case\.tag"\?\)/)]);
    write(dir, 'de/reopened.subject.hbs', '{{case.tag}} AW: {{case.subject}} (wieder offen)\n');
    const e = load(dir, { shippedDir: SHIPPED });
    const data = sampleTemplateData('confirmation');
    expect(e.render('confirmation', data, { language: 'en' }).text).toContain('OWN-7a2c');
    // The German confirmation is the shipped one; a kind the folder has no file of renders from the shipped set.
    expect(e.render('confirmation', data, { language: 'de' }).text).toBe(shipped().render('confirmation', data, { language: 'de' }).text);
    expect(e.render('reopened', sampleTemplateData('reopened'), { language: 'de' }).subject).toMatch(/ \(wieder offen\)$/);
    expect(e.render('case-moved', sampleTemplateData('case-moved'), {}).text).toBe(shipped().render('case-moved', sampleTemplateData('case-moved'), {}).text);
  });

  it('the shipped set for fewer languages than it has (an English-only desk): its other language folders are left out, not reported', () => {
    expect(checkTemplateDir(opts(SHIPPED, { languages: ['en'], shippedDir: SHIPPED }))).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'casegate-templates-'));
    tempDirs.push(dir);
    write(dir, 'confirmation.subject.hbs', '{{case.tag}} Re: {{case.subject}}\n');
    expect(checkTemplateDir(opts(dir, { languages: ['en'], shippedDir: SHIPPED }))).toEqual([]);
    // A language folder of the admin's own that is not configured is still reported.
    write(dir, 'fr/confirmation.subject.hbs', '{{case.tag}} Re: {{case.subject}}\n');
    expect(checkTemplateDir(opts(dir, { languages: ['en'], shippedDir: SHIPPED })).map((p) => p.file)).toEqual(['fr/']);
  });

  it('requires the reply marker first and {{{body}}} in the layouts', () => {
    const dir = copyTemplates();
    write(dir, 'layouts/default.text.hbs', 'Hi!\n{{> reply-marker}}\n{{{body}}}\n');
    write(dir, 'de/layouts/default.html.hbs', '<html><body>{{> reply-marker}}{{body}}</body></html>\n');
    const problems = checkTemplateDir(opts(dir));
    expect(problemAt(problems, 'de/layouts/default.html.hbs', /must insert the body with \{\{\{body\}\}\}/)).toBeDefined();
    expect(problems).toHaveLength(1);

    write(dir, 'de/layouts/default.html.hbs', '<html><body>{{> reply-marker}}{{{body}}}</body></html>\n');
    const again = checkTemplateDir(opts(dir));
    // One problem per kind using the customer layout; staff mail has its own layout.
    expect(again.map((p) => p.file)).toEqual(customerTemplateNames.map(() => 'layouts/default.text.hbs'));
    expect(again[0]?.message).toMatch(/text part of "confirmation" does not begin with the reply marker/);
  });

  it('refuses a subject or a body that renders to nothing (a truncated file, an empty override)', () => {
    const dir = copyTemplates();
    write(dir, 'confirmation.subject.hbs', '');
    write(dir, 'billing/de/reopened.text.hbs', '{{#if isTest}}only in tests{{/if}}\n');
    write(dir, 'sales/agent-reply.html.hbs', '<p style="margin:0"> </p>\n');
    const messages = checkTemplateDir(opts(dir)).map((p) => `${p.file} ${p.message}`);
    expect(messages).toEqual([
      'billing/de/reopened.text.hbs The text part of "reopened" is empty with the example data: every such email would go out without it',
      'confirmation.subject.hbs The subject of "confirmation" is empty with the example data: every such email would go out without it',
      'sales/agent-reply.html.hbs The html part of "agent-reply" is empty with the example data: every such email would go out without it',
    ]);
    // A subject that is there only in some cases is fine: the check runs the example data.
    write(dir, 'confirmation.subject.hbs', '{{#if case.subject}}{{case.tag}} {{case.subject}}{{/if}}\n');
    write(dir, 'billing/de/reopened.text.hbs', 'Wieder offen: {{case.subject}}\n');
    write(dir, 'sales/agent-reply.html.hbs', '<p>{{case.subject}}</p>\n');
    expect(checkTemplateDir(opts(dir))).toEqual([]);
  });

  it('loadTemplates throws TemplateCheckError listing every problem', () => {
    const dir = copyTemplates();
    write(dir, 'confirmation.subject.hbs', '{{case.tag}} {{case.sujbect}}\n');
    write(dir, 'de/confirmation.text.hbs', '{{> greeting}}\n{{#each helpfulInfo}}\n');
    write(dir, 'reopened.html.hbs', '{{{reply.visibleText}}}\n');
    let error: unknown;
    try {
      loadTemplates(opts(dir));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TemplateCheckError);
    const problems = (error as TemplateCheckError).problems;
    expect(problems).toEqual(checkTemplateDir(opts(dir)));
    expect(problems.map((p) => `${p.file}:${p.line}`)).toEqual([
      'confirmation.subject.hbs:1',
      'de/confirmation.text.hbs:2',
      'reopened.html.hbs:1',
    ]);
    expect((error as Error).message).toContain('confirmation.subject.hbs:1 Unknown variable "case.sujbect"');
  });

  it('engine.check() re-reads from disk without swapping in', () => {
    const dir = copyTemplates();
    const engine = load(dir);
    expect(engine.check()).toEqual([]);
    write(dir, 'confirmation.subject.hbs', '{{case.tag}} {{nope}}\n');
    expect(engine.check()).toEqual([{ file: 'confirmation.subject.hbs', line: 1, message: 'Unknown variable "nope"' }]);
    expect(engine.render('confirmation', confirmation(), {}).subject).toMatch(/ Re: /);
  });
});

describe('hot reload', () => {
  it('picks up edits, keeps the last good set on errors, and stops on close', async () => {
    const dir = copyTemplates();
    const { log, lines } = captureLogger();
    const engine = load(dir, { watch: true, log });
    const subject = (queue?: string): string => engine.render('confirmation', confirmation(), { queue }).subject;
    const file = join(dir, 'confirmation.subject.hbs');
    expect(subject()).toMatch(/ Re: /);

    writeFileSync(file, 'EDITED {{case.tag}}\n');
    await until(() => subject() === 'EDITED [Case #10042]', 'the edited subject');
    expect(lines.some((l) => l.level === 30 && /reloaded/.test(l.msg))).toBe(true);

    writeFileSync(file, 'BROKEN {{#if case.tag}\n');
    await until(() => lines.some((l) => l.level === 50 && l.msg.startsWith('confirmation.subject.hbs:1 Syntax error')), 'the error log');
    expect(lines.some((l) => l.level === 50 && /keeping the previous templates/.test(l.msg))).toBe(true);
    expect(subject()).toBe('EDITED [Case #10042]');

    writeFileSync(file, 'FIXED {{case.tag}}\n');
    await until(() => subject() === 'FIXED [Case #10042]', 'the fixed subject');

    // A folder created after loading is watched too.
    write(dir, 'billing/confirmation.subject.hbs', 'BILLING {{case.tag}}\n');
    await until(() => subject('billing') === 'BILLING [Case #10042]', 'the new queue override');
    writeFileSync(join(dir, 'billing/confirmation.subject.hbs'), 'BILLING 2 {{case.tag}}\n');
    await until(() => subject('billing') === 'BILLING 2 [Case #10042]', 'the edited queue override');

    engine.close();
    writeFileSync(file, 'AFTER CLOSE {{case.tag}}\n');
    await new Promise((r) => setTimeout(r, 400));
    expect(subject()).toBe('FIXED [Case #10042]');
    expect(readFileSync(file, 'utf8')).toContain('AFTER CLOSE');
  });
});

describe('saved replies (replies/<name>.text.hbs)', () => {
  it('ship in en and de; the most specific folder wins; an admin folder has only its own; checked like every template (file:line)', () => {
    const e = shipped();
    expect(e.savedReplies({ language: 'en' })).toEqual(['need-details', 'need-logs', 'please-confirm']);
    const data = sampleSavedReplyData();
    expect(e.renderSavedReply('need-logs', data, { language: 'de-AT' })).toMatch(/^um herauszufinden, was in Vorgang 10042 \(„Cannot log in since this morning“\)/);
    expect(e.renderSavedReply('need-logs', data, { language: 'en' })).toMatch(/^to find out what goes wrong in case 10042/);
    expect(e.renderSavedReply('nope', data, { language: 'en' })).toBeNull();

    // An admin's folder over the shipped set: its replies, none of the shipped examples; overrides per queue and language.
    const dir = mkdtempSync(join(tmpdir(), 'casegate-templates-'));
    tempDirs.push(dir);
    write(dir, 'replies/refund.text.hbs', 'refund for {{case.number}}, {{agent.name}}\n');
    write(dir, 'de/replies/refund.text.hbs', 'Erstattung für {{case.number}}\n');
    write(dir, 'billing/replies/refund.text.hbs', 'billing refund {{mailbox.queue}}\n');
    write(dir, 'billing/de/replies/refund.text.hbs', 'Erstattung Buchhaltung\n');
    write(dir, 'sales/replies/offer.text.hbs', 'our offer\n');
    const a = load(dir, { shippedDir: SHIPPED });
    expect(a.savedReplies({ language: 'en' })).toEqual(['refund']);
    expect(a.savedReplies({ language: 'en', queue: 'sales' })).toEqual(['offer', 'refund']);
    const render = (target: { language: string; queue?: string }) => a.renderSavedReply('refund', { ...data, mailbox: { ...data.mailbox, queue: 'billing' } }, target);
    expect(render({ language: 'en' })).toBe('refund for 10042, Max Mustermann');
    expect(render({ language: 'de' })).toBe('Erstattung für 10042');
    expect(render({ language: 'en', queue: 'billing' })).toBe('billing refund billing');
    expect(render({ language: 'de', queue: 'billing' })).toBe('Erstattung Buchhaltung');

    // Unknown variables (caseLink names one reader: not in a text every copy gets), syntax errors, names, empty ones.
    write(dir, 'replies/bad.text.hbs', 'fine\n{{caseLink}} {{reply.text}}\n');
    write(dir, 'de/replies/broken.text.hbs', 'one\n{{#if case.number}}\n');
    write(dir, 'replies/Upper.text.hbs', 'x\n');
    write(dir, 'replies/test-only.text.hbs', '{{#if isTest}}x{{/if}}\n');
    const problems = checkTemplateDir(opts(dir, { shippedDir: SHIPPED })).map((p) => `${p.file}:${p.line} ${p.message}`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^replies\/bad\.text\.hbs:2 Unknown variable "caseLink"/),
        expect.stringMatching(/^replies\/bad\.text\.hbs:2 Unknown variable "reply\.text"/),
        expect.stringMatching(/^de\/replies\/broken\.text\.hbs:\d+ Syntax error/),
        expect.stringMatching(/^replies\/Upper\.text\.hbs:null Unexpected saved reply file name/),
        expect.stringMatching(/^replies\/test-only\.text\.hbs:\d+ Unknown variable "isTest"/),
      ]),
    );
  });
});
