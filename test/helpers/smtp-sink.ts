import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SinkMessage {
  readonly envelopeFrom: string | null;
  readonly envelopeTo: string[];
  readonly raw: Buffer;
  readonly parsed: ParsedMail;
}

export interface SmtpSink {
  readonly port: number;
  readonly messages: SinkMessage[];
  /** Reply with this code to the next n DATA commands (e.g. 451 or 550). */
  failNext(code: number, times?: number): void;
  waitFor(count: number, timeoutMs?: number): Promise<SinkMessage[]>;
  close(): Promise<void>;
}

/** A real SMTP server on a random loopback port that records what it receives. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: SinkMessage[] = [];
  let failures: { code: number; times: number } | null = null;
  const waiters: (() => void)[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (failures !== null && failures.times > 0) {
          failures.times -= 1;
          const code = failures.code;
          callback(Object.assign(new Error(code >= 500 ? '5.1.1 rejected by sink' : '4.3.0 try later'), { responseCode: code }));
          return;
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then((parsed) => {
          messages.push({
            envelopeFrom: session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address,
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            raw,
            parsed,
          });
          waiters.splice(0).forEach((w) => w());
          callback();
        }, callback);
      });
    },
  });
  // A client killed mid-session (kill -9 tests) resets its connection: that is expected, not a failure.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    port,
    messages,
    failNext(code, times = 1) {
      failures = { code, times };
    },
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`sink: expected ${count} messages, got ${messages.length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
