import { afterAll, beforeAll, expect, it } from 'vitest';
import { peekDb, type DbPeek } from '../helpers/db-peek.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { eml } from '../helpers/context.js';
import { imapProxy, type ImapProxy } from '../helpers/imap-proxy.js';
import { folderContents, imapOf, removeDir, runDaemon, until, type RunningDaemon } from './imap-env.js';

/**
 * Another client expunges messages after the daemon listed them (SEARCH, metadata FETCH) and
 * before it fetches their bodies: Dovecot answers `BODY[] NIL` for the small one fetched with the
 * batch, and nothing for the large one downloaded on its own. The daemon says once per message
 * that it is gone from the server, records nothing for it, and carries on with the rest of the
 * batch (no TypeError, no "trying again later"). The daemon talks to Dovecot through a proxy
 * that holds its first body FETCH until the other client's EXPUNGE is done.
 */
let server: DovecotServer;
let proxy: ImapProxy;
let d: RunningDaemon | null = null;
let db: DbPeek | null = null;

describeWithDovecot('IMAP: a message expunged by another client in the middle of a batch', () => {
  beforeAll(async () => {
    server = await startDovecot({ users: [{ user: 'vanish', password: 'pw-vanish' }] });
  });

  afterAll(async () => {
    await d?.stop();
    await db?.close();
    if (d !== null) removeDir(d.dir);
    await proxy?.close();
    await server?.stop();
  });

  it('logs one clear line per vanished message and stores the rest', async () => {
    const uidA = await server.append('vanish', eml({ subject: 'Gone small', messageId: 'gone-small@customer.example' }));
    await server.append('vanish', eml({ subject: 'Kept one', messageId: 'kept-1@customer.example' }));
    const uidC = await server.append('vanish', eml({ subject: 'Gone large', messageId: 'gone-large@customer.example', body: `${'y'.repeat(76)}\r\n`.repeat(5_000) }));
    await server.append('vanish', eml({ subject: 'Kept two', messageId: 'kept-2@customer.example' }));
    let expunged = false;
    proxy = await imapProxy(server.host, server.port, async (line) => {
      // The batch's body FETCH of the small messages (not the metadata FETCH, not a partial one).
      if (expunged || !/ UID FETCH \S+ \(UID BODY\.PEEK\[\][ )]/i.test(line)) return;
      expunged = true;
      const other = await server.connect('vanish');
      try {
        await other.mailboxOpen('INBOX');
        await other.messageDelete([uidA, uidC].join(','), { uid: true });
      } finally {
        await other.logout();
      }
    });
    d = await runDaemon({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { ...imapOf(server, 'vanish'), port: proxy.port } }] });
    db = peekDb(d.resolved);
    await until(async () => (await db!.all('SELECT id FROM cases')).length === 2, 'the two remaining messages as cases');
    await until(async () => (await db!.get<{ state: string }>("SELECT state FROM mailbox_health WHERE mailbox = 'support'"))?.state === 'idling', 'the mailbox to idle');
    expect(expunged).toBe(true);

    expect(await db.all('SELECT subject FROM cases ORDER BY subject')).toEqual([{ subject: 'Kept one' }, { subject: 'Kept two' }]);
    expect(await db.all('SELECT outcome FROM receipts')).toEqual([{ outcome: 'stored' }, { outcome: 'stored' }]);
    await until(async () => (await folderContents(server, 'vanish')).length === 0, 'INBOX to be empty');
    expect((await folderContents(server, 'vanish', 'casegate/Processed')).map((m) => m.subject)).toEqual(['Kept one', 'Kept two']);

    const text = JSON.stringify(d.lines);
    expect(text).not.toMatch(/ERR_INVALID_ARG_TYPE|TypeError/);
    expect(d.lines.filter((l) => l.msg === 'message left in the folder; trying again later')).toEqual([]);
    const gone = d.lines.filter((l) => /^message uid \d+ is gone from the server \(expunged by another client after it was listed\); nothing to do$/.test(l.msg));
    expect(gone.map((l) => l['uid']).sort()).toEqual([uidA, uidC].sort());
    for (const l of gone) expect(l.level).toBe(30);
    expect(d.lines.filter((l) => /^IMAP mailbox support failed/.test(l.msg))).toEqual([]);
  });
});
