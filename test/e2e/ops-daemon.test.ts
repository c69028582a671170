import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { describeResult, jsonLines, REPO_ROOT, spawnCli, type CliProcess } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/cli-in-process.js';
import { writeConfig } from '../helpers/context.js';
import { describeWithDovecot, findFreePort, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { parseExposition, type Exposition } from '../helpers/prom-text.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { imapOf } from '../imap/imap-env.js';
import { TEST_BACKEND } from '../helpers/test-db.js';

/**
 * The daemon as operations sees it (issue 13, points 1–3), as a real child process: a private
 * Dovecot with two watched mailboxes, an SMTP sink as relay, the SMTP listener, the ops listener.
 *  - /metrics is scraped and parsed strictly (Prometheus text format) while mail flows in over
 *    SMTP and IMAP and confirmations go out; /healthz turns 503 with the reason when Dovecot goes
 *    down and 200 again when it is back;
 *  - `casegate status` (--json, --check) tells the same facts;
 *  - SIGHUP: a broken configuration is refused and the running one kept; a good one with a changed
 *    template, a changed `imap` block for one mailbox and a changed listener hostname applies
 *    without dropping the unchanged IMAP session or an open SMTP connection; a changed listener
 *    port rebinds.
 */

interface Env {
  dir: string;
  configFile: string;
  dovecot: DovecotServer;
  sink: SmtpSink;
  listenerPort: number;
  opsPort: number;
  daemon: CliProcess;
  base: ConfigInput;
}

let env: Env;

function configOf(dovecot: DovecotServer, sink: SmtpSink, listenerPort: number, opsPort: number, over: ConfigInput = {}): ConfigInput {
  return {
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'], imap: imapOf(dovecot, 'support', { afterProcessing: 'flag', pollSeconds: 30 }) },
      { name: 'sales', addresses: ['sales@example.com'], imap: imapOf(dovecot, 'sales', { afterProcessing: 'flag', pollSeconds: 30 }) },
    ],
    listener: { port: listenerPort },
    ops: { enabled: true, port: opsPort },
    outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1, alertAfterSeconds: 0, probeSeconds: 1, retry: { baseSeconds: 0.5 } },
    templates: { dir: 'templates', watch: false },
    jobs: { enabled: false },
    ...over,
  };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function scrape(): Promise<Exposition> {
  const res = await fetch(`http://127.0.0.1:${env.opsPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

async function healthz(): Promise<{ status: number; body: { status: string; checks: { name: string; ok: boolean; detail: string }[] } }> {
  const res = await fetch(`http://127.0.0.1:${env.opsPort}/healthz`);
  return { status: res.status, body: (await res.json()) as { status: string; checks: { name: string; ok: boolean; detail: string }[] } };
}

function customer(port = env.listenerPort): nodemailer.Transporter {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
}

function mail(from: string, to: string, subject: string, id: string): string {
  return [`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, `Message-ID: <${id}>`, 'Date: Mon, 02 Mar 2026 09:00:00 +0000', 'Content-Type: text/plain; charset=utf-8', '', 'Hello, please help.', ''].join('\r\n');
}

/** Successful IMAP logins of a user so far, from Dovecot's log. */
async function logins(user: string): Promise<number> {
  return ((await env.dovecot.readLog()).match(new RegExp(`Login: user=<${user}>`, 'g')) ?? []).length;
}

function daemonLog(): Record<string, unknown>[] {
  return jsonLines(env.daemon.stdout());
}

/** A raw SMTP session: greets, then sends lines and reads replies. */
async function openSmtp(port: number): Promise<{ command(line: string): Promise<string>; close(): void }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let buffer = '';
  const waiters: (() => void)[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => {
    buffer += c;
    for (const w of waiters.splice(0)) w();
  });
  const reply = async (): Promise<string> => {
    for (;;) {
      const m = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer);
      if (m !== null) {
        const end = m.index + m[0].length;
        const text = buffer.slice(0, end);
        buffer = buffer.slice(end);
        return text.trim();
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const greeting = await reply();
  expect(greeting).toMatch(/^220 /);
  return {
    async command(line) {
      socket.write(`${line}\r\n`);
      return reply();
    },
    close: () => socket.destroy(),
  };
}

describeWithDovecot('the daemon for operations: /metrics, /healthz, status, SIGHUP', () => {
  beforeAll(async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'casegate-ops-')));
    cpSync(join(REPO_ROOT, 'templates'), join(dir, 'templates'), { recursive: true });
    const dovecot = await startDovecot({ users: [{ user: 'support', password: 'pw-support' }, { user: 'sales', password: 'pw-sales' }] });
    const sink = await startSmtpSink();
    const listenerPort = await findFreePort();
    const opsPort = await findFreePort();
    const base = configOf(dovecot, sink, listenerPort, opsPort);
    const configFile = writeConfig(dir, base).source!;
    const daemon = spawnCli(['--config', configFile, 'start'], { cwd: dir, env: { HOME: dir } });
    env = { dir, configFile, dovecot, sink, listenerPort, opsPort, daemon, base };
    await daemon.waitForLine(/"casegate started"/, 30_000);
  }, 60_000);

  afterAll(async () => {
    env?.daemon.kill('SIGTERM');
    await env?.daemon.exited;
    await env?.sink.close();
    await env?.dovecot.stop();
    if (env !== undefined) rmSync(env.dir, { recursive: true, force: true });
  });

  it('healthz is 200 once both mailboxes idle; metrics count SMTP and IMAP mail, confirmations, latencies, open cases and the process', async () => {
    const ok = await until('healthz 200', 20_000, async () => {
      const h = await healthz();
      return h.status === 200 ? h : undefined;
    });
    expect(ok.body.status).toBe('ok');
    expect(ok.body.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['database', 'mailbox:support', 'mailbox:sales', 'outgoing', 'outbox']));

    await customer().sendMail({ envelope: { from: 'ann@customer.example', to: ['support@example.com'] }, raw: mail('Ann <ann@customer.example>', 'support@example.com', 'Printer on fire', 'ops-1@customer.example') });
    await customer().sendMail({ envelope: { from: 'bob@customer.example', to: ['sales@example.com'] }, raw: mail('Bob <bob@customer.example>', 'sales@example.com', 'Quote please', 'ops-2@customer.example') });
    await env.dovecot.append('support', mail('Cy <cy@customer.example>', 'support@example.com', 'VPN down', 'ops-3@customer.example'));
    await env.sink.waitFor(3, 20_000);

    // The counter moves when the relay accepts; the queue gauge when the outbox row is written as
    // sent, a moment later (slower on PostgreSQL): wait for both.
    const m = await until('three relayed emails in the metrics and none queued', 10_000, async () => {
      const x = await scrape();
      // (And the messages counted: that follows the sync to disk the acknowledgement waits for.)
      return x.sum('casegate_emails_sent_total') === 3 && x.value('casegate_outbox_queued') === 0 && x.sum('casegate_messages_total') === 3 ? x : undefined;
    });
    expect(m.value('casegate_messages_total', { mailbox: 'support', channel: 'smtp', outcome: 'stored' })).toBe(1);
    expect(m.value('casegate_messages_total', { mailbox: 'sales', channel: 'smtp', outcome: 'stored' })).toBe(1);
    expect(m.value('casegate_messages_total', { mailbox: 'support', channel: 'imap', outcome: 'stored' })).toBe(1);
    expect(m.value('casegate_message_commit_seconds_count', { channel: 'smtp' })).toBe(2);
    expect(m.value('casegate_message_commit_seconds_count', { channel: 'imap' })).toBe(1);
    expect(m.value('casegate_message_commit_seconds_bucket', { channel: 'smtp', le: '+Inf' })).toBe(2);
    expect(m.value('casegate_message_commit_seconds_sum', { channel: 'smtp' })).toBeGreaterThan(0);
    expect(m.value('casegate_emails_sent_total', { kind: 'confirmation' })).toBe(3);
    expect(m.value('casegate_email_relay_seconds_count', { kind: 'confirmation' })).toBe(3);
    expect(m.types.get('casegate_email_relay_seconds')).toBe('histogram');
    expect(m.value('casegate_outbox_queued')).toBe(0);
    expect(m.value('casegate_outbox_oldest_queued_age_seconds')).toBe(0);
    expect(m.value('casegate_outbox_paused')).toBe(0);
    expect(m.sum('casegate_send_failures_total')).toBe(0);
    expect(m.all('casegate_send_failures_total').map((s) => s.labels['class']).sort()).toEqual(['auth', 'connection', 'message', 'recipient', 'sender', 'tls', 'unknown']);
    expect(m.value('casegate_mailbox_up', { mailbox: 'support' })).toBe(1);
    expect(m.value('casegate_mailbox_state', { mailbox: 'sales', state: 'idling' })).toBe(1);
    expect(m.value('casegate_mailbox_state', { mailbox: 'sales', state: 'backing-off' })).toBe(0);
    expect(Date.now() / 1000 - m.value('casegate_mailbox_last_success_timestamp_seconds', { mailbox: 'sales' })).toBeLessThan(60);
    expect(m.sum('casegate_open_cases')).toBe(3);
    expect(m.value('casegate_open_cases', { status: 'new', priority: 'normal' })).toBe(3);
    expect(m.value('casegate_sla_breached_open_cases', { target: 'first_response' })).toBe(0);
    expect(m.value('casegate_quarantine_waiting')).toBe(0);
    expect(m.value('casegate_healthy')).toBe(1);
    expect(m.value('process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(m.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(m.value('casegate_build_info', { version: JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version })).toBe(1);

    // The relay refuses one email with 451: a send failure of class "message", retried and sent.
    env.sink.failNext(451, 1);
    await customer().sendMail({ envelope: { from: 'ivy@customer.example', to: ['support@example.com'] }, raw: mail('Ivy <ivy@customer.example>', 'support@example.com', 'Greylisted', 'ops-1b@customer.example') });
    await env.sink.waitFor(4, 20_000);
    const after = await until('the retried email in the metrics', 10_000, async () => {
      const x = await scrape();
      return x.sum('casegate_emails_sent_total') === 4 ? x : undefined;
    });
    expect(after.value('casegate_send_failures_total', { class: 'message' })).toBe(1);
    // Counted for the relay it went through (the default one here: outgoing.smtp).
    expect(after.value('casegate_send_failures_total', { class: 'message', relay: 'default' })).toBe(1);
    expect(after.sum('casegate_send_failures_total')).toBe(1);
  }, 60_000);

  it('`casegate status` tells the same facts (text and --json); --check exits 0 while healthy', async () => {
    const r = await runCliInProcess(['--config', env.configFile, 'status', '--json', '--check'], { cwd: env.dir, env: { HOME: env.dir } });
    expect(r.code, describeResult(r)).toBe(0);
    const s = JSON.parse(r.stdout) as {
      daemon: { running: boolean; pid: number; nodes?: string[] };
      health: { healthy: boolean; checks: { name: string; ok: boolean }[] };
      openCases: { status: string; priority: string; n: number }[];
      slaBreaches: { firstResponse: number; resolution: number };
      ops: { healthz: string; metrics: string };
      outbox: Record<string, number>;
    };
    const pid = env.daemon.child.pid!;
    // SQLite: the PID file; PostgreSQL: the daemon's presence lease (node:<host>:<pid>:<random>).
    if (TEST_BACKEND === 'sqlite') expect(s.daemon).toEqual({ running: true, pid });
    else {
      expect(s.daemon).toMatchObject({ running: true, pid });
      expect(s.daemon.nodes).toHaveLength(1);
      expect(s.daemon.nodes![0]).toMatch(new RegExp(`:${pid}:[0-9a-f]+$`));
    }
    expect(s.health.healthy).toBe(true);
    expect(s.openCases).toEqual([{ status: 'new', priority: 'normal', n: 4 }]);
    expect(s.slaBreaches).toEqual({ firstResponse: 0, resolution: 0 });
    expect(s.outbox).toEqual({ sent: 4 });
    expect(s.ops).toEqual({ healthz: `http://127.0.0.1:${env.opsPort}/healthz`, metrics: `http://127.0.0.1:${env.opsPort}/metrics` });
    const text = await runCliInProcess(['--config', env.configFile, 'status'], { cwd: env.dir, env: { HOME: env.dir } });
    expect(text.stdout).toMatch(TEST_BACKEND === 'sqlite' ? new RegExp(`^Daemon: running \\(PID ${pid}\\)$`, 'm') : new RegExp(`^Daemon: running \\([^)]*:${pid}:[0-9a-f]+\\)$`, 'm'));
    expect(text.stdout).toMatch(/^Health: ok \(http:\/\/127\.0\.0\.1:\d+\/healthz, metrics http:\/\/127\.0\.0\.1:\d+\/metrics\)$/m);
    expect(text.stdout).toMatch(/^Open cases: 4$/m);
    expect(text.stdout).toMatch(/^ {2}new {8}normal 4$/m);
    expect(text.stdout).toMatch(/^SLA breaches \(open cases\): first response 0, resolution 0$/m);
  }, 30_000);

  it('on loopback the ops listener answers only requests for localhost, 127.0.0.1 or [::1]: a page using a name of its own that resolves to 127.0.0.1 (DNS rebinding) gets 403, not the metrics', async () => {
    const get = (path: string, host: string | undefined): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: env.opsPort, path, method: 'GET', setHost: false, headers: host === undefined ? {} : { Host: host } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const host of [`127.0.0.1:${env.opsPort}`, `localhost:${env.opsPort}`, `[::1]:${env.opsPort}`, 'localhost']) {
      const r = await get('/metrics', host);
      expect([host, r.status]).toEqual([host, 200]);
      expect(r.body).toContain('casegate_messages_total');
    }
    for (const host of [`rebind.attacker.example:${env.opsPort}`, 'casegate.example.com', '127.0.0.1.nip.io', undefined]) {
      for (const path of ['/metrics', '/healthz']) {
        const r = await get(path, host);
        // No Host at all: Node's HTTP server refuses the HTTP/1.1 request itself (400).
        expect([host, path, r.status]).toEqual([host, path, host === undefined ? 400 : 403]);
        expect(r.body).not.toContain('casegate_');
        expect(r.body).not.toContain('mailbox:');
      }
    }
  });

  it('Dovecot down: healthz 503 naming the mailboxes, mailbox_up 0, status --check exits 1; back up: 200 again', async () => {
    await env.dovecot.down();
    const down = await until('healthz 503', 20_000, async () => {
      const h = await healthz();
      return h.status === 503 && h.body.checks.filter((c) => c.name.startsWith('mailbox:') && !c.ok).length === 2 ? h : undefined;
    });
    expect(down.body.status).toBe('unhealthy');
    // A liveness probe must not restart a daemon whose mailbox server is away (a restart heals
    // nothing there, and drops every session): /livez answers as long as the process does.
    const live = await fetch(`http://127.0.0.1:${env.opsPort}/livez`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'alive' });
    const support = down.body.checks.find((c) => c.name === 'mailbox:support')!;
    expect(support.detail).toMatch(/^(backing-off|connecting)/);
    const m = await scrape();
    expect(m.value('casegate_mailbox_up', { mailbox: 'support' })).toBe(0);
    expect(m.value('casegate_healthy')).toBe(0);
    expect(m.value('casegate_health_check_ok', { check: 'mailbox:sales' })).toBe(0);
    const check = await runCliInProcess(['--config', env.configFile, 'status', '--check'], { cwd: env.dir, env: { HOME: env.dir } });
    expect(check.code, describeResult(check)).toBe(1);
    expect(check.stdout).toMatch(/^Health: UNHEALTHY/m);
    expect(check.stdout).toMatch(/^ {2}✗ mailbox:support: /m);

    await env.dovecot.up();
    await until('healthz 200 again', 20_000, async () => (await healthz()).status === 200);
  }, 60_000);

  it('SIGHUP with a broken configuration: refused with the reason, the running one keeps working', async () => {
    const before = { support: await logins('support'), sales: await logins('sales') };
    const good = readFileSync(env.configFile, 'utf8');
    expect(good).toContain(`port: ${env.listenerPort}\n`);
    writeFileSync(env.configFile, good.replace(`port: ${env.listenerPort}\n`, 'port: not-a-port\n'));
    env.daemon.child.kill('SIGHUP');
    const refused = await until('reload refused', 10_000, () => daemonLog().find((l) => String(l['msg']).startsWith('configuration reload refused; the running configuration stays')));
    expect((refused['problems'] as string[]).join('\n')).toMatch(/listener\.port/);
    // It names the file the problems are in, as a start does.
    expect(refused['config']).toBe(env.configFile);
    expect(String(refused['msg'])).toContain(`stays. ${env.configFile}:\n  listener.port: `);
    // Visible to monitoring, not only in the journal: the file on disk would not start (exit 78).
    const broken = await scrape();
    const loadedAt = broken.value('casegate_config_last_reload_success_timestamp_seconds');
    expect(broken.value('casegate_config_last_reload_successful')).toBe(0);
    writeFileSync(env.configFile, good);
    const reloads = daemonLog().filter((l) => l['msg'] === 'configuration reloaded').length;
    env.daemon.child.kill('SIGHUP');
    await until('the fixed file reloaded', 20_000, () => daemonLog().filter((l) => l['msg'] === 'configuration reloaded')[reloads]);
    const fixed = await scrape();
    expect(fixed.value('casegate_config_last_reload_successful')).toBe(1);
    expect(fixed.value('casegate_config_last_reload_success_timestamp_seconds')).toBeGreaterThanOrEqual(loadedAt!);
    await customer().sendMail({ envelope: { from: 'dee@customer.example', to: ['support@example.com'] }, raw: mail('Dee <dee@customer.example>', 'support@example.com', 'Still there?', 'ops-4@customer.example') });
    await env.sink.waitFor(5, 20_000);
    expect(await logins('support')).toBe(before.support);
    expect(await logins('sales')).toBe(before.sales);
    expect((await healthz()).status).toBe(200);
  }, 30_000);

  it('SIGHUP with a good one: new template and hostname apply, the unchanged mailbox and an open SMTP session stay, the changed mailbox reconnects', async () => {
    const before = { support: await logins('support'), sales: await logins('sales') };
    const session = await openSmtp(env.listenerPort);
    expect(await session.command('EHLO customer.example')).toMatch(/^250/);
    writeFileSync(join(env.dir, 'templates', 'confirmation.subject.hbs'), '{{case.tag}} Reloaded template: {{case.subject}}');
    const reloads = daemonLog().filter((l) => l['msg'] === 'configuration reloaded').length;
    writeConfig(
      env.dir,
      configOf(env.dovecot, env.sink, env.listenerPort, env.opsPort, {
        mailboxes: [
          env.base.mailboxes![0]!,
          { name: 'sales', addresses: ['sales@example.com'], imap: imapOf(env.dovecot, 'sales', { afterProcessing: 'flag', pollSeconds: 20 }) },
        ],
        listener: { port: env.listenerPort, hostname: 'mx-reloaded.example.com' },
      }),
    );
    env.daemon.child.kill('SIGHUP');
    const done = await until('reload done', 20_000, () => daemonLog().filter((l) => l['msg'] === 'configuration reloaded')[reloads]);
    expect(done['changed']).toEqual(expect.arrayContaining(['mailboxes', 'listener']));
    expect(done['actions']).toEqual(expect.arrayContaining(['imap kept: support', 'imap reconnected: sales']));
    // The SMTP session opened before the reload still works, on the same socket.
    expect(await session.command('MAIL FROM:<eve@customer.example>')).toMatch(/^250/);
    expect(await session.command('RCPT TO:<support@example.com>')).toMatch(/^250/);
    expect(await session.command('DATA')).toMatch(/^354/);
    expect(await session.command(`${mail('Eve <eve@customer.example>', 'support@example.com', 'After reload', 'ops-5@customer.example')}\r\n.`)).toMatch(/^250 .*Stored in case/);
    session.close();
    // New sessions greet with the new hostname.
    const fresh = await openSmtp(env.listenerPort);
    expect(await fresh.command('EHLO customer.example')).toMatch(/^250-mx-reloaded\.example\.com/);
    fresh.close();
    const all = await env.sink.waitFor(6, 20_000);
    expect(all.at(-1)!.parsed.subject).toMatch(/Reloaded template: After reload$/);
    await until('sales logged in again', 10_000, async () => (await logins('sales')) > before.sales);
    expect(await logins('support')).toBe(before.support);
    // Mail still flows through the kept session and the new one.
    await env.dovecot.append('support', mail('Fay <fay@customer.example>', 'support@example.com', 'Kept session', 'ops-6@customer.example'));
    await env.dovecot.append('sales', mail('Gus <gus@customer.example>', 'sales@example.com', 'New session', 'ops-7@customer.example'));
    await env.sink.waitFor(8, 20_000);
    // A confirmation may reach the relay before the pipeline has counted its message: the count
    // follows the sync of the commit to disk that the acknowledgement waits for (commit-sync.ts).
    const m = await until('the messages counted', 10_000, async () => {
      const scraped = await scrape();
      return scraped.all('casegate_messages_total', { mailbox: 'sales', channel: 'imap', outcome: 'stored' }).length === 1 && scraped;
    });
    expect(m.value('casegate_messages_total', { mailbox: 'sales', channel: 'imap', outcome: 'stored' })).toBe(1);
    expect(m.value('casegate_messages_total', { mailbox: 'support', channel: 'imap', outcome: 'stored' })).toBe(2);
  }, 60_000);

  it('SIGHUP with a new listener port: the new port answers, the old one is closed', async () => {
    const newPort = await findFreePort();
    const reloads = daemonLog().filter((l) => l['msg'] === 'configuration reloaded').length;
    writeConfig(env.dir, configOf(env.dovecot, env.sink, newPort, env.opsPort, { mailboxes: [env.base.mailboxes![0]!, { name: 'sales', addresses: ['sales@example.com'], imap: imapOf(env.dovecot, 'sales', { afterProcessing: 'flag', pollSeconds: 20 }) }] }));
    env.daemon.child.kill('SIGHUP');
    const done = await until('reload done', 20_000, () => daemonLog().filter((l) => l['msg'] === 'configuration reloaded')[reloads]);
    expect(done['actions']).toEqual(expect.arrayContaining([`smtp listener rebound on 127.0.0.1:${newPort}`]));
    await customer(newPort).sendMail({ envelope: { from: 'hal@customer.example', to: ['support@example.com'] }, raw: mail('Hal <hal@customer.example>', 'support@example.com', 'New port', 'ops-8@customer.example') });
    await expect(customer(env.listenerPort).sendMail({ envelope: { from: 'x@customer.example', to: ['support@example.com'] }, raw: mail('x@customer.example', 'support@example.com', 'Old port', 'ops-9@customer.example') })).rejects.toThrow(/ECONNREFUSED/);
    await env.sink.waitFor(9, 20_000);
    // The daemon is still the same process and healthy.
    expect(env.daemon.child.exitCode).toBeNull();
    expect((await healthz()).status).toBe(200);
  }, 60_000);

  it('mail piped in by `casegate ingest` (another process): not in the daemon\'s counters, but in the time of the last stored message', async () => {
    // Postfix's pipe runs `casegate ingest` per message: the daemon's in-memory counters never
    // see it, and nothing told an SRE that mail stopped coming in that way.
    const before = await scrape();
    const counted = before.sum('casegate_messages_total');
    const last = before.value('casegate_last_stored_message_timestamp_seconds');
    expect(Date.now() / 1000 - last).toBeLessThan(120);
    await new Promise((r) => setTimeout(r, 1100));
    const file = join(env.dir, 'piped.eml');
    writeFileSync(file, mail('Ina <ina@customer.example>', 'support@example.com', 'Piped', 'ops-10@customer.example'));
    const r = await runCliInProcess(['--config', env.configFile, 'ingest', file], { cwd: env.dir, env: { HOME: env.dir } });
    expect(r.code, describeResult(r)).toBe(0);
    const after = await scrape();
    expect(after.sum('casegate_messages_total')).toBe(counted);
    expect(after.value('casegate_last_stored_message_timestamp_seconds')).toBeGreaterThan(last);
    expect(Date.now() / 1000 - after.value('casegate_last_stored_message_timestamp_seconds')).toBeLessThan(10);
    expect(after.types.get('casegate_last_stored_message_timestamp_seconds')).toBe('gauge');
  }, 30_000);
});
