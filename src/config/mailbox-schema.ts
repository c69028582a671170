import * as z from 'zod';
import { email } from './schema-basics.js';
import { loginAuth } from './login-schema.js';

/**
 * mailboxes[]: the addresses casegate serves and, per mailbox, the IMAP account it watches. Part
 * of configSchema (schema.ts); every key is documented in config/casegate.example.yaml and
 * docs/configuration.md.
 */

/** An address, or "@domain" for every address of a domain. */
const formSender = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[^\s@<>()[\]\\,;:"]*@[^\s@<>()[\]\\,;:"]+$/, 'an address like forms@shop.example, or @shop.example for a whole domain');

const imap = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(993),
  /** 'implicit' = TLS from the first byte (993); 'starttls' = upgrade (143); 'none' = plain text (tests only). */
  tls: z.enum(['implicit', 'starttls', 'none']).default('implicit'),
  /** PEM file of a CA (or a self-signed server certificate) to trust in addition to the system CAs. */
  caFile: z.string().optional(),
  /** Accept any certificate. Never in production. */
  insecureSkipVerify: z.boolean().default(false),
  auth: loginAuth,
  folder: z.string().min(1).default('INBOX'),
  /** After the outcome is committed: 'move' flags \Seen and moves to processedFolder; 'flag' only flags \Seen. */
  afterProcessing: z.enum(['move', 'flag']).default('move'),
  processedFolder: z.string().min(1).default('casegate/Processed'),
  quarantineFolder: z.string().min(1).default('casegate/Quarantine'),
  /** Seconds between polls when the server has no IDLE; with IDLE a safety re-check (SELECT + search) runs this often too. */
  pollSeconds: z.number().positive().default(30),
  /** Messages processed concurrently per mailbox. */
  concurrency: z.number().int().min(1).max(64).default(8),
  /** Keyword that marks processed messages in 'flag' mode (when the server allows keywords; else \Seen is the marker). */
  processedKeyword: z
    .string()
    .regex(/^\$?[A-Za-z0-9_-]+$/, 'an IMAP keyword such as $CasegateProcessed')
    .default('$CasegateProcessed'),
  /** First wait after a failed connection attempt (seconds); doubles with every failure in a row. */
  reconnectMinSeconds: z.number().positive().default(1),
  /** Longest wait between connection attempts (seconds). */
  reconnectMaxSeconds: z.number().positive().default(60),
  /** Mail instance.adminAddress once the mailbox has been failing this long (seconds), and again when it recovers. */
  alertAfterSeconds: z.number().nonnegative().default(600),
  /**
   * A connection whose server stays silent this long (seconds) is dead: after half of it without a
   * byte (also while idling) a NOOP asks, and without an answer in the other half the connection is
   * dropped and reconnected with backoff (a hung server, a NAT or firewall that lost the session).
   */
  stallTimeoutSeconds: z.number().min(2).max(3600).default(60),
}).strict();

export const mailbox = z.object({
  /** Unique name, used in logs, `casegate status` and as the default queue. */
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lower-case letters, digits, - and _'),
  /** Addresses this mailbox serves; the first is the From of what we send. */
  addresses: z.array(email).min(1),
  /** Queue that new cases from this mailbox go to (default: the mailbox name). */
  queue: z.string().min(1).optional(),
  /** Display name on outgoing mail (default: instance.name). */
  fromName: z.string().optional(),
  /** Put a signed plus-address (support+c10042-token@…) in Reply-To. Only if the server delivers plus addresses. */
  plusAddressing: z.boolean().default(false),
  /**
   * Send every email with a signed envelope sender per recipient (VERP: support+b<row>-<token>@…):
   * a bounce sent to it is mapped to that email and recipient whatever the report leaves out, and
   * only such a bounce marks an address as bouncing (docs/deliverability.md). Only when the mail
   * server delivers these addresses to the mailbox and the relay lets the mailbox use them as MAIL FROM.
   */
  verp: z.boolean().default(false),
  /** What joins the mailbox's local part and the bounce tag: "+" (support+b…) or "-" (support-b…), as the mail server's recipient delimiter. */
  verpSeparator: z.enum(['+', '-']).default('+'),
  /**
   * Agents' mail to this address is an internal note on the case it refers to (never sent to the
   * customer). Default: <local>+<agentMail.notesPlusTag>@<domain> of each of the mailbox's addresses.
   */
  notesAddress: email.optional(),
  /**
   * Programs that write on behalf of the person in Reply-To: web contact forms, shop systems
   * ("forms@shop.example", "@forms.example" for a whole domain; may be one of our own addresses).
   * Their mail opens the case for the Reply-To address (src/mail-in/form-mail.ts).
   */
  formSenders: z.array(formSender).default([]),
  /**
   * The relay this mailbox's emails go through (every kind: confirmations, replies, staff
   * notifications, surveys): a name from outgoing.relays, or "default" (outgoing.smtp, the default).
   */
  relay: z.string().min(1).optional(),
  /** IMAP account to watch; without it the mailbox receives through the SMTP listener or `casegate ingest`. */
  imap: imap.optional(),
}).strict();
