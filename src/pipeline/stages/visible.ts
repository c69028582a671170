import { extractVisibleText } from '../../mail-in/visible-text.js';
import { REPLY_MARKER } from '../../mail-out/compose.js';
import { need, NEXT, type DecideStage } from '../types.js';

/** What did the writer add? The new text without quoted history and signature. */
export const visibleTextStage: DecideStage = {
  name: 'visible-text',
  run(msg) {
    const parsed = need(msg.notes.parsed, 'parsed');
    // When the text was only converted from the HTML part, the HTML is read first: its quote
    // containers (blockquote, gmail_quote, divRplyFwdMsg …) mark the history exactly.
    msg.notes.visible = extractVisibleText(parsed.text, parsed.html, { replyMarker: REPLY_MARKER, preferHtml: parsed.textFromHtml });
    return NEXT;
  },
};
