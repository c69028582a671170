import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';

/**
 * SQL has one home: src/db/ (the repositories in src/db/repos, the migrations, the dialects). Code
 * elsewhere calls a repository function by its name, so every query the product runs can be found,
 * given an index (the query-plan tests) and checked on both backends in one place. This test reads
 * every source file outside src/db/ for Kysely's query builders and raw SQL.
 */
const QUERY_BUILDING = /\.(selectFrom|updateTable|insertInto|deleteFrom|replaceInto|mergeInto|selectNoFrom)\(|\bsql`|\bsql\.raw\(|CompiledQuery\.raw\(|\.prepare\(\s*['"`]\s*(select|insert|update|delete|with|pragma)\b/i;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

describe('where SQL lives', () => {
  const src = join(REPO_ROOT, 'src');
  const outside = sourceFiles(src).filter((f) => !relative(src, f).startsWith(`db/`));

  it('reads the source tree (the check below looked at real files)', () => {
    expect(outside.length).toBeGreaterThan(100);
    expect(outside.map((f) => relative(src, f))).toContain('pipeline/run-pipeline.ts');
  });

  it('no file outside src/db/ builds a query or writes SQL', () => {
    const found = outside.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (QUERY_BUILDING.test(line) ? [`src/${relative(src, f)}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(found).toEqual([]);
  });

  it('the check finds what it looks for', () => {
    for (const line of ["await trx.updateTable('receipts').set({ is_primary: 1 })", "db.selectFrom('cases').select('number')", 'sql`select 1`', "sqlite.prepare('select * from cases')"]) {
      expect(QUERY_BUILDING.test(line), line).toBe(true);
    }
    expect(QUERY_BUILDING.test('const message = "select a case"; db.transaction()')).toBe(false);
  });
});
