import type { AgentConfig, Config, QueueConfig } from '../config/schema.js';

/**
 * Who works a queue: its agents (possible owners) and its escalation tiers (tier 1 = the queue's
 * leads). Pure lookups over the configuration.
 */

type Cfg = Pick<Config, 'queues' | 'mailboxes' | 'instance'>;

/** Every queue name: configured under `queues` or used by a mailbox. */
export function knownQueues(config: Pick<Config, 'queues' | 'mailboxes'>): Set<string> {
  return new Set([...Object.keys(config.queues), ...config.mailboxes.map((m) => m.queue ?? m.name)]);
}

export function queueSettings(config: Pick<Config, 'queues'>, queue: string): QueueConfig | undefined {
  return Object.hasOwn(config.queues, queue) ? config.queues[queue] : undefined;
}

function norm(s: string): string {
  return s.trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * An agent of the queue by address, display name, the address's local part ("erika") or first
 * name ("Erika" for "Erika Musterfrau") — any case; the last two only when unambiguous. Else null.
 */
export function findAgent(agents: readonly AgentConfig[], who: string): AgentConfig | null {
  const w = norm(who);
  if (w === '') return null;
  const exact = agents.find((a) => a.address === w) ?? agents.find((a) => norm(a.name) === w);
  if (exact !== undefined) return exact;
  const loose = agents.filter((a) => a.address.slice(0, a.address.indexOf('@')) === w || norm(a.name).startsWith(`${w} `));
  return loose.length === 1 ? loose[0]! : null;
}

export function agentsOf(config: Pick<Config, 'queues'>, queue: string): readonly AgentConfig[] {
  return queueSettings(config, queue)?.agents ?? [];
}

/** Addresses of one tier of a queue (tier 1 = leads). */
export function tierAddresses(config: Pick<Config, 'queues'>, queue: string, tier: number): readonly string[] {
  return queueSettings(config, queue)?.tiers[String(tier)]?.addresses ?? [];
}

/** Agents and tier addresses of the queue: they may send #commands for its cases. */
export function isStaffOf(config: Pick<Config, 'queues'>, queue: string, address: string): boolean {
  const q = queueSettings(config, queue);
  if (q === undefined) return false;
  const a = address.toLowerCase();
  return q.agents.some((x) => x.address === a) || Object.values(q.tiers).some((t) => t.addresses.includes(a));
}

/** Anyone on the staff side: an agent or tier address of any queue, or the admin. Their mail is never a customer's. */
export function isStaff(config: Cfg, address: string): boolean {
  const a = address.toLowerCase();
  if (config.instance.adminAddress === a) return true;
  return Object.keys(config.queues).some((q) => isStaffOf(config, q, a));
}

/** Display name of an owner (agent address) for mail; "" when the address is no agent of any queue. */
export function ownerName(config: Pick<Config, 'queues'>, queue: string, owner: string | null): string {
  if (owner === null) return '';
  const own = findAgent(agentsOf(config, queue), owner);
  if (own !== null) return own.name;
  for (const q of Object.values(config.queues)) {
    const a = findAgent(q.agents, owner);
    if (a !== null) return a.name;
  }
  return '';
}
