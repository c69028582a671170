import type { ReportPart } from './parsed-mail.js';

/**
 * mailparser descends into message/rfc822 parts and renders them into the text instead of
 * handing them out, and bounces need exactly those parts (the returned message's headers carry
 * the Message-ID we sent). This small walker finds report parts in a raw message; it is used only
 * on messages small enough (≤ 1 MiB) and mentioning a report content type.
 */
export const REPORT_CONTENT_TYPES = new Set([
  'message/delivery-status',
  'message/global-delivery-status',
  'text/rfc822-headers',
  'text/rfc822-header',
  'message/rfc822',
  'message/rfc822-headers',
  'message/global',
  'message/global-headers',
  'message/feedback-report',
  'message/disposition-notification',
  // Outlook's winmail.dat: its MAPI message class tells a read receipt (auto-reply.ts).
  'application/ms-tnef',
  'application/vnd.ms-tnef',
]);
export const REPORT_PART_LIMIT = 256 * 1024;

export function mayHaveReportParts(rawLatin1: string): boolean {
  return /message\/(rfc822|global|delivery-status|global-delivery-status|feedback-report|disposition-notification)|text\/rfc822-header|ms-tnef/i.test(rawLatin1);
}

export function walkReportParts(raw: Buffer | string): ReportPart[] {
  return walk(typeof raw === 'string' ? raw : raw.toString('latin1'), 0);
}

interface RawNode {
  readonly headers: string;
  readonly body: string;
}

function splitNode(raw: string): RawNode {
  const m = /\r?\n\r?\n/.exec(raw);
  if (m === null) return { headers: raw, body: '' };
  return { headers: raw.slice(0, m.index), body: raw.slice(m.index + m[0].length) };
}

function headerValue(headers: string, name: string): string | null {
  const unfolded = headers.replace(/\r?\n[ \t]+/g, ' ');
  const line = new RegExp(`^${name}[ \\t]*:(.*)$`, 'im').exec(unfolded);
  return line === null ? null : (line[1] ?? '').trim();
}

function walk(raw: string, depth: number): ReportPart[] {
  if (depth > 8 || raw.length === 0) return [];
  const node = splitNode(raw);
  const ct = headerValue(node.headers, 'content-type') ?? 'text/plain';
  const type = (ct.split(';')[0] ?? '').trim().toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(ct);
    const b = boundary?.[1] ?? boundary?.[2];
    if (b === undefined) return [];
    const escaped = b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const pieces = node.body.split(new RegExp(`^--${escaped}(?:--)?[ \\t]*\\r?$`, 'm')).slice(1, -1);
    return pieces.flatMap((p) => walk(p.replace(/^\r?\n/, ''), depth + 1));
  }
  if (!REPORT_CONTENT_TYPES.has(type)) return [];
  const cte = (headerValue(node.headers, 'content-transfer-encoding') ?? '').toLowerCase();
  const bytes =
    cte === 'base64'
      ? Buffer.from(node.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64')
      : cte === 'quoted-printable'
        ? Buffer.from(
            node.body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          )
        : Buffer.from(node.body, 'latin1');
  return [{ contentType: type, content: bytes.toString('utf8').slice(0, REPORT_PART_LIMIT) }];
}
