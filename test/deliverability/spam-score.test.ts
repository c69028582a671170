import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsStub, type DnsStub } from '../helpers/dns-stub.js';
import { EMAIL_KINDS, labelOf, SELECTOR, sharedSampleCorpus, SIGNING_DOMAIN, type SentSampleCorpus } from '../helpers/outgoing-samples.js';
import { haveSpamAssassin, spamAssassinScores, type SpamVerdict } from '../helpers/spamassassin.js';

/**
 * Issue 14 item 2: every email kind (English and German; realistic data, hostile data — long
 * names, HTML in the subject and text, a long unbroken token — and non-Latin scripts: Cyrillic,
 * CJK, Arabic), DKIM-signed, exactly as the file transport wrote it (the bytes a relay receives),
 * scores ≤ 0 in Debian's SpamAssassin with its shipped rules and local tests only. The scores and
 * the rules that hit are printed per message.
 */

/** The receiver-with-DNS pass scores the realistic and hostile messages (the scripts variant is in the local pass). */
const DNS_VARIANTS: ReadonlySet<string> = new Set(['realistic', 'hostile']);

let corpus: SentSampleCorpus;
let dns: DnsStub;
let local: Map<string, SpamVerdict>;
let network: Map<string, SpamVerdict>;
const networked = (): SentSampleCorpus['mails'] => corpus.mails.filter((m) => DNS_VARIANTS.has(m.variant));

describe.runIf(haveSpamAssassin())('SpamAssassin', () => {
  // One corpus for both passes, and the two SpamAssassin processes (each single-threaded) at once.
  beforeAll(async () => {
    corpus = await sharedSampleCorpus();
    dns = await startDnsStub(corpus.dns);
    [local, network] = await Promise.all([
      spamAssassinScores(new Map(corpus.mails.map((m) => [m.messageId, m.raw]))),
      spamAssassinScores(new Map(networked().map((m) => [m.messageId, m.raw])), { dnsPort: dns.port }),
    ]);
  }, 400_000);
  afterAll(async () => {
    await dns?.close();
    await corpus?.close();
  });

  describe('SpamAssassin (shipped rules, -L) on every email kind', () => {
    let verdicts: Map<string, SpamVerdict>;
    beforeAll(() => {
      verdicts = local;
    });

    it('prints the score and the rules of each message', () => {
      const lines = corpus.mails.map((m) => {
        const v = verdicts.get(m.messageId)!;
        return `${labelOf(m).padEnd(40)} ${v.score.toFixed(3).padStart(7)}  ${v.rules.map((r) => `${r.name}=${r.score}`).join(' ')}`;
      });
      console.log(`SpamAssassin scores (${corpus.mails.length} messages, DKIM-signed, -L, rules of ${'/usr/share/spamassassin'}):\n${lines.join('\n')}`);
      expect(verdicts.size).toBe(corpus.mails.length);
      expect(new Set(corpus.mails.map((m) => m.kind))).toEqual(new Set(EMAIL_KINDS));
    });

    it('every message scores ≤ 0', () => {
      const over = corpus.mails.filter((m) => verdicts.get(m.messageId)!.score > 0).map((m) => `${labelOf(m)}: ${JSON.stringify(verdicts.get(m.messageId))}`);
      expect(over).toEqual([]);
    });

    it('no rule about our own form hits: no missing Date/Message-ID, no HTML-only, no MIME or HTML defects', () => {
      const allowed = new Set(['HTML_MESSAGE', 'NO_RECEIVED', 'NO_RELAYS']);
      // The survey's one-click List-Unsubscribe (RFC 8058) reads as a well-run list: −1.
      const allowedFor = (kind: string, rule: string): boolean => allowed.has(rule) || (kind === 'survey' && rule === 'MAILING_LIST_MULTI');
      const other = corpus.mails.flatMap((m) => verdicts.get(m.messageId)!.rules.filter((r) => !allowedFor(m.kind, r.name)).map((r) => `${labelOf(m)}: ${r.name}=${r.score}`));
      expect(other).toEqual([]);
    });
  });

  describe('SpamAssassin as a receiver with DNS: it verifies our DKIM signature itself', () => {
    let verdicts: Map<string, SpamVerdict>;
    let mails: SentSampleCorpus['mails'];
    beforeAll(() => {
      verdicts = network;
      mails = networked();
    });

    it('every message: DKIM_VALID, DKIM_VALID_AU (From domain), score ≤ 0; the key was fetched from the stub', () => {
      const lines = mails.map((m) => {
        const v = verdicts.get(m.messageId)!;
        return `${labelOf(m).padEnd(40)} ${v.score.toFixed(3).padStart(7)}  ${v.rules.map((r) => `${r.name}=${r.score}`).join(' ')}`;
      });
      console.log(`SpamAssassin with network tests against a DNS stub (${mails.length} messages):\n${lines.join('\n')}`);
      expect(verdicts.size).toBe(mails.length);
      for (const lang of ['en', 'de'] as const) expect(new Set(mails.filter((m) => m.language === lang).map((m) => m.kind))).toEqual(new Set(EMAIL_KINDS));
      expect(dns.questions).toContain(`${SELECTOR}._domainkey.${SIGNING_DOMAIN} TXT`);
      const bad = mails.filter((m) => {
        const v = verdicts.get(m.messageId)!;
        const names = v.rules.map((r) => r.name);
        return v.score > 0 || !names.includes('DKIM_VALID') || !names.includes('DKIM_VALID_AU') || names.includes('DKIM_INVALID');
      });
      expect(bad.map((m) => `${labelOf(m)}: ${JSON.stringify(verdicts.get(m.messageId))}`)).toEqual([]);
    });
  });
});
