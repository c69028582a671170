import type { RelayConfig } from '../config/outgoing-schema.js';
import type { Config, MailboxConfig } from '../config/schema.js';

/**
 * Which relay an email goes through (docs/configuration.md, Relays): the relay of the mailbox whose
 * address is its From — mailboxes[].relay, else "default" (outgoing.smtp, or the file transport).
 * Every email casegate writes for a case is From its mailbox's first address (compose.ts,
 * system-email.ts), so confirmations, agents' replies, staff notifications, surveys and reminders
 * of a case all go through its mailbox's relay; admin alerts are From the default mailbox
 * (instance.adminAddress) and go through its relay. From is the key because the relay's login must
 * be allowed to send as it (Send As in Microsoft 365, a verified sender at SendGrid): an email
 * From an address no mailbox has any more (a mailbox renamed with emails still queued) goes
 * through "default".
 */

export const DEFAULT_RELAY = 'default';

/** The health row's key of a named relay (transport_health); the default relay keeps its transport's name. */
export { RELAY_ROW_PREFIX as RELAY_KEY_PREFIX } from '../db/repos/transport-health.js';

export function relayOfMailbox(mb: Pick<MailboxConfig, 'relay'>): string {
  return mb.relay ?? DEFAULT_RELAY;
}

/** The named relays (not "default") some mailbox sends through, in configuration order. */
export function relaysInUse(config: Config): string[] {
  const used = new Set(config.mailboxes.map(relayOfMailbox).filter((r) => r !== DEFAULT_RELAY));
  return Object.keys(config.outgoing.relays).filter((n) => used.has(n));
}

/**
 * Whose per-minute budget a relay's maxPerMinute counts in (relay-rate.ts): the relay's host and
 * port and the login that sends through it — what a relay or provider counts by (Microsoft 365 per
 * mailbox, Amazon SES and SendGrid per account's login, Postfix per client) — not the name a
 * configuration gives it. Two daemons that name one relay differently ("default" in one, a named
 * relay in the other) share one budget; two relays of one host with different logins (two
 * Microsoft 365 mailboxes) have one each. Lower case; the password is no part of it. A host under
 * two names (an address and a name, a CNAME) is two budgets: name it alike in every daemon.
 */
export function relayBudgetKey(relay: Pick<RelayConfig, 'host' | 'port' | 'user' | 'auth'>): string {
  const user = relay.auth?.user ?? relay.user ?? '';
  return `${relay.host.trim().toLowerCase().replace(/\.$/, '')}:${relay.port}${user !== '' ? `/${user.trim().toLowerCase()}` : ''}`;
}

/** The settings of a relay in use ("default": outgoing.smtp), when it is an SMTP relay. */
export function relayConfigOf(config: Config, relay: string): RelayConfig | undefined {
  if (config.outgoing.transport !== 'smtp') return undefined;
  return relay === DEFAULT_RELAY ? config.outgoing.smtp : config.outgoing.relays[relay];
}

/** How logs, alerts and `casegate status` name a named relay. */
export function relayDisplayName(name: string, relay: Pick<RelayConfig, 'host' | 'port'>): string {
  return `relay ${name} (smtp:${relay.host}:${relay.port})`;
}

/** One relay's share of the outbox: which rows its sender claims (by From, lower case). */
export interface RelayLane {
  readonly relay: string;
  /** Named relays: only rows From these addresses. */
  readonly onlyFrom?: readonly string[];
  /** The default relay: every row but those From the named relays' addresses. */
  readonly excludeFrom?: readonly string[];
}

/** The lanes of the relays in use: the default one first. */
export function relayLanes(config: Config): RelayLane[] {
  const named = relaysInUse(config);
  const fromOf = (relay: string): string[] => config.mailboxes.filter((m) => relayOfMailbox(m) === relay).flatMap((m) => m.addresses.map((a) => a.toLowerCase()));
  return [{ relay: DEFAULT_RELAY, excludeFrom: named.flatMap(fromOf) }, ...named.map((relay) => ({ relay, onlyFrom: fromOf(relay) }))];
}

/** The relay an email From this address goes through. */
export function relayForFrom(config: Config, from: string): string {
  const key = from.toLowerCase();
  const mb = config.mailboxes.find((m) => m.addresses.some((a) => a.toLowerCase() === key));
  const relay = mb !== undefined ? relayOfMailbox(mb) : DEFAULT_RELAY;
  return relay !== DEFAULT_RELAY && config.outgoing.transport === 'smtp' && config.outgoing.relays[relay] !== undefined ? relay : DEFAULT_RELAY;
}

/** "relay eu (smtp:smtp.office365.com:587)", "default (smtp:mail.example.com:587)", "default (file)". */
export function describeRelay(config: Config, relay: string): string {
  const named = config.outgoing.relays[relay];
  if (relay !== DEFAULT_RELAY && named !== undefined) return relayDisplayName(relay, named);
  const smtp = config.outgoing.smtp;
  return config.outgoing.transport === 'smtp' && smtp !== undefined ? `default relay (outgoing.smtp, smtp:${smtp.host}:${smtp.port})` : 'default (outgoing.transport file: written to a file)';
}

/**
 * What one relay's transport is made of (transport.ts createRelayTransports): a reload that
 * changes none of it keeps that relay's sender running (relay-outbox.ts reconfigure).
 */
export function relaySettings(config: Config, relay: string): unknown {
  const o = config.outgoing;
  return relay === DEFAULT_RELAY ? { transport: o.transport, smtp: o.smtp, fileDir: o.fileDir, dkim: o.dkim } : { relay: o.relays[relay], dkim: o.dkim };
}
