/**
 * The channel floor: the minimal pipeline of bench/floor.ts behind the same two channels the
 * daemon uses in the e2e phase, run as its own process (as the daemon is): read the backlog from
 * Dovecot over IMAP (imapflow, one connection, 64 messages per FETCH, BENCH_CONCURRENCY in
 * flight), the essential work of each message in one transaction, acknowledge it after its commit
 * (moved to Processed, one MOVE per FETCH batch), and send each confirmation to the relay
 * (nodemailer, pooled SMTP, 5 connections), marked sent after the relay accepted it.
 *
 * No retries, no IDLE, no rules, no logs: what any email gateway must pay per message on these two
 * channels with these libraries. bench/e2e.ts starts it like the daemon and measures it the same way.
 *
 * Usage: node dist/bench/floor-channel.js '{"dir":…,"templates":…,"imap":{host,port,user,pass},"relayPort":…,"concurrency":…}'
 */
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { createFloor } from './floor.js';

interface Args {
  readonly dir: string;
  readonly templates: string;
  readonly imap: { readonly host: string; readonly port: number; readonly user: string; readonly pass: string };
  readonly relayPort: number;
  readonly concurrency: number;
}

const FETCH_COUNT = 64;

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const relay = nodemailer.createTransport({ host: '127.0.0.1', port: args.relayPort, secure: false, ignoreTLS: true, pool: true, maxConnections: 5 });
  const floor = await createFloor(args.dir, args.templates, relay);
  const client = new ImapFlow({ host: args.imap.host, port: args.imap.port, secure: false, doSTARTTLS: false, auth: { user: args.imap.user, pass: args.imap.pass }, logger: false, disableAutoIdle: true });
  client.on('error', (err: unknown) => {
    console.error('floor-channel: IMAP error', err);
    process.exit(1);
  });
  await client.connect();
  await client.mailboxOpen('INBOX');
  await client.mailboxCreate('Processed').catch(() => undefined);
  const sends: Promise<void>[] = [];
  for (;;) {
    const uids = (await client.search({ deleted: false }, { uid: true })) || [];
    if (uids.length === 0) break;
    for (let i = 0; i < uids.length; i += FETCH_COUNT) {
      const chunk = uids.slice(i, i + FETCH_COUNT);
      const sources = (await client.fetchAll(chunk, { uid: true, source: true }, { uid: true })).filter((m) => m.source !== undefined);
      const committed: number[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(args.concurrency, sources.length) }, async () => {
          for (let m = sources[next++]; m !== undefined; m = sources[next++]) {
            const uid = m.uid;
            // Acknowledged after the commit; the send goes on meanwhile (as the daemon's outbox does).
            await new Promise<void>((resolve, reject) => {
              const done = floor.handle({ raw: m.source! }, resolve);
              done.then(undefined, reject);
              sends.push(done);
            });
            committed.push(uid);
          }
        }),
      );
      await client.messageMove(committed, 'Processed', { uid: true });
    }
  }
  await Promise.all(sends);
  console.error('floor-channel: backlog done');
  // Stay up like the daemon until the benchmark stops it.
  process.on('SIGTERM', () => {
    void client
      .logout()
      .then(() => relay.close())
      .then(() => floor.close())
      .finally(() => process.exit(0));
  });
  setInterval(() => undefined, 60_000);
}

main().catch((err: unknown) => {
  console.error('floor-channel:', err);
  process.exit(1);
});
