import { spawn } from 'node:child_process';
import { commandEnv } from './command-env.js';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import { withoutSignedLinks } from './web/signed-link.js';

export interface AdminAlert {
  /** Template kind of the matching email: outbox-alert, outbox-recovered, … */
  readonly kind: string;
  readonly subject: string;
  readonly text: string;
}

/**
 * alerts.command: the second path for admin alerts, for when mail itself is what is broken (an
 * alert about a broken relay can only go out through that relay). The command runs through
 * /bin/sh with the alert text on stdin and CASEGATE_ALERT_KIND / CASEGATE_ALERT_SUBJECT in an
 * environment of its own (command-env.ts: not the daemon's secrets; alerts.passEnv adds names), e.g. `curl -sS --data-binary @- https://chat.example.com/hooks/ops`. It never
 * blocks casegate: it runs in the background, is killed after alerts.commandTimeoutSeconds, and
 * its failure is logged (error), never retried.
 */
export function runAlertCommand(config: Config, log: Logger, alert: AdminAlert): Promise<void> {
  const command = config.alerts.command;
  if (command === undefined) return Promise.resolve();
  // Staff and chat read it: no signed link of a customer's (a subject quoted in it) goes there, as in our mail (mail-out/compose.ts onlyOwnLinks).
  const subject = withoutSignedLinks(alert.subject);
  const text = withoutSignedLinks(alert.text);
  return new Promise<void>((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      // Not the daemon's environment (its secrets): the basics, the alert's two variables, alerts.passEnv.
      env: commandEnv(config.alerts.passEnv, { CASEGATE_ALERT_KIND: alert.kind, CASEGATE_ALERT_SUBJECT: subject }),
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: config.alerts.commandTimeoutSeconds * 1000,
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      if (stderr.length < 2000) stderr += c.toString('utf8');
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(`${subject}\n\n${text}`);
    child.on('error', (err) => {
      log.error({ err, kind: alert.kind }, 'alerts.command could not be started');
      resolve();
    });
    child.on('close', (code, signal) => {
      if (code === 0) log.info({ kind: alert.kind }, 'alerts.command ran');
      else log.error({ kind: alert.kind, exitCode: code, signal, stderr: stderr.trim().split('\n')[0]?.slice(0, 300) }, 'alerts.command failed');
      resolve();
    });
  });
}
