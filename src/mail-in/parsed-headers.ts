import addressparser, { type Address as RawAddress } from 'nodemailer/lib/addressparser';
import type { AddressObject, EmailAddress, HeaderLines } from 'mailparser';
import { decodeHeaderWords } from './header-words.js';
import { controlsToSpace, oneLine, plainAddress } from './header-values.js';
import type { HeaderMap, MailAddress } from './parsed-mail.js';

/** The parsed message's addresses and header map, from mailparser's values and the raw header lines (parse-mail.ts). */

/** Address → display name, decoded from the raw header bytes (see rawDisplayNames). */
export type RawNames = ReadonlyMap<string, string>;

function toAddress(a: EmailAddress | undefined, rawNames?: RawNames): MailAddress | null {
  if (a === undefined) return null;
  const address = plainAddress(a.address ?? '');
  if (address === null) return null;
  return { address, name: oneLine(rawNames?.get(address) ?? a.name ?? '').slice(0, 200) };
}

/**
 * The display names of an address header, decoded by header-words.ts from the raw header bytes.
 * mailparser reads raw 8-bit bytes as UTF-8 before it decodes names: a Latin-1 "Jürgen" (written
 * unencoded by old mailers and scripts, or as raw bytes inside an encoded-word) became "J\uFFFDrgen"
 * or "Jï¿½rgen" — in the case, the agents' mail and the customer's greeting — while the subject
 * was read right. The addresses stay mailparser's; only their names are taken from here.
 */
export function rawDisplayNames(lines: HeaderLines, key: string, rawCharset: string | null): RawNames {
  const names = new Map<string, string>();
  for (const { key: k, line } of lines) {
    if (k !== key) continue;
    const value = line.slice(line.indexOf(':') + 1).replace(/\r?\n[ \t]+/g, ' ');
    if (!/[\u0080-\u00ff\u001b]/.test(value)) continue; // plain ASCII: mailparser decodes it the same way (ESC: raw ISO-2022-JP)
    const visit = (list: readonly RawAddress[]): void => {
      for (const a of list) {
        if (a.group !== undefined) visit(a.group);
        else {
          const address = plainAddress(decodeHeaderWords(a.address));
          if (address !== null && !names.has(address)) names.set(address, decodeHeaderWords(a.name, rawCharset));
        }
      }
    };
    visit(addressparser(value));
  }
  return names;
}

export function flattenAddresses(value: AddressObject | AddressObject[] | undefined, rawNames?: RawNames): MailAddress[] {
  if (value === undefined) return [];
  const out: MailAddress[] = [];
  const visit = (list: readonly EmailAddress[]): void => {
    for (const a of list) {
      if (a.group !== undefined) visit(a.group);
      else {
        const addr = toAddress(a, rawNames);
        if (addr !== null && !out.some((o) => o.address === addr.address)) out.push(addr);
      }
    }
  };
  for (const obj of Array.isArray(value) ? value : [value]) visit(obj.value);
  return out.slice(0, 500);
}

function decodeHeaderValue(raw: string, rawCharset: string | null): string {
  // Raw 8-bit header bytes arrive as binary ("latin1") characters; see header-words.ts.
  return controlsToSpace(decodeHeaderWords(raw.replace(/\r?\n[ \t]+/g, ' '), rawCharset)).trim();
}

/** `rawCharset`: the charset the message declares for its text (raw 8-bit header text is often in it). */
export function headerMapFrom(lines: HeaderLines, rawCharset: string | null): HeaderMap {
  const map = new Map<string, string[]>();
  for (const { key, line } of lines) {
    const idx = line.indexOf(':');
    const value = decodeHeaderValue(idx >= 0 ? line.slice(idx + 1) : '', rawCharset);
    const name = key.toLowerCase();
    const list = map.get(name);
    if (list === undefined) map.set(name, [value]);
    else if (list.length < 200) list.push(value);
  }
  return map;
}

/**
 * The addresses of a Bcc header the message still carries. Mail clients and servers normally take
 * it out before the mail goes (RFC 5322 §3.6.3), so a Bcc'd reader is normally invisible; some
 * setups leave it in (a client that writes it, a server that does not strip it). Where it is
 * there it names readers the sender addressed, as To and Cc do.
 */
export function bccAddresses(headers: HeaderMap): MailAddress[] {
  const out: MailAddress[] = [];
  const visit = (list: readonly RawAddress[]): void => {
    for (const a of list) {
      if (a.group !== undefined) visit(a.group);
      else {
        const address = plainAddress(a.address);
        if (address !== null && !out.some((o) => o.address === address)) out.push({ address, name: oneLine(a.name).slice(0, 200) });
      }
    }
  };
  for (const value of headers.get('bcc') ?? []) visit(addressparser(value));
  return out.slice(0, 500);
}
