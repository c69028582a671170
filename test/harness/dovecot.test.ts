import net from 'node:net';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDovecot, dovecotVersion, startDovecot, type DovecotServer } from '../helpers/dovecot.js';

const alice = { user: 'alice@example.test', password: 'alice-secret' };
const bob = { user: 'bob', password: 'bob-secret' };

function message(subject: string, messageId: string): string {
  return [
    'From: Customer <customer@example.org>',
    `To: ${alice.user}`,
    `Subject: ${subject}`,
    `Message-ID: <${messageId}>`,
    'Date: Mon, 03 Mar 2025 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Body of ${subject}.`,
    '',
  ].join('\r\n');
}

async function fetchSubjects(client: ImapFlow, folder = 'INBOX'): Promise<string[]> {
  const lock = await client.getMailboxLock(folder);
  try {
    const subjects: string[] = [];
    for await (const msg of client.fetch('1:*', { envelope: true })) {
      subjects.push(msg.envelope?.subject ?? '');
    }
    return subjects;
  } finally {
    lock.release();
  }
}

async function canLogin(server: DovecotServer, user: string, pass: string): Promise<boolean> {
  const client = new ImapFlow({ ...server.imapOptions(user), auth: { user, pass } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.logout();
    return true;
  } catch {
    client.close();
    return false;
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describeWithDovecot('dovecot test harness', () => {
  let server: DovecotServer;

  beforeAll(async () => {
    server = await startDovecot({ users: [alice, bob] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('runs a 2.3 server on a private loopback port with plain IMAP and IDLE', async () => {
    expect(dovecotVersion()).toMatch(/^2\.3\./);
    expect(server.version).toBe(dovecotVersion());
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(1024);
    expect(server.dir).toContain('casegate-dovecot-');
    expect(server.users.map((u) => u.user)).toEqual([alice.user, bob.user]);

    const client = await server.connect(bob.user);
    try {
      expect(client.secureConnection).toBe(false);
      expect(client.capabilities.has('IDLE')).toBe(true);
      expect(client.capabilities.has('STARTTLS')).toBe(false);
      expect(client.capabilities.has('UIDPLUS')).toBe(true);
    } finally {
      await client.logout();
    }
  });

  it('rejects a wrong password', async () => {
    expect(await canLogin(server, alice.user, 'wrong')).toBe(false);
    expect(await canLogin(server, alice.user, alice.password)).toBe(true);
  });

  it('appends and lists messages per user and folder', async () => {
    const uid = await server.append(alice.user, message('First case', 'first@example.org'));
    expect(uid).toBe(1);
    expect(await server.listUids(alice.user)).toEqual([1]);
    // users have separate mailboxes
    expect(await server.listUids(bob.user)).toEqual([]);

    // folders are created on demand; '/' is the hierarchy separator
    const archived = await server.append(alice.user, Buffer.from(message('Old case', 'old@example.org')), 'Archive/2024');
    expect(archived).toBe(1);
    expect(await server.listUids(alice.user, 'Archive/2024')).toEqual([1]);
    expect(await server.listUids(alice.user)).toEqual([1]);

    const client = await server.connect(alice.user);
    try {
      expect(await fetchSubjects(client)).toEqual(['First case']);
    } finally {
      await client.logout();
    }
  });

  it('pushes new mail to an IDLE client', async () => {
    const idler = await server.connect(alice.user);
    try {
      await idler.mailboxOpen('INBOX');
      const before = idler.mailbox ? idler.mailbox.exists : -1;
      expect(before).toBe(1);

      const exists = new Promise<{ count: number; prevCount: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no EXISTS pushed during IDLE within 3 s')), 3_000);
        idler.once('exists', (event) => {
          clearTimeout(timer);
          resolve(event);
        });
      });
      const idling = idler.idle();
      // wait until IDLE is on the wire before the other client appends
      for (let i = 0; i < 100 && !idler.idling; i++) await new Promise((r) => setTimeout(r, 10));
      expect(idler.idling).toBe(true);
      await new Promise((r) => setTimeout(r, 100));

      const started = Date.now();
      const uid = await server.append(alice.user, message('Pushed case', 'pushed@example.org'));
      expect(uid).toBe(2);
      const event = await exists;
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(event).toMatchObject({ count: 2, prevCount: 1 });

      // any command ends IDLE
      expect(await fetchSubjects(idler)).toEqual(['First case', 'Pushed case']);
      await idling;
    } finally {
      await idler.logout();
    }
  });

  it('changes passwords for the next login', async () => {
    await server.setPassword(bob.user, 'bob-new-secret');
    expect(await canLogin(server, bob.user, bob.password)).toBe(false);
    expect(await canLogin(server, bob.user, 'bob-new-secret')).toBe(true);
    expect(server.users.find((u) => u.user === bob.user)?.password).toBe('bob-new-secret');
  });

  it('restarts on the same port with the same mail, dropping open connections', async () => {
    const port = server.port;
    const client = await server.connect(alice.user);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await client.mailboxOpen('INBOX');

    await server.down();
    expect(server.running).toBe(false);
    expect(await portAnswers(port)).toBe(false);
    await closed;

    await server.up();
    expect(server.running).toBe(true);
    expect(server.port).toBe(port);

    await server.restart();
    expect(server.port).toBe(port);
    expect(await server.listUids(alice.user)).toEqual([1, 2]);
    expect(await server.listUids(alice.user, 'Archive/2024')).toEqual([1]);
    const again = await server.connect(alice.user);
    try {
      expect(await fetchSubjects(again)).toEqual(['First case', 'Pushed case']);
    } finally {
      await again.logout();
    }
  });

  it('stops for good and removes its directory', async () => {
    const { port, dir } = server;
    await server.stop();
    expect(server.running).toBe(false);
    expect(await portAnswers(port)).toBe(false);
    const { existsSync } = await import('node:fs');
    expect(existsSync(dir)).toBe(false);
    await server.stop(); // idempotent
  });
});
