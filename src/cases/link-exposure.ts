import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { addressKey } from '../address-form.js';
import { caseByNumber } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { isLinkRevoked, revokeLink } from '../db/repos/links.js';
import type { Database } from '../db/schema.js';
import { DISCARDING_BLOBS } from '../mail-in/attached-messages.js';
import { parseMailFile } from '../mail-in/parse-mail.js';
import type { StoredAttachment } from '../mail-in/parsed-mail.js';
import { readerOf } from '../web/link-access.js';
import { checkLinkToken, signedLinksIn } from '../web/signed-link.js';
import { isStaff } from './staff.js';

/**
 * A signed link is its owner's credential (whoever holds it writes on the case page as the person
 * it names). casegate cuts every other reader's link from what it writes (mail-out/compose.ts
 * onlyOwnLinks), but some text reaches others whole: mail it does not send (a requester's "reply
 * all" quoting her copy, footer and all, to the Cc'd colleagues; an agent writing from their own
 * client), and files it relays as they are (an email an agent attaches). What it can do there is
 * end the link: every valid signed link of ours in `shown` that went to anyone besides the person
 * it names — our own mailboxes and staff do not count: they work the case anyway — is revoked,
 * that link alone (its signature): the owner's other links keep working and our next email brings
 * them a fresh one. Returns how many were revoked.
 */
export async function revokeShownLinks(trx: Transaction<Database>, ctx: AppContext, shown: string, readers: readonly string[], where: string): Promise<number> {
  const others = othersAmong(ctx, readers);
  if (others.length === 0) return 0;
  const tokens = signedLinksIn(shown);
  const now = ctx.clock.now();
  let revoked = 0;
  for (const token of tokens) {
    const check = checkLinkToken(ctx.secret, token, now);
    if (!check.ok) continue; // not ours, or expired: it opens nothing
    const { link } = check;
    const caseRow = await caseByNumber(trx, link.caseNumber);
    if (caseRow === undefined) continue;
    const owner = await readerOf(ctx, caseRow, link, trx);
    if (owner === null) continue; // a removed participant's: opens nothing already
    const saw = [...new Set(others.filter((a) => addressKey(a) !== addressKey(owner.address)))];
    if (saw.length === 0) continue;
    if (await isLinkRevoked(trx, caseRow.id, link.sig, link.issuedAt.toISOString())) continue;
    const reason = `a link naming ${owner.address} went to ${saw.join(', ')} in ${where}`.slice(0, 400);
    await revokeLink(trx, caseRow.id, link.sig, reason, 'system', now.toISOString());
    await addEvent(trx, { caseId: caseRow.id, type: 'link.revoked', actor: 'system', reason: `revoked: ${reason}; ${owner.address} gets a fresh link with our next email`.slice(0, 500), data: { sig: link.sig, purpose: link.purpose, participantId: link.participantId }, at: now.toISOString() });
    ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, owner: owner.address, shownTo: saw, where }, 'signed link shown to others: revoked');
    revoked++;
  }
  return revoked;
}

/** The readers a link can be shown to by mistake: not our own mailboxes, not staff. */
function othersAmong(ctx: AppContext, readers: readonly string[]): string[] {
  return readers.filter((a) => a !== '' && !ctx.mailboxes.isOwnAddress(a) && !isStaff(ctx.config, a));
}

/** A file as a message names it (StoredAttachment; an agent's reply relays the same). */
export type ShownFile = Pick<StoredAttachment, 'filename' | 'contentType' | 'sha256'>;

/** Read at most this much of a file for links (a 50 MB log is not read to its end). */
const FILE_READ_MAX = 4 * 1024 * 1024;
/** Files sent as application/octet-stream whose name says what they are. */
const EMAIL_NAME = /\.eml$/i;
const TEXT_NAME = /\.(?:txt|text|log|csv|tsv|md|html?|xhtml|xml|json|ics|ifb|vcs|vcf)$/i;

/**
 * Files go to every reader as they are — never rewritten (the agent chose the file; a cut one
 * would not be what they sent, nor match what we stored) — so a link of ours in a file a reader
 * sees is ended as in the text (revokeShownLinks): an attached email (message/rfc822, "forward as
 * attachment"), and text of any kind — a saved email body (.txt, .htm), an exported conversation,
 * a calendar invitation (.ics, whose lines are folded at 75 octets: a token broken over lines is
 * read whole, web/signed-link.ts). By content type, or by name for application/octet-stream.
 * Other files (PDF, images, archives) are not read. Files are read only when someone besides the
 * link's possible owners, our mailboxes and staff sees them.
 */
export async function revokeLinksInFiles(trx: Transaction<Database>, ctx: AppContext, files: readonly ShownFile[], readers: readonly string[], where: (f: ShownFile) => string): Promise<number> {
  if (othersAmong(ctx, readers).length === 0) return 0;
  let revoked = 0;
  for (const f of files) {
    const shown = await textOfFile(ctx, f);
    if (shown !== null) revoked += await revokeShownLinks(trx, ctx, shown, readers, where(f));
  }
  return revoked;
}

/** What a reader of the file sees as text ("" for a file that cannot be read now: its send fails with its name), or null for a file of another kind. */
async function textOfFile(ctx: AppContext, f: ShownFile): Promise<string | null> {
  const type = f.contentType.toLowerCase();
  const kind = type.startsWith('message/') || (!type.startsWith('text/') && EMAIL_NAME.test(f.filename)) ? 'email' : type.startsWith('text/') || TEXT_NAME.test(f.filename) ? 'text' : null;
  if (kind === null) return null;
  const data = await headOf(ctx, f.sha256);
  if (data === null) return '';
  // Quoted-printable inside (an email's raw parts, a vCalendar 1.0 file): its soft breaks joined, and the bytes as they are.
  const bytes = data.toString('latin1');
  const raw = bytes.includes('=\n') || bytes.includes('=\r\n') ? `${bytes}\n${bytes.replace(/=\r?\n/g, '')}` : bytes;
  if (kind === 'text') return textOf(data) ?? raw;
  const mail = await parseMailFile({ sha256: f.sha256, size: data.length, path: '', data }, DISCARDING_BLOBS);
  return [mail.text ?? '', mail.html ?? '', ...(mail.forwarded ?? []).map((m) => m.text), raw].join('\n');
}

/** A UTF-16 text (a byte-order mark: Windows Notepad's "Unicode"); null for any ASCII-compatible charset, where a token's bytes are its characters. */
function textOf(data: Buffer): string | null {
  if (data[0] === 0xff && data[1] === 0xfe) return data.subarray(2).toString('utf16le');
  if (data[0] === 0xfe && data[1] === 0xff) return Buffer.from(data.subarray(2, data.length - (data.length % 2))).swap16().toString('utf16le');
  return null;
}

/** The first FILE_READ_MAX bytes of a stored file; null when it cannot be read. */
async function headOf(ctx: AppContext, sha256: string): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.blobs.open(sha256) as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= FILE_READ_MAX) break;
    }
  } catch {
    return null;
  }
  return Buffer.concat(chunks).subarray(0, FILE_READ_MAX);
}
