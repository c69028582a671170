import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, describe, expect, it } from 'vitest';
import { createFloor } from '../../bench/floor.js';
import { expectedConfirmations, makeMessages } from '../../bench/mix.js';

/**
 * The benchmark's floor (bench/floor.ts) renders the product's own confirmation templates with a
 * Handlebars of its own. When a template started using a helper the floor did not register
 * (`eq`, in the layout), `npm run bench` failed at its first phase and nothing else noticed: this
 * runs the floor on a small heavy mix and checks every confirmation it sends.
 */
describe('the benchmark floor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-floor-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders and sends a confirmation for each new case of the heavy mix, with the product templates', async () => {
    const sent: { subject: string; text: string; html: string }[] = [];
    const relay = nodemailer.createTransport({
      name: 'capture',
      version: '1',
      send(mail, done) {
        const d = mail.data as { subject?: unknown; text?: unknown; html?: unknown };
        sent.push({ subject: String(d.subject), text: String(d.text), html: String(d.html) });
        done(null, { envelope: mail.message.getEnvelope(), messageId: mail.message.messageId() });
      },
    });
    const messages = makeMessages('heavy', 40, 'floor-test');
    const floor = await createFloor(dir, join(import.meta.dirname, '../../templates'), relay);
    try {
      for (const m of messages) await floor.handle(m);
    } finally {
      await floor.close();
    }
    expect(sent.length).toBe(expectedConfirmations(messages));
    expect(sent.length).toBeGreaterThan(20);
    for (const s of sent) {
      expect(s.subject).toMatch(/\[Case #\d+\]/);
      expect(s.text).toContain('within one business day');
      expect(s.html).toMatch(/<html[\s>]/);
      expect(s.html).toContain('within one business day');
    }
  });
});
