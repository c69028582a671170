/**
 * The daemon's configuration for the soak (bench/soak.ts): two IMAP mailboxes on the soak's
 * Dovecot and one on the embedded SMTP listener, the soak's relay, web page and ops listener on,
 * and a compressed clock — a business calendar open 8 minutes and closed 4, all day, SLA targets
 * of minutes, every job scheduled every 1–5 minutes — so SLA warnings, breaches, reminders,
 * auto-close and surveys fire all the time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AGENTS, MX } from './soak-traffic.js';

export interface SoakPorts {
  readonly imap: { host: string; port: number };
  readonly relay: number;
  readonly listener: number;
  readonly web: number;
  readonly ops: number;
}

/** Opening hours: 8 minutes open, 4 closed, around the clock. */
function compressedHours(): string[] {
  const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  const out: string[] = [];
  for (let m = 0; m + 8 <= 24 * 60; m += 12) out.push(`${hhmm(m)}-${hhmm(m + 8)}`);
  return out;
}

export function writeSoakConfig(dir: string, ports: SoakPorts, opts: { pgUrl: string | null; templates: string; logLevel: string }): string {
  const imapOf = (user: string): Record<string, unknown> => ({
    host: ports.imap.host,
    port: ports.imap.port,
    tls: 'none',
    auth: { method: 'password', user, password: `pw-${user}` },
    reconnectMinSeconds: 1,
    reconnectMaxSeconds: 30,
    alertAfterSeconds: 60,
  });
  const agents = AGENTS.map((a) => ({ ...a }));
  const config = {
    dataDir: 'data',
    ...(opts.pgUrl !== null ? { database: { driver: 'postgres', url: opts.pgUrl } } : {}),
    instance: { name: 'Soak Support', domain: 'support.example.com', secret: 'soak-secret-0123456789abcdef-0123456789', adminAddress: 'admin@ops.example' },
    log: { level: opts.logLevel, format: 'json' },
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'], imap: imapOf('support') },
      { name: 'billing', addresses: ['billing@example.com'], imap: imapOf('billing') },
      { name: 'help', addresses: ['help@example.com'] },
    ],
    listener: { enabled: true, host: '127.0.0.1', port: ports.listener },
    outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: ports.relay, secure: false }, alertAfterSeconds: 60 },
    security: { senderAuth: { mode: 'trusted-header', authservId: MX } },
    autoReply: { minIntervalSeconds: 0, perSenderPerHour: 1000 },
    queues: Object.fromEntries(['support', 'billing', 'help'].map((q) => [q, { agents, assignment: 'round-robin', calendar: 'soak', slaPolicy: 'soak' }])),
    sla: {
      calendars: { soak: { zone: 'UTC', hours: { 'mon-sun': compressedHours() } } },
      policies: {
        soak: {
          targets: {
            normal: { firstResponse: '3m', resolution: '10m', coverage: 'business-hours' },
            urgent: { firstResponse: '2m', resolution: '5m', coverage: '24x7' },
          },
        },
      },
    },
    jobs: {
      enabled: true,
      slaCheck: { schedule: '* * * * *' },
      criticalReminder: { schedule: '* * * * *', afterMinutes: 2, notifyCustomer: true },
      pendingReminder: { schedule: '*/2 * * * *' },
      resolvedClose: { schedule: '*/2 * * * *', afterDays: 0.002 },
      survey: { schedule: '*/2 * * * *', afterHours: 0.02 },
      dailyReport: { schedule: '*/5 * * * *' },
      sentBodies: { schedule: '*/3 * * * *', keepDays: 1 },
    },
    web: { enabled: true, host: '127.0.0.1', port: ports.web, repliesPerHour: 100 },
    ops: { enabled: true, host: '127.0.0.1', port: ports.ops },
    templates: { dir: opts.templates, watch: false },
  };
  const file = join(dir, 'casegate.yaml');
  writeFileSync(file, stringify(config), { mode: 0o600 });
  return file;
}
