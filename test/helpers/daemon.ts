import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { startDaemon, type Daemon } from '../../src/main.js';
import { writeConfig } from './context.js';
import { headline } from './headline.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from './smtp-sink.js';

export interface TestDaemon {
  readonly daemon: Daemon;
  readonly sink: SmtpSink;
  /** The temp dir holding casegate.yaml and data/ (the CLI can be pointed at it). */
  readonly dir: string;
  /** A customer's MTA: nodemailer speaking plain SMTP to the daemon's listener. */
  client(): nodemailer.Transporter;
  /** Stop the daemon and start it again on the same config and data (a new listener port); `daemon` is the new one. */
  restart(): Promise<Daemon>;
  stop(): Promise<void>;
}

/**
 * The real daemon (listener on a random port) with its outgoing mail going to a real SMTP sink.
 * `config` adds to the defaults (templates not watched, outbox swept every second).
 */
export async function startTestDaemon(config: ConfigInput): Promise<TestDaemon> {
  const sink = await startSmtpSink();
  const dir = mkdtempSync(join(tmpdir(), 'casegate-e2e-'));
  const resolved = writeConfig(dir, {
    templates: { watch: false },
    ...config,
    listener: { port: 0, ...config.listener },
    outgoing: { transport: 'smtp', smtp: { host: '127.0.0.1', port: sink.port, secure: false }, sweepSeconds: 1, ...config.outgoing },
  });
  let daemon = await startDaemon({ resolved, log: silentLogger() });
  return {
    get daemon() {
      return daemon;
    },
    sink,
    dir,
    client: () => nodemailer.createTransport({ host: '127.0.0.1', port: daemon.smtp!.port, secure: false, ignoreTLS: true }),
    async restart() {
      await daemon.stop();
      daemon = await startDaemon({ resolved, log: silentLogger() });
      return daemon;
    },
    async stop() {
      await daemon.stop();
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * What the sink got for `address` (envelope recipient), optionally only the emails whose headline
 * matches `what`. Every customer email of a case has the same subject, and its first line says
 * what happened, so the headline is the subject plus the text's opening lines.
 */
export function sentTo(sink: SmtpSink, address: string, what?: RegExp): SinkMessage[] {
  return sink.messages.filter((m) => m.envelopeTo.includes(address) && (what === undefined || what.test(headline(m.parsed))));
}


/** Wait until `check` holds (the outbox sends asynchronously), then let stragglers arrive and check again. */
export async function eventually(check: () => void, settleMs = 400, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await new Promise((r) => setTimeout(r, settleMs));
  check();
}
