import { wordCounts } from '../../cases/language.js';
import { DEFAULT_PARSE_LIMITS } from '../../mail-in/parse-mail.js';
import type { ParsedMail } from '../../mail-in/parsed-mail.js';
import type { VisibleText } from '../../mail-in/visible-text.js';
import { NEXT, RefusedError, type DecideStage } from '../types.js';

/**
 * What does the message say, and what did its writer add? Parse MIME (streaming attachments into
 * the blob store) and read the visible text (the new text without quoted history and signature:
 * src/mail-in/visible-text.ts), on the daemon's MIME thread or here (ctx.mime,
 * src/mime/mime-thread.ts). A message with more MIME parts than mime.maxParts is refused
 * (RefusedError): the parser would stop there, and such a message is a resource attack or a
 * broken generator, not a customer's mail.
 *
 * A reply typed on the case page (channel web, src/web/web-reply.ts) is no email: it quotes no
 * history and has no signature block, so all of it is what the customer wrote — `> ` lines of a
 * console log, a pasted "-----Original Message-----", a "-- " line included.
 */
export const parseStage: DecideStage = {
  name: 'parse',
  async run(msg, ctx) {
    const maxParts = ctx.config.mime.maxParts;
    try {
      const { mail, visible, facts } = await ctx.mime.parse(msg.arrival.raw, { ...DEFAULT_PARSE_LIMITS, maxMimeParts: maxParts }, ctx.config.pipeline.stageTimeoutSeconds * 1000);
      msg.notes.parsed = mail;
      if (msg.arrival.channel === 'web') {
        const typed = typedText(mail);
        msg.notes.visible = typed;
        msg.notes.textFacts = { ...facts, words: wordCounts(`${mail.subject}\n${typed.text}`) };
      } else {
        msg.notes.visible = visible;
        msg.notes.textFacts = facts;
      }
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

/** The whole text part of a reply typed on the case page. */
function typedText(mail: Pick<ParsedMail, 'text'>): VisibleText {
  return { text: (mail.text ?? '').replace(/\r\n?/g, '\n').trim(), hadQuote: false, hadSignature: false };
}
