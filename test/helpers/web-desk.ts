import type { ConfigInput } from '../../src/config/schema.js';

/** The case page's base address in the signed-link tests. */
export const WEB_BASE = 'https://help.example.com/cg';

/**
 * The desk of the signed-link tests: one support mailbox, Ben as its agent, the case page on at
 * WEB_BASE (any free port), automatic replies without a pause between them.
 */
export const WEB_DESK = {
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }] } },
  web: { enabled: true, port: 0, baseUrl: WEB_BASE },
  autoReply: { minIntervalSeconds: 0 },
} as const satisfies ConfigInput;
