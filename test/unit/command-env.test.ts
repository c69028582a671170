import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runAlertCommand } from '../../src/alert-command.js';
import { accessToken } from '../../src/channels/imap-connection.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { tempDir } from '../helpers/temp-dirs.js';

/**
 * alerts.command and an IMAP mailbox's tokenCommand (src/command-env.ts) run as real child
 * processes that print their environment: they get PATH, HOME, LANG, TZ …, their own documented
 * variables and what passEnv names — not the daemon's secrets (an SMTP password, CASEGATE_SECRET, a
 * database URL given through the environment, as systemd's EnvironmentFile gives them).
 */
const SECRETS = { SMTP_PASSWORD: 'smtp-pw-1234', CASEGATE_SECRET: 'instance-secret-5678', DATABASE_URL: 'postgres://cg:dbpw@db/cg', IMAP_PASSWORD: 'imap-pw-9' };
const saved = new Map<string, string | undefined>();

function setEnv(vars: Record<string, string>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!saved.has(k)) saved.set(k, process.env[k]);
    process.env[k] = v;
  }
}
afterEach(() => {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  saved.clear();
});

/** `env -0` output as a map. */
function envOf(text: string): Map<string, string> {
  return new Map(
    text
      .split('\0')
      .filter((l) => l !== '')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

describe('the environment of the commands casegate runs', () => {
  it('alerts.command gets PATH, HOME, LANG, TZ, its CASEGATE_ALERT_* and alerts.passEnv — none of the daemon\'s secrets', async () => {
    setEnv({ ...SECRETS, HTTPS_PROXY: 'http://proxy.example:3128', LANG: 'de_DE.UTF-8', TZ: 'Europe/Berlin' });
    const dir = tempDir('casegate-alert-env-');
    const out = join(dir, 'env.txt');
    const config = configSchema.parse({ alerts: { command: `env -0 > "${out}"`, passEnv: ['HTTPS_PROXY', 'NOT_SET_ANYWHERE'] } });
    await runAlertCommand(config, silentLogger(), { kind: 'outbox-alert', subject: 'Sending fails', text: 'the relay refuses the login' });
    const env = envOf(readFileSync(out, 'utf8'));
    for (const name of Object.keys(SECRETS)) expect(env.has(name), name).toBe(false);
    for (const value of Object.values(SECRETS)) expect([...env.values()].some((v) => v.includes(value)), value).toBe(false);
    expect(env.get('CASEGATE_ALERT_KIND')).toBe('outbox-alert');
    expect(env.get('CASEGATE_ALERT_SUBJECT')).toBe('Sending fails');
    expect(env.get('HTTPS_PROXY')).toBe('http://proxy.example:3128');
    expect(env.get('PATH')).toBe(process.env['PATH']);
    expect(env.get('HOME')).toBe(process.env['HOME']);
    expect(env.get('LANG')).toBe('de_DE.UTF-8');
    expect(env.get('TZ')).toBe('Europe/Berlin');
    expect(env.has('NOT_SET_ANYWHERE')).toBe(false);
    // Only these (sh may add PWD, SHLVL and `_`).
    expect([...env.keys()].filter((k) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(k)).sort()).toEqual(
      ['CASEGATE_ALERT_KIND', 'CASEGATE_ALERT_SUBJECT', 'HOME', 'HTTPS_PROXY', 'LANG', 'PATH', 'TZ', ...['USER', 'LOGNAME', 'LC_ALL', 'LC_CTYPE', 'TMPDIR'].filter((k) => process.env[k] !== undefined)].sort(),
    );
  });

  it('tokenCommand gets PATH, HOME … and the mailbox\'s auth.passEnv (its client secret) — not the daemon\'s other secrets', async () => {
    const daemonEnv = { ...process.env, ...SECRETS, M365_CLIENT_SECRET: 'client-secret-42' };
    const listing = await accessToken({ method: 'xoauth2', user: 'support@example.com', tokenCommand: "env | cut -d= -f1 | sort | tr '\\n' ' '; printf '|%s' \"$M365_CLIENT_SECRET\"", passEnv: ['M365_CLIENT_SECRET'] }, daemonEnv);
    const [names, secret] = listing.split('|');
    const seen = names!.trim().split(' ');
    for (const name of Object.keys(SECRETS)) expect(seen, name).not.toContain(name);
    expect(seen).toContain('PATH');
    expect(seen).toContain('M365_CLIENT_SECRET');
    expect(secret).toBe('client-secret-42');
    // Without passEnv the helper gets no secret at all.
    const bare = await accessToken({ method: 'xoauth2', user: 'support@example.com', tokenCommand: 'printf "[%s][%s]" "$M365_CLIENT_SECRET" "$SMTP_PASSWORD"' }, daemonEnv);
    expect(bare).toBe('[][]');
  });

  it('passEnv takes variable names only', () => {
    expect(configSchema.safeParse({ alerts: { passEnv: ['HTTPS_PROXY'] } }).success).toBe(true);
    expect(configSchema.safeParse({ alerts: { passEnv: ['A=b'] } }).success).toBe(false);
    expect(configSchema.safeParse({ alerts: { passEnv: ['$HOME'] } }).success).toBe(false);
  });
});
