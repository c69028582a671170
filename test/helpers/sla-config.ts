import type { ConfigInput } from '../../src/config/schema.js';

/** Queue support on a Chicago business calendar (Mon–Fri 07–17, US holidays) with a four-level policy. */
export const SLA_CONFIG: ConfigInput = {
  queues: {
    support: {
      calendar: 'us',
      slaPolicy: 'std',
      agents: [{ name: 'Erika Musterfrau', address: 'erika@example.com' }],
      assignment: 'fixed',
      fixedOwner: 'Erika Musterfrau',
      tiers: { 1: { addresses: ['lead@example.com'] } },
    },
  },
  sla: {
    calendars: { us: { zone: 'America/Chicago', hours: { 'mon-fri': '07:00-17:00' }, holidays: { country: 'US' } } },
    policies: {
      std: {
        targets: {
          urgent: { firstResponse: '15m', resolution: '12h', coverage: '24x7' },
          high: { firstResponse: '2h', resolution: '18h' },
          normal: { firstResponse: '4h', resolution: '24h' },
          low: { firstResponse: '8h', resolution: '48h', afterHours: 'next-business-day' },
        },
      },
    },
  },
};
