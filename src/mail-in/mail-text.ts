/**
 * Small text helpers shared by the automated-mail detectors and the bounce parser: header
 * sections of returned messages, "Name: value" fields, the body as plain text. Pure, never throw.
 */
import type { ParsedMail } from './parsed-mail.js';

/** Only the head of a long body is scanned by the heuristics. */
export const SCAN_LIMIT = 64 * 1024;

export function isDsnType(type: string): boolean {
  const t = type.toLowerCase();
  return t === 'message/delivery-status' || t === 'message/global-delivery-status';
}

export function isReturnedMessageType(type: string): boolean {
  const t = type.toLowerCase();
  return t === 'message/rfc822' || t === 'message/global' || t === 'text/rfc822-headers' || t === 'text/rfc822-header' || t === 'message/global-headers';
}

export function normalizeNewlines(s: string): string {
  return s.replace(/\r\n?/g, '\n');
}

/** The header section of a returned message: everything up to the first blank line. */
export function headerSection(content: string): string {
  const text = normalizeNewlines(content.slice(0, SCAN_LIMIT)).replace(/^\n+/, '');
  const end = text.search(/\n[ \t]*\n/);
  return end < 0 ? text : text.slice(0, end);
}

export function bodyText(mail: ParsedMail): string {
  if (mail.text !== null && mail.text.trim() !== '') return normalizeNewlines(mail.text);
  if (mail.html !== null) return htmlToText(mail.html.slice(0, SCAN_LIMIT * 4));
  return '';
}

export function htmlToText(html: string): string {
  return normalizeNewlines(html)
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<br\s*\/?>|<\/(?:p|div|tr|li|h\d)\s*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/&#39;|&apos;/gi, "'")
    .replace(/&nbsp;/gi, ' ')
    .replace(/&amp;/gi, '&')
    .replace(/[ \t]+/g, ' ');
}

export interface Field {
  name: string;
  value: string;
}

/** "Name: value" lines with folding undone; a blank line yields a {name: ''} separator. */
export function parseFields(text: string): Field[] {
  const fields: Field[] = [];
  let current: Field | null = null;
  for (const line of normalizeNewlines(text).split('\n')) {
    if (line.trim() === '') {
      if (current !== null) fields.push(current);
      current = null;
      fields.push({ name: '', value: '' });
      continue;
    }
    if (/^[ \t]/.test(line) && current !== null) {
      current.value += ` ${line.trim()}`;
      continue;
    }
    const m = /^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$/.exec(line);
    if (current !== null) fields.push(current);
    current = m !== null ? { name: (m[1] ?? '').toLowerCase(), value: (m[2] ?? '').trim() } : null;
  }
  if (current !== null) fields.push(current);
  return fields;
}

/** The local part of an address ("jane" of "jane@example.com"), without quotes or brackets. */
export function localPart(address: string): string {
  const at = address.lastIndexOf('@');
  return (at < 0 ? address : address.slice(0, at)).replace(/^["<\s]+|[">\s]+$/g, '');
}
