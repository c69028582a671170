import net from 'node:net';

/**
 * A TCP proxy (in front of PostgreSQL) whose open connections can go silent: bytes are held in
 * both directions, the sockets stay open — no FIN, no RST, and the proxy's kernel still answers
 * TCP keepalive. What a client sees of a frozen server, or of a proxy whose backend is gone.
 * Connections opened afterwards pass.
 */
export interface SilentProxy {
  readonly port: number;
  /**
   * Connections open now stop passing bytes (new ones pass): every one, or only those whose socket
   * to the server has one of these local ports (PostgreSQL's pg_stat_activity.client_port). Returns how many.
   */
  silenceOpen(serverSidePorts?: readonly number[]): number;
  /**
   * The next COMMIT a client sends (a simple query, as Kysely sends it) breaks its connection:
   * 'before' it reaches the server (the transaction never commits) — a server restart: every open
   * connection is closed and new ones for `refuseMs`; or 'after' the server answered it (the
   * transaction committed, the client never hears so): that connection only. Resolves when done.
   */
  breakAtCommit(when: 'before' | 'after', refuseMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A simple-protocol query message of the text `commit`. */
const COMMIT = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 11]), Buffer.from('commit\0')]);

export async function silentProxy(host: string, port: number): Promise<SilentProxy> {
  type Pair = { c: net.Socket; u: net.Socket; silent: boolean; answerLost: (() => void) | null };
  const pairs = new Set<Pair>();
  let breakNext: { when: 'before' | 'after'; refuseMs: number; done: () => void } | null = null;
  let refuseUntil = 0;
  const server = net.createServer((c) => {
    if (Date.now() < refuseUntil) {
      c.destroy();
      return;
    }
    const u = net.connect(port, host);
    const pair: Pair = { c, u, silent: false, answerLost: null };
    pairs.add(pair);
    c.on('data', (d: Buffer) => {
      const b = breakNext;
      if (b !== null && d.includes(COMMIT)) {
        breakNext = null;
        if (b.when === 'after') pair.answerLost = b.done;
        else {
          refuseUntil = Date.now() + b.refuseMs;
          for (const p of pairs) end(p);
          b.done();
          return;
        }
      }
      if (!pair.silent) u.write(d);
    });
    u.on('data', (d: Buffer) => {
      if (pair.answerLost !== null) {
        // The server's answer to the COMMIT: it committed; the client gets a closed connection instead.
        end(pair);
        pair.answerLost();
        return;
      }
      if (!pair.silent) c.write(d);
    });
    const end = (p: Pair): void => {
      p.c.destroy();
      p.u.destroy();
      pairs.delete(p);
    };
    c.on('error', () => end(pair)).on('close', () => end(pair));
    u.on('error', () => end(pair)).on('close', () => end(pair));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    silenceOpen(serverSidePorts) {
      let n = 0;
      for (const p of pairs) {
        if (serverSidePorts !== undefined && !serverSidePorts.includes(p.u.localPort ?? -1)) continue;
        p.silent = true;
        n += 1;
      }
      return n;
    },
    breakAtCommit: (when, refuseMs = 0) => new Promise<void>((done) => (breakNext = { when, refuseMs, done })),
    close: () =>
      new Promise<void>((r) => {
        for (const p of pairs) {
          p.c.destroy();
          p.u.destroy();
        }
        server.close(() => r());
      }),
  };
}
