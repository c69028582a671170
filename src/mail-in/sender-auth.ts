import { resolve as dnsResolve } from 'node:dns/promises';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { AuthenticateResult } from 'mailauth';
import type { StoredBlob } from '../storage/blob-store.js';

/**
 * Sender authentication: is the From address really the sender's? Three verdicts:
 *   pass  the From domain is authenticated (DMARC pass, or an aligned DKIM/SPF pass where the
 *         domain publishes no DMARC policy)
 *   fail  DMARC says the From is forged
 *   none  nothing proves it either way (no result, no policy, temporary errors, not checked)
 * Two sources: the Authentication-Results our own MX wrote (`trusted-header`), or our own check
 * with mailauth when casegate's SMTP listener is the MX (`verify`). The only importer of mailauth.
 */

export type AuthVerdict = 'pass' | 'fail' | 'none';

export interface AuthJudgement {
  readonly verdict: AuthVerdict;
  /** One line for logs and the sender note: what decided it. */
  readonly why: string;
}

/** A DNS look-up as mailauth calls it (node's dns.promises.resolve by default). */
export type DnsResolver = (name: string, rrtype: string) => Promise<string[][] | string[]>;

export const systemDnsResolver: DnsResolver = (name, rrtype) => dnsResolve(name, rrtype) as Promise<string[][] | string[]>;

// ---------------------------------------------------------------------------------------------
// the raw header block, in order

/** Headers past this many bytes are not looked at for trace information. */
const HEADER_BLOCK_MAX = 256 * 1024;

/** The raw header section (up to the first empty line), at most HEADER_BLOCK_MAX bytes. */
export async function readHeaderBlock(blob: StoredBlob): Promise<string> {
  let head: Buffer;
  if (blob.data !== undefined) head = blob.data.subarray(0, HEADER_BLOCK_MAX);
  else {
    const fh = await open(blob.path, 'r');
    try {
      const buf = Buffer.alloc(Math.min(HEADER_BLOCK_MAX, blob.size));
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }
  const text = head.toString('latin1');
  const end = /\r?\n\r?\n|\r\r/.exec(text);
  return end === null ? text : text.slice(0, end.index);
}

export interface TraceHeader {
  /** Lower-case field name. */
  readonly name: string;
  /** Unfolded value. */
  readonly value: string;
}

/** Every header field in message order (top first), unfolded. */
export function headerFields(block: string): TraceHeader[] {
  const out: TraceHeader[] = [];
  for (const line of block.split(/\r?\n|\r/)) {
    if (/^[ \t]/.test(line) && out.length > 0) {
      const last = out[out.length - 1]!;
      out[out.length - 1] = { name: last.name, value: `${last.value} ${line.trim()}` };
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Authentication-Results (RFC 8601)

export interface AuthResults {
  /** authserv-id, lower-case, without the optional version ("mx.example.com 1" → "mx.example.com"). */
  readonly authservId: string;
  /** method (dmarc, dkim, spf …) → results in header order. */
  readonly results: readonly MethodResult[];
}

export interface MethodResult {
  readonly method: string;
  readonly result: string;
  /** Properties such as header.from, header.d, smtp.mailfrom (lower-case keys and values). */
  readonly props: Readonly<Record<string, string>>;
}

/**
 * Remove (possibly nested) comments, outside quoted strings. The one thing kept from a comment is
 * the DMARC policy the domain publishes, which MXs write there ("dmarc=fail (p=NONE sp=NONE
 * dis=NONE)", Gmail; "(p=reject dis=none)"): it becomes the property polrec.p.
 */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  let comment = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) {
      if (depth === 0) out += c + value[i + 1];
      i++;
      continue;
    }
    if (depth === 0 && c === '"') quoted = !quoted;
    if (!quoted && c === '(') {
      if (depth === 0) comment = '';
      depth++;
      continue;
    }
    if (!quoted && c === ')' && depth > 0) {
      depth--;
      const policy = depth === 0 ? /(?:^|[\s;])p=([a-z]+)/i.exec(comment)?.[1] : undefined;
      out += policy !== undefined ? ` polrec.p=${policy} ` : ' ';
      continue;
    }
    if (depth === 0) out += c;
    else comment += c;
  }
  return out;
}

export function parseAuthResults(value: string): AuthResults | null {
  const parts = stripComments(value).split(';');
  const head = parts[0]!.trim().split(/\s+/);
  const authservId = (head[0] ?? '').toLowerCase();
  // "authserv-id [version]": a version is digits only.
  if (authservId === '' || authservId.includes('=') || (head.length > 1 && !/^\d+$/.test(head[1]!)) || head.length > 2) return null;
  const results: MethodResult[] = [];
  for (const part of parts.slice(1)) {
    const tokens = part.trim().split(/\s+/).filter((t) => t !== '');
    const first = /^([a-z0-9_-]+)(?:\/\d+)?=([a-z0-9_-]+)$/i.exec(tokens[0] ?? '');
    if (first === null) continue;
    const props: Record<string, string> = {};
    for (const t of tokens.slice(1)) {
      const p = /^([a-z0-9_-]+\.[a-z0-9_-]+)=(.+)$/i.exec(t);
      if (p !== null) props[p[1]!.toLowerCase()] = p[2]!.replace(/^"|"$/g, '').toLowerCase();
    }
    results.push({ method: first[1]!.toLowerCase(), result: first[2]!.toLowerCase(), props });
  }
  return { authservId, results };
}

/**
 * The results our trusted hop wrote (Haraka strips look-alikes at the MX; we can only ignore them).
 * Every hop adds its headers above what it received, so whatever the sender wrote — including an
 * Authentication-Results claiming our authserv-id — stands below everything our own servers added.
 * With N = trustedHops, the N-th Received from the top is the one our MX wrote when it took the
 * mail from outside. Counted are the headers with our authserv-id:
 *   - above that Received (an MX that writes its results above its Received, relays after it);
 *   - else only the first one between it and the next Received (an MX that writes them below its
 *     Received, like Gmail): a second one there may be the sender's; anything further down is.
 * Per method the topmost counted result wins. A message with fewer than N Received headers never
 * passed our MX: nothing counts. (Your MX must write results for every message it accepts.)
 */
export function trustedResults(fields: readonly TraceHeader[], authservId: string, trustedHops: number): { results: Map<string, MethodResult>; ignored: number } {
  const id = authservId.toLowerCase();
  const above: AuthResults[] = [];
  const below: AuthResults[] = [];
  let further = 0;
  let received = 0;
  for (const f of fields) {
    if (f.name === 'received') {
      received++;
      continue;
    }
    if (f.name !== 'authentication-results') continue;
    const ar = parseAuthResults(f.value);
    if (ar === null || ar.authservId !== id) continue;
    if (received < trustedHops) above.push(ar);
    else if (received === trustedHops) below.push(ar);
    else further++;
  }
  const results = new Map<string, MethodResult>();
  if (received < trustedHops) return { results, ignored: above.length + below.length + further };
  const counted = above.length > 0 ? above : below.slice(0, 1);
  for (const ar of counted) for (const r of ar.results) if (!results.has(r.method)) results.set(r.method, r);
  return { results, ignored: above.length + below.length + further - counted.length };
}

// ---------------------------------------------------------------------------------------------
// the verdict

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Relaxed alignment without a public-suffix list: the same domain, or one a subdomain of the other. */
export function aligned(a: string, b: string): boolean {
  const x = a.replace(/^@/, '').toLowerCase();
  const y = b.replace(/^@/, '').toLowerCase();
  return x !== '' && y !== '' && (x === y || x.endsWith(`.${y}`) || y.endsWith(`.${x}`)) && x.includes('.') && y.includes('.');
}

/**
 * The verdict from method results (DMARC first; without a DMARC verdict an aligned DKIM or SPF
 * pass). A DMARC result speaks for the From domain it names (header.from): one for another domain
 * — the MX read another From than ours, e.g. of a message with two — is not about this sender.
 * `nullSender`: the message came from MAIL FROM:<> (a delivery report). SPF then checks the HELO
 * name (RFC 7208 §2.3), and MXs record it as `smtp.helo=` with no `smtp.mailfrom`: that name is the
 * SPF identity then, and only then (an MX may also write a HELO check for mail with a real sender,
 * which says nothing of its From).
 */
export function judge(results: ReadonlyMap<string, MethodResult>, fromAddress: string, source: string, nullSender = false): AuthJudgement {
  const from = domainOf(fromAddress);
  const dmarcAny = results.get('dmarc');
  const dmarcFor = dmarcAny?.props['header.from'] ?? '';
  const dmarc = dmarcFor === '' || dmarcFor === from ? dmarcAny : undefined;
  if (dmarc?.result === 'pass') return { verdict: 'pass', why: `${source}: dmarc=pass` };
  if (dmarc?.result === 'fail') {
    // A domain publishing p=none asks receivers not to act on failures (it is still collecting
    // reports, often before its own senders are all aligned): unproven, not forged.
    const policy = dmarc.props['polrec.p'] ?? dmarc.props['policy.dmarc'];
    if (policy === 'none') return { verdict: 'none', why: `${source}: dmarc=fail, but the domain publishes p=none (monitoring only): not treated as forged` };
    return { verdict: 'fail', why: `${source}: dmarc=fail` };
  }
  if (dmarcAny !== undefined && dmarc === undefined) {
    const other = `${source}: dmarc=${dmarcAny.result} is for ${dmarcFor}, not for the From domain ${from}`;
    const rest = judge(new Map([...results].filter(([m]) => m !== 'dmarc')), fromAddress, source, nullSender);
    return { verdict: rest.verdict, why: rest.verdict === 'pass' ? `${rest.why}; ${other}` : other };
  }
  const dkim = results.get('dkim');
  const dkimDomain = dkim?.props['header.d'] ?? domainOf(dkim?.props['header.i'] ?? '');
  if (dkim?.result === 'pass' && aligned(dkimDomain, from)) return { verdict: 'pass', why: `${source}: dkim=pass for ${dkimDomain}${dmarc !== undefined ? ` (dmarc=${dmarc.result})` : ''}` };
  const spf = results.get('spf');
  const mailFrom = spf?.props['smtp.mailfrom'] ?? '';
  const helo = nullSender && (mailFrom === '' || mailFrom === '<>') ? (spf?.props['smtp.helo'] ?? '') : '';
  const spfDomain = helo !== '' ? helo : domainOf(mailFrom);
  if (spf?.result === 'pass' && aligned(spfDomain, from)) return { verdict: 'pass', why: `${source}: spf=pass for ${spfDomain}${dmarc !== undefined ? ` (dmarc=${dmarc.result})` : ''}` };
  if (results.size === 0) return { verdict: 'none', why: `${source}: no result` };
  return { verdict: 'none', why: `${source}: ${[...results.values()].map((r) => `${r.method}=${r.result}`).join(' ')}` };
}

// ---------------------------------------------------------------------------------------------
// our own check (mode verify)

export interface VerifyInput {
  readonly blob: StoredBlob;
  /** SMTP client address; null when the message did not come from an SMTP client (SPF is skipped). */
  readonly ip: string | null;
  readonly helo: string | null;
  /** MAIL FROM ("" for <>), null when unknown. */
  readonly mailFrom: string | null;
  /** Our authserv-id (written nowhere; used in mailauth's texts). */
  readonly mta: string;
  readonly resolver: DnsResolver;
}

/** SPF, DKIM and DMARC with mailauth; the DNS look-ups go through the injected resolver. */
export async function verifySender(input: VerifyInput, fromAddress: string): Promise<AuthJudgement> {
  const message = input.blob.data ?? createReadStream(input.blob.path);
  // Loaded here, not at the top: mailauth (undici, joi, BIMI) is a large module graph that only
  // `senderAuth: verify` uses; `casegate ingest` (one process per message) must not pay for it.
  const { authenticate } = await import('mailauth');
  const res: AuthenticateResult = await authenticate(message, {
    ...(input.ip !== null ? { ip: input.ip } : {}),
    ...(input.helo !== null ? { helo: input.helo } : {}),
    ...(input.mailFrom !== null && input.mailFrom !== '' ? { sender: input.mailFrom } : {}),
    mta: input.mta,
    resolver: input.resolver,
    disableArc: true,
    disableBimi: true,
  });
  const results = new Map<string, MethodResult>();
  if (res.dmarc !== false) {
    const props: Record<string, string> = { 'header.from': res.dmarc.domain ?? '' };
    if (typeof res.dmarc.policy === 'string' && res.dmarc.policy !== '') props['polrec.p'] = res.dmarc.policy.toLowerCase();
    results.set('dmarc', { method: 'dmarc', result: String(res.dmarc.status.result), props });
  }
  const dkimPass = (res.dkim.results ?? []).find((r) => r.status.result === 'pass' && aligned(r.signingDomain ?? '', domainOf(fromAddress)));
  const dkimAny = dkimPass ?? (res.dkim.results ?? [])[0];
  if (dkimAny !== undefined) results.set('dkim', { method: 'dkim', result: String(dkimAny.status.result), props: { 'header.d': (dkimAny.signingDomain ?? '').toLowerCase() } });
  if (input.ip !== null && res.spf !== false) {
    results.set('spf', { method: 'spf', result: String(res.spf.status.result), props: { 'smtp.mailfrom': String(res.spf['envelope-from'] ?? res.spf.domain ?? '').toLowerCase() } });
  }
  const j = judge(results, fromAddress, 'verified here');
  // DMARC passes on an aligned SPF pass too: without the client's address SPF was never checked,
  // so a failed DMARC may only mean "not DKIM-signed" — no proof of forgery.
  if (j.verdict === 'fail' && input.ip === null) {
    return { verdict: 'none', why: `${j.why}, but SPF could not be checked (no SMTP client address: casegate ingest, IMAP): not treated as forged` };
  }
  return j;
}
