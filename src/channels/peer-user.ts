import { readFileSync } from 'node:fs';

/**
 * The local user behind a loopback TCP connection (Linux): every process of the machine can reach a
 * listener on 127.0.0.1, so on a host with other users "from loopback" says nothing about who is
 * calling. The kernel lists each TCP socket with its owner's uid in /proc/net/tcp and tcp6 — the
 * client's end of our connection is the one whose local port is the client's port and whose remote
 * port is ours (what identd answers). listener.localUsers accepts only those users (your MTA).
 */

/** /proc/net/tcp's address: IPv4 as four bytes in host (little-endian) order, IPv6 as four such words. */
function decodeAddress(hex: string): string {
  const bytes = (h: string): number[] => (h.match(/../g) ?? []).map((b) => Number.parseInt(b, 16)).reverse();
  if (hex.length === 8) return bytes(hex).join('.');
  const b = [0, 8, 16, 24].flatMap((i) => bytes(hex.slice(i, i + 8)));
  const v4mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (v4mapped) return `::ffff:${b.slice(12).join('.')}`;
  const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** Both spellings of the same address compare equal: ::ffff:127.0.0.1 is 127.0.0.1. */
function sameAddress(a: string, b: string): boolean {
  const norm = (x: string): string => x.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1').replace(/^0:0:0:0:0:0:0:1$/, '::1');
  return norm(a) === norm(b);
}

export interface TcpEnds {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/** The uid owning the client's end of this connection, or null (not Linux, not found). */
export function peerUid(c: TcpEnds, tables: readonly string[] = ['/proc/net/tcp', '/proc/net/tcp6']): number | null {
  for (const table of tables) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid …
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      const [localHex, localPortHex] = f[1]!.split(':');
      const [remHex, remPortHex] = f[2]!.split(':');
      if (Number.parseInt(localPortHex!, 16) !== c.remotePort || Number.parseInt(remPortHex!, 16) !== c.localPort) continue;
      if (!sameAddress(decodeAddress(localHex!), c.remoteAddress) || !sameAddress(decodeAddress(remHex!), c.localAddress)) continue;
      return Number.parseInt(f[7]!, 10);
    }
  }
  return null;
}

/** Numeric uids of `users` (names from /etc/passwd, or numbers); unknown names are left out. */
export function uidsOf(users: readonly (string | number)[], passwd = '/etc/passwd'): Set<number> {
  let entries: Map<string, number> | null = null;
  const out = new Set<number>();
  for (const u of users) {
    if (typeof u === 'number' || /^\d+$/.test(u)) {
      out.add(Number(u));
      continue;
    }
    entries ??= new Map(
      (() => {
        try {
          return readFileSync(passwd, 'utf8').split('\n');
        } catch {
          return [];
        }
      })()
        .map((l) => l.split(':'))
        .filter((f) => f.length > 2 && /^\d+$/.test(f[2]!))
        .map((f) => [f[0]!, Number(f[2])] as const),
    );
    const uid = entries.get(u);
    if (uid !== undefined) out.add(uid);
  }
  return out;
}
