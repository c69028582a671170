import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { detectMimeType } from 'nodemailer/lib/mime-funcs/mime-types.js';
import type { AppContext } from '../context.js';
import type { OutgoingAttachment } from './compose.js';

/** A local file (`casegate cases reply --attach`) stored in the blob store, ready to be sent. */
export async function storeAttachmentFile(ctx: Pick<AppContext, 'blobs'>, path: string): Promise<OutgoingAttachment> {
  const st = await stat(path);
  if (!st.isFile()) throw Object.assign(new Error(`${path} is not a file`), { code: 'EISDIR' });
  const blob = await ctx.blobs.put(createReadStream(path));
  const filename = basename(path).replace(/[\u0000-\u001f\u007f/\\]/g, '_');
  return { filename, contentType: detectMimeType(filename), size: blob.size, sha256: blob.sha256, contentId: null, disposition: 'attachment' };
}
