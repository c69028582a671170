import { extractVisibleText } from '../../mail-in/visible-text.js';
import { REPLY_MARKER } from '../../mail-out/compose.js';
import { need, NEXT, type DecideStage } from '../types.js';

/** What did the writer add? The new text without quoted history and signature. */
export const visibleTextStage: DecideStage = {
  name: 'visible-text',
  run(msg) {
    const parsed = need(msg.notes.parsed, 'parsed');
    msg.notes.visible = extractVisibleText(parsed.text, parsed.html, { replyMarker: REPLY_MARKER });
    return NEXT;
  },
};
