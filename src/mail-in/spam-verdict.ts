/**
 * Did the spam filter in front of us (our MX) call this message spam? casegate does not filter
 * spam itself; it honours the verdict headers a filter writes:
 *
 *  - X-Spam-Flag: YES                          (SpamAssassin, amavis)
 *  - X-Spam-Status: Yes, score=… required=…    (SpamAssassin; "No, …" is a verdict too)
 *  - X-Spam: Yes                               (rspamd's milter headers)
 *  - X-MS-Exchange-Organization-SCL: 5–9       (Exchange / Exchange Online Protection)
 *  - security.spam.scoreHeader ≥ threshold     (any filter writing a numeric score)
 *
 * Only the topmost occurrence of each header counts: a filter adds its header at the top, above
 * whatever the sender wrote, and SpamAssassin removes X-Spam-* headers it did not write. A sender
 * can still forge these headers when no filter runs in front of us — that only marks their own
 * message as spam (no confirmation, hidden from the default list, one command to undo): harmless,
 * and never the other way round, since an absent or "No" verdict changes nothing.
 */
import type { SpamSettings } from '../config/spam-schema.js';
import { header, type ParsedMail } from './parsed-mail.js';

export interface SpamVerdict {
  /** Which header said so, e.g. "X-Spam-Status: Yes, score=12.3". */
  readonly reason: string;
  /** The score when one was given. */
  readonly score: number | null;
}

function score(text: string): number | null {
  const m = /\bscore=(-?\d+(?:\.\d+)?)/i.exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : null;
}

function short(value: string): string {
  return value.replace(/\s+/g, ' ').trim().slice(0, 80);
}

export function spamVerdict(mail: ParsedMail, settings: SpamSettings): SpamVerdict | null {
  if (!settings.enabled) return null;
  const flag = header(mail, 'x-spam-flag');
  if (flag !== null && /^\s*yes\b/i.test(flag)) return { reason: `X-Spam-Flag: ${short(flag)}`, score: score(header(mail, 'x-spam-status') ?? '') };
  const status = header(mail, 'x-spam-status');
  if (status !== null && /^\s*yes\b/i.test(status)) return { reason: `X-Spam-Status: ${short(status)}`, score: score(status) };
  const rspamd = header(mail, 'x-spam');
  if (rspamd !== null && /^\s*(?:yes|true)\b/i.test(rspamd)) return { reason: `X-Spam: ${short(rspamd)}`, score: null };
  const scl = header(mail, 'x-ms-exchange-organization-scl');
  if (scl !== null && /^\s*-?\d+\s*$/.test(scl) && Number(scl) >= settings.exchangeSclThreshold) {
    return { reason: `X-MS-Exchange-Organization-SCL: ${scl.trim()}`, score: Number(scl) };
  }
  if (settings.scoreHeader !== undefined) {
    const value = header(mail, settings.scoreHeader);
    const n = value !== null ? Number.parseFloat(value.trim()) : Number.NaN;
    if (Number.isFinite(n) && n >= settings.threshold) return { reason: `${settings.scoreHeader}: ${short(value ?? '')} (threshold ${settings.threshold})`, score: n };
  }
  return null;
}
