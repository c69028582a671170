import { randomBytes } from 'node:crypto';
import { createWriteStream, linkSync, lstatSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { CaseCommandError } from '../cases/case-command-error.js';
import { attachedRows, sizeLabel } from '../cases/customer-files.js';
import type { AppContext } from '../context.js';
import { caseByNumber } from '../db/repos/cases.js';
import { storedFiles, type MessageFileRow } from '../db/repos/messages.js';
import { BlobUnreadableError } from '../storage/blob-store.js';
import { caseCommand, caseNumberArg, parseRowIds } from './case-args.js';
import { LOOK, print } from './shared.js';
import { safeLine } from './terminal.js';
import { timeDisplay, zoneNote, type TimeDisplay } from './display-time.js';

/**
 * `casegate cases files N`: the files of a case's messages (the customer's, the agents' replies and
 * notes), each with the id that names it, and `--save DIR` / `--output FILE` to write them. Every
 * file is checked against its SHA-256 before a byte is written; a name from mail never leaves the
 * directory (no separators, no "..", no hidden file), and nothing that exists is replaced without
 * --force. Staff mail's copies of a customer's files are not listed again (storedFiles).
 */

interface FilesOptions {
  id?: string[];
  save?: string;
  output?: string;
  force?: boolean;
  inline?: boolean;
  utc?: boolean;
  json?: boolean;
}

export interface CaseFile {
  readonly id: number;
  readonly message: number;
  readonly direction: string;
  readonly internal: boolean;
  readonly from: string;
  readonly at: string;
  readonly name: string;
  readonly type: string;
  readonly size: number;
  readonly sha256: string;
  /** A picture the message's HTML shows (a signature logo) or a signature part: listed with --inline. */
  readonly inline: boolean;
}

export function registerCaseFileCommands(cases: Command): void {
  cases
    .command('files')
    .description('the files of a case’s messages (id, name, type, size, SHA-256); --save DIR or --output FILE writes them, checked against their SHA-256')
    .argument('<number>', 'case number')
    .option('--id <id...>', 'only these files (the ID column)')
    .option('--save <dir>', 'write the files into this directory (made when missing), each under its name')
    .option('--output <file>', 'write the one file chosen with --id to this path ("-": standard output)')
    .option('--force', 'replace files that exist (without it nothing that exists is touched)')
    .option('--inline', 'also the pictures a message’s HTML shows (signature logos) and signature parts')
    .option('--utc', 'times in UTC (default: jobs.timezone, or the queues’ one calendar zone)')
    .option('--json', 'JSON output (times ISO-8601 UTC)')
    .action(async (number: string, opts: FilesOptions) => {
      await caseCommand(
        async (ctx) => {
          const n = caseNumberArg(number);
          const c = await caseByNumber(ctx.db, n);
          if (c === undefined) throw new CaseCommandError(`no case ${n}`, true);
          const files = chosen(await caseFiles(ctx, c.id), opts, n);
          if (opts.save !== undefined && opts.output !== undefined) throw new CaseCommandError('give --save or --output, not both');
          if (opts.output !== undefined) {
            if (files.length !== 1 || opts.id === undefined) throw new CaseCommandError('--output writes one file: choose it with --id');
            const saved = await writeOne(ctx, files[0]!, opts.output, opts.force === true);
            if (saved !== null) print([saved], opts.json === true, () => savedLines([saved]));
            return;
          }
          if (opts.save !== undefined) {
            const saved = await saveAll(ctx, files, opts.save, opts.force === true);
            print(saved, opts.json === true, () => savedLines(saved));
            return;
          }
          print(files, opts.json === true, () => formatFiles(n, files, timeDisplay(ctx.config, opts.utc === true)));
        },
        LOOK,
      );
    });
}

/** Every file of the case, oldest first; `inline`: an embedded picture or signature part. */
async function caseFiles(ctx: AppContext, caseId: number): Promise<CaseFile[]> {
  const rows = await storedFiles(ctx.db, { caseId });
  const attached = new Set(attachedRows(rows).map((r) => r.id));
  return rows.map((r) => toCaseFile(r, !attached.has(r.id)));
}

function toCaseFile(r: MessageFileRow, inline: boolean): CaseFile {
  return {
    id: r.id,
    message: r.message_row_id,
    direction: r.direction,
    internal: r.internal === 1,
    from: r.from_name !== '' ? `${r.from_name} <${r.from_address}>` : r.from_address,
    at: r.created_at,
    name: r.filename,
    type: r.content_type,
    size: r.size,
    sha256: r.sha256,
    inline,
  };
}

/** The files --id names (each must be the case's), else all (embedded ones with --inline). */
function chosen(files: readonly CaseFile[], opts: FilesOptions, caseNumber: number): CaseFile[] {
  if (opts.id === undefined) return files.filter((f) => opts.inline === true || !f.inline);
  const ids = parseRowIds(opts.id, 'a file id');
  if (typeof ids === 'string') throw new CaseCommandError(`--id: ${ids}`);
  return [...new Set(ids)].map((id) => {
    const f = files.find((x) => x.id === id);
    if (f === undefined) throw new CaseCommandError(`case ${caseNumber} has no file ${id} (casegate cases files ${caseNumber} --inline lists them all)`);
    return f;
  });
}

function formatFiles(caseNumber: number, files: readonly CaseFile[], time: TimeDisplay): string {
  if (files.length === 0) return `case ${caseNumber} has no files\n`;
  const lines: string[] = [];
  let message = -1;
  for (const f of files) {
    if (f.message !== message) {
      message = f.message;
      const arrow = f.direction === 'out' ? '→' : '←';
      lines.push(`${arrow} ${time.at(f.at)} ${safeLine(f.from)}${f.internal ? ' (internal)' : ''}`);
    }
    lines.push(`  ${String(f.id).padStart(5)}  ${safeLine(f.name)} (${safeLine(f.type)}, ${sizeLabel(f.size)}${f.inline ? ', inline' : ''})  sha256 ${f.sha256}`);
  }
  lines.push('', `(${zoneNote(time)})`, `save one: casegate cases files ${caseNumber} --id ID --save DIR; all: casegate cases files ${caseNumber} --save DIR`);
  return `${lines.join('\n')}\n`;
}

interface Saved {
  readonly id: number;
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

function savedLines(saved: readonly Saved[]): string {
  if (saved.length === 0) return 'no files to save\n';
  return saved.map((s) => `saved ${s.id} ${safeLine(s.name)} → ${safeLine(s.path)} (${s.size} bytes, sha256 verified)\n`).join('');
}

/**
 * A file name from mail as a name inside a directory: no path separators or control characters,
 * not hidden, not "." or ".."; empty: file-<id>.
 */
export function diskName(name: string, id: number): string {
  const flat = name.replace(/[\u0000-\u001f\u007f-\u009f/\\]/g, '_').replace(/^[.\s]+/, '').trim();
  return flat === '' ? `file-${id}` : flat;
}

/** Write the files into `dir` under their names (two of one name: the later gets -<id>); all or none refused. */
async function saveAll(ctx: AppContext, files: readonly CaseFile[], dir: string, force: boolean): Promise<Saved[]> {
  const root = resolve(dir);
  const taken = new Set<string>();
  const targets = files.map((f) => {
    let name = diskName(f.name, f.id);
    if (taken.has(name.toLowerCase())) name = `${basename(name, extname(name))}-${f.id}${extname(name)}`;
    taken.add(name.toLowerCase());
    const path = join(root, name);
    // diskName keeps it in the directory; checked all the same.
    if (dirname(path) !== root) throw new CaseCommandError(`refused: "${f.name}" would be written outside ${root}`);
    return { file: f, path };
  });
  if (!force) {
    const there = targets.filter((t) => exists(t.path));
    if (there.length > 0) throw new CaseCommandError(`${there.map((t) => t.path).join(', ')} exist${there.length === 1 ? 's' : ''}: nothing saved (--force replaces)`);
  }
  try {
    mkdirSync(root, { recursive: true });
  } catch (err) {
    throw new CaseCommandError(`cannot make ${root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  // Every file checked before the first is written: a damaged one saves none.
  const sources = [];
  for (const t of targets) sources.push(await verified(ctx, t.file));
  const saved: Saved[] = [];
  for (const [i, t] of targets.entries()) saved.push(await writeFile(sources[i]!, t.file, t.path, force));
  return saved;
}

/** --output: one file to a path the user named, or to standard output ("-"; then nothing is printed about it). */
async function writeOne(ctx: AppContext, f: CaseFile, output: string, force: boolean): Promise<Saved | null> {
  if (output === '-') {
    await pipeline(await verified(ctx, f), process.stdout, { end: false });
    return null;
  }
  const path = resolve(output);
  if (!force && exists(path)) throw new CaseCommandError(`${path} exists: nothing saved (--force replaces)`);
  return writeFile(await verified(ctx, f), f, path, force);
}

/**
 * Write a verified file: into a temp file beside the target, then linked to its name (fails if the
 * name appeared meanwhile) or, with --force, renamed over it (a symlink there is replaced, not followed).
 */
async function writeFile(source: Readable, f: CaseFile, path: string, force: boolean): Promise<Saved> {
  const tmp = join(dirname(path), `.casegate-${randomBytes(6).toString('hex')}.part`);
  try {
    await pipeline(source, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
    if (force) renameSync(tmp, path);
    else linkSync(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CaseCommandError(`${path} exists: not replaced (--force replaces)`);
    throw new CaseCommandError(`cannot write ${path}: ${code ?? (err as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { id: f.id, name: f.name, path, size: f.size, sha256: f.sha256 };
}

/** The file's bytes from the blob store, checked against its SHA-256 first. */
async function verified(ctx: AppContext, f: CaseFile): Promise<Readable> {
  try {
    return await ctx.blobs.openVerified(f.sha256);
  } catch (err) {
    if (!(err instanceof BlobUnreadableError)) throw err;
    throw new CaseCommandError(`file ${f.id} (${f.name}) is ${err.problem === 'missing' ? 'missing from' : 'damaged in'} the blob store (${err.path}): not saved`);
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
