import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { ImapConfig } from '../../src/config/schema.js';
import { CommandFailures, quietImapLogger } from '../../src/channels/imap-connection.js';
import { ACK_BATCH, Settler } from '../../src/channels/imap-settler.js';
import { silentLogger } from '../../src/log.js';
import { eml } from '../helpers/context.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { folderContents } from './imap-env.js';

/**
 * The settler against a private Dovecot: committed messages are acknowledged a batch at a time
 * (one STORE and one MOVE per ACK_BATCH), the rest when the reader's round drains it, and a
 * failing command surfaces once from drain().
 */
let server: DovecotServer;

const MOVE_CFG = { afterProcessing: 'move', processedKeyword: '$CasegateProcessed' } as ImapConfig;

async function session(user: string, count: number, failures?: CommandFailures): Promise<{ client: ImapFlow; uids: number[] }> {
  // Appended over one connection (a login per message cost Dovecot a process and an authentication each).
  const appender = await server.connect(user);
  for (let i = 1; i <= count; i++) await appender.append('INBOX', eml({ subject: `settle ${i}`, messageId: `settle-${user}-${i}@customer.example` }));
  await appender.logout();
  // With `failures`: the daemon's logger adapter, which keeps the server's NO/BAD answers.
  const client = failures === undefined ? await server.connect(user) : new ImapFlow({ ...server.imapOptions(user), logger: quietImapLogger(silentLogger(), failures) });
  if (failures !== undefined) await client.connect();
  await client.mailboxOpen('INBOX');
  for (const folder of ['Processed', 'Quarantine']) await client.mailboxCreate(folder).catch(() => undefined);
  const uids = (await client.search({ all: true }, { uid: true })) || [];
  return { client, uids: uids.sort((a, b) => a - b) };
}

const tick = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

describeWithDovecot('IMAP settler', () => {
  beforeAll(async () => {
    server = await startDovecot({ users: ['batches', 'queued-meanwhile', 'fails'].map((user) => ({ user, password: `pw-${user}` })) });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it(`acknowledges ${ACK_BATCH} committed messages per STORE and MOVE, and the rest when drained`, async () => {
    const total = 2 * ACK_BATCH + 22;
    const { client, uids } = await session('batches', total);
    try {
      const moves = vi.spyOn(client, 'messageMove');
      const stores = vi.spyOn(client, 'messageFlagsAdd');
      const acknowledged: number[] = [];
      const settler = new Settler(client, { processedPath: 'Processed', quarantinePath: 'Quarantine' }, MOVE_CFG, silentLogger(), { onAcknowledged: (u) => acknowledged.push(...u) });

      // Below a full batch nothing goes to the server.
      for (const uid of uids.slice(0, ACK_BATCH - 1)) settler.add(uid, 'processed');
      await tick();
      expect(moves).not.toHaveBeenCalled();
      expect((await folderContents(server, 'batches')).length).toBe(total);

      // The batch's last message sends the whole batch: one STORE \Seen, one MOVE.
      settler.add(uids[ACK_BATCH - 1]!, 'processed');
      await vi.waitFor(async () => expect((await folderContents(server, 'batches', 'Processed')).length).toBe(ACK_BATCH), { timeout: 10_000 });
      expect(stores).toHaveBeenCalledTimes(1);
      expect(moves).toHaveBeenCalledTimes(1);
      expect(moves.mock.calls[0]![0]).toEqual(uids.slice(0, ACK_BATCH));

      // A second full batch (one of them quarantined), then a partial one that waits for drain().
      const rest = uids.slice(ACK_BATCH);
      rest.forEach((uid, i) => settler.add(uid, i === 5 ? 'quarantine' : 'processed'));
      await tick();
      expect((await folderContents(server, 'batches')).length).toBe(total - 2 * ACK_BATCH);
      await settler.drain();
      expect(await folderContents(server, 'batches')).toEqual([]);
      const processed = await folderContents(server, 'batches', 'Processed');
      const quarantined = await folderContents(server, 'batches', 'Quarantine');
      expect(processed.length).toBe(total - 1);
      expect(quarantined.map((m) => m.subject)).toEqual([`settle ${ACK_BATCH + 6}`]);
      expect([...processed, ...quarantined].every((m) => m.flags.includes('\\Seen'))).toBe(true);
      // 2 full batches and the drained rest: 3 STOREs; MOVEs: 3 to Processed, 1 to Quarantine.
      expect(stores).toHaveBeenCalledTimes(3);
      expect(moves).toHaveBeenCalledTimes(4);

      // Every message reported acknowledged once, after its MOVE.
      expect([...acknowledged].sort((a, b) => a - b)).toEqual(uids);

      // Nothing queued: drain() returns without a command.
      await settler.drain();
      expect(moves).toHaveBeenCalledTimes(4);
    } finally {
      await client.logout().catch(() => client.close());
    }
  });

  it('messages committed while a batch is on its way go out a full batch at a time; the rest waits for the drain', async () => {
    const total = 2 * ACK_BATCH + 22;
    const { client, uids } = await session('queued-meanwhile', total);
    try {
      const moves = vi.spyOn(client, 'messageMove');
      const settler = new Settler(client, { processedPath: 'Processed', quarantinePath: null }, MOVE_CFG, silentLogger());
      // All at once: the first batch's STORE and MOVE are still on their way while the rest is queued.
      for (const uid of uids) settler.add(uid, 'processed');
      await vi.waitFor(() => expect(moves).toHaveBeenCalledTimes(2), { timeout: 10_000 });
      await vi.waitFor(async () => expect((await folderContents(server, 'queued-meanwhile')).length).toBe(22), { timeout: 10_000 });
      await tick();
      expect(moves).toHaveBeenCalledTimes(2);
      expect(moves.mock.calls.map((c) => (c[0] as number[]).length)).toEqual([ACK_BATCH, ACK_BATCH]);
      await settler.drain();
      expect(await folderContents(server, 'queued-meanwhile')).toEqual([]);
      expect(moves).toHaveBeenCalledTimes(3);
    } finally {
      await client.logout().catch(() => client.close());
    }
  });

  it('a failing acknowledgement is thrown by the next drain, once, with the server\'s answer, and the messages stay in the folder', async () => {
    const failures = new CommandFailures();
    const { client, uids } = await session('fails', 3, failures);
    try {
      const acknowledged: number[] = [];
      const settler = new Settler(client, { processedPath: 'No/Such/Folder', quarantinePath: null }, MOVE_CFG, silentLogger(), {
        failures,
        onAcknowledged: (u) => acknowledged.push(...u),
      });
      for (const uid of uids) settler.add(uid, 'processed');
      // imapflow's messageMove() only returns false; the reason comes from what it logged.
      await expect(settler.drain()).rejects.toThrow(/^MOVE of 3 messages to "No\/Such\/Folder" failed: NO \[TRYCREATE\] Mailbox doesn't exist/);
      expect(acknowledged).toEqual([]);
      await expect(settler.drain()).resolves.toBeUndefined();
      expect((await folderContents(server, 'fails')).map((m) => m.subject)).toEqual(['settle 1', 'settle 2', 'settle 3']);
    } finally {
      await client.logout().catch(() => client.close());
    }
  });
});
