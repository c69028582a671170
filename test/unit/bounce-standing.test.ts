/**
 * bounceStanding (src/pipeline/bounce-standing.ts) for Microsoft's report senders, as real reports
 * name them (the sisimai corpus: lhost-office365-04 `postmaster@outlook.com`, lhost-office365-13
 * `postmaster@kyotoneko.onmicrosoft.com`, DKIM-signed by the tenant) and as Exchange writes to its
 * own organisation's senders (`MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@<its domain>`).
 * The end-to-end checks (mailauth, the listener, IMAP) are in test/deliverability/bounce-standing
 * and test/imap/bounce-standing-imap; here the table of who speaks for whom.
 */
import { describe, expect, it } from 'vitest';
import { bounceStanding } from '../../src/pipeline/bounce-standing.js';

const EXCHANGE = 'MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e';

function standing(reporter: string, recipient: string, reporters: string[] = []) {
  return bounceStanding(recipient, { signed: false, envelope: null, reporter: { address: reporter, auth: 'pass', why: 'dkim=pass' }, addressedToUs: true }, { verp: false, trust: 'proven', reporters });
}

describe('who speaks for whom among Microsoft’s report senders (authenticated, addressed to us)', () => {
  it.each([
    ['Outlook.com’s own postmaster, for an outlook.com reader', 'postmaster@outlook.com', 'jane@outlook.com', [], true],
    ['a Microsoft 365 tenant’s postmaster, for a reader of a custom domain: anyone can have a tenant', 'postmaster@kyotoneko.onmicrosoft.com', 'kijitora-nyaan@neko.kyoto.example.jp', [], false],
    ['a Microsoft 365 tenant’s postmaster named in reporters (our own tenant, our relay)', 'postmaster@ourtenant.onmicrosoft.com', 'jane@customer.example', ['ourtenant.onmicrosoft.com'], true],
    ['another tenant, with ours named in reporters', 'postmaster@evil.onmicrosoft.com', 'jane@customer.example', ['ourtenant.onmicrosoft.com'], false],
    ['the Exchange recipient of the reader’s own domain: Exchange writes from it only to its own organisation', `${EXCHANGE}@customer.example`, 'jane@customer.example', [], false],
    ['the Exchange recipient at a consumer service: a user name anyone may register there', `${EXCHANGE}@outlook.com`, 'jane@outlook.com', [], false],
    ['the Exchange recipient of our own organisation, named in reporters (our mail goes through Exchange)', `${EXCHANGE}@example.com`, 'jane@customer.example', ['example.com'], true],
    ['a look-alike of it: a person’s address, reporters or not', 'MicrosoftExchange00000000000000000000000000000000@example.com', 'jane@customer.example', ['example.com'], false],
  ] as const)('%s', (_what, reporter, recipient, reporters, trusted) => {
    const s = standing(reporter, recipient, [...reporters]);
    expect(s.trusted, JSON.stringify(s)).toBe(trusted);
  });

  it('the reason given for the Exchange recipient of a reader’s domain says what to do', () => {
    expect(standing(`${EXCHANGE}@customer.example`, 'jane@customer.example')).toEqual({
      trusted: false,
      why: `nothing proves a mail system that handled the email wrote it (it carries no envelope id of ours; the reporter ${EXCHANGE}@customer.example is the Microsoft Exchange recipient, which reports only to senders of its own organisation, never to us about a recipient's domain (name our own Exchange's domain in security.bounces.reporters)) — a forged report?`,
    });
    expect(standing(`${EXCHANGE}@example.com`, 'jane@customer.example', ['example.com'])).toEqual({ trusted: true, how: `authenticated report from ${EXCHANGE}@example.com (security.bounces.reporters: example.com)` });
  });
});
