import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real SpamAssassin (Debian's package) scoring many messages in one process: the shipped rules
 * (/usr/share/spamassassin), the shipped plugin set (/etc/spamassassin/*.pre copied into a private
 * site config, so a local.cf of the machine changes nothing), no user preferences, local tests only
 * (-L: no DNS, no Razor/Pyzor; no Bayes either way). Each message's rules come back with their exact scores
 * (the _TESTSSCORES_ tag), so the total is not rounded to one decimal.
 */

export const SHIPPED_RULES = '/usr/share/spamassassin';
const SITE_PRE = '/etc/spamassassin';

export interface SpamVerdict {
  readonly score: number;
  readonly rules: readonly { readonly name: string; readonly score: number }[];
}

/** Whether spamassassin is installed; under CI=true a missing one is an error, never a skip. */
export function haveSpamAssassin(): boolean {
  const ok = spawnSync('spamassassin', ['--version'], { encoding: 'utf8' }).status === 0 && existsSync(SHIPPED_RULES);
  if (!ok && process.env['CI'] === 'true') throw new Error('spamassassin is not installed (apt-get install spamassassin; .ci/run does it)');
  return ok;
}

/**
 * Score the messages (keyed by any id the caller chooses); one spamassassin process for all.
 * Default: local tests only (-L). With `dnsPort`: network tests on, every DNS question going to
 * that loopback DNS server (dns-stub.ts) instead of the internet — SpamAssassin verifies DKIM
 * itself, and blocklists answer "not listed".
 */
export async function spamAssassinScores(messages: ReadonlyMap<string, Buffer>, opts: { timeoutMs?: number; dnsPort?: number } = {}): Promise<Map<string, SpamVerdict>> {
  const dir = mkdtempSync(join(tmpdir(), 'casegate-sa-'));
  try {
    const site = join(dir, 'site');
    mkdirSync(site);
    for (const f of readdirSync(SITE_PRE).filter((f) => f.endsWith('.pre'))) copyFileSync(join(SITE_PRE, f), join(site, f));
    writeFileSync(join(dir, 'user_prefs'), '');
    const files: string[] = [];
    const keyOfFile = new Map<string, string>();
    let i = 0;
    for (const [key, raw] of messages) {
      i += 1;
      const file = join(dir, `m${String(i).padStart(4, '0')}.eml`);
      // A header naming the message, so each result can be matched to its input (not a rule input).
      writeFileSync(file, Buffer.concat([Buffer.from(`X-Casegate-Sample: m${i}\r\n`), raw]));
      files.push(file);
      keyOfFile.set(`m${i}`, key);
    }
    const network =
      opts.dnsPort === undefined
        ? ['-L']
        : // EDNS ≥ 1024 makes the DKIM plugin use SpamAssassin's resolver (and so dns_server) for the key.
          ['--cf', `dns_server 127.0.0.1:${opts.dnsPort}`, '--cf', 'dns_available yes', '--cf', 'dns_options edns=4096', '--cf', 'rbl_timeout 5', '--cf', 'dkim_timeout 5'];
    // No Bayes: its database would start empty in this throw-away HOME, and Bayes scores nothing
    // before it has learnt 200 spam and 200 ham (bayes_min_*_num), so its only effect was the
    // CPU and disk of auto-learning every message (~10 % of the run).
    const args = [...network, '-x', '-p', join(dir, 'user_prefs'), '-C', SHIPPED_RULES, '--siteconfigpath', site, '--cf', 'use_bayes 0', '--cf', 'add_header all Tests _TESTSSCORES(,)_', ...files];
    const out = await run('spamassassin', args, { HOME: dir }, opts.timeoutMs ?? 300_000);
    const results = new Map<string, SpamVerdict>();
    for (const chunk of out.split(/^(?=X-Spam-Checker-Version:)/m)) {
      const head = chunk.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, '');
      const sample = /^X-Casegate-Sample: (m\d+)$/m.exec(head)?.[1];
      const tests = /^X-Spam-Tests: (.*)$/m.exec(head)?.[1];
      if (sample === undefined || tests === undefined) continue;
      const rules = tests
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && t !== 'none')
        .map((t) => {
          const [name, score] = t.split('=');
          return { name: name!, score: Number(score) };
        });
      results.set(keyOfFile.get(sample)!, { score: Math.round(rules.reduce((s, r) => s + r.score, 0) * 1000) / 1000, rules });
    }
    const missing = [...messages.keys()].filter((k) => !results.has(k));
    if (missing.length > 0) throw new Error(`spamassassin gave no result for ${missing.length} message(s): ${missing.slice(0, 5).join(', ')}`);
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`${cmd} exit ${code}: ${Buffer.concat(err).toString().slice(0, 2000)}`));
      else resolve(Buffer.concat(out).toString('latin1'));
    });
  });
}
