import type { TemplateProblem } from './template-problems.js';

/**
 * A template set with problems, in a module of its own: the CLI tells it apart (exit 78) without
 * loading Handlebars and the template modules (src/mail-out/templates.ts re-exports it).
 */
export class TemplateCheckError extends Error {
  readonly problems: TemplateProblem[];

  constructor(problems: TemplateProblem[]) {
    super(
      `email templates have ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n` +
        problems.map((p) => `  ${formatProblem(p)}`).join('\n'),
    );
    this.name = 'TemplateCheckError';
    this.problems = problems;
  }
}

/** "de/confirmation.text.hbs:12 Unknown variable …" */
export function formatProblem(p: TemplateProblem): string {
  return `${p.file}${p.line !== null ? `:${p.line}` : ''} ${p.message}`;
}
