import { DEFAULT_PARSE_LIMITS } from '../../mail-in/parse-mail.js';
import { NEXT, RefusedError, type DecideStage } from '../types.js';

/**
 * What does the message say, and what did its writer add? Parse MIME (streaming attachments into
 * the blob store) and read the visible text (the new text without quoted history and signature:
 * src/mail-in/visible-text.ts), on the daemon's MIME thread or here (ctx.mime,
 * src/mime/mime-thread.ts). A message with more MIME parts than mime.maxParts is refused
 * (RefusedError): the parser would stop there, and such a message is a resource attack or a
 * broken generator, not a customer's mail.
 */
export const parseStage: DecideStage = {
  name: 'parse',
  async run(msg, ctx) {
    const maxParts = ctx.config.mime.maxParts;
    try {
      const { mail, visible, facts } = await ctx.mime.parse(msg.arrival.raw, { ...DEFAULT_PARSE_LIMITS, maxMimeParts: maxParts }, ctx.config.pipeline.stageTimeoutSeconds * 1000);
      msg.notes.parsed = mail;
      msg.notes.visible = visible;
      msg.notes.textFacts = facts;
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown } | null;
      if (e?.code === 'EMAXLEN' && typeof e.message === 'string' && /child nodes/i.test(e.message)) {
        throw new RefusedError(`message has more than ${maxParts} MIME parts (mime.maxParts)`);
      }
      throw err;
    }
    return NEXT;
  },
};
