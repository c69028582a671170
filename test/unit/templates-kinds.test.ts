import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { replyMarkerFor } from '../../src/mail-out/reply-marker.js';
import { silentLogger, type Logger } from '../../src/log.js';
import {
  caseTemplateNames,
  commonVariables,
  customerTemplateNames,
  instanceVariables,
  sampleTemplateData,
  staffTemplateNames,
  webTemplateNames,
  templateDeclaration,
  templateLayout,
  templateNames,
  type TemplateDataMap,
  type TemplateName,
} from '../../src/mail-out/template-data.js';
import { statusLabel } from '../../src/mail-out/template-tools.js';
import { checkTemplateDir, loadTemplates, type TemplateEngine, type TemplateEngineOptions } from '../../src/mail-out/templates.js';

/** Every shipped kind in every shipped language; hostile data per kind; the helpers and layouts they use. */

const SHIPPED = fileURLToPath(new URL('../../templates', import.meta.url));
const MARKER = '##- Please type your reply above this line -##';
const LANGUAGES = ['en', 'de'] as const;
const PARTS = ['subject', 'text', 'html'] as const;

let engine: TemplateEngine;
beforeAll(() => {
  engine = loadTemplates(opts(SHIPPED));
});
afterAll(() => engine.close());

const tempDirs: string[] = [];
const engines: TemplateEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function opts(dir: string, more: Partial<TemplateEngineOptions> = {}): TemplateEngineOptions {
  return { dir, defaultLanguage: 'en', languages: ['en', 'de'], queues: ['billing'], watch: false, log: silentLogger(), ...more };
}

function copyTemplates(): string {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-kinds-'));
  tempDirs.push(dir);
  cpSync(SHIPPED, dir, { recursive: true });
  return dir;
}

function write(dir: string, rel: string, content: string): void {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), content);
}

/** What a reader sees first in the HTML part. */
function visible(html: string): string {
  return html
    .replace(/<head[\s\S]*?<\/head>/i, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

function render<N extends TemplateName>(name: N, data: TemplateDataMap[N], language: string = 'en') {
  return engine.render(name, data, { language });
}

/** The sample data of a kind with some fields replaced (objects merged one level deep). */
function sample<N extends TemplateName>(name: N, over: Record<string, unknown> = {}): TemplateDataMap[N] {
  const base = sampleTemplateData(name) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    out[k] = typeof b === 'object' && b !== null && !Array.isArray(b) && typeof v === 'object' && v !== null && !Array.isArray(v) ? { ...b, ...v } : v;
  }
  return out as unknown as TemplateDataMap[N];
}

describe('declarations', () => {
  it('cover every kind of the issue, each with when it is sent, audience and scope', () => {
    expect([...templateNames].sort()).toEqual(
      [
        'confirmation',
        'reopened',
        'agent-reply',
        'status-changed',
        'escalation-ack',
        'escalation-alert',
        'sla-warning',
        'sla-breach',
        'sla-digest',
        'reminder',
        'auto-closed',
        'survey',
        'survey-thanks',
        'agent-notification',
        'assignment',
        'reassignment',
        'bounce-notice',
        'mailbox-alert',
        'mailbox-recovered',
        'outbox-alert',
        'outbox-recovered',
        // A mailbox opening too many new cases within an hour (a distributed flood).
        'case-rate-alert',
        'report',
        // Issue 10: agents work cases by email.
        'status-summary',
        'command-error',
        'case-moved',
        'forged-sender',
        'unproven-staff',
        'still-working',
        'stale-reminder',
        'case-page',
        'survey-page',
        'web-notice',
        // An agent's #files: the case's files mailed to them.
        'case-files',
        // The other staff asked to answer a customer's message, told that a colleague did.
        'colleague-answered',
        // Two agents answering at once: the second one's reply held, the agent told.
        'reply-collision',
        // An agent's reply that read like an unmarked out-of-office: held, the agent told.
        'out-of-office-held',
        // An agent's reply with nothing written of their own (empty, or only a signature): nothing sent, the agent told.
        'empty-reply',
        // A message a stage kept running out of time on, given up and quarantined: the admin told.
        'message-quarantined',
      ].sort(),
    );
    for (const name of templateNames) {
      const d = templateDeclaration(name);
      expect(d.description, name).toMatch(d.audience === 'web' ? /^Shown .{20,}/ : /^Sent to .{20,}/);
      expect(templateLayout(name)).toBe({ customer: 'default', staff: 'staff', web: 'page' }[d.audience]);
    }
    expect([...customerTemplateNames, ...staffTemplateNames, ...webTemplateNames].sort()).toEqual([...templateNames].sort());
  });

  it('case kinds start with the case base; kinds about the installation with the instance base only', () => {
    for (const name of templateNames) {
      const vars = templateDeclaration(name).variables;
      for (const [k, spec] of Object.entries(instanceVariables)) expect(vars[k], `${name}.${k}`).toBe(spec);
      if (templateDeclaration(name).scope === 'case') {
        for (const [k, spec] of Object.entries(commonVariables)) expect(vars[k], `${name}.${k}`).toBe(spec);
      } else {
        expect(Object.hasOwn(vars, 'customer'), name).toBe(false);
      }
    }
    expect(caseTemplateNames).not.toContain('report');
    expect(Object.keys(templateDeclaration('report').variables).sort()).toEqual(['instance', 'isTest', 'replyMarker', 'report']);
  });
});

describe('every shipped template renders in every shipped language', () => {
  for (const name of templateNames) {
    for (const language of LANGUAGES) {
      it(`${name} (${language})`, () => {
        const data = sampleTemplateData(name);
        const out = render(name, data, language);
        expect(out.subject.length).toBeGreaterThan(10);
        expect(out.text.startsWith(`${replyMarkerFor(language)}\n`)).toBe(true);
        const decl = templateDeclaration(name);
        if (decl.audience === 'web') {
          // Pages: the marker is inert (<template>), landmarks and a form or a heading follow.
          expect(out.html).toMatch(/^<!DOCTYPE html>\n<html lang="(en|de)" dir="ltr">/);
          expect(out.html).toContain(`<template>${replyMarkerFor(language)}</template>`);
          expect(out.html).toMatch(/<main id="main"[\s\S]*<h1[ >][\s\S]*<\/main>/);
          expect(out.html).toContain('role="contentinfo"');
          for (const part of [out.subject, out.text, out.html]) expect(part).not.toMatch(/undefined|\[object Object\]|NaN/);
          for (const part of PARTS) expect(existsSync(join(SHIPPED, ...(language === 'de' ? ['de'] : []), `${name}.${part}.hbs`))).toBe(true);
          if (language === 'de') expect(out.html).not.toBe(render(name, data, 'en').html);
          return;
        }
        expect(visible(out.html).startsWith(replyMarkerFor(language))).toBe(true);
        expect(out.html).toMatch(/^<!DOCTYPE html>\n<html lang="(en|de)" dir="ltr">/);
        expect(out.html).toContain(`lang="${language}"`);
        for (const part of [out.subject, out.text, out.html]) expect(part).not.toMatch(/undefined|\[object Object\]|NaN/);
        expect(out.text).not.toMatch(/\n\s*\n\s*\n\s*\n/);
        expect(visible(out.html).length).toBeGreaterThan(visible(out.html).indexOf(replyMarkerFor(language)) + replyMarkerFor(language).length + 40);
        // English in the base folder, German in de/ for all three parts.
        for (const part of PARTS) expect(existsSync(join(SHIPPED, ...(language === 'de' ? ['de'] : []), `${name}.${part}.hbs`))).toBe(true);
        if (language === 'de') expect(out.text).not.toBe(render(name, data, 'en').text);
        if (decl.audience === 'customer') {
          expect(out.subject).toContain('[Case #10042]');
          expect(out.text).toContain(language === 'de' ? 'Guten Tag Jane Doe,' : 'Hello Jane Doe,');
          expect(out.text).toMatch(/reply to this email\. Writing a new email about it\? Put \[Case #10042\] in the subject line|antworten Sie auf diese E-Mail\. Schreiben Sie eine neue E-Mail dazu, setzen Sie \[Case #10042\] in den Betreff/);
        } else {
          expect(out.text).toMatch(/Internal email from casegate|Interne E-Mail von casegate/);
          expect(out.text).not.toMatch(/in the subject line|in den Betreff/);
          if (decl.scope === 'case') {
            expect(out.subject).toContain('[Case #10042]');
            expect(out.text).toContain('casegate cases show 10042');
          }
        }
      });
    }
  }

  it('the HTML <title> is the finished subject (@subject in the layouts)', () => {
    for (const name of ['agent-reply', 'report'] as const) {
      const out = render(name, { ...sampleTemplateData(name), isTest: true });
      expect(out.subject.startsWith('[TEST] ')).toBe(true);
      expect(out.html).toContain(`<title>${out.subject.replace(/&/g, '&amp;')}</title>`);
    }
  });
});

describe('one subject line per case', () => {
  it('every customer email of a case has the subject of the agent’s reply, in English and German; staff mail keeps a subject per kind', () => {
    // Gmail joins a conversation only when the subject matches too (hunt3 customer-mail F8).
    for (const language of LANGUAGES) {
      const reply = render('agent-reply', sample('agent-reply'), language).subject;
      expect(reply).toBe(language === 'de' ? '[Case #10042] AW: Cannot log in since this morning' : '[Case #10042] Re: Cannot log in since this morning');
      for (const name of customerTemplateNames) expect(`${name}: ${render(name, sample(name), language).subject}`).toBe(`${name}: ${reply}`);
      const staff = new Set(staffTemplateNames.map((name) => render(name, sample(name), language).subject));
      expect(staff.size).toBe(staffTemplateNames.length);
    }
  });
});

describe('wording by data', () => {
  const wording = {
    pending: { en: /we need a little more information[\s\S]*waiting for your reply/, de: /wartet der Vorgang auf Ihre Antwort/ },
    on_hold: { en: /is on hold for technical review[\s\S]*specialists/, de: /technischen Prüfung/ },
    resolved: { en: /marked case 10042 as resolved[\s\S]*within 30 days/, de: /als gelöst markiert[\s\S]*innerhalb von 30 Tagen/ },
    closed: { en: /is now closed[\s\S]*opens a new case/, de: /jetzt geschlossen[\s\S]*neuen Vorgang/ },
  } as const;

  it('status-changed words each target status differently, in English and German', () => {
    for (const language of LANGUAGES) {
      const texts = new Set<string>();
      for (const [to, re] of Object.entries(wording)) {
        const out = render('status-changed', sample('status-changed', { status: { to, label: statusLabel(to, language), note: '' } }), language);
        expect(out.text).toMatch(re[language]);
        texts.add(out.text);
      }
      expect(texts.size).toBe(4);
      // Open again (issue 10: #reopen, #open).
      const open = render('status-changed', sample('status-changed', { status: { from: 'resolved', to: 'open', label: statusLabel('open', language) } }), language);
      expect(open.text).toMatch(language === 'de' ? /ist wieder offen/ : /is open again/);
      // Any other status: the label.
      const other = render('status-changed', sample('status-changed', { status: { to: 'new', label: statusLabel('new', language) } }), language);
      expect(other.text).toContain(language === 'de' ? 'lautet jetzt: eingegangen, wartet auf Bearbeitung.' : 'is now: received, waiting for an agent.');
    }
    expect(statusLabel('on_hold', 'de-AT')).toBe('in technischer Prüfung');
    expect(statusLabel('pending', 'fr')).toBe('waiting for your reply');
    expect(statusLabel('weird_state', 'en')).toBe('weird state');
  });

  it('survey: link or reply keywords; thank-you with the rating', () => {
    // Rating links 1–5 (signed links from the web server, each opens the survey page), and the reply route.
    const withUrl = render('survey', sample('survey'));
    for (const r of sampleTemplateData('survey').survey.ratings) {
      expect(withUrl.text).toContain(`  ${r.value}: ${r.url}`);
      expect(withUrl.html).toContain(`href="${r.url}"`);
    }
    expect(withUrl.html).toContain('aria-label="Rating 5 of 5"');
    // The page that stops surveys (also the email's List-Unsubscribe), in both parts.
    const stop = sampleTemplateData('survey').survey.unsubscribeUrl;
    expect(withUrl.text).toContain(`No more of these questions? Stop survey emails: ${stop}`);
    expect(withUrl.html).toContain(`href="${stop}"`);
    const byReply = render('survey', sample('survey', { survey: { url: '', ratings: [], unsubscribeUrl: '' } }), 'de');
    expect(byReply.text).toContain('mit einer Zahl von 1 (nicht zufrieden) bis 5 (sehr zufrieden)');
    expect(byReply.html).not.toMatch(/support\.example\.com\/s\/|Wählen Sie, wie zufrieden|Keine Umfragen mehr/);
    expect(render('survey-thanks', sample('survey-thanks')).text).toContain('4 out of 5');
  });

  it('agent notification, assignment, bounce, reminder and report follow their data', () => {
    expect(render('agent-notification', sample('agent-notification')).subject).toContain('New case:');
    const reply = render('agent-notification', sample('agent-notification', { event: 'customer-reply', owner: { name: 'Erika' } }));
    expect(reply.subject).toContain('Customer replied:');
    expect(reply.text).toContain('The customer replied to case 10042 (owner: Erika).');
    expect(reply.text).toContain('"Invalid session"');

    expect(render('assignment', sample('assignment')).text).toContain('It was owned by Max Mustermann before.');
    expect(render('assignment', sample('assignment', { previousOwner: { name: '' } })).text).not.toContain('owned by');
    const customerNotice = render('reassignment', sample('reassignment'));
    expect(customerNotice.text).toContain('Erika Musterfrau from our team has taken over case 10042 from Max Mustermann');
    expect(customerNotice.text).not.toMatch(/@example\.(com|org)>/); // display names only

    expect(render('bounce-notice', sample('bounce-notice')).text).toContain('casegate sends nothing more to it');
    expect(render('bounce-notice', sample('bounce-notice', { bounce: { permanent: false } })).text).toContain('This looks temporary');

    expect(render('reminder', sample('reminder')).text).toMatch(/If we do not hear from you by .*2025.*, we will close the case\./);
    expect(render('reminder', sample('reminder', { reminder: { closesAt: '' } })).text).not.toContain('we will close');

    const monthly = render('report', sample('report', { report: { ...sampleTemplateData('report').report, period: { name: 'monthly', from: '2025-03-01T00:00:00Z', to: '2025-03-31T23:59:59Z' } } }), 'de');
    expect(monthly.subject).toBe('[casegate] Monatsbericht 01.03. – 31.03.2025');
    expect(monthly.text).toContain('- general: 30 / 27 / 12 / 2\n- billing: 12 / 11 / 5 / 1\n');
  });

  it('duration: minutes in words in the template language', () => {
    const due = (minutes: number, language: string): string =>
      render('sla-warning', sample('sla-warning', { sla: { remaining: minutes } }), language).subject.replace(/^.*due in (.*): Cannot.*$|^.*fällig in (.*): Cannot.*$/, '$1$2');
    expect(due(0, 'en')).toBe('0 minutes');
    expect(due(1, 'en')).toBe('1 minute');
    expect(due(60, 'en')).toBe('1 hour');
    expect(due(1505, 'en')).toBe('1 day, 1 hour, and 5 minutes');
    expect(due(1505, 'de')).toBe('1 Tag, 1 Stunde und 5 Minuten');
    expect(render('sla-breach', sample('sla-breach'), 'de').text).toContain('(vor 20 Minuten)');
  });
});

describe('hostile data', () => {
  const EVIL = 'Eve <script>alert(1)</script> "q" \'s\' & <img src=x onerror=alert(2)>\r\nBcc: victim@evil.example\u2028X-Injected: 1';

  /** Every string of the data (not the reply marker) replaced by EVIL; lists get two entries. */
  function hostile(value: unknown, key = ''): unknown {
    if (key === 'replyMarker') return value;
    if (typeof value === 'string') return `${EVIL} ${value}`;
    if (Array.isArray(value)) return [...value, ...value].map((v) => hostile(v));
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hostile(v, k)]));
    return value;
  }

  for (const name of templateNames) {
    it(`${name}: escaped in HTML, one-line subject, no CR in text`, () => {
      const data = hostile(sampleTemplateData(name)) as TemplateDataMap[typeof name];
      for (const language of LANGUAGES) {
        const out = engine.render(name, data, { language });
        expect(out.html).not.toMatch(/<script|<img|onerror=alert\(2\)>|href="[^"]*"[^>]*onerror/);
        expect(out.html).toContain('Eve &lt;script&gt;alert(1)&lt;/script&gt;');
        expect(out.subject).not.toMatch(/[\r\n\t\u0000-\u001f\u2028\u2029]/);
        expect(out.subject.length).toBeLessThanOrEqual(250);
        expect(out.text).not.toContain('\r');
        expect(out.text).not.toMatch(/\u2028/);
        expect(out.text.startsWith(`${replyMarkerFor(language)}\n`)).toBe(true);
      }
    });
  }

  it('a survey URL cannot break out of the href attribute', () => {
    const out = render('survey', sample('survey', { survey: { ratings: [{ value: 1, url: '"><img src=x onerror=alert(1)>' }] } }));
    expect(out.html).toContain('href="&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;"');
    expect(out.html).not.toContain('<img');
  });

  it('agent reply text with HTML is escaped, line breaks kept as <br> and paragraphs', () => {
    const text = 'Try <b>this</b> & <a href="https://evil.example">that</a>\nsecond line\r\n\r\n\r\nnew <script>x</script> paragraph';
    const out = render('agent-reply', sample('agent-reply', { reply: { text, attachments: ['<evil>.pdf'] } }));
    expect(out.html).toContain(
      '<p style="margin:0 0 16px 0;" dir="auto">Try &lt;b&gt;this&lt;/b&gt; &amp; &lt;a href&#x3D;&quot;https://evil.example&quot;&gt;that&lt;/a&gt;<br>\nsecond line</p>\n' +
        '<p style="margin:0 0 16px 0;" dir="auto">new &lt;script&gt;x&lt;/script&gt; paragraph</p>',
    );
    expect(out.html).toContain('Attached: &lt;evil&gt;.pdf');
    expect(out.html).not.toMatch(/<b>|<a href="https:\/\/evil|<script/);
    // Text parts are plain text: the reply as written.
    expect(out.text).toContain('Try <b>this</b> & <a href="https://evil.example">that</a>\nsecond line\n\n\nnew <script>x</script> paragraph');
  });
});

describe('check and hot reload with the new kinds', () => {
  it('paragraphs is for HTML parts only; @subject only in layouts', () => {
    const dir = copyTemplates();
    write(dir, 'agent-reply.text.hbs', '{{> greeting}}\n\n{{paragraphs reply.text}}\n');
    write(dir, 'de/agent-reply.html.hbs', '<p>{{@subject}}</p>\n{{paragraphs reply.text}}\n');
    const problems = checkTemplateDir(opts(dir));
    expect(problems).toEqual([
      { file: 'agent-reply.text.hbs', line: 3, message: 'Helper "paragraphs" is for HTML parts only (it returns HTML); in text parts print the value directly' },
      { file: 'de/agent-reply.html.hbs', line: 1, message: 'Unknown data variable "@subject" (here: @root, @language, @dir)' },
    ]);
  });

  it('the staff layout cannot use case fields: the report is not about a case', () => {
    const dir = copyTemplates();
    write(dir, 'layouts/staff.text.hbs', '{{> reply-marker}}\n{{case.tag}}\n{{{body}}}\n');
    const instanceKinds = templateNames.filter((n) => templateDeclaration(n).scope === 'instance' && templateLayout(n) === 'staff');
    expect(instanceKinds).toEqual(expect.arrayContaining(['mailbox-alert', 'report']));
    expect(checkTemplateDir(opts(dir))).toEqual([
      {
        file: 'layouts/staff.text.hbs',
        line: 2,
        message: `Unknown variable "case.tag" (when used by templates ${instanceKinds.map((n) => `"${n}"`).join(', ')})`,
      },
    ]);
  });

  it('both layouts must exist; unknown layout names are reported', () => {
    const dir = copyTemplates();
    rmSync(join(dir, 'layouts/staff.html.hbs'));
    write(dir, 'layouts/staf.text.hbs', '{{{body}}}\n');
    const messages = checkTemplateDir(opts(dir)).map((p) => `${p.file} ${p.message}`);
    expect(messages).toEqual([
      'layouts/staf.text.hbs Unexpected layout file (only layouts/default.text.hbs, layouts/default.html.hbs, layouts/staff.text.hbs, layouts/staff.html.hbs, layouts/page.text.hbs, layouts/page.html.hbs are used) (did you mean "layouts/staff"?)',
      'layouts/staff.html.hbs Missing layout file (the base folder needs layouts/default.text.hbs, layouts/default.html.hbs, layouts/staff.text.hbs, layouts/staff.html.hbs, layouts/page.text.hbs, layouts/page.html.hbs)',
    ]);
  });

  it('hot reload: an unsafe edit of agent-reply is rejected and logged, the last good version stays', async () => {
    const dir = copyTemplates();
    const lines: Array<{ level: number; msg: string }> = [];
    const log: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
    const e = loadTemplates(opts(dir, { watch: true, log }));
    engines.push(e);
    const html = (): string => e.render('agent-reply', sampleTemplateData('agent-reply'), {}).html;
    writeFileSync(join(dir, 'agent-reply.html.hbs'), '<p>{{{reply.text}}}</p>\n');
    const until = async (cond: () => boolean): Promise<void> => {
      const end = Date.now() + 5000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out; log: ${JSON.stringify(lines)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await until(() => lines.some((l) => l.level === 50 && l.msg.startsWith('agent-reply.html.hbs:1 Raw output {{{reply.text}}} is not allowed')));
    expect(html()).toContain('<p style="margin:0 0 16px 0;" dir="auto">we have reset your password.');
    writeFileSync(join(dir, 'agent-reply.html.hbs'), '<p>EDITED</p>\n{{paragraphs reply.text}}\n');
    await until(() => html().includes('<p>EDITED</p>'));
  });
});
