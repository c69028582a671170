import { caseByNumber } from '../../db/repos/cases.js';
import { addEvent } from '../../db/repos/events.js';
import { isLinkRevoked, revokeLink } from '../../db/repos/links.js';
import { readerOf } from '../../web/link-access.js';
import { checkLinkToken, signedLinksIn } from '../../web/signed-link.js';
import { addressKey } from '../../address-form.js';
import { isStaff } from '../../cases/staff.js';
import { need, type CommitStage } from '../types.js';

/**
 * Did this message show someone a signed link that does not name them? A signed link is its
 * owner's credential (whoever holds it writes on the case page as the person it names), and mail
 * casegate does not send still reaches others: a requester who answers with "reply all" sends the
 * Cc'd colleagues her own copy quoted, her link in its footer; an agent answering from their own
 * client with the customers in Cc sends whatever they pasted. casegate cannot cut what it did not
 * send (its own mail carries each reader's links only: mail-out/compose.ts onlyOwnLinks), but it
 * sees the message and its To and Cc: a link of ours in it (text or HTML) that went to any address
 * besides the person it names, our own mailboxes and staff is revoked — that link alone (its signature),
 * so the owner's other links keep working and our next email brings them a fresh one.
 */
export const linkExposureStage: CommitStage = {
  name: 'link-exposure',
  async run(msg, ctx, trx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    // Our own mailboxes and staff addresses are no one to keep a link from: a customer who copies
    // in the agent she knows shows the link to someone who works the case anyway.
    const readers = [...parsed.to, ...parsed.cc].map((a) => a.address).filter((a) => a !== '' && !ctx.mailboxes.isOwnAddress(a) && !isStaff(ctx.config, a));
    if (readers.length === 0) return;
    const tokens = signedLinksIn(`${parsed.text ?? ''}\n${parsed.html ?? ''}`);
    if (tokens.length === 0) return;
    const now = ctx.clock.now();
    for (const token of tokens) {
      const check = checkLinkToken(ctx.secret, token, now);
      if (!check.ok) continue; // not ours, or expired: it opens nothing
      const { link } = check;
      const caseRow = await caseByNumber(trx, link.caseNumber);
      if (caseRow === undefined) continue;
      const owner = await readerOf(ctx, caseRow, link, trx);
      if (owner === null) continue; // a removed participant's: opens nothing already
      const others = [...new Set(readers.filter((a) => addressKey(a) !== addressKey(owner.address)))];
      if (others.length === 0) continue;
      if (await isLinkRevoked(trx, caseRow.id, link.sig, link.issuedAt.toISOString())) continue;
      const from = parsed.from?.address ?? '(no sender)';
      const reason = `a link naming ${owner.address} went to ${others.join(', ')} in mail from ${from} (${parsed.messageId ?? 'no Message-ID'})`.slice(0, 500);
      await revokeLink(trx, caseRow.id, link.sig, reason, 'system', now.toISOString());
      await addEvent(trx, { caseId: caseRow.id, type: 'link.revoked', actor: 'system', reason: `revoked: ${reason}; ${owner.address} gets a fresh link with our next email`.slice(0, 500), data: { sig: link.sig, purpose: link.purpose, participantId: link.participantId }, at: now.toISOString() });
      ctx.log.info({ messageId: parsed.messageId, caseId: caseRow.id, caseNumber: caseRow.number, owner: owner.address, shownTo: others }, 'signed link shown to others in a message: revoked');
    }
  },
};
