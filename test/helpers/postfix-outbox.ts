import type { ConfigInput } from '../../src/config/schema.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { testEnv, type TestEnv } from './context.js';
import type { PostfixServer } from './postfix-server.js';
import { startSmtpSink, type SmtpSink } from './smtp-sink.js';

type SmtpInput = NonNullable<NonNullable<ConfigInput['outgoing']>['smtp']>;

/** casegate's outbox sending through a private Postfix to a customer's MX (an smtp-server sink). */
export interface OutboxBehindPostfix {
  readonly postfix: PostfixServer;
  readonly customerMx: SmtpSink;
  readonly env: TestEnv;
  readonly transport: MailTransport;
  readonly worker: OutboxWorker;
  /**
   * The worker stopped and a new transport and worker made (not started): a new connection — the
   * pooled one's smtpd keeps the access tables it read — and no holds kept in the old worker's memory.
   */
  reconnect(): Promise<void>;
  /** Everything stopped, each part even when another's stop failed. */
  close(): Promise<void>;
}

/**
 * The sink, the relay `startRelay` makes for it (routing customer.example to the sink's port), a
 * test environment whose outgoing transport is that relay (plain SMTP; `smtp` adds to it), and an
 * outbox worker on it.
 */
export async function outboxBehindPostfix(startRelay: (customerMxPort: number) => Promise<PostfixServer>, config: ConfigInput = {}, smtp: Partial<SmtpInput> = {}): Promise<OutboxBehindPostfix> {
  const customerMx = await startSmtpSink();
  let postfix: PostfixServer | undefined;
  let env: TestEnv | undefined;
  try {
    postfix = await startRelay(customerMx.port);
    env = await testEnv({ ...config, outgoing: { ...config.outgoing, transport: 'smtp', smtp: { host: '127.0.0.1', port: postfix.port, secure: false, ...smtp } } });
  } catch (err) {
    await settle([() => env?.close(), () => postfix?.stop(), () => customerMx.close()]);
    throw err;
  }
  const started = { postfix, env };
  let transport = createTransport(env.resolved);
  let worker = new OutboxWorker(env.ctx, transport);
  return {
    ...started,
    customerMx,
    get transport() {
      return transport;
    },
    get worker() {
      return worker;
    },
    async reconnect() {
      await worker.stop();
      transport.close();
      transport = createTransport(started.env.resolved);
      worker = new OutboxWorker(started.env.ctx, transport);
    },
    async close() {
      await settle([() => worker.stop(), () => transport.close(), () => started.env.close(), () => started.postfix.stop(), () => customerMx.close()]);
    },
  };
}

/** Run each step in order whatever the others did; the first failure is thrown at the end. */
async function settle(steps: readonly (() => unknown)[]): Promise<void> {
  let first: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
