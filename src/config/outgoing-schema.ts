import * as z from 'zod';
// First: it switches zod's generated fast path off before any schema object is built.
import './schema-basics.js';
import { loginAuth } from './login-schema.js';

/** The login of a relay (login-schema.ts); XOAUTH2 takes its token from exactly one place. */
const relayAuth = loginAuth.refine((a) => a.method !== 'xoauth2' || (a.accessTokenEnv === undefined) !== (a.tokenCommand === undefined), 'give accessTokenEnv or tokenCommand (one of them)');

/** One SMTP relay: outgoing.smtp (the default relay) and each of outgoing.relays. */
export const relaySchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(587),
    /** true = implicit TLS (465); false = STARTTLS when offered. */
    secure: z.boolean().default(false),
    user: z.string().optional(),
    password: z.string().optional(),
    caFile: z.string().optional(),
    insecureSkipVerify: z.boolean().default(false),
    maxConnections: z.number().int().positive().default(3),
    /**
     * Most recipients handed to this relay in any 60 seconds, each reader of each SMTP transaction
     * once (none by default; mail-out/relay-rate.ts). Providers cap a login's rate (Microsoft 365:
     * 30 a minute per mailbox) and answer a burst — the backlog after an outage — with refusals;
     * the rest waits its turn, never failed for it. One count for every daemon of the database
     * (relay_rate_seconds), so several daemons on PostgreSQL each set the relay's whole limit; the
     * count is the relay's host:port and login (mail-out/relays.ts relayBudgetKey), not its name.
     */
    maxPerMinute: z.number().int().positive().optional(),
    /**
     * How long to wait for the relay's answer after the final "." of an email (RFC 5321
     * 4.5.3.2.6: 10 minutes; Postfix's smtp_data_done_timeout is 600 s). A relay behind a slow
     * milter or content filter answers late; giving up earlier resends an email it has probably
     * queued (a duplicate). A connection waiting here holds one of maxConnections.
     */
    replyTimeoutSeconds: z.number().int().min(1).max(3600).default(600),
    /** How long any other step of the session (EHLO, AUTH, MAIL FROM, RCPT TO, DATA, the message's bytes) may stay silent; a relay that hangs mid-session gives its connection back after this. */
    commandTimeoutSeconds: z.number().int().min(1).max(600).default(60),
    /**
     * At a stop, how long an email already sent up to its final "." may wait for the relay's
     * answer before the connection is closed under it (sessions that have not reached it are
     * closed at once). Unanswered, it is recorded and sent again at the next start, same
     * Message-ID (a possible duplicate, never a lost email). The daemon's stop deadline is
     * 9 s plus this: the systemd unit's TimeoutStopSec fits the default.
     */
    stopWaitSeconds: z.number().int().min(0).max(600).default(20),
    /** The login as auth: { method: password | xoauth2, … } (instead of user/password; xoauth2 for Microsoft 365 and Google Workspace). */
    auth: relayAuth.optional(),
  })
  .strict()
  .refine((r) => r.auth === undefined || (r.user === undefined && r.password === undefined), { message: 'give auth or user/password, not both', path: ['auth'] });

export type RelayConfig = z.infer<typeof relaySchema>;

/** outgoing: how casegate sends mail (a file per email, or an SMTP relay), its retries, DKIM and the outbox's pace. */
export const outgoingSchema = z
  .object({
    transport: z.enum(['file', 'smtp']).default('file'),
    /** For transport 'file': where .eml files are written (default <dataDir>/outgoing). */
    fileDir: z.string().optional(),
    smtp: relaySchema.optional(),
    /**
     * Named relays besides outgoing.smtp (the default relay, named "default"): a mailbox names its
     * relay with mailboxes[].relay. Each relay has its own login, connections, pause, health, alerts
     * and metrics: one failing never stops the others (docs/configuration.md, Relays).
     */
    relays: z.record(z.string(), relaySchema).default({}),
    retry: z
      .object({
        /** First retry delay in seconds; doubles each attempt. */
        baseSeconds: z.number().positive().default(30),
        /** Longest delay between attempts. */
        maxSeconds: z.number().positive().default(3600),
        /** Give up (failed) after this many hours of temporary failures. */
        giveUpHours: z.number().positive().default(48),
      }).strict()
      .prefault({}),
    dkim: z
      .object({
        /** Sign outgoing mail with DKIM: every key in <dataDir>/dkim (casegate dkim keygen) and in keys. */
        enabled: z.boolean().default(true),
        /** Keys named in the configuration; each wins over the data directory's keys of its domain. */
        keys: z
          .array(
            z
              .object({
                /** The From domain it signs (and its subdomains): the d= of the signature. */
                domain: z.string().trim().toLowerCase().regex(/^[a-z0-9-]+(?:\.[a-z0-9-]+)+$/, 'must be a domain like example.com'),
                /** The selector: the key's record is at <selector>._domainkey.<domain>. */
                selector: z.string().trim().toLowerCase().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/, 'a DKIM selector: letters, digits, - and .'),
                /** PEM file of the RSA private key (default <dataDir>/dkim/<domain>.<selector>.pem). */
                privateKeyFile: z.string().min(1).optional(),
                /** Environment variable holding the PEM (\n for line breaks allowed) instead of a file. */
                privateKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
              })
              .strict()
              .refine((k) => k.privateKeyFile === undefined || k.privateKeyEnv === undefined, 'give privateKeyFile or privateKeyEnv, not both'),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
    /** Seconds between outbox sweeps (new rows wake the worker at once). */
    sweepSeconds: z.number().positive().default(5),
    /**
     * A sender holds the rows it is sending (a claim) for this long, and renews the claims of the
     * rows it still holds every third of it (a row waiting its turn behind a slow relay keeps its
     * claim). PostgreSQL with several daemons: rows a daemon held when it died are sent by another
     * once its claims lapse. SQLite: a restarted daemon releases its old claims at once. At least 5:
     * a renewal comes every third of it, and one late by more than two thirds of it loses the claim.
     */
    claimSeconds: z.number().int().min(5).max(86_400).default(300),
    /**
     * PostgreSQL, several daemons: after the database failed a sender (an outage, a restart, a
     * lock held for long) — and after its own start — it leaves other senders' lapsed claims alone
     * for this long. A live sender that had an email accepted by the relay while the database was
     * away records it within a third of this (it retries the write that often at least, 10 s at
     * most), so the row is not taken over and sent twice. A dead daemon's rows go out this much
     * later. Give every daemon of the database the same value.
     */
    takeoverGraceSeconds: z.number().int().min(1).max(3_600).default(30),
    /** Alert instance.adminAddress (and run alerts.command) once sending has failed this long; login and TLS failures alert at once. */
    alertAfterSeconds: z.number().nonnegative().default(600),
    /** Longest wait between probes of a paused transport (connection and TLS problems: first probe after 1 s, doubling up to this). */
    probeSeconds: z.number().positive().default(60),
    /** Wait between probes after the relay rejected our login (few attempts, so the relay does not lock the account). */
    authProbeSeconds: z.number().positive().default(600),
  })
  .strict()
  .prefault({});
