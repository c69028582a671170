import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/config/load.js';

/** A copy of the shipped templates with the thank-you a feedback queue needs (docs/cases.md, "Feedback queues"). */
export function templatesWithFeedbackQueue(queue = 'feedback'): string {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-tpl-'));
  cpSync(join(PACKAGE_ROOT, 'templates'), dir, { recursive: true });
  mkdirSync(join(dir, queue, 'partials'), { recursive: true });
  writeFileSync(join(dir, queue, 'confirmation.subject.hbs'), 'Thank you for your feedback\n');
  writeFileSync(join(dir, queue, 'confirmation.text.hbs'), '{{> greeting}}\n\nThank you for your feedback: we read every message.\n\n{{> signature}}\n');
  writeFileSync(join(dir, queue, 'confirmation.html.hbs'), '<p>Thank you for your feedback: we read every message.</p>\n');
  writeFileSync(join(dir, queue, 'partials', 'footer.hbs'), 'You are receiving this email because you sent feedback to {{mailbox.address}}.\n');
  return dir;
}
