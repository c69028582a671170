import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listTemplateVariables, templateDeclaration, templateNames } from '../../src/mail-out/template-data.js';
import { TEMPLATE_DOCS_PATH, renderTemplateDocs } from '../../src/mail-out/template-docs.js';
import { templateHelpers } from '../../src/mail-out/templates.js';

/** docs/templates.md is generated from the declarations; CI (npm test) fails when it is stale. */

describe('docs/templates.md', () => {
  const page = renderTemplateDocs();

  it('is current (regenerate with: npm run casegate -- templates docs)', () => {
    const onDisk = existsSync(TEMPLATE_DOCS_PATH) ? readFileSync(TEMPLATE_DOCS_PATH, 'utf8') : '(missing)';
    expect(onDisk === page, `${TEMPLATE_DOCS_PATH} is out of date: run "npm run casegate -- templates docs" and commit it`).toBe(true);
  });

  it('lists every template, when it is sent, its files and every variable with an example', () => {
    for (const name of templateNames) {
      expect(page).toContain(`\n### ${name}\n`);
      expect(page).toContain(`| [${name}](#${name}) |`);
      expect(page).toContain(`**When it is sent:** ${templateDeclaration(name).description}`);
      expect(page).toContain(`\`${name}.subject.hbs\`, \`${name}.text.hbs\`, \`${name}.html.hbs\``);
      const section = page.slice(page.indexOf(`\n### ${name}\n`));
      expect(section).toMatch(/\*\*Variables:\*\* the common ones \(\[every template\]\(#every-template\)/);
      for (const v of listTemplateVariables(name)) {
        if (v.example === undefined || (v.itemOf !== undefined && v.type === 'object')) continue;
        const shown = v.itemOf !== undefined ? `{{#each ${v.itemOf}}} {{${v.path}}}` : v.path;
        expect(page, `${name}: ${shown}`).toContain(`| \`${shown}\` |`);
      }
    }
    for (const h of templateHelpers) expect(page).toContain(`| \`${h.name}\` |`);
    expect(page).toContain('1. `<queue>/<language>/<file>`');
    expect(page).toContain('German in `de/`');
  });

  it('is safe Markdown: no raw tags from descriptions, pipes escaped', () => {
    const outsideCode = page.replace(/```[\s\S]*?```/g, '').replace(/`[^`]*`/g, '');
    expect(outsideCode).not.toMatch(/<(?!!--)[a-z]/i);
    // Every table row has as many cells as its header.
    let columns = 0;
    for (const line of page.split('\n')) {
      if (!line.startsWith('|')) {
        columns = 0;
        continue;
      }
      const cells = line.replace(/\\\|/g, '').split('|').length;
      if (columns === 0) columns = cells;
      expect(cells, line).toBe(columns);
    }
  });
});
