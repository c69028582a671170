import * as z from 'zod';
import './schema-basics.js'; // zod's settings first (see there)

/**
 * security.spam: honouring the spam verdict our MX (SpamAssassin, rspamd, Exchange Online
 * Protection …) wrote into the message. Kept in its own file so the rest of `security` can grow
 * independently. Documented in config/casegate.example.yaml and docs/automated-mail.md.
 */
export const spamSettings = z
  .object({
    /** Read the MX's verdict headers (X-Spam-Flag, X-Spam-Status, X-Spam, X-MS-Exchange-Organization-SCL, scoreHeader). */
    enabled: z.boolean().default(true),
    /** A further header carrying a numeric score, e.g. X-Spam-Score or X-Rspamd-Score. */
    scoreHeader: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9-]+$/, 'a header name such as X-Spam-Score')
      .optional(),
    /** scoreHeader values at or above this are spam. */
    threshold: z.number().default(5),
    /** Exchange's spam confidence level (X-MS-Exchange-Organization-SCL) at or above this is spam (Microsoft's junk threshold is 5). */
    exchangeSclThreshold: z.number().int().min(1).max(9).default(5),
  })
  .strict();

export type SpamSettings = z.output<typeof spamSettings>;
