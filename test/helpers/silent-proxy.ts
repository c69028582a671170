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
  close(): Promise<void>;
}

export async function silentProxy(host: string, port: number): Promise<SilentProxy> {
  const pairs = new Set<{ c: net.Socket; u: net.Socket; silent: boolean }>();
  const server = net.createServer((c) => {
    const u = net.connect(port, host);
    const pair = { c, u, silent: false };
    pairs.add(pair);
    c.on('data', (d: Buffer) => void (pair.silent || u.write(d)));
    u.on('data', (d: Buffer) => void (pair.silent || c.write(d)));
    const end = (): void => {
      c.destroy();
      u.destroy();
      pairs.delete(pair);
    };
    c.on('error', end).on('close', end);
    u.on('error', end).on('close', end);
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
