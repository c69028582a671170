import type { Kysely } from 'kysely';
import type { AppContext } from '../context.js';
import { ADDRESS_LIMIT } from '../config/regex-safety.js';
import { isBouncing } from '../db/repos/addresses.js';
import type { Database } from '../db/schema.js';
import { addressRole } from '../mail-in/sender-roles.js';

/**
 * Why no mail at all may go to this customer address — one of our own, a mailbox nobody reads
 * (a no-reply, bounce-collecting, MAILER-DAEMON or postmaster local part, found anywhere in the
 * local part: sender-roles.ts), an address matching autoReply.neverTo, or bouncing — or null when
 * it may. Automatic replies add their own checks (react.ts autoReplyRefusal: automated mail,
 * unverified sender, suspected spam, rate limit). `human`: mail an agent wrote goes to a bouncing
 * address all the same (the agent is told): a bounce is not proof (anyone who saw one of our
 * Message-IDs can forge one), and one more bounce of a person's answer costs nothing.
 */
export async function recipientRefusal(ctx: AppContext, db: Kysely<Database>, address: string, opts: { readonly human?: boolean } = {}): Promise<string | null> {
  if (ctx.mailboxes.isOwnAddress(address)) return 'address is one of our own addresses';
  const role = addressRole(address);
  if (role !== null) return `address is a ${role} address`;
  // neverTo patterns are vetted for ADDRESS_LIMIT characters (config/regex-safety.ts): never more.
  const bounded = address.slice(0, ADDRESS_LIMIT);
  if (ctx.config.autoReply.neverTo.some((re) => new RegExp(re, 'i').test(bounded))) return `address matches autoReply.neverTo`;
  if (opts.human !== true && (await isBouncing(db, address))) return 'address is marked as bouncing';
  return null;
}
