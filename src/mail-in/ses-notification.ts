/**
 * Amazon SES notifications delivered by SNS e-mail subscriptions: the body is a JSON document
 * (an SNS envelope around the SES notification). Used by bounce detection (is it a bounce, a
 * complaint or a delivery notice?) and bounce parsing (which recipients).
 */
import { header, type ParsedMail } from './parsed-mail.js';
import { cleanAddress, dedupeRecipients, enhancedStatus, isPermanent, type BounceRecipient } from './bounce-status.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: Json | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

export function sesNotification(mail: ParsedMail): { type: string; json: { [key: string]: Json } } | null {
  const fromSns = header(mail, 'x-amz-sns-message-id') !== null || /@sns\.amazonaws\.com$/.test(mail.from?.address ?? '');
  if (!fromSns) return null;
  const text = (mail.text ?? '').trim();
  if (!text.startsWith('{')) return null;
  let json = parseJsonObject(text.slice(0, text.lastIndexOf('}') + 1));
  // An SNS envelope ("Type": "Notification") carries the SES notification as a JSON string.
  const inner = json !== null ? str(json['Message']) : null;
  if (json !== null && inner !== null && str(json['Type']) === 'Notification') json = parseJsonObject(inner);
  if (json === null) return null;
  const type = str(json['notificationType']) ?? str(json['eventType']);
  return type === null ? null : { type: type.toLowerCase(), json };
}

function parseJsonObject(body: string): { [key: string]: Json } | null {
  // Long JSON lines may come back split by a relay as "!" + line break + space (RFC 5322's
  // 998-character line limit): undo that before giving up.
  for (const candidate of [body, body.replace(/!\r?\n /g, '')]) {
    try {
      const json = JSON.parse(candidate) as Json;
      return isObject(json) ? json : null;
    } catch {
      // try the next form
    }
  }
  return null;
}

export function recipientsFromSes(json: { [key: string]: Json }): BounceRecipient[] {
  const delivery = json['delivery'];
  if (isObject(delivery) && Array.isArray(delivery['recipients'])) {
    const reply = str(delivery['smtpResponse']) ?? '';
    return dedupeRecipients(
      delivery['recipients'].flatMap((r) => {
        const address = cleanAddress(str(r) ?? '');
        return address === null ? [] : [{ address, action: 'delivered', status: enhancedStatus(reply), diagnostic: reply || null, permanent: false }];
      }),
    );
  }
  const bounce = json['bounce'];
  if (!isObject(bounce)) return [];
  const list = bounce['bouncedRecipients'];
  if (!Array.isArray(list)) return [];
  const bounceType = (str(bounce['bounceType']) ?? '').toLowerCase();
  const out: BounceRecipient[] = [];
  for (const r of list) {
    if (!isObject(r)) continue;
    const address = cleanAddress(str(r['emailAddress']) ?? '');
    if (address === null) continue;
    const diagnostic = str(r['diagnosticCode'])?.replace(/^[a-z][a-z0-9-]*\s*;\s*/i, '').trim() || null;
    const status = enhancedStatus(str(r['status']) ?? '') ?? (diagnostic !== null ? enhancedStatus(diagnostic) : null);
    const action = str(r['action'])?.toLowerCase() ?? null;
    const permanent = status !== null || diagnostic !== null ? isPermanent(status, action, diagnostic) : bounceType === 'permanent';
    out.push({ address, action, status, diagnostic, permanent });
  }
  return dedupeRecipients(out);
}
