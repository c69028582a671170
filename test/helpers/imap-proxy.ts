import net from 'node:net';

/**
 * A TCP proxy in front of an IMAP server that shows the test every command line the client sends
 * before the server gets it, and lets the test hold it there (the hook's promise): to make
 * something happen on the server between two commands of the client under test, exactly then.
 * Bytes pass unchanged and in order.
 */
export interface ImapProxy {
  readonly port: number;
  /** Every command line the client sent so far (without CRLF). */
  readonly lines: string[];
  close(): Promise<void>;
}

export type LineHook = (line: string) => void | Promise<void>;

export async function imapProxy(upstreamHost: string, upstreamPort: number, hook: LineHook = () => undefined): Promise<ImapProxy> {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, upstreamHost);
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    // Lines are handled one after the other: a held line holds everything behind it.
    let chain: Promise<void> = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let nl = pending.indexOf(0x0a); nl >= 0; nl = pending.indexOf(0x0a)) {
        const bytes = pending.subarray(0, nl + 1);
        pending = pending.subarray(nl + 1);
        const line = bytes.toString('latin1').replace(/\r?\n$/, '');
        chain = chain.then(async () => {
          lines.push(line);
          await hook(line);
          if (!upstream.destroyed) upstream.write(bytes);
        });
      }
    });
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const addr = proxy.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    lines,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => r());
      }),
  };
}
