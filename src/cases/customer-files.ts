import { existsSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { AppContext } from '../context.js';
import { storedFiles, type MessageFileRow } from '../db/repos/messages.js';
import type { Database } from '../db/schema.js';
import { cidReferences, isAttachedFile } from '../mail-in/attached-files.js';
import type { OutgoingAttachment } from '../mail-out/compose.js';

/**
 * A customer's files for the staff who work the case. Staff mail that shows a customer's message
 * (agent-notification, escalation-alert, assignment) carries that message's files as attachments —
 * the bytes the blob store keeps, under the names and types stored with them — within
 * agentMail.attachFilesMaxBytes per email; what does not fit is named with its size and the
 * `casegate cases files` command that saves it. Pictures the message's HTML shows (a signature
 * logo) and signature parts are no files (attached-files.ts decides that, for every use).
 * Only staff mail carries them (queueStaffEmail): the recipients of the notification, never a
 * customer.
 */

/** A file a staff email names without carrying it. */
export interface FileNotAttached {
  readonly name: string;
  /** Its size in words ("12.4 MB"). */
  readonly size: string;
  /** The command that saves it into the current directory. */
  readonly command: string;
  /** A picture the message's HTML shows, large enough to be pasted content (PASTED_PICTURE_MIN_BYTES). */
  readonly picture: boolean;
}

/**
 * A picture the HTML shows by its Content-ID (never attached: attached-files.ts) of at least this
 * size is more likely a pasted screenshot than a signature logo or icon (a few KB): staff mail,
 * whose HTML is rendered from the text and shows no picture, names it with its command.
 */
export const PASTED_PICTURE_MIN_BYTES = 10 * 1024;

/** What a staff email says about a message's files, and the files it carries. */
export interface MessageFiles {
  /** The name of every file of the message, attached or not. */
  readonly attachments: readonly string[];
  /** The files this email does not carry (over the size budget, or missing from the store). */
  readonly notAttached: readonly FileNotAttached[];
  /** The files it carries (not template data: queueStaffEmail attaches them). */
  readonly files: readonly OutgoingAttachment[];
}

export const NO_FILES: MessageFiles = { attachments: [], notAttached: [], files: [] };

/** The command that saves file `fileId` of case `caseNumber` into the current directory. */
export function saveFileCommand(caseNumber: number, fileId: number): string {
  return `casegate cases files ${caseNumber} --id ${fileId} --save .`;
}

/** A size in words: "812 bytes", "14 KB", "12.4 MB" (powers of 1024, as `ls -lh`). */
export function sizeLabel(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The rows that are files the writer attached: not a picture the message's HTML shows by its
 * Content-ID, not a signature part (isAttachedFile, the rule the notification and the customer's
 * page use).
 */
export function attachedRows<R extends MessageFileRow>(rows: readonly R[]): R[] {
  const shown = new Map<number, ReadonlySet<string>>();
  return rows.filter((r) => {
    let ids = shown.get(r.message_row_id);
    if (ids === undefined) {
      ids = cidReferences(r.html ?? '');
      shown.set(r.message_row_id, ids);
    }
    return isAttachedFile({ contentType: r.content_type, disposition: r.disposition === 'inline' ? 'inline' : 'attachment', contentId: r.content_id }, ids);
  });
}

/**
 * The files of one stored message for one staff email: attached while the email's total stays
 * within agentMail.attachFilesMaxBytes (withinBudget), the others named with the command that
 * saves them (all of them for suspected spam).
 */
export async function messageFiles(db: Kysely<Database>, ctx: Pick<AppContext, 'config' | 'blobs'>, messageRowId: number, o: { readonly suspectedSpam?: boolean } = {}): Promise<MessageFiles> {
  const all = await storedFiles(db, { messageRowId });
  const rows = attachedRows(all);
  const pictures = all.filter((r) => !rows.includes(r) && r.content_type.startsWith('image/') && r.size >= PASTED_PICTURE_MIN_BYTES);
  if (rows.length === 0 && pictures.length === 0) return NO_FILES;
  // Suspected spam's files (a malware attachment, as often as not) are named, never mailed around.
  const { files, notAttached } = withinBudget(ctx, rows, o.suspectedSpam === true ? 0 : ctx.config.agentMail.attachFilesMaxBytes);
  return { attachments: rows.map((r) => r.filename), notAttached: [...notAttached, ...pictures.map((r) => ({ ...named(r), picture: true }))], files };
}

/** What `#files` mails an agent: the files it carries (with whose message they came), the others, ids the case does not have. */
export interface FilesForAgent {
  readonly attached: readonly { readonly name: string; readonly size: string; readonly from: string }[];
  readonly notAttached: readonly FileNotAttached[];
  readonly unknown: readonly string[];
  readonly files: readonly OutgoingAttachment[];
}

/**
 * The case's files an agent asked for (`#files`: all its files as `casegate cases files` lists
 * them; `#files 7 9`: those), the newest first into the email's budget.
 */
export async function filesForAgent(db: Kysely<Database>, ctx: Pick<AppContext, 'config' | 'blobs'>, caseId: number, ids: readonly number[]): Promise<FilesForAgent> {
  const all = await storedFiles(db, { caseId });
  const listed = attachedRows(all);
  const rows = ids.length === 0 ? listed : all.filter((r) => ids.includes(r.id));
  const { files, notAttached, carried } = withinBudget(ctx, rows, ctx.config.agentMail.attachFilesMaxBytes);
  const attached = rows.filter((r) => carried.has(r.id)).map((r) => ({ name: r.filename, size: sizeLabel(r.size), from: r.from_name !== '' ? `${r.from_name} <${r.from_address}>` : r.from_address }));
  return { attached, notAttached, unknown: ids.filter((id) => !rows.some((r) => r.id === id)).map(String), files };
}

/**
 * Which rows an email carries within `budget` bytes (0: none) and which it names with the command
 * that saves them: the newest first (the latest screenshot matters most), in the stored order
 * after. A file whose blob is gone is named, not attached: a missing file must not fail the whole
 * email (the outbox checks every attached file's SHA-256 again when it sends).
 */
function withinBudget(ctx: Pick<AppContext, 'blobs'>, rows: readonly MessageFileRow[], budget: number): { files: OutgoingAttachment[]; notAttached: FileNotAttached[]; carried: ReadonlySet<number> } {
  let used = 0;
  const carry = new Set<number>();
  for (const r of [...rows].reverse()) {
    if (budget > 0 && used + r.size <= budget && existsSync(ctx.blobs.pathFor(r.sha256))) {
      used += r.size;
      carry.add(r.id);
    }
  }
  const files: OutgoingAttachment[] = [];
  const notAttached: FileNotAttached[] = [];
  for (const r of rows) {
    if (carry.has(r.id)) files.push({ filename: r.filename, contentType: r.content_type, size: r.size, sha256: r.sha256, contentId: null, disposition: 'attachment' });
    else notAttached.push({ ...named(r), picture: false });
  }
  return { files, notAttached, carried: carry };
}

function named(r: MessageFileRow): Omit<FileNotAttached, 'picture'> {
  return { name: r.filename, size: sizeLabel(r.size), command: saveFileCommand(r.case_number, r.id) };
}

/** A message as template data (without the files it carries) and those files. */
export function withoutFiles<T extends { readonly files: readonly OutgoingAttachment[] }>(m: T): [Omit<T, 'files'>, readonly OutgoingAttachment[]] {
  const { files, ...shown } = m;
  return [shown, files];
}
