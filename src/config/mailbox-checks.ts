import { addressKey } from '../address-form.js';
import { lookupKey } from '../mailboxes.js';
import type { Config } from './schema.js';

type Report = (path: (string | number)[], message: string) => void;

/**
 * Cross-checks of the mailboxes and of the staff addresses against them, made when the
 * configuration is loaded (every problem at once, with its key path): unique names and addresses,
 * staff addresses that are not our own, one mailbox per IMAP folder, IMAP folders that cannot loop.
 */
export function checkMailboxes(cfg: Config, report: Report): void {
  const names = new Set<string>();
  // By the key mail is routed by (MailboxDirectory): without a +tag, the domain in one spelling —
  // support+de@x and support@x, hilfe@bücher.example and hilfe@xn--bcher-kva.example are one
  // address to the router, and the later mailbox would silently take all of its mail.
  const addresses = new Map<string, { readonly mailbox: string; readonly address: string }>();
  // Relay names (here, not as the record's key schema: zod reports a bad key as "Invalid key in record").
  for (const name of Object.keys(cfg.outgoing.relays)) {
    if (name === 'default') report(['outgoing', 'relays', name], '"default" is outgoing.smtp itself: give this relay another name');
    else if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) report(['outgoing', 'relays', name], `relay name "${name}": use lower-case letters, digits, - and _`);
  }
  cfg.mailboxes.forEach((mb, i) => {
    if (mb.relay !== undefined && mb.relay !== 'default' && cfg.outgoing.relays[mb.relay] === undefined) {
      const known = ['default', ...Object.keys(cfg.outgoing.relays)];
      report(['mailboxes', i, 'relay'], `no relay "${mb.relay}" in outgoing.relays (known: ${known.join(', ')})`);
    } else if (mb.relay !== undefined && mb.relay !== 'default' && cfg.outgoing.transport !== 'smtp') {
      report(['mailboxes', i, 'relay'], `relay "${mb.relay}" needs outgoing.transport: smtp (with transport "file" every email is written to a file)`);
    }
    if (names.has(mb.name)) report(['mailboxes', i, 'name'], `duplicate mailbox name "${mb.name}"`);
    names.add(mb.name);
    mb.addresses.forEach((a, j) => {
      const key = lookupKey(a);
      const other = addresses.get(key);
      // In one mailbox, two spellings of an address are harmless (both reach it).
      if (other !== undefined && (other.address === a || other.mailbox !== mb.name)) {
        const same = other.address === a;
        report(
          ['mailboxes', i, 'addresses', j],
          same
            ? `address ${a} is already served by mailbox "${other.mailbox}"`
            : `address ${a} is the same address as ${other.address} of mailbox "${other.mailbox}" for routing (a +tag and the spelling of the domain do not count: mail to either reaches one mailbox): give each mailbox addresses of its own, and sort tagged mail with rules (match.recipient)`,
        );
      }
      addresses.set(key, { mailbox: mb.name, address: a });
    });
  });
  // Staff addresses that are our own: what we send there comes back as our own mail (X-Loop,
  // our Message-ID) and is dropped as a loop, so alerts would reach nobody.
  const own = (a: string): string | undefined => addresses.get(lookupKey(a))?.mailbox;
  const ownStaff = (a: string, path: (string | number)[], what: string): void => {
    const mb = own(a);
    if (mb !== undefined) report(path, `${a} is an address of mailbox "${mb}": ${what} sent there would come back as casegate's own mail and be dropped as a loop; use a person's or a team's own address`);
  };
  if (cfg.instance.adminAddress !== undefined) ownStaff(cfg.instance.adminAddress, ['instance', 'adminAddress'], 'alerts');
  for (const [name, q] of Object.entries(cfg.queues)) {
    for (const [tier, t] of Object.entries(q.tiers)) t.addresses.forEach((a, j) => ownStaff(a, ['queues', name, 'tiers', tier, 'addresses', j], 'escalation alerts'));
    q.agents.forEach((a, j) => {
      ownStaff(a.address, ['queues', name, 'agents', j, 'address'], 'notifications');
      // An alias that is ours would make our own mail an agent's.
      a.aliases.forEach((x, k) => {
        const mb = own(x);
        if (mb !== undefined) report(['queues', name, 'agents', j, 'aliases', k], `${x} is an address of mailbox "${mb}": mail from it would act as ${a.name}; list only the agent's own addresses`);
      });
    });
  }
  // Two mailboxes watching one IMAP folder would each take every message, whichever is first.
  const watched = new Map<string, string>();
  cfg.mailboxes.forEach((mb, i) => {
    if (mb.imap === undefined) return;
    const key = `${mb.imap.auth.user.toLowerCase()}@${mb.imap.host.toLowerCase()}:${mb.imap.port}/${imapFolderKey(mb.imap.folder)}`;
    const other = watched.get(key);
    if (other !== undefined) report(['mailboxes', i, 'imap', 'folder'], `mailbox "${other}" already watches ${key}: each message would land in whichever mailbox reads it first; give one mailbox the account and list both addresses in it`);
    watched.set(key, mb.name);
  });
  // A notes address names its mailbox: two mailboxes with one would file one's notes as the other's.
  const notes = new Map<string, string>();
  if (cfg.agentMail.notesPlusTag !== '') for (const mb of cfg.mailboxes) for (const a of mb.addresses) notes.set(addressKey(a.replace('@', `+${cfg.agentMail.notesPlusTag}@`)), mb.name);
  cfg.mailboxes.forEach((mb, i) => {
    if (mb.notesAddress === undefined) return;
    if (cfg.mailboxes.some((m) => m.addresses.includes(mb.notesAddress!))) {
      report(['mailboxes', i, 'notesAddress'], `${mb.notesAddress} is a mailbox address: every agent reply to it would become an internal note; use a separate address`);
      return;
    }
    const other = notes.get(addressKey(mb.notesAddress));
    if (other !== undefined && other !== mb.name) report(['mailboxes', i, 'notesAddress'], `${mb.notesAddress} is already the notes address of mailbox "${other}": give each mailbox its own`);
    notes.set(addressKey(mb.notesAddress), mb.name);
  });
  cfg.mailboxes.forEach((mb, i) => {
    const im = mb.imap;
    if (im === undefined) return;
    if (im.auth.method === 'xoauth2' && im.auth.accessTokenEnv === undefined && im.auth.tokenCommand === undefined) {
      report(['mailboxes', i, 'imap', 'auth'], 'xoauth2 needs accessTokenEnv or tokenCommand');
    }
    if (im.afterProcessing === 'move') {
      // Moving a message into the folder being watched would find it again, for ever.
      const folder = imapFolderKey(im.folder);
      for (const key of ['processedFolder', 'quarantineFolder'] as const) {
        if (imapFolderKey(im[key]) === folder) {
          report(['mailboxes', i, 'imap', key], `must differ from imap.folder ("${im.folder}"): casegate would move each message into the folder it watches and find it again, for ever`);
        }
      }
    }
    if (im.reconnectMaxSeconds < im.reconnectMinSeconds) {
      report(['mailboxes', i, 'imap', 'reconnectMaxSeconds'], 'must not be smaller than reconnectMinSeconds');
    }
  });
}

/** An IMAP folder name as the server compares it: "/"-separated, INBOX in any case (RFC 3501 §5.1). */
function imapFolderKey(folder: string): string {
  const parts = folder.split('/').filter((p) => p !== '');
  if (parts[0] !== undefined && parts[0].toUpperCase() === 'INBOX') parts[0] = 'INBOX';
  return parts.join('/');
}
