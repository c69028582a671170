import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { addressKey } from '../address-form.js';
import { caseByNumber } from '../db/repos/cases.js';
import { addEvent } from '../db/repos/events.js';
import { isLinkRevoked, revokeLink } from '../db/repos/links.js';
import type { Database } from '../db/schema.js';
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
  const others = readers.filter((a) => a !== '' && !ctx.mailboxes.isOwnAddress(a) && !isStaff(ctx.config, a));
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
