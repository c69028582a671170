import { domainToASCII, domainToUnicode } from 'node:url';

/**
 * The spellings of one email address. An internationalised domain reaches us in two forms: as
 * the customer wrote it (`müller@bücher.example`, Unicode, with SMTPUTF8) and as mail systems
 * report it (`müller@xn--bcher-kva.example`, its ASCII/punycode form, IDNA 2008/UTS #46). They are
 * one address. Compare addresses by `addressKey`: the local part NFC-normalised and lower-cased
 * (casegate treats local parts case-insensitively throughout), the domain in its ASCII form,
 * lower-cased, without a trailing dot. An address whose domain is not a valid IDN (a literal
 * `[192.0.2.1]`, garbage) keeps its domain lower-cased as written.
 */
export function addressKey(address: string): string {
  const { local, domain } = split(address);
  return domain === null ? local : `${local}@${asciiDomain(domain)}`;
}

/**
 * Every spelling under which an address may have been stored: as given (lower-cased), with its
 * domain in ASCII form, with its domain in Unicode form. For look-ups of rows keyed by an address
 * written before addresses were compared by key.
 */
export function addressSpellings(address: string): string[] {
  const { local, domain } = split(address);
  if (domain === null) return [local];
  const ascii = asciiDomain(domain);
  const unicode = ascii.includes('xn--') ? domainToUnicode(ascii).toLowerCase() : ascii;
  return [...new Set([`${local}@${domain.toLowerCase()}`, `${local}@${ascii}`, `${local}@${unicode || ascii}`])];
}

/** A domain in its ASCII (punycode) form, lower-case; as written (lower-case) when it is no valid IDN. */
export function asciiDomain(domain: string): string {
  const d = domain.trim().replace(/\.$/, '').normalize('NFC');
  // Plain ASCII without an A-label needs no IDNA processing (the common case: no allocation).
  if (/^[\x21-\x7e]*$/.test(d) && !/(?:^|\.)xn--/i.test(d)) return d.toLowerCase();
  const ascii = domainToASCII(d);
  return ascii !== '' ? ascii.toLowerCase() : d.toLowerCase();
}

function split(address: string): { local: string; domain: string | null } {
  const a = address.trim();
  const at = a.lastIndexOf('@');
  if (at <= 0 || at === a.length - 1) return { local: a.normalize('NFC').toLowerCase(), domain: null };
  return { local: a.slice(0, at).normalize('NFC').toLowerCase(), domain: a.slice(at + 1) };
}
