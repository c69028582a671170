import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrateToLatest, openDatabase } from '../../src/db/database.js';
import { clientConfig } from '../../src/db/dialect-postgres.js';
import { DatabaseOpenError } from '../../src/db/open-error.js';

/**
 * `database.password` reaches the server (docs/postgresql.md: "the password comes from
 * database.password, the URL, or PGPASSWORD / ~/.pgpass"). node-postgres lays the parsed
 * connection string over the other settings, its empty password included: a password given beside
 * a URL without one was dropped, and every password-authenticated server (scram-sha-256, the
 * default of PostgreSQL 14 and later) refused casegate with "SASL: SCRAM-SERVER-FIRST-MESSAGE:
 * client password must be a string". The test cluster trusts every local login, so only what the
 * driver would send can show it: pg's own parameters of the client casegate configures.
 */
describe('database.password', () => {
  const target = (url: string, password?: string) => ({ url, schema: 'public', poolSize: 1, lockTimeoutMs: 5000, ...(password !== undefined ? { password } : {}) });
  const sent = (url: string, password?: string): unknown => (new pg.Client(clientConfig(target(url, password), pg)) as unknown as { password: unknown }).password;

  it('is the password pg sends, beside a URL without one (the documented form)', () => {
    expect(sent('postgres://casegate@db.example.com:5432/casegate?sslmode=verify-full', 'dbpw-1')).toBe('dbpw-1');
    expect(sent('postgres://casegate@db.example.com/casegate', 'dbpw-1')).toBe('dbpw-1');
  });

  it('keeps every character (it travels as a URL parameter)', () => {
    const odd = 'p@ss w%rd&x=1?#/:é';
    expect(sent('postgres://casegate@db.example.com/casegate?application_name=x', odd)).toBe(odd);
  });

  it('wins over the URL\'s own password; without it the URL\'s is used', () => {
    expect(sent('postgres://casegate:old@db.example.com/casegate', 'new')).toBe('new');
    expect(sent('postgres://casegate:fromurl@db.example.com/casegate')).toBe('fromurl');
  });
});

/**
 * A PostgreSQL server with a certificate of a private CA (Debian's own package turns ssl on with a
 * self-signed "snakeoil" one) and the documented `?sslmode=require`: node-postgres checks the
 * certificate for every sslmode, so `casegate migrate` and the start ended in a stack trace
 * ("Error: unable to verify the first certificate") instead of the one line the docs promise.
 * The server here answers PostgreSQL's SSLRequest and does the TLS handshake, nothing more.
 */
describe('a PostgreSQL server whose certificate this machine does not trust', () => {
  it('is one line saying what to put in database.url (sslrootcert), not a stack', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-pgtls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const context = tls.createSecureContext({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
    const server = net.createServer((socket) => {
      socket.once('data', () => {
        // SSLRequest: "S", then TLS on the same socket.
        socket.write('S');
        const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
        secure.on('error', () => socket.destroy());
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const db = openDatabase({ kind: 'postgres', url: `postgres://casegate@127.0.0.1:${port}/casegate?sslmode=require`, password: 'x', schema: 'public', poolSize: 1, lockTimeoutMs: 1000 });
    try {
      const err = await migrateToLatest(db).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseOpenError);
      expect((err as Error).message).toMatch(/^cannot open the database postgres:\/\/casegate@127\.0\.0\.1:\d+\/casegate\?sslmode=require\b/);
      expect((err as Error).message).toMatch(/self[- ]signed certificate.*: the server's TLS certificate is not one this machine trusts .*sslmode=verify-full&sslrootcert=\/etc\/casegate\/db-ca\.pem/);
    } finally {
      await db.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * A server that asks for a password (scram-sha-256, PostgreSQL's default) when casegate has none:
 * pg's "SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string" carries no SQLSTATE, and
 * `migrate-data` (which reads no database.password) and `migrate` ended in a stack trace.
 */
describe('a server asking for a password casegate does not have', () => {
  it('is one line naming database.password, PGPASSWORD and ~/.pgpass', async () => {
    /** An authentication request: 'R', its length, its kind, its data. */
    const auth = (kind: number, data: string): Buffer => {
      const body = Buffer.from(data);
      const msg = Buffer.alloc(9 + body.length);
      msg.write('R', 0);
      msg.writeInt32BE(8 + body.length, 1);
      msg.writeInt32BE(kind, 5);
      body.copy(msg, 9);
      return msg;
    };
    const server = net.createServer((socket) => {
      let step = 0;
      socket.on('data', () => {
        // The startup message: AuthenticationSASL offering SCRAM-SHA-256; the client's first
        // SCRAM message: the server's first (SASLContinue), which needs the password.
        if (step++ === 0) socket.write(auth(10, 'SCRAM-SHA-256\0\0'));
        else socket.write(auth(11, 'r=abc,s=c2FsdA==,i=4096'));
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const saved = { pw: process.env.PGPASSWORD, file: process.env.PGPASSFILE };
    delete process.env.PGPASSWORD;
    process.env.PGPASSFILE = '/nonexistent/pgpass';
    const db = openDatabase({ kind: 'postgres', url: `postgres://casegate@127.0.0.1:${port}/casegate`, schema: 'public', poolSize: 1, lockTimeoutMs: 1000 });
    try {
      const err = await migrateToLatest(db).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseOpenError);
      expect((err as Error).message).toMatch(/^cannot open the database postgres:\/\/casegate@127\.0\.0\.1:\d+\/casegate \(schema public\): SASL: .*client password must be a string: the server asks for a password and casegate has none — set database\.password/);
    } finally {
      if (saved.pw !== undefined) process.env.PGPASSWORD = saved.pw;
      if (saved.file !== undefined) process.env.PGPASSFILE = saved.file;
      else delete process.env.PGPASSFILE;
      await db.destroy();
      server.close();
    }
  });
});
