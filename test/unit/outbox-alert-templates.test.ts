import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyMarkerFor } from '../../src/mail-out/reply-marker.js';
import { silentLogger } from '../../src/log.js';
import { sampleTemplateData } from '../../src/mail-out/template-data.js';
import { loadTemplates, type TemplateEngine } from '../../src/mail-out/templates.js';

/** The shipped outgoing-mail health templates (outbox-alert, outbox-recovered), English and German. */
const SHIPPED = fileURLToPath(new URL('../../templates', import.meta.url));
const MARKER = '##- Please type your reply above this line -##';
let engine: TemplateEngine;
beforeAll(() => {
  engine = loadTemplates({ dir: SHIPPED, defaultLanguage: 'en', languages: ['en', 'de'], queues: [], watch: false, log: silentLogger() });
});
afterAll(() => engine?.close());

describe('outbox health templates', () => {
  it.each([
    ['outbox-alert', 'en'],
    ['outbox-alert', 'de'],
    ['outbox-recovered', 'en'],
    ['outbox-recovered', 'de'],
  ] as const)('%s renders in %s (staff layout, no case footer)', (name, language) => {
    const out = engine.render(name, sampleTemplateData(name), { language });
    for (const part of [out.subject, out.text, out.html]) expect(part).not.toMatch(/undefined|\[object Object\]/);
    expect(out.text.startsWith(`${replyMarkerFor(language)}\n`)).toBe(true);
    expect(out.text).toContain(language === 'de' ? 'SMTP relay.example.com (Port 587)' : 'SMTP relay.example.com (port 587)');
    expect(out.text).toContain('535 5.7.8');
    expect(out.text).not.toMatch(/in the subject line|in den Betreff/);
    if (language === 'de') expect(out.text).toMatch(/Versand/);
  });

  it('the alert says what to check for the class of error, and that nothing is failed while paused', () => {
    const base = sampleTemplateData('outbox-alert');
    const auth = engine.render('outbox-alert', base, {});
    expect(auth.subject).toBe('[casegate] Outgoing mail is failing (auth, paused)');
    expect(auth.text).toContain('check outgoing.smtp.user and outgoing.smtp.password');
    expect(auth.text).toContain('no email is marked failed because of this');
    expect(auth.text).toContain('58 email(s), the oldest since');
    const tls = engine.render('outbox-alert', { ...base, alert: { ...base.alert, errorClass: 'tls' } }, {});
    expect(tls.text).toContain('outgoing.smtp.caFile');
    expect(tls.text).not.toContain('outgoing.smtp.password');
    const failing = engine.render('outbox-alert', { ...base, alert: { ...base.alert, errorClass: 'message', state: 'failing', oldestQueuedAt: '' } }, {});
    expect(failing.subject).toBe('[casegate] Outgoing mail is failing (message, failing)');
    expect(failing.text).not.toContain('Sending is paused');
    expect(failing.text).not.toContain('the oldest since');
  });
});
