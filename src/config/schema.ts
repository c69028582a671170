import * as z from 'zod';
// First: it switches zod's generated fast path off before any schema object is built.
import { email, isoTime, languageTag, secretString } from './schema-basics.js';
import { ENV_NAME } from '../command-env.js';
import { CUSTOMER_TEXT_DEFAULTS } from './customer-text-defaults.js';
import { mailbox } from './mailbox-schema.js';
import { outgoingSchema } from './outgoing-schema.js';
import { checkMailboxes } from './mailbox-checks.js';
import { checkRouting } from './routing-checks.js';
import { priorityLevel, queueSettings, rule } from './routing-schema.js';
import { spamSettings } from './spam-schema.js';
import { postgresUrlProblem } from './database-url.js';
import { checkSla } from './sla-checks.js';
import { jobsSchema, slaSchema, webSchema } from './sla-schema.js';

/** Domains whose subdomains a mail provider hands to every customer: never `security.bounces.reporters` (the customer's own subdomain, named instead). */
const TENANT_PARENTS: Readonly<Record<string, string>> = { 'onmicrosoft.com': '<tenant>.onmicrosoft.com', 'mail.onmicrosoft.com': '<tenant>.mail.onmicrosoft.com', 'mailgun.org': 'sandbox<id>.mailgun.org' };

/**
 * The one typed description of casegate's configuration. Every key is documented in
 * config/casegate.example.yaml; defaults here are the embedded default (no config file).
 * Paths are resolved against the directory of the config file (or the working directory for
 * the embedded default) by load.ts.
 */

/** Changes that may send the customer a status update (cases.customerUpdates). */
export const CUSTOMER_UPDATES = ['pending', 'on_hold', 'resolved', 'closed', 'reopened', 'priority-raised', 'moved'] as const;
export type CustomerUpdate = (typeof CUSTOMER_UPDATES)[number];

export const PRIORITY_SCHEMES = {
  default: [
    { name: 'urgent', order: 1 },
    { name: 'high', order: 2 },
    { name: 'normal', order: 3 },
    { name: 'low', order: 4 },
  ],
  's1-s5': [
    { name: 'S1', order: 1 },
    { name: 'S2', order: 2 },
    { name: 'S3', order: 3 },
    { name: 'S4', order: 4 },
    { name: 'S5', order: 5 },
  ],
} as const;

/** Default level of new cases per built-in scheme. */
export const PRIORITY_SCHEME_DEFAULTS = { default: 'normal', 's1-s5': 'S3' } as const;

export const configSchema = z
  .object({
    instance: z
      .object({
        /** Shown to customers: "Example Support". */
        name: z.string().min(1).default('casegate Support'),
        /** Domain of our Message-IDs (<c10042.x.y@domain>). */
        domain: z.string().min(1).default('localhost'),
        /** HMAC secret for signed Message-IDs and reply tokens; at least 32 bytes. Default: generated once into <dataDir>/secret. */
        secret: secretString.optional(),
        /** Retired secrets (after a rotation): tokens they signed still verify until acceptUntil. */
        previousSecrets: z
          .array(
            z
              .object({
                secret: secretString,
                /** Date (UTC) or ISO-8601 time after which mail signed with this secret no longer threads by its token. */
                acceptUntil: isoTime,
              })
              .strict(),
          )
          .default([]),
        /** Where leads and admins get health alerts. */
        adminAddress: email.optional(),
      }).strict()
      .prefault({}),
    /** Runtime data: database, raw mail, attachments, spool, outgoing .eml files. */
    dataDir: z.string().min(1).default('data'),
    database: z
      .object({
        /** sqlite (embedded, one daemon) or postgres (several daemons on one database). Default: postgres when url is set, else sqlite. */
        driver: z.enum(['sqlite', 'postgres']).optional(),
        /** SQLite file (default <dataDir>/casegate.db). */
        path: z.string().optional(),
        /** PostgreSQL: postgres://user@host:5432/dbname (options such as ?sslmode=require allowed). */
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
          .optional(),
        /** PostgreSQL password, e.g. "${CASEGATE_DB_PASSWORD}"; else the URL's, else PGPASSWORD / ~/.pgpass. */
        password: z.string().optional(),
        /** PostgreSQL schema holding casegate's tables (created when missing): several instances can share one database. */
        schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'must be a plain identifier (letters, digits, _)').default('public'),
        /** PostgreSQL connections per process. */
        poolSize: z.number().int().min(2).max(100).default(10),
        /**
         * PostgreSQL: name (prepare once per connection) the data statements, so the server parses
         * each only once. false behind a pooler that shares server connections between clients per
         * transaction (PgBouncer's transaction pooling before 1.21).
         */
        preparedStatements: z.boolean().default(true),
        /** How long a write waits for a lock held by another process (the CLI beside the daemon; PostgreSQL: lock_timeout) before the message is retried. */
        busyTimeoutMs: z.number().int().nonnegative().default(5000),
        /**
         * Several daemons (PostgreSQL): a daemon holds an IMAP mailbox (and a job run) for this long
         * and renews it every third of it; a daemon that died loses its mailboxes to another within this time.
         */
        leaseSeconds: z.number().int().min(3).max(600).default(15),
      })
      .strict()
      .transform((d, ctx) => {
        const driver = d.driver ?? (d.url !== undefined ? 'postgres' : 'sqlite');
        if (driver === 'postgres' && d.url === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: 'database.driver postgres needs database.url (postgres://user@host:5432/dbname)' });
        if (driver === 'postgres' && d.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: 'database.path is the SQLite file; with PostgreSQL leave it out' });
        if (driver === 'sqlite' && d.url !== undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: 'database.url is for PostgreSQL; with driver sqlite leave it out' });
        const urlProblem = d.url !== undefined ? postgresUrlProblem(d.url) : null;
        if (urlProblem !== null) ctx.addIssue({ code: 'custom', path: ['url'], message: urlProblem });
        return { ...d, driver };
      })
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** auto: readable lines on a terminal (pino-pretty), JSON lines otherwise (journald, files, pipes); json or pretty: always that. */
        format: z.enum(['auto', 'json', 'pretty']).default('auto'),
      }).strict()
      .prefault({}),
    mailboxes: z.array(mailbox).min(1).default([{ name: 'support', addresses: ['support@localhost'], plusAddressing: false, verp: false, verpSeparator: '+', formSenders: [] }]),
    listener: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(2525),
        /** Name we greet with. */
        hostname: z.string().default('localhost'),
        /** Largest accepted message in bytes (default 70 MiB: a 50 MB attachment after base64). */
        maxMessageBytes: z.number().int().positive().default(70 * 1024 * 1024),
        /** Max simultaneous SMTP connections. */
        maxClients: z.number().int().positive().default(50),
        /**
         * Most simultaneous SMTP connections from one client address; more get 421 (the sender
         * retries). The local MTA in front of the listener is one address too: keep this at least
         * its concurrency towards the listener (Postfix: 20 by default), or list it in
         * trustXForwardFrom (not limited).
         */
        maxClientsPerIp: z.number().int().positive().default(20),
        /**
         * Longest SMTP session: a client still connected after this long gets 421 and is cut off
         * (a message still in transfer is not kept; its MTA retries). A client trickling a byte a
         * minute is never idle long enough for the socket timeout. 900 s takes a 70 MB message at
         * about 1 Mbit/s.
         */
        maxSessionSeconds: z.number().int().positive().default(900),
        /**
         * Addresses of the MTA in front whose XFORWARD (Postfix: smtp_send_xforward_command = yes)
         * is believed: the original client's address and HELO then stand for the connection's
         * (security.senderAuth verify checks SPF against them). Anyone else's XFORWARD is refused.
         */
        trustXForwardFrom: z.array(z.string().min(1)).default([]),
        /**
         * Linux: the local users (names or uids) whose connections from this machine are accepted —
         * your MTA (Postfix: postfix). Any other process of the machine gets 421 at connect. Every
         * local process can reach a loopback listener: on a host with other users this keeps them
         * from handing in mail as your MTA. Default []: every local user (a host only you use).
         */
        localUsers: z.array(z.union([z.string().min(1), z.number().int().nonnegative()])).default([]),
      }).strict()
      .prefault({}),
    mime: z
      .object({
        /**
         * Most MIME parts (nodes) a message may have. More: refused with 554 at the end of SMTP
         * DATA, exit 65 from `casegate ingest` (the MTA returns it to the sender), quarantined
         * when it was fetched over IMAP (already ours).
         */
        maxParts: z.number().int().min(10).max(100_000).default(1000),
        /**
         * The daemon does its MIME work on a thread of its own (beside the database on the main
         * thread): it parses inbound messages up to 1 MB and reads their visible text, builds
         * outgoing email into its bytes and, with the SMTP transport, signs and sends it through a
         * pool of its own. More messages a second on a machine with a second core,
         * for about 16–20 MB more memory. Read at start. One-shot commands always do it on their
         * one thread.
         */
        parseThread: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    outgoing: outgoingSchema,
    alerts: z
      .object({
        /** Shell command run with every health alert and all-clear (text on stdin, CASEGATE_ALERT_* in the environment): a second path when mail itself is broken. */
        command: z.string().min(1).optional(),
        /** Variables of the daemon's environment the command gets besides PATH, HOME, LANG, TZ … and CASEGATE_ALERT_* (command-env.ts); it gets no other. */
        passEnv: z.array(z.string().regex(ENV_NAME, 'an environment variable name')).default([]),
        /** The command is killed after this many seconds. */
        commandTimeoutSeconds: z.number().positive().default(30),
        /** A mailbox that opens more new cases than this within an hour alerts instance.adminAddress (case-rate-alert, and alerts.command) once an hour; nothing is held. 0: off. */
        newCasesPerMailboxPerHour: z.number().int().nonnegative().default(100),
      })
      .strict()
      .prefault({}),
    cases: z
      .object({
        /** Number of the first case. */
        firstNumber: z.number().int().positive().default(10001),
        /** Subject tag prefix: "[Case #10042]". */
        tagPrefix: z.string().min(1).max(20).default('Case #'),
        /** A reply to a resolved/closed case within this many days reopens it; later ones open a new linked case. */
        reopenWindowDays: z.number().nonnegative().default(30),
        /** Reopen a resolved case on a bare "thanks!" reply (false: recorded without reopening). */
        reopenOnThanks: z.boolean().default(false),
        /** Language of cases whose customer gives none. */
        defaultLanguage: languageTag.default('en'),
        /** What helps us solve it faster, listed in the confirmation. Per-queue lists in queues.<name>.helpfulInfo. */
        helpfulInfo: z.array(z.string()).default([...CUSTOMER_TEXT_DEFAULTS.en.helpfulInfo]),
        /** Shown in the confirmation as the expected first response time. */
        expectedResponse: z.string().default(CUSTOMER_TEXT_DEFAULTS.en.expectedResponse),
        /** Expected time of a technical review, shown in the on-hold email (`#hold` without text). Per queue: queues.<q>.onHoldExpected. */
        onHoldExpected: z.string().trim().min(1).default(CUSTOMER_TEXT_DEFAULTS.en.onHoldExpected),
        /** The three texts above in other languages, by template language ("fr", "pt-BR"): cases in that language read these (a queue's own value still wins). */
        translations: z
          .record(
            languageTag,
            z.object({ expectedResponse: z.string().optional(), helpfulInfo: z.array(z.string()).optional(), onHoldExpected: z.string().trim().min(1).optional() }).strict(),
          )
          .default({}),
        /** Which changes send the customer a status update in their thread (moved: the case's mail now comes from another mailbox address, case-moved). */
        customerUpdates: z
          .array(z.enum(CUSTOMER_UPDATES))
          .default([...CUSTOMER_UPDATES]),
      })
      .strict()
      .prefault({}),
    /** Agents working cases by email (replies, notes, #commands). */
    agentMail: z
      .object({
        /** Plus tag of the notes addresses: support+note@example.com. "" = no derived notes address (mailboxes[].notesAddress still counts). */
        notesPlusTag: z.string().regex(/^[a-z0-9_.-]*$/, 'letters, digits, . _ -').default('note'),
        /** What sends the owner (or, unowned, the queue's available agents) an agent-notification. */
        notifyAgentsOn: z.array(z.enum(['new-case', 'customer-reply'])).default(['new-case', 'customer-reply']),
        /**
         * At most this many agent-notifications per hour about one sender's mail (local+tag@ counts as
         * local@): above it one flood notice, then none until the hour's count drops. 0 = no limit.
         */
        notifyPerSenderPerHour: z.number().int().nonnegative().default(10),
        /** The first agent who answers an unowned case becomes its owner. */
        takeUnownedOnReply: z.boolean().default(true),
        /**
         * When an agent answers the customer, the other staff who were asked to look at the
         * customer's message (agent-notification, assignment, escalation-alert since the case's
         * previous answer) get a colleague-answered email with the answer: nobody answers twice.
         */
        tellColleaguesOnAnswer: z.boolean().default(true),
        /**
         * Reply collision: an agent's reply is held (nothing of the mail done) when another agent
         * answered the customer within this many minutes before it arrived and after the email the
         * agent replied to; the agent gets a reply-collision email with both texts, and a reply to
         * that email goes out. 0 = never held.
         */
        collisionMinutes: z.number().int().nonnegative().default(30),
        /**
         * Staff mail that shows a customer's message (agent-notification, escalation-alert,
         * assignment) carries that message's files up to this many bytes in total; files that do not
         * fit are listed with their size and the `casegate cases files` command that saves them.
         * 0 = never attach. Default 7 MiB: about 9.6 MB once base64-encoded, under the 10 MB message
         * limit many servers keep (Postfix's default message_size_limit).
         */
        attachFilesMaxBytes: z.number().int().nonnegative().default(7 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    queues: z.record(z.string(), queueSettings).default({}),
    priorities: z
      .object({
        /** default: urgent/high/normal/low; s1-s5: S1 (most severe) … S5; custom: the levels below. */
        scheme: z.enum(['default', 's1-s5', 'custom']).default('default'),
        /** Only with scheme custom: every level with its order (smaller = more severe). */
        levels: z.array(priorityLevel).min(1).optional(),
        /** Level of new cases (default: normal, S3; custom: required). */
        default: z.string().trim().min(1).optional(),
        /** Level an "Urgent – …" subject sets (default: the most severe level). */
        urgent: z.string().trim().min(1).optional(),
      })
      .strict()
      .prefault({}),
    /** Ordered routing rules for new cases; the first that matches wins. */
    rules: z.array(rule).default([]),
    escalation: z
      .object({
        /** A customer's further "escalate" within this many hours of their last one does not raise the level again, nor their "urgent"/"escalate" within this many hours of staff lowering the escalation, nor their "urgent" a priority staff set within them. */
        customerRepeatHours: z.number().nonnegative().default(24),
      })
      .strict()
      .prefault({}),
    autoReply: z
      .object({
        /** Auto-replies per sender address per hour; above it mail is stored but not answered. */
        perSenderPerHour: z.number().int().nonnegative().default(10),
        /**
         * No second automatic reply to a sender within this many seconds of the last one: a new
         * message that soon is what an auto-responder ignoring RFC 3834 sends back (a loop). The
         * message is stored as usual. 0 = off.
         */
        minIntervalSeconds: z.number().nonnegative().default(120),
        /**
         * No automatic reply to a message that arrived (IMAP: its INTERNALDATE) more than this many
         * hours ago: old mail found in a mailbox attached for the first time, or after a long
         * outage, is stored without telling its sender news from the past — nor the agents (no
         * notification, escalation alert or assignment email: pipeline/old-mail.ts). 0 = no limit.
         */
        maxAgeHours: z.number().nonnegative().default(72),
        /**
         * More addresses never to send to (case-insensitive regex on the address), beyond the
         * built-in ones: no-reply, bounce-collecting, MAILER-DAEMON and postmaster local parts,
         * recognised anywhere in the local part (noreply+1@, newsalerts-noreply@, do_not_reply@ …).
         */
        neverTo: z.array(z.string()).default([]),
      })
      .strict()
      .prefault({}),
    templates: z
      .object({
        /** Template folder (default: the templates/ shipped with casegate). */
        dir: z.string().optional(),
        /** Languages with template folders (templates/<lang>/). */
        languages: z.array(languageTag).default(['en', 'de']),
        /** Reload templates when files change. */
        watch: z.boolean().default(true),
      }).strict()
      .prefault({}),
    security: z
      .object({
        /** Who vouches for the From address (docs/how-it-works.md, "Threading and trust"). */
        senderAuth: z
          .object({
            /**
             * none: nobody (every From is a claim: no participant rights from it; signed references still thread);
             * trusted-header: the Authentication-Results our own MX (authservId) writes;
             * verify: casegate checks SPF/DKIM/DMARC itself (its SMTP listener is the MX).
             */
            mode: z.enum(['none', 'trusted-header', 'verify']).default('none'),
            /** trusted-header: the authserv-id our MX writes (required); verify: the id we judge as (default listener.hostname). */
            authservId: z
              .string()
              .trim()
              .toLowerCase()
              .regex(/^[^\s;()=]+$/, 'an authserv-id is one token, e.g. mx.example.com')
              .optional(),
            /** trusted-header: Received headers our own servers add (the MX and any relay after it). */
            trustedHops: z.number().int().min(1).max(20).default(1),
          })
          .strict()
          .prefault({}),
        /**
         * Who may mark an address as bouncing by a delivery report (docs/deliverability.md "Who may
         * report a bounce"). A report names anyone; a reader of our email knows its Message-ID.
         */
        bounces: z
          .object({
            /**
             * proven: a report marks an address only with proof it came from a mail system with
             * standing — our signed envelope id (ENVID) in it, the mailbox's signed bounce address
             * (mailboxes[].verp), or authenticated (security.senderAuth) from a mail-system address
             * (MAILER-DAEMON@, postmaster@) of the recipient's own domain or of `reporters`; any
             * other report is recorded on the case as unverified and marks nobody.
             * any: every report about our mail marks the addresses it names (before 2026-12); not
             * with verp on, which always wants its signed address.
             */
            trust: z.enum(['proven', 'any']).default('proven'),
            /**
             * Domains whose authenticated mail-system reports speak for every recipient: a relay
             * provider that reports bounces by email without the DSN extension (e.g. amazonses.com).
             * Its subdomains count too, so never a domain whose subdomains the provider gives to
             * every customer (a Microsoft 365 tenant, a Mailgun sandbox): each one's postmaster@
             * would speak for every recipient.
             */
            reporters: z
              .array(
                z
                  .string()
                  .trim()
                  .toLowerCase()
                  .regex(/^[a-z0-9.-]+\.[a-z0-9-]+$/, 'a domain, e.g. amazonses.com')
                  .refine((d) => !Object.hasOwn(TENANT_PARENTS, d), { error: (i) => `${String(i.input)} gives every customer a subdomain (${TENANT_PARENTS[String(i.input)]}), whose postmaster@ would then speak for every recipient: name your own, e.g. ${TENANT_PARENTS[String(i.input)]}` }),
              )
              .default([]),
          })
          .strict()
          .prefault({}),
        /** Mail with more Received headers than this is looping: quarantined, never answered. */
        maxReceivedHops: z.number().int().min(5).max(1000).default(50),
        /** Replaced by senderAuth (reported with the new form). */
        trustedAuthServId: z.string().optional(),
        /** Honour the MX's spam verdict (spam-schema.ts). */
        spam: spamSettings.prefault({}),
      })
      .strict()
      .prefault({}),
    pipeline: z
      .object({
        /** A stage (parse, sender check, …) still waiting after this long ends the message in `retry` (channel retries later). */
        stageTimeoutSeconds: z.number().positive().max(3600).default(30),
        /**
         * A message that says the same as one taken within this many minutes (same sender,
         * recipients, subject, text and attachments) and would open a new case is a re-sent copy
         * (a retry loop, a form sent twice) and is ignored; 0: only copies with the very same Date.
         */
        resendWindowMinutes: z.number().nonnegative().max(1440).default(10),
        /**
         * Give up on a message a stage keeps running out of time on (pipeline/give-up.ts): quarantined,
         * raw kept, the admin told once, after this many timeouts that count — one counts only when
         * the same stage worked for other mail since the message's previous one, so a database, DNS
         * or disk outage never does. 0 = never give up (offered again for as long as the sender does).
         */
        giveUpAfterAttempts: z.number().int().min(0).max(1000).default(5),
        /** …and no sooner than this many minutes after its first timeout (a short hiccup is waited out). */
        giveUpAfterMinutes: z.number().min(0).max(43_200).default(60),
      })
      .strict()
      .prefault({}),
    /** Business calendars and SLA policies (sla-schema.ts). */
    sla: slaSchema,
    /** Scheduled jobs: schedules and knobs (sla-schema.ts). */
    jobs: jobsSchema,
    /** The small web server: customer case page, survey, /healthz (sla-schema.ts). */
    web: webSchema,
    /**
     * The ops listener: /healthz (with reasons) and /metrics (Prometheus) for monitoring, on its
     * own address, independent of web.enabled (the customer pages may sit behind a public proxy).
     */
    ops: z
      .object({
        /** Serve /healthz and /metrics in the daemon. */
        enabled: z.boolean().default(false),
        /** Address to bind; keep it on loopback (or a private monitoring network). */
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8026),
        /** Health fails (/healthz 503, `casegate status`) when the data directory's file system has less free space (MB). */
        minFreeDiskMB: z.number().nonnegative().default(100),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const sec = cfg.security;
    if (sec.trustedAuthServId !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['security', 'trustedAuthServId'],
        message: `replaced by security.senderAuth: { mode: trusted-header, authservId: ${sec.trustedAuthServId} } (docs/how-it-works.md, "Threading and trust")`,
      });
    }
    if (sec.senderAuth.mode === 'trusted-header' && sec.senderAuth.authservId === undefined) {
      ctx.addIssue({ code: 'custom', path: ['security', 'senderAuth', 'authservId'], message: 'required with mode "trusted-header": the authserv-id your MX writes in Authentication-Results' });
    }
    if (cfg.listener.enabled && cfg.outgoing.transport === 'smtp' && cfg.outgoing.smtp !== undefined && sameEndpoint(cfg.listener.host, cfg.listener.port, cfg.outgoing.smtp.host, cfg.outgoing.smtp.port)) {
      ctx.addIssue({
        code: 'custom',
        path: ['outgoing', 'smtp', 'port'],
        message: `outgoing mail would go to casegate's own SMTP listener (${cfg.listener.host}:${cfg.listener.port}): a mail loop. Point outgoing.smtp at your MTA`,
      });
    }
    checkMailboxes(cfg, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    if (cfg.outgoing.transport === 'smtp' && cfg.outgoing.smtp === undefined) {
      ctx.addIssue({ code: 'custom', path: ['outgoing', 'smtp'], message: 'required when outgoing.transport is "smtp"' });
    }
    checkRouting(cfg, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    checkSla(cfg, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    cfg.autoReply.neverTo.forEach((re, i) => {
      try {
        new RegExp(re, 'i');
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['autoReply', 'neverTo', i], message: `invalid regular expression: ${(err as Error).message}` });
      }
    });
  });

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);

/** True for a host that only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return LOOPBACK.has(h) || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Whether two host:port pairs name the same listening socket (wildcard binds catch every local address). */
function sameEndpoint(listenHost: string, listenPort: number, host: string, port: number): boolean {
  if (listenPort !== port || listenPort === 0) return false;
  const a = listenHost.trim().toLowerCase();
  const b = host.trim().toLowerCase();
  if (a === b) return true;
  if (a === '0.0.0.0' || a === '::' || a === '') return isLoopback(b) || b === '0.0.0.0';
  return isLoopback(a) && isLoopback(b);
}

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type MailboxConfig = Config['mailboxes'][number];
export type ImapConfig = NonNullable<MailboxConfig['imap']>;
export type QueueConfig = Config['queues'][string];
export type AgentConfig = QueueConfig['agents'][number];
export type RuleConfig = Config['rules'][number];
export type PriorityConfig = Config['priorities'];
export type SenderAuthConfig = Config['security']['senderAuth'];
