import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, type ImapConfig } from '../../src/config/schema.js';
import { accessToken, clientOptions, CommandFailures, CredentialsError, describeImapError, isAuthFailure, quietImapLogger } from '../../src/channels/imap-connection.js';
import { silentLogger } from '../../src/log.js';

/** Connection options, credentials and error wording (no server needed). */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function imap(over: Record<string, unknown>): ImapConfig {
  const cfg = configSchema.parse({
    mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { host: 'imap.example.com', auth: { method: 'password', user: 'u', password: 'p' }, ...over } }],
  });
  return cfg.mailboxes[0]!.imap!;
}

describe('IMAP connection options', () => {
  it.each([
    ['implicit', { secure: true, doSTARTTLS: undefined }],
    ['starttls', { secure: false, doSTARTTLS: true }],
    ['none', { secure: false, doSTARTTLS: false }],
  ] as const)('tls: %s', async (tls, expected) => {
    const o = await clientOptions(imap({ tls }), silentLogger(), 'x');
    expect({ secure: o.secure, doSTARTTLS: o.doSTARTTLS }).toEqual(expected);
    expect(o.autoIdleDelay).toBe(100);
    expect(o.tls).toEqual({});
  });

  it('trusts caFile and can skip verification', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-ca-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const o = await clientOptions(imap({ caFile: join(dir, 'ca.pem'), insecureSkipVerify: true }), silentLogger(), 'x');
    expect(String(o.tls?.ca)).toContain('BEGIN CERTIFICATE');
    expect(o.tls?.rejectUnauthorized).toBe(false);
  });

  it('defaults: INBOX, move mode, backoff 1 s → 60 s, alert after 10 minutes', () => {
    expect(imap({})).toMatchObject({ port: 993, tls: 'implicit', folder: 'INBOX', afterProcessing: 'move', processedKeyword: '$CasegateProcessed', reconnectMinSeconds: 1, reconnectMaxSeconds: 60, alertAfterSeconds: 600 });
  });

  it('xoauth2 needs a token source', () => {
    const r = configSchema.safeParse({ mailboxes: [{ name: 'support', addresses: ['support@example.com'], imap: { host: 'h', auth: { method: 'xoauth2', user: 'u' } } }] });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('accessTokenEnv or tokenCommand');
  });
});

describe('XOAUTH2 access token', () => {
  it('runs tokenCommand through the shell on every connection attempt and trims its output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-token-'));
    dirs.push(dir);
    const counter = join(dir, 'n');
    writeFileSync(counter, '0');
    const tokenCommand = `n=$(cat ${counter}); n=$((n+1)); echo $n > ${counter}; printf '  token-%s\\n\\n' "$n"`;
    const cfg = imap({ auth: { method: 'xoauth2', user: 'support@example.com', tokenCommand } });
    const first = await clientOptions(cfg, silentLogger(), 'x');
    const second = await clientOptions(cfg, silentLogger(), 'x');
    expect(first.auth).toEqual({ user: 'support@example.com', accessToken: 'token-1' });
    expect(second.auth).toEqual({ user: 'support@example.com', accessToken: 'token-2' });
  });

  it('a failing or silent tokenCommand is a credentials (auth) failure', async () => {
    const failing = accessToken({ method: 'xoauth2', user: 'u', tokenCommand: 'echo "no refresh token" >&2; exit 3' });
    await expect(failing).rejects.toBeInstanceOf(CredentialsError);
    await expect(failing).rejects.toThrow(/tokenCommand failed: no refresh token/);
    await expect(accessToken({ method: 'xoauth2', user: 'u', tokenCommand: 'true' })).rejects.toThrow(/printed no token/);
    // Silent on stderr: the exit code, never the command line (Node's "Command failed: /bin/sh -c
    // …" — a secret in it, e.g. a ${VAR} the configuration expanded, went to the log, to
    // `casegate status` and into the alert).
    const silent = accessToken({ method: 'xoauth2', user: 'u', tokenCommand: 'exit 4 # client_secret=s3cr3t-value' });
    await expect(silent).rejects.toThrow(/^tokenCommand failed: exit code 4$/);
    await expect(silent).rejects.not.toThrow(/s3cr3t/);
    expect(isAuthFailure(new CredentialsError('x'))).toBe(true);
  });

  it('the documented `curl … | jq -r .access_token` helper against an error answer: "null" or nothing is no token, and its stderr says why', async () => {
    // The token endpoint refused the client secret: `jq -r .access_token` prints "null" and exits 0,
    // which went to the server as the token ("login rejected: AUTHENTICATIONFAILED", sending the
    // admin to a password that does not exist).
    const nullToken = accessToken({ method: 'xoauth2', user: 'u', tokenCommand: `printf '{"error":"invalid_client"}' | jq -r .access_token` });
    await expect(nullToken).rejects.toBeInstanceOf(CredentialsError);
    await expect(nullToken).rejects.toThrow(/^tokenCommand printed "null", not a token/);
    // curl could not connect: jq gets no input and exits 0 with nothing printed; curl's stderr is the reason.
    const noInput = accessToken({ method: 'xoauth2', user: 'u', tokenCommand: `echo 'curl: (7) Failed to connect to login.example port 443' >&2; printf '' | jq -r .access_token` });
    await expect(noInput).rejects.toThrow(/^tokenCommand printed no token: curl: \(7\) Failed to connect to login\.example port 443$/);
  });

  it('a stop ends the tokenCommand and what it started (its process group): a helper hanging on the identity provider leaves nothing running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-token-'));
    const pidFile = join(dir, 'grandchild.pid');
    // The documented helper shape: the shell starts a program (here: sleep, as curl hanging) and waits for it.
    const stop = new AbortController();
    const running = accessToken({ method: 'xoauth2', user: 'u', tokenCommand: `sleep 300 & echo $! > ${pidFile}; wait` }, process.env, stop.signal);
    const until = Date.now() + 10_000;
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
      if (Date.now() > until) throw new Error('the tokenCommand did not start');
      await new Promise((r) => setTimeout(r, 20));
    }
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(() => process.kill(pid, 0)).not.toThrow();
    stop.abort();
    await expect(running).rejects.toThrow(/tokenCommand ended: the mailbox is stopping/);
    const gone = Date.now() + 5_000;
    let alive = true;
    while (alive && Date.now() < gone) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        alive = false;
      }
    }
    expect(alive, `the tokenCommand's child ${pid} still runs`).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads accessTokenEnv', async () => {
    expect(await accessToken({ method: 'xoauth2', user: 'u', accessTokenEnv: 'TOK' }, { TOK: ' abc \n' })).toBe('abc');
    await expect(accessToken({ method: 'xoauth2', user: 'u', accessTokenEnv: 'TOK' }, {})).rejects.toThrow(/TOK holds no access token/);
  });
});

describe('IMAP errors', () => {
  it('describes errors in one line with code and server text', () => {
    const auth = Object.assign(new Error('Command failed'), { authenticationFailed: true, serverResponseCode: 'AUTHENTICATIONFAILED', responseText: 'Authentication failed.' });
    expect(describeImapError(auth)).toBe('AUTHENTICATIONFAILED: Command failed: Authentication failed.');
    expect(isAuthFailure(auth)).toBe(true);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:143\n  at …'), { code: 'ECONNREFUSED' });
    expect(describeImapError(refused)).toBe('ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:143');
    expect(isAuthFailure(refused)).toBe(false);
  });
});

describe('imapflow logging', () => {
  const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

  it('imapflow is told which levels are dropped, so it builds no log text of commands and responses (FETCH: the message) for them', async () => {
    for (const [level, wanted] of [
      ['info', []],
      ['debug', ['warn', 'error', 'fatal']],
    ] as const) {
      const lines: string[] = [];
      const log = pino({ level }, { write: (line: string) => void lines.push(line) });
      // The gate imapflow itself consults before it serialises a command or a response for its log.
      const client = new ImapFlow(await clientOptions(imap({}), log, 'x')) as ImapFlow & { isLogLevelEnabled(level: string): boolean };
      expect(LEVELS.filter((l) => client.isLogLevelEnabled(l)), level).toEqual(wanted);
      client.close();
    }
  });

  it('passes on warnings and errors only, at debug level, reduced to message and code', () => {
    const lines: string[] = [];
    const quiet = quietImapLogger(pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }));
    quiet.info({ msg: 'A1 OK FETCH completed', src: 's' });
    quiet.debug({ msg: 'C: A2 UID FETCH 1:* (BODY.PEEK[])' });
    quiet.warn({ msg: 'Failed to process continuation response', err: Object.assign(new Error('boom\n at x'), { code: 'EX' }), payload: 'secret body' });
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ level: 20, msg: 'imapflow', imapflow: 'Failed to process continuation response', error: 'boom', code: 'EX' });
    expect(JSON.stringify(entries[0])).not.toContain('secret body');
  });

  it('keeps the server\'s answer to a failed command (which messageMove() and messageFlagsAdd() turn into false), whatever the log level', () => {
    const failures = new CommandFailures();
    const quiet = quietImapLogger(pino({ level: 'info' }, { write: () => undefined }), failures);
    // What imapflow's reportCommandError() logs for a refused MOVE (Dovecot, folder not writable).
    const refused = (tag: number, command: string, code: string, text: string) =>
      Object.assign(new Error('Command failed'), { responseStatus: 'NO', serverResponseCode: code, responseText: text, executedCommand: `${tag} ${command}` });
    quiet.warn({ err: refused(9, 'UID MOVE 1:3 casegate/Processed', 'SERVERBUG', 'Internal error occurred.\r\nRefer to server log') });
    quiet.warn({ err: Object.assign(new Error('Connection closed'), { code: 'NoConnection' }) });
    quiet.warn({ err: refused(10, 'UID STORE 4 +FLAGS.SILENT (\\Seen)', 'NOPERM', 'Permission denied') });
    expect(failures.take(['UID COPY'])).toBeNull();
    expect(failures.take(['UID MOVE', 'UID STORE'])).toBe('NO [NOPERM] Permission denied');
    // take() forgets what it looked at.
    expect(failures.take(['UID MOVE'])).toBeNull();
    quiet.warn({ err: refused(11, 'UID MOVE 5 Nowhere', 'TRYCREATE', 'Mailbox doesn\'t exist: Nowhere') });
    expect(failures.take(['UID MOVE'])).toBe("NO [TRYCREATE] Mailbox doesn't exist: Nowhere");
  });
});
