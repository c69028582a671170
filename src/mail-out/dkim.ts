import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { createPrivateDir, PRIVATE_FILE_MODE } from '../storage/private-files.js';

/**
 * DKIM keys of the domains we send From (issue 14). Keys come from two places:
 *
 *  - the data directory: `<dataDir>/dkim/<domain>.<selector>.pem`, written by
 *    `casegate dkim keygen`; mail From that domain (or a subdomain) is signed with it from the
 *    next email on, without any configuration;
 *  - outgoing.dkim.keys: a domain and selector with the private key in a file (privateKeyFile) or
 *    an environment variable (privateKeyEnv), or neither (the data directory's file of that
 *    selector). A configured key wins over the data directory's keys of its domain.
 *
 * nodemailer signs (rsa-sha256, relaxed/relaxed); this module only picks the key. RSA keys only:
 * nodemailer's signer does not do ed25519, and RSA is what every receiver verifies.
 */

/** Headers we sign: the ones receivers and DMARC expect (RFC 6376 §5.4.1), present ones only. */
export const DKIM_SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'In-Reply-To',
  'References',
  'Auto-Submitted',
  // RFC 8058 §4: a one-click unsubscribe is honoured only when the signature covers both.
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
].join(':');

const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const KEY_FILE = /^(.+)\.([^.]+)\.pem$/;

export type DkimConfig = Config['outgoing']['dkim'];

/** What nodemailer's `dkim` message option takes. */
export interface DkimSigningOptions {
  readonly domainName: string;
  readonly keySelector: string;
  readonly privateKey: string;
  readonly headerFieldNames: string;
}

export interface DkimKeyInfo {
  readonly domain: string;
  readonly selector: string;
  /** Where the private key is: a file path or `env:NAME`. */
  readonly source: string;
  readonly bits: number;
  /** The TXT record to publish at <selector>._domainkey.<domain>. */
  readonly record: string;
  /** Whether mail From this domain is signed with this key (else another key of the domain is used). */
  readonly signing: boolean;
}

export class DkimKeyError extends Error {}

/** A key file of the data directory that cannot be used (unreadable, not a private key, not RSA, too short): mail From its domain goes unsigned. */
export interface UnusableDkimKey {
  readonly file: string;
  readonly domain: string;
  readonly selector: string;
  readonly error: string;
}

/** `<dataDir>/dkim` */
export function dkimDir(dataDir: string): string {
  return join(dataDir, 'dkim');
}

export function isDkimDomain(s: string): boolean {
  return DOMAIN.test(s);
}

export function isDkimSelector(s: string): boolean {
  return SELECTOR.test(s);
}

/** The TXT record value of a public key: v=DKIM1; k=rsa; p=<base64 DER SubjectPublicKeyInfo>. */
export function dkimRecordValue(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return `v=DKIM1; k=rsa; p=${pub.export({ type: 'spki', format: 'der' }).toString('base64')}`;
}

/** The record as a zone-file line; the value is split into character-strings below DNS's 255-byte limit (RFC 1035 §3.3.14). */
export function dkimZoneLine(domain: string, selector: string, value: string): string {
  const parts = value.match(/.{1,250}/g) ?? [value];
  return `${selector}._domainkey.${domain}. IN TXT ( ${parts.map((p) => `"${p}"`).join(' ')} )`;
}

export interface GeneratedKey {
  readonly file: string;
  readonly record: string;
  readonly zoneLine: string;
  readonly bits: number;
}

/**
 * Generate an RSA key pair for a domain and selector into `<dataDir>/dkim/<domain>.<selector>.pem`
 * (PKCS#8 private key, mode 0600, in a 0700 directory; the public key is derived from it).
 * Refuses to overwrite an existing key unless `force`.
 */
export function generateDkimKey(dataDir: string, domain: string, selector: string, opts: { bits?: number; force?: boolean } = {}): GeneratedKey {
  const d = domain.trim().toLowerCase();
  const s = selector.trim().toLowerCase();
  if (!isDkimDomain(d)) throw new DkimKeyError(`"${domain}" is not a domain name like example.com`);
  if (!isDkimSelector(s)) throw new DkimKeyError(`"${selector}" is not a DKIM selector (letters, digits, - and .)`);
  const bits = opts.bits ?? 2048;
  if (![1024, 2048, 3072, 4096].includes(bits)) throw new DkimKeyError('--bits must be 1024, 2048, 3072 or 4096');
  const dir = dkimDir(dataDir);
  createPrivateDir(dir);
  const file = join(dir, `${d}.${s}.pem`);
  if (existsSync(file) && opts.force !== true) throw new DkimKeyError(`${file} exists already (a key published in DNS must not change under it); use another selector, or --force`);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  // Written under another name (not *.pem) and renamed into place: a running daemon looks at the
  // directory before every email, and a key file it found still empty it would log as unusable
  // and not look at again until the directory changed once more. A new temporary file gets the
  // mode; rename replaces a --force'd key in one step.
  const tmp = join(dir, `.${d}.${s}.${process.pid}.tmp`);
  rmSync(tmp, { force: true });
  writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  renameSync(tmp, file);
  const record = dkimRecordValue(privateKey);
  return { file, record, zoneLine: dkimZoneLine(d, s, record), bits };
}

interface LoadedKey {
  readonly domain: string;
  readonly selector: string;
  readonly source: string;
  readonly pem: string;
  readonly key: KeyObject;
  /** File modification time (data-directory keys), for choosing among several of one domain. */
  readonly mtimeMs: number;
  readonly configured: boolean;
}

export interface DkimKeyringOptions {
  readonly dataDir: string;
  readonly config: DkimConfig;
  /** Where privateKeyEnv is read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly log?: Logger;
}

/**
 * A directory's mtime moves in the kernel's clock ticks (milliseconds apart): a change in the same
 * tick as our last look would leave it unchanged. Until this long after its mtime, a look at the
 * directory is not trusted, and the next email looks again (as git treats a "racily clean" file).
 */
const RACY_MS = 2_000;

/**
 * The keys we sign with, by From domain. The data directory is looked at again whenever it
 * changes (a `stat` per email; read again for every email within RACY_MS of a change), so a key
 * made by `casegate dkim keygen` signs the next email without a restart. One log line per domain
 * whenever the key that signs it changes.
 */
export class DkimKeyring {
  #dirMtime = -1;
  /** Date.now() of the last look at the directory. */
  #lookedAt = 0;
  /** Domains with several keys and no configured one, as already warned about (once per set of selectors). */
  readonly #warned = new Set<string>();
  #byDomain = new Map<string, LoadedKey>();
  #all: LoadedKey[] = [];
  #unusable: UnusableDkimKey[] = [];
  readonly #configured: LoadedKey[];

  constructor(private readonly opts: DkimKeyringOptions) {
    this.#configured = opts.config.keys.map((k) => loadConfiguredKey(k, opts.dataDir, opts.env ?? process.env));
    this.#reload();
  }

  /** The signing options for mail From this address (its domain, else the nearest parent domain with a key), or null. */
  signingFor(fromAddress: string): DkimSigningOptions | null {
    if (!this.opts.config.enabled) return null;
    this.#reload();
    let domain = fromAddress.slice(fromAddress.lastIndexOf('@') + 1).trim().toLowerCase();
    while (domain.includes('.')) {
      const k = this.#byDomain.get(domain);
      if (k !== undefined) return { domainName: k.domain, keySelector: k.selector, privateKey: k.pem, headerFieldNames: DKIM_SIGNED_HEADERS };
      domain = domain.slice(domain.indexOf('.') + 1);
    }
    return null;
  }

  /** Every key known, with its DNS record and whether it is the one that signs. */
  keys(): DkimKeyInfo[] {
    this.#reload();
    return this.#all.map((k) => ({
      domain: k.domain,
      selector: k.selector,
      source: k.source,
      bits: k.key.asymmetricKeyDetails?.modulusLength ?? 0,
      record: dkimRecordValue(k.key),
      signing: this.#byDomain.get(k.domain) === k,
    }));
  }

  /** Key files of the data directory that cannot be used, and why (`casegate dkim dns` names them). */
  unusableKeys(): UnusableDkimKey[] {
    this.#reload();
    return [...this.#unusable];
  }

  #reload(): void {
    const dir = dkimDir(this.opts.dataDir);
    let mtime = 0;
    try {
      // Without a key directory (the usual case) no error is made: this runs for every email, and
      // a thrown ENOENT with its stack cost 8 µs against 2 µs.
      mtime = statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    } catch {
      mtime = 0;
    }
    if (mtime === this.#dirMtime && this.#lookedAt - mtime > RACY_MS) return;
    this.#dirMtime = mtime;
    this.#lookedAt = Date.now();
    const unusable: UnusableDkimKey[] = [];
    const found = mtime === 0 ? [] : readDataDirKeys(dir, this.opts.log, unusable);
    this.#unusable = unusable;
    const all = [...this.#configured, ...found.filter((f) => !this.#configured.some((c) => c.domain === f.domain && c.selector === f.selector))];
    const byDomain = new Map<string, LoadedKey>();
    for (const c of this.#configured) if (!byDomain.has(c.domain)) byDomain.set(c.domain, c);
    for (const [domain, keys] of groupBy(found, (k) => k.domain)) {
      if (byDomain.has(domain)) continue;
      // Several keys of one domain and none configured: keep the oldest (its record is surely published).
      const chosen = [...keys].sort((a, b) => a.mtimeMs - b.mtimeMs || a.selector.localeCompare(b.selector))[0]!;
      byDomain.set(domain, chosen);
      const several = `${domain} ${keys.map((k) => k.selector).join(' ')}`;
      if (keys.length > 1 && !this.#warned.has(several)) {
        this.#warned.add(several);
        this.opts.log?.warn(
          { domain, selector: chosen.selector, others: keys.filter((k) => k !== chosen).map((k) => k.selector) },
          `several DKIM keys for ${domain} in the data directory: signing with the oldest (${chosen.selector}); name the one to use in outgoing.dkim.keys once its DNS record is published`,
        );
      }
    }
    for (const [domain, k] of byDomain) {
      if (this.#byDomain.get(domain)?.pem !== k.pem) this.opts.log?.info({ domain, selector: k.selector, source: k.source }, `DKIM: mail From ${domain} is signed with selector ${k.selector}`);
    }
    this.#byDomain = byDomain;
    this.#all = all;
  }
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) m.set(key(it), [...(m.get(key(it)) ?? []), it]);
  return m;
}

function parseKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new DkimKeyError(`${where}: not a private key in PEM format (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new DkimKeyError(`${where}: an ${key.asymmetricKeyType ?? 'unknown'} key; DKIM signing needs an RSA key`);
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 1024) throw new DkimKeyError(`${where}: RSA keys shorter than 1024 bits are refused by receivers`);
  return key;
}

function readDataDirKeys(dir: string, log: Logger | undefined, unusable: UnusableDkimKey[]): LoadedKey[] {
  const out: LoadedKey[] = [];
  for (const name of readdirSync(dir).sort()) {
    const m = KEY_FILE.exec(name);
    if (m === null) continue;
    const [, domain, selector] = m as unknown as [string, string, string];
    if (!isDkimDomain(domain) || !isDkimSelector(selector)) continue;
    const file = join(dir, name);
    try {
      const pem = readFileSync(file, 'utf8');
      out.push({ domain, selector, source: file, pem, key: parseKey(pem, file), mtimeMs: statSync(file).mtimeMs, configured: false });
    } catch (err) {
      const error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      unusable.push({ file, domain, selector, error });
      log?.error({ file, error }, `DKIM key ${file} not used (mail From ${domain} is not signed with it): ${error}`);
    }
  }
  return out;
}

function loadConfiguredKey(k: DkimConfig['keys'][number], dataDir: string, env: Readonly<Record<string, string | undefined>>): LoadedKey {
  const domain = k.domain.toLowerCase();
  const selector = k.selector.toLowerCase();
  let pem: string;
  let source: string;
  if (k.privateKeyEnv !== undefined) {
    const v = env[k.privateKeyEnv];
    if (v === undefined || v.trim() === '') throw new DkimKeyError(`outgoing.dkim.keys (${domain}): environment variable ${k.privateKeyEnv} is not set`);
    // A PEM put into one line of an environment file: \n stands for the line breaks.
    pem = v.includes('\\n') && !v.includes('\n') ? v.replace(/\\n/g, '\n') : v;
    source = `env:${k.privateKeyEnv}`;
  } else {
    source = k.privateKeyFile !== undefined ? resolve(k.privateKeyFile) : join(dkimDir(dataDir), `${domain}.${selector}.pem`);
    try {
      pem = readFileSync(source, 'utf8');
    } catch (err) {
      throw new DkimKeyError(`outgoing.dkim.keys (${domain}): cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { domain, selector, source, pem, key: parseKey(pem, `outgoing.dkim.keys (${domain}, ${source})`), mtimeMs: 0, configured: true };
}
