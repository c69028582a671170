import { revokeLinksInFiles, revokeShownLinks } from '../../cases/link-exposure.js';
import { attachedFiles } from '../../mail-in/attached-files.js';
import { need, type CommitStage } from '../types.js';

/**
 * Did this message show someone a signed link that does not name them? A requester who answers
 * with "reply all" sends the Cc'd colleagues her own copy quoted, her link in its footer; an agent
 * answering from their own client with the customers in Cc sends whatever they pasted. casegate
 * cannot cut mail it did not send, but it sees the message and its To and Cc: such a link (text or
 * HTML, or a file attached: a forwarded email, a saved text, a calendar invitation) is revoked
 * (cases/link-exposure.ts).
 */
export const linkExposureStage: CommitStage = {
  name: 'link-exposure',
  async run(msg, ctx, trx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const readers = [...parsed.to, ...parsed.cc].map((a) => a.address);
    const shown = `${parsed.text ?? ''}\n${parsed.html ?? ''}`;
    const where = `mail from ${parsed.from?.address ?? '(no sender)'} (${parsed.messageId ?? 'no Message-ID'})`;
    await revokeShownLinks(trx, ctx, shown, readers, where);
    await revokeLinksInFiles(trx, ctx, attachedFiles(parsed), readers, (f) => `the file "${f.filename}" in ${where}`);
  },
};
