import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { testEnv, type TestEnv } from './context.js';
import { startSmtpSink, type SmtpSink } from './smtp-sink.js';

/** The case page's base address in the signed-link tests. */
export const WEB_BASE = 'https://help.example.com/cg';

/**
 * The desk of the signed-link tests: one support mailbox, Ben as its agent, the case page on at
 * WEB_BASE (any free port), automatic replies without a pause between them.
 */
export const WEB_DESK = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
  web: { enabled: true, port: 0, baseUrl: WEB_BASE },
  autoReply: { minIntervalSeconds: 0 },
} as const satisfies ConfigInput;

/** The desk of a signed-link test file, sending over SMTP to a sink of its own (web-desk.ts: deskSendingToSink). */
export interface DeskWithSink {
  sink: SmtpSink;
  env: TestEnv;
  transport: MailTransport;
}

/**
 * One SMTP sink for the file and, before each test, a fresh desk of `config` whose outgoing mail goes
 * to it (the sink emptied); `prepare` runs on the desk before its transport is made (a DKIM key it
 * signs with). After each test the transport and the desk are closed. Hooks the file registers
 * after this call run after its set-up and before its tear-down.
 */
export function deskSendingToSink(config: ConfigInput, prepare?: (env: TestEnv) => void): DeskWithSink {
  const desk = {} as DeskWithSink;
  beforeAll(async () => {
    desk.sink = await startSmtpSink();
  });
  afterAll(async () => {
    await desk.sink?.close();
  });
  beforeEach(async () => {
    desk.sink.messages.length = 0;
    desk.env = await testEnv({ ...config, outgoing: { ...config.outgoing, transport: 'smtp', smtp: { host: '127.0.0.1', port: desk.sink.port, secure: false } } });
    prepare?.(desk.env);
    desk.transport = createTransport(desk.env.resolved);
  });
  afterEach(async () => {
    desk.transport?.close();
    await desk.env?.close();
  });
  return desk;
}
