import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { access, constants, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { ConfigError, type ResolvedConfig } from '../config/load.js';
import type { RelayConfig } from '../config/outgoing-schema.js';
import { accessToken } from '../channels/imap-connection.js';
import { relayBudgetKey, relayDisplayName, relaysInUse } from './relays.js';
import type { Logger } from '../log.js';
import { DkimKeyError, DkimKeyring } from './dkim.js';
import type { Mime } from '../mime/mime-thread.js';
import { SMTP_CONNECT_TIMEOUT_MS, SMTP_GREETING_TIMEOUT_MS, type ThreadSmtp } from '../mime/thread-smtp.js';
import { answerWasLost, closePool, installReplyWait, type PoolClose, type ReplyWaitOption } from './smtp-reply-wait.js';
import { offersDsn, refusedRecipientsOf, type RefusedRecipient } from './send-errors.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../storage/private-files.js';

/**
 * Sends one message (nodemailer; mime-build.ts builds messages ahead on the daemon's MIME thread,
 * which this then signs and sends as bytes). Errors carry nodemailer's `code`
 * and, when the server answered, `responseCode`; send-errors.ts decides what they mean.
 */
export interface MailTransport {
  readonly name: string;
  /**
   * Send one message; `signedBy` names the DKIM key it was signed with ("example.com/s2026"), null
   * when unsigned; `refused`: recipients the relay refused while it took the message for the others.
   */
  send(message: Mail.Options): Promise<SentMessage>;
  /**
   * Send the email on the daemon's MIME thread, when this transport can and the thread takes it
   * (SMTP: built, signed and sent there, through the thread's own pool of the same settings); null
   * otherwise, and the caller builds it (mime.prepare) and calls send(). Rejects like send(), or
   * with MimeThreadLost (the caller then sends it itself).
   */
  sendOn?(mime: Mime, message: Mail.Options): Promise<SentMessage> | null;
  /**
   * Check that the transport works without sending anything (SMTP: connect, TLS, login; file:
   * the folder is writable). Used to probe a paused transport; without it, the next send is the probe.
   */
  verify?(): Promise<void>;
  /**
   * Close the transport (smtp-reply-wait.ts closePool): 'finish' (the default) lets sessions in
   * progress finish their email; 'answers' closes every session but those waiting for the relay's
   * answer to their final "." (a stop); 'now' closes them all.
   */
  close(how?: PoolClose): void;
  /** An SMTP relay's settings that errors are read with (send-errors.ts) and a stop waits by; absent for the file transport. */
  readonly relay?: { readonly port: number; readonly secure: boolean; readonly stopWaitSeconds: number; readonly key: string; readonly maxPerMinute?: number; /** Whose per-minute budget (relays.ts relayBudgetKey). */ readonly budget: string };
  /** How logs name it when it is not the default relay: "relay eu (smtp:smtp.office365.com:587)". */
  readonly label?: string;
  /**
   * Whether the relay offers DSN (RFC 3461): true or false as its last EHLO answer said, null
   * before the first send. Absent (the file transport): never. An email to several readers goes
   * one SMTP transaction per reader unless this is false (row-attempt.ts): each reader's envelope
   * id is then signed for them alone.
   */
  offersDsn?(): boolean | null;
}

/** What a send that the relay took answers. */
export interface SentMessage {
  readonly response: string;
  readonly signedBy?: string | null;
  /** Recipients refused at RCPT TO while the others got the message ([] or absent: none). */
  readonly refused?: readonly RefusedRecipient[];
  /** Whether the relay's EHLO answer offered DSN; absent: not known. */
  readonly offersDsn?: boolean;
}

/**
 * A send error may carry `answerLost: true`: the email was written up to its final "." and the
 * session ended without the relay's answer (closed at a stop, timed out, cut): the relay may have
 * taken it.
 */
export function answerLostIn(err: unknown): boolean {
  return (err as { answerLost?: unknown } | null)?.answerLost === true;
}

/**
 * Transport 'file' (the embedded default): nodemailer's stream transport builds the real MIME
 * message and we write it atomically as <dir>/<time>-<id>.eml. Transport 'smtp': pooled SMTP.
 * Both sign every message whose From domain has a DKIM key (dkim.ts) and never add X-Mailer.
 */
export function createTransport(resolved: ResolvedConfig, log?: Logger): MailTransport {
  const out = resolved.config.outgoing;
  const sign = signer(dkimKeyring(resolved, log));
  if (out.transport === 'file') {
    const dir = resolved.paths.outgoingDir;
    const t = nodemailer.createTransport({ streamTransport: true, buffer: false, newline: 'windows' });
    return {
      name: `file:${dir}`,
      async send(message) {
        await mkdir(join(dir, 'tmp'), { recursive: true, mode: PRIVATE_DIR_MODE });
        const { options, signedBy } = sign(message);
        const info = (await t.sendMail(options)) as unknown as { message: Readable; messageId: string };
        const base = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`;
        const tmp = join(dir, 'tmp', base);
        await pipeline(info.message, createWriteStream(tmp, { mode: PRIVATE_FILE_MODE }));
        await rename(tmp, join(dir, base));
        return { response: `written ${base}`, signedBy };
      },
      async verify() {
        // Made here when the health check comes first (`casegate status`, /healthz): private as in send().
        await mkdir(join(dir, 'tmp'), { recursive: true, mode: PRIVATE_DIR_MODE });
        await access(join(dir, 'tmp'), constants.W_OK);
      },
      close() {
        t.close();
      },
    };
  }
  const smtp = out.smtp;
  if (smtp === undefined) throw new Error('outgoing.smtp is required for transport smtp');
  return smtpTransport(`smtp:${smtp.host}:${smtp.port}`, smtp, sign, 'outgoing.smtp');
}

/**
 * One transport per relay in use (docs/configuration.md, Relays): "default" (outgoing.smtp, or
 * the file transport) always; each relay of outgoing.relays that a mailbox names. All share one
 * DKIM keyring. A broken configured key throws ConfigError, as createTransport does.
 */
export function createRelayTransports(resolved: ResolvedConfig, log?: Logger): Map<string, MailTransport> {
  const out = new Map<string, MailTransport>([['default', createTransport(resolved, log)]]);
  const keyring = dkimKeyring(resolved, log);
  const sign = signer(keyring);
  for (const name of relaysInUse(resolved.config)) out.set(name, namedTransport(resolved.config.outgoing.relays[name]!, name, sign));
  return out;
}

/** The transport of one named relay of outgoing.relays (`casegate templates test` of a mailbox that sends through it). */
export function relayTransport(resolved: ResolvedConfig, name: string, log?: Logger): MailTransport {
  const relay = resolved.config.outgoing.relays[name];
  if (relay === undefined) throw new Error(`no relay "${name}" in outgoing.relays`);
  return namedTransport(relay, name, signer(dkimKeyring(resolved, log)));
}

function namedTransport(relay: RelayConfig, name: string, sign: Sign): MailTransport {
  return { ...smtpTransport(`smtp:${relay.host}:${relay.port}`, relay, sign, `outgoing.relays.${name}`), label: relayDisplayName(name, relay) };
}

type Sign = (message: Mail.Options) => { options: Mail.Options; signedBy: string | null };

function signer(keyring: DkimKeyring | null): Sign {
  return (message) => {
    const dkim = keyring?.signingFor(fromAddressOf(message.from)) ?? null;
    return { options: { ...message, xMailer: false, ...(dkim !== null ? { dkim: { ...dkim } } : {}) }, signedBy: dkim !== null ? `${dkim.domainName}/${dkim.keySelector}` : null };
  };
}

/**
 * Pooled SMTP through one relay. A relay that logs in with XOAUTH2 gets its token from a callback
 * (accessTokenEnv or tokenCommand, asked again for every new connection and when the relay
 * rejected the token): it sends on this thread, since a callback cannot cross to the MIME thread.
 */
function smtpTransport(name: string, smtp: RelayConfig, sign: Sign, key: string): MailTransport {
  // Plain data (the CA as PEM text): the MIME thread makes its own pool of the same settings.
  installReplyWait();
  const oauth = smtp.auth?.method === 'xoauth2' ? smtp.auth : null;
  const login = smtp.auth?.method === 'password' ? { user: smtp.auth.user, pass: smtp.auth.password } : smtp.user !== undefined ? { user: smtp.user, pass: smtp.password ?? '' } : null;
  const poolOptions: SMTPPool.Options & ReplyWaitOption = {
    pool: true,
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    // A login never crosses the network in plain text: to any host but this machine, a relay that
    // offers no STARTTLS (or an attacker who strips it) is a TLS failure — paused, alerted, the
    // hint says so — not an AUTH with the password readable on the wire.
    requireTLS: !smtp.secure && (login !== null || oauth !== null) && !isLoopbackHost(smtp.host),
    maxConnections: smtp.maxConnections,
    ...(login !== null ? { auth: login } : {}),
    ...(oauth !== null
      ? {
          auth: {
            type: 'OAuth2',
            user: oauth.user,
            provisionCallback: (_user: string, _renew: boolean, done: (err: Error | null, token?: string) => void) => {
              accessToken(oauth).then(
                (token) => done(null, token),
                (err: unknown) => done(Object.assign(err instanceof Error ? err : new Error(String(err)), { code: 'EAUTH' })),
              );
            },
          },
        }
      : {}),
    tls: {
      rejectUnauthorized: !smtp.insecureSkipVerify,
      ...(smtp.caFile !== undefined ? { ca: readFileSync(smtp.caFile, 'utf8') } : {}),
    },
    connectionTimeout: SMTP_CONNECT_TIMEOUT_MS,
    greetingTimeout: SMTP_GREETING_TIMEOUT_MS,
    // Every step of the session but one (smtp-reply-wait.ts): a relay hanging mid-session frees the connection after this.
    socketTimeout: smtp.commandTimeoutSeconds * 1000,
    // The answer to the final ".": RFC 5321's 10 minutes by default (a slow milter; giving up resends a queued email).
    replyTimeout: smtp.replyTimeoutSeconds * 1000,
  };
  const t = nodemailer.createTransport(poolOptions);
  const onThread: ThreadSmtp | null = oauth === null ? { key: randomBytes(6).toString('hex'), options: poolOptions } : null;
  const threads = new Set<Mime>();
  // What the relay's last EHLO answer said of DSN (null: nothing sent yet).
  let dsn: boolean | null = null;
  const learn = (sent: SentMessage): SentMessage => {
    if (sent.offersDsn !== undefined) dsn = sent.offersDsn;
    return sent;
  };
  return {
    name,
    relay: { port: smtp.port, secure: smtp.secure, stopWaitSeconds: smtp.stopWaitSeconds, key, budget: relayBudgetKey(smtp), ...(smtp.maxPerMinute !== undefined ? { maxPerMinute: smtp.maxPerMinute } : {}) },
    async send(message) {
      const { options, signedBy } = sign(message);
      try {
        const info = await t.sendMail(options);
        const ehlo = offersDsn(info);
        return learn({ response: String(info.response ?? ''), signedBy, refused: refusedRecipientsOf(info), ...(ehlo !== undefined ? { offersDsn: ehlo } : {}) });
      } catch (err) {
        if (answerWasLost(options.messageId) && err !== null && typeof err === 'object') Object.assign(err, { answerLost: true });
        throw err;
      }
    },
    sendOn(mime, message) {
      if (onThread === null) return null;
      const { options, signedBy } = sign(message);
      const sending = mime.sendSmtp(options, onThread);
      if (sending === null) return null;
      threads.add(mime);
      return sending.then((sent) => learn({ ...sent, signedBy }));
    },
    offersDsn: () => dsn,
    async verify() {
      await t.verify();
    },
    close(how = 'finish') {
      closePool(t.transporter, how);
      if (onThread !== null) for (const mime of threads) mime.closeSmtp(onThread.key, how);
    },
  };
}

/** The DKIM keys to sign with (null when outgoing.dkim.enabled is false); a broken configured key is a configuration error. */
function dkimKeyring(resolved: ResolvedConfig, log: Logger | undefined): DkimKeyring | null {
  const cfg = resolved.config.outgoing.dkim;
  if (!cfg.enabled) return null;
  try {
    return new DkimKeyring({ dataDir: resolved.paths.dataDir, config: cfg, ...(log !== undefined ? { log } : {}) });
  } catch (err) {
    if (err instanceof DkimKeyError) throw new ConfigError(resolved.source ?? 'embedded default', [{ path: 'outgoing.dkim.keys', message: err.message }]);
    throw err;
  }
}

function fromAddressOf(from: Mail.Options['from']): string {
  if (from === undefined) return '';
  if (typeof from === 'string') return /<([^>]+)>\s*$/.exec(from)?.[1] ?? from;
  if (Array.isArray(from)) return from.length > 0 ? fromAddressOf(from[0]) : '';
  return from.address ?? '';
}

/** This machine: localhost, 127.0.0.0/8, ::1 (a local MTA; plain text never leaves the host). */
function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(h) || h === '::1';
}
