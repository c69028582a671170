/**
 * What an address says about who is behind it, from its local part alone: a mail system
 * (MAILER-DAEMON, postmaster), a bounce-collecting VERP address (bounces+…@), or a mailbox nobody
 * reads (noreply, do-not-reply, ne-pas-repondre …). Used to classify senders (automated.ts) and to
 * refuse sending to such addresses (mail-out/recipient-refusal.ts).
 *
 * The local part is tokenised, so the role is found anywhere in it, not only at the start:
 * "newsalerts-noreply", "no_reply", "noreply+123", "donotreply-billing", "do_not_reply",
 * "noreply.alerts", "bounces+abc", "no-reply-aws" — sub-addresses (+tag) are dropped, the rest is
 * split at every character that is not a letter or digit, trailing digits of a token are
 * ignored ("noreply2"), and runs of up to four neighbouring tokens are joined and looked up
 * ("do" "not" "reply" → donotreply). Whole words only: "reply@", "bouncer@", "noreen@" and
 * "juno.reply@" are ordinary addresses.
 */
import { header, type ParsedMail } from './parsed-mail.js';
import { localPart } from './mail-text.js';

export type AddressRole = 'mailer-daemon' | 'postmaster' | 'no-reply' | 'bounces';

/** Joined token runs that name an unread mailbox, in the languages such addresses come in. */
const NO_REPLY_WORDS = new Set([
  'noreply',
  'noreplies',
  'donotreply',
  'dontreply',
  'donotrespond',
  'norespond',
  'noresponse',
  'noanswer',
  'nepasrepondre', // fr: ne-pas-repondre
  'nichtantworten', // de: nicht-antworten
  'keineantwort',
  'noresponder', // es: no-responder
  'noresponda',
  'naoresponda', // pt: nao-responda
  'naoresponder',
  'nonrispondere', // it: non-rispondere
  'nietantwoorden', // nl: niet-antwoorden
  'nietbeantwoorden',
  'ikkesvar', // da/no: ikke-svar
  'ikkebesvar',
  'svaraej', // sv: svara-ej / svara-inte
  'svarainte',
  'nieodpowiadaj', // pl: nie-odpowiadaj
  'neodpovidejte', // cs
  'nuraspunde', // ro: nu-raspunde
  'vastaamatta', // fi: ala-vastaa / vastaamatta
  'alavastaa',
]);
const DAEMON_WORDS = new Map<string, AddressRole>([
  ['mailerdaemon', 'mailer-daemon'],
  ['maildaemon', 'mailer-daemon'],
  ['postmaster', 'postmaster'],
]);
const BOUNCE_WORDS = new Set(['bounce', 'bounces', 'bounced']);
const MAX_RUN = 4;

/** The local part's tokens: sub-address dropped, split at non-alphanumerics, trailing digits off. */
export function localPartTokens(address: string): string[] {
  const local = localPart(address.toLowerCase()).split('+')[0] ?? '';
  return local
    .split(/[^\p{L}\p{N}]+/u)
    .map((t) => t.normalize('NFD').replace(/\p{M}/gu, '').replace(/\d+$/, ''))
    .filter((t) => t !== '');
}

/** The role of an address by its local part, or null for an ordinary mailbox. */
export function addressRole(address: string): AddressRole | null {
  const tokens = localPartTokens(address);
  for (let i = 0; i < tokens.length; i++) {
    let joined = '';
    for (let j = i; j < Math.min(tokens.length, i + MAX_RUN); j++) {
      joined += tokens[j];
      const daemon = DAEMON_WORDS.get(joined);
      // A daemon is the whole local part ("MAILER-DAEMON", "postmaster"), not a part of it.
      if (daemon !== undefined && i === 0 && j === tokens.length - 1) return daemon;
      if (NO_REPLY_WORDS.has(joined)) return 'no-reply';
    }
    if (BOUNCE_WORDS.has(tokens[i] ?? '')) return 'bounces';
  }
  return null;
}

/** Used on a display name / raw header text when there is no usable address. */
const DAEMON_WORD = /(?:^|[^a-z0-9])(mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master)(?:[^a-z0-9]|$)/i;

function daemonRole(address: string): 'mailer-daemon' | 'postmaster' | null {
  const role = addressRole(address);
  return role === 'mailer-daemon' || role === 'postmaster' ? role : null;
}

/**
 * "MAILER-DAEMON" / "postmaster" when the message comes from a mail system role address: the From
 * address (or, without one, a From display name such as "MAILER-DAEMON <>"), Sender, or
 * Return-Path. Such a sender alone does not make a bounce (people write from postmaster@ too).
 */
export function daemonSender(mail: ParsedMail): 'MAILER-DAEMON' | 'postmaster' | null {
  const named = (role: 'mailer-daemon' | 'postmaster' | null): 'MAILER-DAEMON' | 'postmaster' | null =>
    role === null ? null : role === 'mailer-daemon' ? 'MAILER-DAEMON' : 'postmaster';
  const fromAddress = mail.from?.address ?? '';
  if (fromAddress !== '') {
    const role = daemonRole(fromAddress);
    if (role !== null) return named(role);
  } else {
    const m = DAEMON_WORD.exec(`${mail.from?.name ?? ''} ${header(mail, 'from') ?? ''}`);
    if (m?.[1] !== undefined) return named(daemonRole(`${m[1]}@x`));
  }
  const sender = header(mail, 'sender');
  if (sender !== null) {
    const addr = (/<([^<>]*)>/.exec(sender)?.[1] ?? sender).trim();
    const role = addr.includes('@') || !/\s/.test(addr) ? daemonRole(addr.includes('@') ? addr : `${addr}@x`) : null;
    if (role !== null) return named(role);
  }
  if (mail.returnPath !== null && mail.returnPath !== '') {
    const role = daemonRole(mail.returnPath.includes('@') ? mail.returnPath : `${mail.returnPath}@x`);
    if (role !== null) return named(role);
  }
  return null;
}
