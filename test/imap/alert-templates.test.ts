import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyMarkerFor } from '../../src/mail-out/reply-marker.js';
import { silentLogger } from '../../src/log.js';
import { sampleTemplateData, systemTemplateNames } from '../../src/mail-out/template-data.js';
import { loadTemplates, type TemplateEngine } from '../../src/mail-out/templates.js';

/** The shipped admin health templates (mailbox-alert, mailbox-recovered), English and German. */
const SHIPPED = fileURLToPath(new URL('../../templates', import.meta.url));
const MARKER = '##- Please type your reply above this line -##';
let loaded: TemplateEngine;
beforeAll(() => {
  loaded = loadTemplates({ dir: SHIPPED, defaultLanguage: 'en', languages: ['en', 'de'], queues: [], watch: false, log: silentLogger() });
});
afterAll(() => loaded?.close());

function engine(): TemplateEngine {
  return loaded;
}

describe('mailbox health templates', () => {
  it.each(systemTemplateNames.flatMap((name) => ['en', 'de'].map((language) => [name, language] as const)))('%s renders in %s (staff layout, no case footer)', (name, language) => {
    const out = engine().render(name, sampleTemplateData(name), { language });
    for (const part of [out.subject, out.text, out.html]) expect(part).not.toMatch(/undefined|\[object Object\]/);
    expect(out.subject).toContain('support');
    expect(out.text.startsWith(`${replyMarkerFor(language)}\n`)).toBe(true);
    expect(out.text).toContain('support@example.com');
    expect(out.text).toContain('AUTHENTICATIONFAILED');
    // No "keep the case tag in the subject" footer: these are not about a case.
    expect(out.text).not.toMatch(/in the subject line|in den Betreff/);
    expect(out.html).not.toMatch(/in the subject line|in den Betreff/);
    if (language === 'de') expect(out.text).toMatch(/Postfach/);
  });

  it('the alert tells what to check when the login is rejected', () => {
    const base = sampleTemplateData('mailbox-alert');
    const e = engine();
    expect(e.render('mailbox-alert', base, {}).text).toContain('check the password or access token');
    const net = e.render('mailbox-alert', { ...base, alert: { ...base.alert, state: 'backing-off', error: 'ECONNREFUSED' } }, {});
    expect(net.text).not.toContain('check the password');
    expect(net.subject).toBe('[casegate] Mailbox support is failing (backing-off)');
  });
});
