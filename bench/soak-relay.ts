/**
 * The soak's SMTP relay (bench/soak.ts): an smtp-server on a fixed loopback port that takes what
 * the daemon sends and keeps only what the soak needs — how often each Message-ID arrived (no
 * email may be sent twice) and the last few hundred emails to customers and to agents (to reply
 * to them). It can be told to answer 451 to every DATA for a while, to refuse a recipient with
 * 550 at RCPT TO, and it can be restarted (down for a few seconds, then up on the same port).
 */
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface RelayedMail {
  readonly messageId: string;
  readonly to: string;
  readonly from: string;
  readonly subject: string;
  /** The first link to the web listener in the text part, if any. */
  readonly link: string | null;
}

export interface SoakRelay {
  readonly port: number;
  /** Emails the relay took (DATA answered 250). */
  accepted(): number;
  /** Message-IDs that arrived more than once, with their count. */
  duplicates(): [string, number][];
  /** Emails to recipients the predicate picks, newest last (bounded). */
  recent(kind: 'customer' | 'agent'): readonly RelayedMail[];
  toAddress(address: string): number;
  failing(on: boolean): void;
  refuseRecipient(address: string): void;
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
  stats(): { tempFailed: number; refusedRcpt: number; restarts: number };
}

const KEEP = 400;

export async function startSoakRelay(port: number, opts: { isAgent: (address: string) => boolean; linkPrefix: string }): Promise<SoakRelay> {
  const seen = new Map<string, number>();
  const byRecipient = new Map<string, number>();
  const customers: RelayedMail[] = [];
  const agents: RelayedMail[] = [];
  const refused = new Set<string>();
  let fail = false;
  let accepted = 0;
  const stats = { tempFailed: 0, refusedRcpt: 0, restarts: 0 };
  const remember = (list: RelayedMail[], m: RelayedMail): void => {
    list.push(m);
    if (list.length > KEEP) list.splice(0, list.length - KEEP);
  };
  const make = (): SMTPServer => {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      closeTimeout: 1_000,
      size: 100 * 1024 * 1024,
      onRcptTo(address, _session, callback) {
        if (!refused.has(address.address.toLowerCase())) return callback();
        stats.refusedRcpt += 1;
        callback(Object.assign(new Error(`5.1.1 <${address.address}>: Recipient address rejected: User unknown`), { responseCode: 550 }));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (fail) {
            stats.tempFailed += 1;
            callback(Object.assign(new Error('4.3.0 try later'), { responseCode: 451 }));
            return;
          }
          simpleParser(Buffer.concat(chunks), { skipImageLinks: true, skipHtmlToText: true }).then((parsed) => {
            accepted += 1;
            const messageId = parsed.messageId ?? `(none ${accepted})`;
            seen.set(messageId, (seen.get(messageId) ?? 0) + 1);
            const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
            for (const t of to) byRecipient.set(t, (byRecipient.get(t) ?? 0) + 1);
            const text = parsed.text ?? '';
            const at = text.indexOf(opts.linkPrefix);
            const link = at < 0 ? null : (/^\S+/.exec(text.slice(at))?.[0] ?? null);
            const mail = { messageId, to: to[0] ?? '', from: parsed.from?.value[0]?.address ?? '', subject: parsed.subject ?? '', link };
            if (to.some(opts.isAgent)) remember(agents, mail);
            else if (to.some((t) => t.includes('@customer'))) remember(customers, mail);
            callback();
          }, callback);
        });
      },
    });
    server.on('error', () => undefined); // a client dropped mid-session: not the soak's concern
    return server;
  };
  const listen = async (server: SMTPServer): Promise<void> => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.server.once('error', reject);
          server.listen(port, '127.0.0.1', () => resolve());
        });
        return;
      } catch (err) {
        if (attempt > 20) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  const close = (server: SMTPServer): Promise<void> => new Promise((r) => server.close(() => r()));
  let server = make();
  await listen(server);
  return {
    port,
    accepted: () => accepted,
    duplicates: () => [...seen].filter(([, n]) => n > 1),
    recent: (kind) => (kind === 'agent' ? agents : customers),
    toAddress: (address) => byRecipient.get(address.toLowerCase()) ?? 0,
    failing(on) {
      fail = on;
    },
    refuseRecipient(address) {
      refused.add(address.toLowerCase());
    },
    async restart(downMs) {
      stats.restarts += 1;
      await close(server);
      await new Promise((r) => setTimeout(r, downMs));
      server = make();
      await listen(server);
    },
    close: () => close(server),
    stats: () => ({ ...stats }),
  };
}
