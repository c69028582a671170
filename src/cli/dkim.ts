import type { Command } from 'commander';
import { DkimKeyError, DkimKeyring, dkimZoneLine, generateDkimKey, type DkimKeyInfo, type UnusableDkimKey } from '../mail-out/dkim.js';
import { print, resolved } from './shared.js';

/**
 * DKIM keys of the domains we send From: `casegate dkim keygen` makes one in the data directory
 * (mail From that domain is signed with it from the next email on), `casegate dkim dns` prints
 * the TXT records to publish and which From domains are signed.
 */
export function registerDkimCommands(program: Command): void {
  const dkim = program.command('dkim').description('DKIM keys: make one, print the DNS records to publish');
  dkim
    .command('keygen')
    .description('make an RSA key pair in <dataDir>/dkim/<domain>.<selector>.pem (mode 0600) and print its DNS TXT record')
    .requiredOption('--domain <domain>', 'the From domain to sign (e.g. example.com)')
    .requiredOption('--selector <selector>', 'the selector, e.g. casegate2026 (record at <selector>._domainkey.<domain>)')
    .option('--bits <n>', 'RSA key length: 1024, 2048, 3072 or 4096', (v) => Number(v), 2048)
    .option('--force', 'replace an existing key of that selector (mail signed with the old one stops verifying)')
    .option('--json', 'JSON output')
    .action((opts: { domain: string; selector: string; bits: number; force?: boolean; json?: boolean }) => {
      const r = resolved();
      let key;
      try {
        key = generateDkimKey(r.paths.dataDir, opts.domain, opts.selector, { bits: opts.bits, force: opts.force === true });
      } catch (err) {
        if (!(err instanceof DkimKeyError)) throw err;
        process.stderr.write(`casegate: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      const domain = opts.domain.trim().toLowerCase();
      const selector = opts.selector.trim().toLowerCase();
      const configured = r.config.outgoing.dkim.keys.find((k) => k.domain === domain);
      print({ domain, selector, file: key.file, bits: key.bits, name: `${selector}._domainkey.${domain}`, record: key.record }, opts.json === true, () =>
        [
          `wrote ${key.file} (RSA ${key.bits} bits, mode 0600)`,
          '',
          `Publish this DNS TXT record:`,
          '',
          key.zoneLine,
          '',
          !r.config.outgoing.dkim.enabled
            ? 'outgoing.dkim.enabled is false: nothing is signed until you enable it.'
            : configured !== undefined
              ? `outgoing.dkim.keys names selector ${configured.selector} for ${domain}: that key keeps signing until you change the configuration.`
              : `Mail From ${domain} (and its subdomains) is signed with it from the next email on; publish the record first.`,
          '',
        ].join('\n'),
      );
    });
  dkim
    .command('dns')
    .description('print the DNS TXT record of every DKIM key, and which From domains of the mailboxes are signed')
    .option('--json', 'JSON output')
    .action((opts: { json?: boolean }) => {
      const r = resolved();
      let keys: DkimKeyInfo[];
      let unusable: UnusableDkimKey[];
      try {
        const ring = new DkimKeyring({ dataDir: r.paths.dataDir, config: { ...r.config.outgoing.dkim, enabled: true } });
        keys = ring.keys();
        unusable = ring.unusableKeys();
      } catch (err) {
        if (!(err instanceof DkimKeyError)) throw err;
        process.stderr.write(`casegate: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      const ring = keys.filter((k) => k.signing);
      const fromDomains = [...new Set(r.config.mailboxes.flatMap((m) => m.addresses.slice(0, 1)).map((a) => a.slice(a.lastIndexOf('@') + 1).toLowerCase()))];
      const domains = fromDomains.map((d) => {
        const k = ring.find((x) => d === x.domain || d.endsWith(`.${x.domain}`));
        return { domain: d, signedWith: r.config.outgoing.dkim.enabled && k !== undefined ? `${k.domain}/${k.selector}` : null };
      });
      // A key file that cannot be used (a public key or an ed25519 key saved as .pem, a file the
      // daemon's user cannot read): mail From its domain goes unsigned — said here, exit 1.
      if (unusable.length > 0) process.exitCode = 1;
      print({ enabled: r.config.outgoing.dkim.enabled, keys: keys.map((k) => ({ ...k, name: `${k.selector}._domainkey.${k.domain}` })), unusable, fromDomains: domains }, opts.json === true, () => {
        const lines: string[] = [];
        for (const u of unusable) lines.push(`; NOT USED: ${u.file} (${u.domain} selector ${u.selector}): ${u.error}`, '');
        if (keys.length === 0) lines.push('no DKIM keys: make one with casegate dkim keygen --domain <domain> --selector <selector>', '');
        for (const k of keys) {
          lines.push(`; ${k.domain} selector ${k.selector}: RSA ${k.bits} bits, ${k.source}${k.signing ? '' : ' (not used: another key signs this domain)'}`);
          lines.push(dkimZoneLine(k.domain, k.selector, k.record), '');
        }
        if (!r.config.outgoing.dkim.enabled) lines.push('outgoing.dkim.enabled is false: nothing is signed.');
        for (const d of domains) lines.push(d.signedWith !== null ? `mail From ${d.domain}: signed (${d.signedWith})` : `mail From ${d.domain}: NOT signed`);
        return lines.join('\n') + '\n';
      });
    });
}
