import * as z from 'zod';
import { email, languageTag } from './schema-basics.js';
import { TAG_NAME } from '../cases/tag-name.js';

/**
 * Where cases go and who works them: queues (agents, tiers, helpful info), priority levels and
 * routing rules. Part of configSchema (schema.ts); every key is documented in
 * config/casegate.example.yaml and docs/configuration.md.
 */

/** One or a list of values ("senderDomain: acme.example" or "senderDomain: [a.example, b.example]"). */
const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

const domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^@?[a-z0-9-]+(?:\.[a-z0-9-]+)+$/, 'must be a domain like customer.example');

export const priorityLevel = z
  .object({
    /** Name stored on the case and shown in listings ("urgent", "S1"). */
    name: z.string().trim().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'use letters, digits, - and _'),
    /** Smaller is more severe; listings show the most severe first. */
    order: z.number().int(),
  })
  .strict();

const agent = z
  .object({
    /** Display name: shown to customers (never the address); also what `#assign` and `cases assign` accept. */
    name: z.string().trim().min(1),
    address: email,
    /**
     * Other addresses of this person (an old one after a rename, a second mailbox): their mail is
     * this agent's, proven the same way; staff mail goes to `address`.
     */
    aliases: z.array(email).default([]),
    /** false: away (holiday, sick) — skipped by round-robin, can still be assigned by hand; their cases' mail reaches the available agents too (all away: the tiers). */
    available: z.boolean().default(true),
    /** agent, or lead: a lead is alerted when a case of the queue is escalated to their tier (default tier 1). */
    role: z.enum(['agent', 'lead']).default('agent'),
    /** Escalation tier (1–3) this person is alerted at (in addition to tiers.<n>.addresses); leads default to 1. */
    tier: z.number().int().min(1).max(3).optional(),
  })
  .strict();

export const queueSettings = z
  .object({
    helpfulInfo: z.array(z.string()).optional(),
    expectedResponse: z.string().optional(),
    language: languageTag.optional(),
    /** A feedback queue: messages are recorded as feedback (closed at once, no SLA, never reopened) and thanked. */
    feedback: z.boolean().default(false),
    /** Escalation tiers 1–3 (tier 1 = the queue's leads): who is alerted when a case reaches that level. */
    tiers: z.record(z.string(), z.object({ addresses: z.array(email).min(1) }).strict()).default({}),
    /** Agents who may own cases of this queue (and send #commands). */
    agents: z.array(agent).default([]),
    /** Owner of new cases: none, fixed (fixedOwner), or round-robin among available agents. */
    assignment: z.enum(['none', 'fixed', 'round-robin']).default('none'),
    /** Agent (name or address) that gets every new case with assignment "fixed". */
    fixedOwner: z.string().trim().min(1).optional(),
    /** Shown in the on-hold email as the expected time (default cases.onHoldExpected). */
    onHoldExpected: z.string().trim().min(1).optional(),
    /** Business calendar of the queue (a name under sla.calendars; default sla.defaultCalendar). */
    calendar: z.string().trim().min(1).optional(),
    /** SLA policy of the queue (a name under sla.policies; default sla.defaultPolicy). */
    slaPolicy: z.string().trim().min(1).optional(),
  })
  .strict();

/** subject/body: a string is a regular expression (case-insensitive), a list holds keywords (whole words). */
const textMatch = z.union([z.string().min(1), z.array(z.string().trim().min(1)).min(1)]);

export const rule = z
  .object({
    /** Unique; logged and recorded on the case when the rule fires. */
    name: z.string().trim().min(1),
    /** Every condition given must hold (a list: any of its entries); an empty match matches every new case. */
    match: z
      .object({
        /** Mailbox name(s) of the new case: the one the message arrived in (of a message addressed to several of ours, the first named in To, then Cc). */
        mailbox: oneOrMany(z.string().min(1)).optional(),
        /** Recipient address(es): To, Cc or envelope recipient. */
        recipient: oneOrMany(email).optional(),
        senderAddress: oneOrMany(email).optional(),
        /** Sender domain(s); subdomains match too. */
        senderDomain: oneOrMany(domain).optional(),
        subject: textMatch.optional(),
        /** Tested against the new text of the message (quoted history removed). */
        body: textMatch.optional(),
        /** Header(s) whose value must match the pattern (regular expression, case-insensitive); a list: all of them. */
        header: oneOrMany(z.object({ name: z.string().trim().min(1), pattern: z.string().min(1) }).strict()).optional(),
      })
      .strict(),
    set: z
      .object({
        priority: z.string().trim().min(1).optional(),
        queue: z.string().trim().min(1).optional(),
        tags: z.array(z.string().trim().toLowerCase().regex(TAG_NAME, 'tags use letters, digits, - _ : . (at most 64)')).optional(),
        /** Escalate the new case to this tier (alerts that tier's addresses). */
        tier: z.number().int().min(1).max(3).optional(),
        /** Agent (name or address) of the case's queue. */
        owner: z.string().trim().min(1).optional(),
      })
      .strict(),
  })
  .strict();
