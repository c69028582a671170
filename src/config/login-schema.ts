import * as z from 'zod';
import { ENV_NAME } from '../command-env.js';

/**
 * A login to a mail server: a password, or an OAuth2 access token (XOAUTH2: Microsoft 365, Google
 * Workspace). The IMAP account of a mailbox (mailbox-schema.ts) and an SMTP relay
 * (outgoing-schema.ts) log in alike.
 */
export const loginAuth = z.discriminatedUnion('method', [
  z.object({
    method: z.literal('password'),
    user: z.string().min(1),
    /** Literal password; prefer ${NAME} or ${file:…}. */
    password: z.string().min(1),
  }).strict(),
  z.object({
    method: z.literal('xoauth2'),
    user: z.string().min(1),
    /** Name of an environment variable holding the access token. */
    accessTokenEnv: z.string().min(1).optional(),
    /** A shell command that prints a fresh access token on stdout; re-run for every new connection and when the token is rejected (token helpers cache on their side). */
    tokenCommand: z.string().min(1).optional(),
    /** Variables of the daemon's environment tokenCommand gets besides PATH, HOME, LANG, TZ … (command-env.ts); it gets no other. */
    passEnv: z.array(z.string().regex(ENV_NAME, 'an environment variable name')).optional(),
  }).strict(),
]);
