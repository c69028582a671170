import { parseMailFile } from '../../mail-in/parse-mail.js';
import { NEXT, type DecideStage } from '../types.js';

/** What does the message say? Parse MIME (streaming attachments into the blob store). */
export const parseStage: DecideStage = {
  name: 'parse',
  async run(msg, ctx) {
    msg.notes.parsed = await parseMailFile(msg.arrival.raw, ctx.blobs);
    return NEXT;
  },
};
