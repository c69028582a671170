import { describe, expect, it } from 'vitest';
import { parseSurveyReply } from '../../src/cases/survey.js';
import { checkFormToken, crossSiteRefusal, formToken } from '../../src/web/csrf.js';
import { checkLinkToken, mintLinkToken, tokenFromLink } from '../../src/web/signed-link.js';
import { nextRun, previousRun } from '../../src/jobs/cron-time.js';
import { threadSecret } from '../../src/cases/thread-token.js';
import { ManualClock } from '../../src/clock.js';

/** Pure pieces of issue 11: survey replies, signed links, form tokens, cron times. */

describe('survey replies: the first line holds the rating (digit or words, English and German)', () => {
  it.each([
    ['5', 5, ''],
    ['4/5', 4, ''],
    ['4 of 5 – quick help', 4, 'quick help'],
    ['Bewertung: 3', 3, ''],
    ['2 stars', 2, ''],
    ['★★★★', 4, ''],
    ['Great, thanks a lot!', 5, 'thanks a lot!'],
    ['very good', 5, ''],
    ['Sehr gut, danke!', 5, 'danke!'],
    ['good', 4, ''],
    ['gut', 4, ''],
    ['OK I guess', 3, 'I guess'],
    ['geht so', 3, ''],
    ['Poor\nNobody called me back.', 2, 'Nobody called me back.'],
    ['schlecht', 2, ''],
    ['not good', 2, ''],
    ['sehr schlecht', 1, ''],
    ['terrible', 1, ''],
    ['\n\n  1  \n\nStill broken.', 1, 'Still broken.'],
  ] as const)('%j → %s', (text, rating, comment) => {
    expect(parseSurveyReply(text)).toEqual({ rating, comment });
  });

  it.each([
    ['Thanks, the printer works again.'],
    ['10042 is still open?'],
    ['0'],
    ['6'],
    ['4.5 would be fair'],
    ['Goodbye'],
    // A rating word that goes on into a sentence is no rating (a greeting, an adjective).
    ['Good morning, unfortunately the problem is back again since today.'],
    ['Good morning\nThe problem is back.'],
    ['Super slow again since your fix'],
    ['Fine print on the invoice is wrong'],
    ['Top priority: the printer fails again'],
    ['1 more thing: it is broken again'],
  ])('no rating in %j: kept as a comment', (text) => {
    expect(parseSurveyReply(text)).toEqual({ rating: null, comment: text });
  });
});

describe('signed links', () => {
  // Links are signed with the rotating thread secret (instance.secret, ≥ 32 bytes).
  const secret = threadSecret('link-secret-0123456789-0123456789-abcdef', [], new ManualClock('2026-03-02T12:00:00Z'));
  const now = new Date('2026-03-02T12:00:00Z');

  it('verify for their case and purpose until they expire', () => {
    const token = mintLinkToken(secret, 10042, 'case', now, 30);
    const ok = checkLinkToken(secret, token, new Date('2026-03-31T12:00:00Z'));
    expect(ok).toMatchObject({ ok: true, link: { caseNumber: 10042, purpose: 'case', issuedAt: now, expiresAt: new Date('2026-04-01T12:00:00Z') } });
    expect(checkLinkToken(secret, token, new Date('2026-04-01T12:00:00Z'))).toMatchObject({ ok: false, why: 'expired' });
    expect(checkLinkToken(secret, mintLinkToken(secret, 7, 'survey', now, 1), now)).toMatchObject({ ok: true, link: { purpose: 'survey', caseNumber: 7 } });
    // After a rotation the old key verifies until its acceptUntil (instance.previousSecrets).
    const clock = new ManualClock(now);
    const rotated = threadSecret('rotated-secret-0123456789-0123456789-ab', [{ secret: secret.current.secret, acceptUntil: new Date('2026-03-10T00:00:00Z') }], clock);
    expect(checkLinkToken(rotated, token, now)).toMatchObject({ ok: true });
    clock.set('2026-03-10T00:00:01Z');
    expect(checkLinkToken(rotated, token, now)).toMatchObject({ ok: false, why: 'bad-signature' });
  });

  it('a changed case number, purpose or expiry, another secret or garbage never verifies', () => {
    const token = mintLinkToken(secret, 10042, 'case', now, 30);
    const [num, p, iat, exp, sig] = token.split('.') as [string, string, string, string, string];
    for (const forged of [
      [String(Number(num) + 1), p, iat, exp, sig],
      [num, 's', iat, exp, sig],
      [num, p, iat, (parseInt(exp, 36) + 86_400).toString(36), sig],
      [num, p, iat, exp, sig.replace(/.$/, (c) => (c === '0' ? '1' : '0'))],
    ]) {
      expect(checkLinkToken(secret, forged.join('.'), now)).toMatchObject({ ok: false, why: 'bad-signature' });
    }
    expect(checkLinkToken(threadSecret('another-secret-0123456-0123456789-abcdef', [], new ManualClock(now)), token, now)).toMatchObject({ ok: false, why: 'bad-signature' });
    for (const junk of ['', '10042', '../../etc/passwd', `${token}x`, token.toUpperCase()]) expect(checkLinkToken(secret, junk, now).ok).toBe(false);
  });

  it('a link names its reader: the requester (no participant) or a participant, whose number is signed like the rest', () => {
    expect(checkLinkToken(secret, mintLinkToken(secret, 10042, 'case', now, 30), now)).toMatchObject({ ok: true, link: { participantId: null } });
    const token = mintLinkToken(secret, 10042, 'case', now, 30, 17);
    expect(token).toMatch(/^10042\.c\.p17\./);
    expect(checkLinkToken(secret, token, now)).toMatchObject({ ok: true, link: { caseNumber: 10042, purpose: 'case', participantId: 17 } });
    // Another participant's number, or none (the requester's link), under the same signature: refused.
    for (const forged of [token.replace('.p17.', '.p18.'), token.replace('.p17.', '.'), token.replace('.p17.', '.p017.')]) {
      expect(checkLinkToken(secret, forged, now)).toMatchObject({ ok: false, why: 'bad-signature' });
    }
    const plain = mintLinkToken(secret, 10042, 'case', now, 30);
    expect(checkLinkToken(secret, plain.replace('.c.', '.c.p1.'), now)).toMatchObject({ ok: false, why: 'bad-signature' });
  });

  it('a pasted URL gives its token', () => {
    expect(tokenFromLink('https://help.example.com/cg/c/1.c.a.b.0123456789abcdef01234567?sent=1')).toBe('1.c.a.b.0123456789abcdef01234567');
    expect(tokenFromLink('https://help.example.com/s/1.s.a.b.0123456789abcdef01234567/4')).toBe('1.s.a.b.0123456789abcdef01234567');
  });
});

describe('form tokens and cross-site posts', () => {
  const secret = threadSecret('csrf-secret-0123456789-0123456789-abcdef', [], new ManualClock('2026-03-02T12:00:00Z'));
  const t0 = new Date('2026-03-02T12:00:00Z');

  it('a token is bound to its link and lasts 24 hours (WCAG 2.2.1: a time limit over 20 hours needs no warning; a page left open overnight still sends)', () => {
    const token = formToken(secret, 'sig-a', t0);
    expect(checkFormToken(secret, 'sig-a', token, new Date(t0.getTime() + 21 * 3_600_000))).toBe(true);
    expect(checkFormToken(secret, 'sig-a', token, new Date(t0.getTime() + 25 * 3_600_000))).toBe(false);
    expect(checkFormToken(secret, 'sig-b', token, t0)).toBe(false);
    expect(checkFormToken(secret, 'sig-a', '', t0)).toBe(false);
    expect(checkFormToken(secret, 'sig-a', token.replace(/.$/, (c) => (c === '0' ? '1' : '0')), t0)).toBe(false);
  });

  it.each([
    [{}, null],
    [{ origin: 'https://help.example.com' }, null],
    [{ origin: 'http://127.0.0.1:8025', host: '127.0.0.1:8025' }, null],
    [{ origin: 'https://evil.example', host: 'help.example.com' }, 'Origin https://evil.example is not https://help.example.com'],
    [{ 'sec-fetch-site': 'cross-site' }, 'Sec-Fetch-Site: cross-site'],
    [{ 'sec-fetch-site': 'same-site', origin: 'https://help.example.com' }, 'Sec-Fetch-Site: same-site'],
    [{ 'sec-fetch-site': 'same-origin', origin: 'null' }, null],
    [{ origin: 'null' }, 'Origin: null'],
  ] as const)('headers %j → %s', (headers, refusal) => {
    expect(crossSiteRefusal({ headers: { ...headers } }, 'https://help.example.com')).toBe(refusal);
  });
});

describe('cron times (catch-up)', () => {
  it.each([
    ['0 7 * * *', 'America/Chicago', '2026-03-03T14:00:00Z', '2026-03-03T13:00:00Z', '2026-03-04T13:00:00Z'],
    ['0 7 * * *', 'America/Chicago', '2026-03-09T11:00:00Z', '2026-03-08T12:00:00Z', '2026-03-09T12:00:00Z'], // 8 March is the DST day: 07:00 CDT is 12:00Z
    ['*/15 * * * *', 'UTC', '2026-03-03T14:07:30Z', '2026-03-03T14:00:00Z', '2026-03-03T14:15:00Z'],
    ['0 9 * * mon-fri', 'Europe/Berlin', '2026-03-07T12:00:00Z', '2026-03-06T08:00:00Z', '2026-03-09T08:00:00Z'],
    ['30 8 1 * *', 'UTC', '2026-03-15T00:00:00Z', '2026-03-01T08:30:00Z', '2026-04-01T08:30:00Z'],
    // A time the clock skips (DST starts) fires at the change, once: 02:30 does not exist on 29 March in Berlin.
    ['30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', '2026-03-28T01:30:00Z', '2026-03-29T01:00:00Z'],
    ['30 2 * * *', 'Europe/Berlin', '2026-03-29T02:00:00Z', '2026-03-29T01:00:00Z', '2026-03-30T00:30:00Z'],
    ['*/15 2 * * *', 'America/New_York', '2026-03-08T06:59:00Z', '2026-03-07T07:45:00Z', '2026-03-08T07:00:00Z'],
    ['0 2 * * *', 'Australia/Lord_Howe', '2026-10-03T15:00:00Z', '2026-10-02T15:30:00Z', '2026-10-03T15:30:00Z'], // a 30-minute change
    ['0 * * * *', 'Europe/Berlin', '2026-03-29T00:30:00Z', '2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z'], // 02:00 skipped, 03:00 is the same instant
    // Six fields (seconds first, node-cron's syntax): each firing in a minute is a time (a slot) of its own.
    ['*/5 * * * * *', 'UTC', '2026-03-03T14:07:32.400Z', '2026-03-03T14:07:30Z', '2026-03-03T14:07:35Z'],
    ['*/20 * * * * *', 'UTC', '2026-03-03T14:07:40Z', '2026-03-03T14:07:40Z', '2026-03-03T14:08:00Z'],
    ['30 * * * * *', 'UTC', '2026-03-03T14:07:10Z', '2026-03-03T14:06:30Z', '2026-03-03T14:07:30Z'],
    ['0 */15 * * * *', 'UTC', '2026-03-03T14:07:30Z', '2026-03-03T14:00:00Z', '2026-03-03T14:15:00Z'],
  ])('%s in %s at %s: previous %s, next %s', (expr, zone, at, prev, next) => {
    expect(previousRun(expr, zone, new Date(at))?.toISOString()).toBe(new Date(prev).toISOString());
    expect(nextRun(expr, zone, new Date(at))?.toISOString()).toBe(new Date(next).toISOString());
  });
});
