import { open } from 'node:fs/promises';
import type { AppContext } from '../context.js';
import type { MailboxConfig } from '../config/schema.js';
import type { StoredBlob } from '../storage/blob-store.js';

/**
 * For channels that do not know the recipient (the pipe, a rescanned blob): look at the first
 * header block of the stored message for Delivered-To / X-Original-To / To / Cc and pick the
 * mailbox serving one of them; the first configured mailbox otherwise.
 */
export async function mailboxFromHeaders(ctx: AppContext, blob: StoredBlob): Promise<{ mailbox: MailboxConfig; recipients: string[] }> {
  const fh = await open(blob.path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(blob.size, 64 * 1024));
    await fh.read(buf, 0, buf.length, 0);
    const text = buf.toString('latin1');
    const end = text.search(/\r?\n\r?\n/);
    const head = (end >= 0 ? text.slice(0, end) : text).replace(/\r?\n[ \t]+/g, ' ');
    const recipients: string[] = [];
    for (const name of ['delivered-to', 'x-original-to', 'envelope-to', 'to', 'cc']) {
      for (const line of head.split(/\r?\n/)) {
        if (!line.toLowerCase().startsWith(`${name}:`)) continue;
        for (const m of line.slice(name.length + 1).matchAll(/[^\s<>",;:()]+@[^\s<>",;:()]+/g)) recipients.push(m[0].toLowerCase());
      }
    }
    return { mailbox: ctx.mailboxes.pick(recipients), recipients };
  } finally {
    await fh.close();
  }
}

/**
 * The mailbox a stored message is run through again (`casegate quarantine retry`): the one it
 * arrived in; when the configuration no longer has that one (renamed, removed), the mailbox serving
 * its envelope recipients, else its recipient headers — not simply the first mailbox, whose queue
 * would get the case.
 */
export async function mailboxOfStored(ctx: AppContext, stored: { readonly mailbox: string; readonly envelopeTo: readonly string[] }, blob: StoredBlob): Promise<MailboxConfig> {
  const named = ctx.mailboxes.byName(stored.mailbox);
  if (named !== null) return named;
  for (const a of stored.envelopeTo) {
    const mb = ctx.mailboxes.byAddress(a);
    if (mb !== null) return mb;
  }
  return (await mailboxFromHeaders(ctx, blob)).mailbox;
}
