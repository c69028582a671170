import { statSync } from 'node:fs';
import type { Config } from './schema.js';

/**
 * What other users of the machine can read or change: a configuration file readable by everyone
 * that holds a secret written in it (not a ${NAME} from the environment), a DKIM private key file
 * readable by everyone (anyone on the machine could sign mail as the domain), and a configuration
 * file or templates directory writable by everyone (commands run as casegate, mail written as ours).
 * OpenDKIM refuses such keys (RequireSafeKeys), ssh and cron such files; casegate warns, at start and
 * in `casegate config`, and keeps working — a refused key would stop the mail it signs.
 * Group-readable (0640, root:casegate, as docs/operating.md sets them up) is fine.
 */
export interface SecretExposure {
  readonly path: string;
  readonly message: string;
}

/** The keys `casegate config` hides too (cli/config.ts): …secret, …password, a PostgreSQL URL with a password. */
function isSecretKey(key: string, value: string): boolean {
  if (/(secret|password)$/i.test(key)) return true;
  return key === 'url' && /^postgres(ql)?:\/\/([^/@\s]*:[^/@\s]+@|.*[?&][a-z]*password=)/i.test(value);
}

/** Paths (a.b.0.c) of secrets written literally in the file: values without any ${…} reference. */
function literalSecrets(value: unknown, path: string[] = []): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => literalSecrets(v, [...path, String(i)]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => (typeof v === 'string' ? (isSecretKey(k, v) && v !== '' && !v.includes('${') ? [[...path, k].join('.')] : []) : literalSecrets(v, [...path, k])));
  return [];
}

/** The mode bits for "every user may read", or null when the file cannot be stat-ed (reported elsewhere). */
function worldReadable(file: string): string | null {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined || (st.mode & 0o004) === 0) return null;
  return (st.mode & 0o777).toString(8).padStart(4, '0');
}

/** The mode when every user may write the file, or null. */
function worldWritable(file: string): string | null {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined || (st.mode & 0o002) === 0) return null;
  return (st.mode & 0o777).toString(8).padStart(4, '0');
}

export function exposedSecrets(raw: unknown, source: string | null, config: Config, templatesDir?: string, secretFiles: ReadonlyMap<string, string> = new Map()): SecretExposure[] {
  const out: SecretExposure[] = [];
  // ${file:PATH}: a file that holds one secret (systemd LoadCredential, a vault agent's output).
  for (const [file, key] of secretFiles) {
    const fileMode = worldReadable(file);
    if (fileMode !== null) out.push({ path: key, message: `${file} (mode ${fileMode}) is readable by every user of this machine: chmod 0640 it, owned by root with group casegate (or 0600, owner casegate)` });
  }
  const literal = source !== null ? literalSecrets(raw) : [];
  const mode = literal.length > 0 ? worldReadable(source!) : null;
  if (mode !== null) {
    out.push({
      path: literal[0]!,
      message: `${source} (mode ${mode}) is readable by every user of this machine and holds ${literal.join(', ')} written in it: chmod 0640 the file (group casegate), or move the values into the environment file and write \${NAME} here (docs/operating.md)`,
    });
  }
  // Writable by everyone: anyone on the machine sets alerts.command or a tokenCommand, which casegate
  // runs as its own user (cron and sshd refuse such files).
  const writable = source !== null ? worldWritable(source) : null;
  if (writable !== null) {
    out.push({
      path: '(file)',
      message: `${source} (mode ${writable}) can be changed by every user of this machine: whoever does can make casegate run commands as its user (alerts.command, tokenCommand) and read its mail. chmod 0640 it, owned by root`,
    });
  }
  // The email templates: whoever may change them writes what customers read from us.
  const templatesMode = templatesDir !== undefined ? worldWritable(templatesDir) : null;
  if (templatesMode !== null) {
    out.push({
      path: 'templates.dir',
      message: `${templatesDir} (mode ${templatesMode}) can be changed by every user of this machine: whoever does writes the emails customers get from you. chmod 0755 it (or 0750, group casegate), owned by root`,
    });
  }
  config.outgoing.dkim.keys.forEach((k, i) => {
    if (k.privateKeyFile === undefined) return;
    const keyMode = worldReadable(k.privateKeyFile);
    if (keyMode === null) return;
    out.push({
      path: `outgoing.dkim.keys.${i}.privateKeyFile`,
      message: `${k.privateKeyFile} (mode ${keyMode}) is readable by every user of this machine: anyone on it can sign mail as ${k.domain}. chmod 0600 it (owner casegate), or 0640 with group casegate`,
    });
  });
  return out;
}
