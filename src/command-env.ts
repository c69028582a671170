/**
 * The environment of the commands casegate runs for the admin (alerts.command, an IMAP mailbox's
 * tokenCommand). The daemon's own environment holds its secrets (systemd's EnvironmentFile:
 * IMAP/SMTP passwords, CASEGATE_SECRET, a PostgreSQL URL; anything the configuration reads as
 * ${NAME}): a chat webhook or a third-party token helper gets none of them. It gets what any
 * program needs to run — PATH, HOME, USER, LOGNAME, LANG, LC_ALL, LC_CTYPE, TZ, TMPDIR, as far as the
 * daemon has them — plus its own documented variables (`extra`), plus the variables the admin
 * names (`passEnv`: alerts.passEnv, mailboxes[].imap.auth.passEnv), as Postfix's
 * import_environment does for its pipes.
 */
const BASE = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR'] as const;
/** PATH when the daemon has none (systemd always sets one). */
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

/** A variable name passEnv may list. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function commandEnv(passEnv: readonly string[], extra: Readonly<Record<string, string>> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...BASE, ...passEnv]) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  env['PATH'] ??= DEFAULT_PATH;
  return { ...env, ...extra };
}
