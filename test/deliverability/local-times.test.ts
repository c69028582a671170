import type { ParsedMail } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { firstSentTo } from '../helpers/sent-mail.js';

/**
 * The times a customer reads in our mail (the .eml the file transport wrote) are in one zone: the
 * queue's, in which the confirmation promises its reply ("by Monday 12:00 MEZ") — the case's
 * opening time below it too, not UTC.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv(
    {
      mailboxes: [
        { name: 'support', addresses: ['support@example.com'], queue: 'support' },
        { name: 'hilfe', addresses: ['hilfe@example.com'], queue: 'hilfe' },
      ],
      queues: { support: { calendar: 'us', slaPolicy: 'std' }, hilfe: { calendar: 'de', slaPolicy: 'std', language: 'de' } },
      sla: {
        calendars: { us: { zone: 'America/Chicago', hours: { 'mon-fri': '07:00-17:00' } }, de: { zone: 'Europe/Berlin', hours: { 'mon-fri': '08:00-18:00' } } },
        policies: { std: { targets: { normal: { firstResponse: '2h', resolution: '24h' } } } },
      },
      outgoing: { transport: 'file' },
    },
    // Monday 2 March 2026, 15:00 UTC: 09:00 in Chicago (CST), 16:00 in Berlin (MEZ).
    '2026-03-02T15:00:00Z',
  );
});
afterEach(async () => {
  await env.close();
});

async function confirmationTo(address: string): Promise<ParsedMail> {
  return (await firstSentTo(env, address)).parsed;
}

describe('times in customer mail', () => {
  it('English, Chicago queue: the case opened at 9:00 AM CST, the reply promised in CST; no UTC', async () => {
    await env.ingest(eml({ from: 'Jane <jane@customer.example>', to: 'support@example.com', subject: 'Printer offline', messageId: 'jane-1@customer.example', body: 'The printer is offline since this morning.' }), { mailbox: 'support' });
    const m = await confirmationTo('jane@customer.example');
    const text = (m.text ?? '').replace(/\s+/g, ' ');
    const html = (typeof m.html === 'string' ? m.html.replace(/<[^>]*>/g, ' ') : '').replace(/\s+/g, ' ');
    expect(text).toContain('by Monday 11:00 CST');
    for (const part of [text, html]) {
      expect(part).toMatch(/Opened:? Mar 2, 2026, 9:00\s?AM CST/);
      expect(part).not.toContain('UTC');
    }
  });

  it('German, Berlin queue: eröffnet um 16:00 MEZ, Antwort versprochen in MEZ; kein UTC', async () => {
    await env.ingest(
      eml({ from: 'Jürgen <juergen@kunde.example>', to: 'hilfe@example.com', subject: 'Drucker geht nicht', messageId: 'j-1@kunde.example', headers: { 'Content-Language': 'de' }, body: 'Guten Tag, der Drucker im Büro druckt seit heute Morgen nicht mehr.' }),
      { mailbox: 'hilfe' },
    );
    const m = await confirmationTo('juergen@kunde.example');
    const text = (m.text ?? '').replace(/\s+/g, ' ');
    const html = (typeof m.html === 'string' ? m.html.replace(/<[^>]*>/g, ' ') : '').replace(/\s+/g, ' ');
    expect(text).toContain('MEZ');
    for (const part of [text, html]) {
      expect(part).toMatch(/Eröffnet am:? 2\. März 2026, 16:00 MEZ/);
      expect(part).not.toContain('UTC');
    }
  });
});
