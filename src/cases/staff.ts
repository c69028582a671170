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
  const exact = agentByAddress(agents, w) ?? agents.find((a) => norm(a.name) === w);
  if (exact !== undefined) return exact;
  const loose = agents.filter((a) => a.address.slice(0, a.address.indexOf('@')) === w || norm(a.name).startsWith(`${w} `));
  return loose.length === 1 ? loose[0]! : null;
}

/** The agent whose address or one of whose `aliases` this is (lower case), else null. */
export function agentByAddress(agents: readonly AgentConfig[], address: string): AgentConfig | null {
  return agents.find((a) => a.address === address) ?? agents.find((a) => (a.aliases ?? []).includes(address)) ?? null;
}

/**
 * Every address of the person writing from `address`: the address itself, and when it is an agent's
 * (or one of their aliases), that agent's address and aliases in every queue. Staff mail we sent
 * to any of them proves the person (stages/sender.ts).
 */
export function personAddresses(config: Pick<Config, 'queues'>, address: string): string[] {
  const a = address.trim().toLowerCase();
  const out = new Set([a]);
  for (const q of Object.values(config.queues)) {
    const agent = agentByAddress(q.agents, a);
    if (agent !== null) for (const x of [agent.address, ...(agent.aliases ?? [])]) out.add(x);
  }
  return [...out];
}

/** The address staff mail to this staff address goes to: an alias's agent address, else the address itself. */
export function staffAddress(config: Pick<Config, 'queues'>, address: string): string {
  const a = address.trim().toLowerCase();
  for (const q of Object.values(config.queues)) {
    const agent = agentByAddress(q.agents, a);
    if (agent !== null) return agent.address;
  }
  return a;
}

export function agentsOf(config: Pick<Config, 'queues'>, queue: string): readonly AgentConfig[] {
  return queueSettings(config, queue)?.agents ?? [];
}

/** The tier an agent is alerted at: their `tier`, else 1 for a lead, else none. */
export function agentTier(a: AgentConfig): number | null {
  return a.tier ?? (a.role === 'lead' ? 1 : null);
}

/**
 * Addresses alerted at one tier of a queue (tier 1 = the leads): tiers.<n>.addresses plus the
 * agents whose tier it is (leads default to tier 1).
 */
export function tierAddresses(config: Pick<Config, 'queues'>, queue: string, tier: number): readonly string[] {
  const q = queueSettings(config, queue);
  if (q === undefined) return [];
  const out = new Set(q.tiers[String(tier)]?.addresses ?? []);
  for (const a of q.agents) if (agentTier(a) === tier) out.add(a.address);
  return [...out];
}

/** Someone who works a queue: a configured agent, or an address of one of its escalation tiers. */
export interface StaffMember {
  readonly address: string;
  /** Display name ("" for a tier address that is no agent: use the name in their From). */
  readonly name: string;
  readonly role: 'agent' | 'lead';
  /** Escalation tier they are alerted at, else null. */
  readonly tier: number | null;
  /** The agent entry when they are one (possible owner), else null. */
  readonly agent: AgentConfig | null;
}

/**
 * The one answer to "is this address an agent (or lead) of this queue?": the staff member, or
 * null. Agents come first; a tier address that is no agent is a lead of that tier.
 */
export function staffMember(config: Pick<Config, 'queues'>, queue: string, address: string): StaffMember | null {
  const q = queueSettings(config, queue);
  if (q === undefined) return null;
  const a = address.trim().toLowerCase();
  // An alias is the agent: they act (and are written to) as their configured address.
  const agent = agentByAddress(q.agents, a);
  if (agent !== null) return { address: agent.address, name: agent.name, role: agent.role, tier: agentTier(agent), agent };
  for (const t of ['1', '2', '3']) {
    if (q.tiers[t]?.addresses.includes(a) === true) return { address: a, name: '', role: 'lead', tier: Number(t), agent: null };
  }
  return null;
}

/** Agents and tier addresses of the queue: they may answer its cases and send #commands. */
export function isStaffOf(config: Pick<Config, 'queues'>, queue: string, address: string): boolean {
  return staffMember(config, queue, address) !== null;
}

/**
 * The case's owner while they are an agent of its queue, else null: an owner removed from the
 * configuration (left the team) gets no more staff mail about the case — the queue does. An owner
 * recorded under what is now one of an agent's `aliases` (their address before a rename) is that
 * agent, at their configured address.
 */
export function activeOwner(config: Pick<Config, 'queues'>, queue: string, owner: string | null): string | null {
  return owner !== null ? (agentByAddress(agentsOf(config, queue), owner)?.address ?? null) : null;
}

/**
 * The owner while they are an agent of the queue and `available`, else null: an owner marked away
 * (holiday, sick) keeps the case, but the team hears about it (attentionAddresses).
 */
export function presentOwner(config: Pick<Config, 'queues'>, queue: string, owner: string | null): string | null {
  const active = activeOwner(config, queue, owner);
  return active !== null && agentsOf(config, queue).some((a) => a.address === active && a.available) ? active : null;
}

/**
 * Who hears about a case that needs attention: its owner (while an available agent of the queue);
 * else the queue's available agents — and an owner marked away (`available: false`) as well, who
 * keeps the case and their copy, while someone present can answer. When no agent of the queue is
 * available (the whole team away), its escalation tiers (tier 1, the leads, first), else
 * instance.adminAddress: a customer's message never reaches nobody but an empty desk.
 */
export function attentionAddresses(config: Pick<Config, 'queues' | 'instance'>, queue: string, owner: string | null): { readonly address: string; readonly name: string }[] {
  const present = presentOwner(config, queue, owner);
  if (present !== null) return [{ address: present, name: ownerName(config, queue, present) }];
  const away = activeOwner(config, queue, owner);
  const out = new Map<string, string>();
  if (away !== null) out.set(away, ownerName(config, queue, away));
  const agents = agentsOf(config, queue);
  for (const a of agents) if (a.available) out.set(a.address, a.name);
  if (agents.length > 0 && out.size === (away !== null ? 1 : 0)) {
    // A team, all of it away: the tiers (whoever is reached there, lead or not), else the admin.
    // (A queue without agents stays as it was: the CLI works it; `casegate config` warns.)
    let reached = false;
    for (const t of [1, 2, 3]) {
      for (const address of tierAddresses(config, queue, t)) {
        reached = true;
        if (!out.has(address)) out.set(address, agents.find((a) => a.address === address)?.name ?? '');
      }
      if (reached) break;
    }
    if (!reached && config.instance.adminAddress !== undefined && !out.has(config.instance.adminAddress)) out.set(config.instance.adminAddress, '');
  }
  return [...out].map(([address, name]) => ({ address, name }));
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
