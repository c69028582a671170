import libmime from 'libmime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { templateDeclaration } from '../../src/mail-out/template-data.js';
import { caseConversationGuid, parseThreadIndex } from '../../src/mail-out/thread-headers.js';
import { AUTO_REPLIED_KINDS, buildSampleCorpus, CUSTOMER, EMAIL_KINDS, HUMAN_KINDS, labelOf, SIGNING_DOMAIN, type SampleCorpus, type SampleMail } from '../helpers/outgoing-samples.js';

/**
 * Issue 14 items 3 and 5: the headers of every email kind as a receiver sees them (the .eml the
 * file transport wrote: the bytes a relay gets). One table per kind: which headers, with which
 * values; threading headers on every customer email; the parts free of template leftovers.
 */

// Staff mail is bound to its recipient (.r…: answering it proves the agent's address).
const MESSAGE_ID = /^<(c\d+|n0)\.[0-9a-f]{12}\.[a-z2-7]{4}\.[0-9a-f]{12}(\.r[0-9a-f]{12})?@support\.example\.com>$/;

/** The raw header block (unfolded), for headers mailparser normalises. */
function rawHeaders(m: SampleMail): Map<string, string[]> {
  const head = m.raw.toString('latin1').split(/\r?\n\r?\n/)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const out = new Map<string, string[]>();
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).toLowerCase();
    out.set(k, [...(out.get(k) ?? []), line.slice(i + 1).trim()]);
  }
  return out;
}

type Automation = 'auto-replied' | 'auto-generated' | 'human';

function expectedAutomation(kind: SampleMail['kind']): Automation {
  return HUMAN_KINDS.has(kind) ? 'human' : AUTO_REPLIED_KINDS.has(kind) ? 'auto-replied' : 'auto-generated';
}

let corpus: SampleCorpus;
beforeAll(async () => {
  corpus = await buildSampleCorpus();
}, 180_000);
afterAll(() => corpus?.close());

describe('headers a receiver trusts, per kind', () => {
  it('prints the header set of every kind', () => {
    const rows = corpus.mails
      .filter((m) => m.variant === 'realistic')
      .map((m) => {
        const h = rawHeaders(m);
        const names = [...h.keys()].filter((k) => k !== '').sort();
        return `${labelOf(m).padEnd(34)} ${(h.get('auto-submitted')?.[0] ?? 'human').padEnd(15)} ${names.join(' ')}`;
      });
    console.log(`header set per kind:\n${rows.join('\n')}`);
    expect(rows.length).toBe(EMAIL_KINDS.length * 2);
  });

  it.each(EMAIL_KINDS.map((k) => [k]))('%s: Date, Message-ID, From on the DKIM domain, automation headers, no X-Mailer, List-* only on the survey', (kind) => {
    const mails = corpus.mails.filter((m) => m.kind === kind);
    expect(mails.length).toBe(6);
    for (const m of mails) {
      const h = rawHeaders(m);
      const at = `${labelOf(m)}`;
      // Exactly one of each of these.
      for (const name of ['date', 'message-id', 'from', 'to', 'subject', 'mime-version', 'content-type', 'dkim-signature']) expect(h.get(name)?.length, `${at}: ${name}`).toBe(1);
      expect(new Date(h.get('date')![0]!).toString(), at).not.toBe('Invalid Date');
      expect(h.get('date')![0], at).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
      expect(h.get('message-id')![0], at).toMatch(MESSAGE_ID);
      expect(m.parsed.from?.value[0]?.address, at).toBe(`support@${SIGNING_DOMAIN}`);
      expect(h.get('dkim-signature')![0], at).toContain(`d=${SIGNING_DOMAIN};`);
      const automation = expectedAutomation(kind);
      if (automation === 'human') {
        for (const name of ['auto-submitted', 'precedence', 'x-auto-response-suppress']) expect(h.has(name), `${at}: ${name} on human mail`).toBe(false);
      } else {
        expect(h.get('auto-submitted'), at).toEqual([automation]);
        expect(h.get('precedence'), at).toEqual(['bulk']);
        // Everything but non-delivery reports: bounces must still reach us.
        expect(h.get('x-auto-response-suppress'), at).toEqual(['DR, RN, NRN, OOF, AutoReply']);
      }
      expect(h.has('x-mailer'), at).toBe(false);
      // The survey (the one email nobody asked for) has a one-click unsubscribe (RFC 8058); mail about a case has nothing to unsubscribe from.
      if (kind === 'survey') {
        expect(h.get('list-unsubscribe'), at).toEqual([expect.stringMatching(/^<https:\/\/support\.example\.com\/s\/\d+\.s\.[0-9a-z.]+\/unsubscribe>$/)]);
        expect(h.get('list-unsubscribe-post'), at).toEqual(['List-Unsubscribe=One-Click']);
      } else {
        expect([...h.keys()].filter((k) => k.startsWith('list-')), at).toEqual([]);
      }
      expect(h.get('x-loop'), at).toEqual(['casegate@support.example.com']);
      // Customer mail says the language it is written in: the customer's (staff mail: the team's, en here).
      if (m.caseNumber !== null) expect(h.get('content-language'), at).toEqual([templateDeclaration(kind).audience === 'customer' ? m.language : 'en']);
      // Text first, HTML second: the shape of ordinary mail.
      expect(h.get('content-type')![0], at).toMatch(/^multipart\/alternative;/);
      expect(m.parsed.text?.length ?? 0, at).toBeGreaterThan(50);
      expect(typeof m.parsed.html === 'string' && m.parsed.html.length > 50, at).toBe(true);
    }
  });

  it('Reply-To only with plus addressing: the signed plus address of the case; mail about the installation has none', () => {
    for (const m of corpus.mails) {
      const h = rawHeaders(m);
      if (m.caseNumber === null) {
        expect(h.has('reply-to'), labelOf(m)).toBe(false);
      } else {
        expect(h.get('reply-to'), labelOf(m)).toEqual([expect.stringMatching(new RegExp(`^support\\+c${m.caseNumber}-[a-z0-9-]+@${SIGNING_DOMAIN.replace('.', '\\.')}$`))]);
      }
    }
  });
});

describe('the parts of every kind (both backends)', () => {
  // rendering.test.ts reads the same bytes in Chromium (SQLite pass only, see vitest.config.ts):
  // here, without a browser, what the storage layer could break — data that did not reach the
  // template, a value of the wrong type, the case the email is about.
  it('no template leftovers in either part; the text part names the case, its status and the promised reply time', () => {
    const problems: string[] = [];
    const flat = (s: string): string => s.replace(/\s+/g, ' ');
    for (const m of corpus.mails) {
      const text = flat(m.parsed.text ?? '');
      const html = flat(typeof m.parsed.html === 'string' ? m.parsed.html.replace(/<[^>]*>/g, ' ') : '');
      for (const [part, body] of [['text', text], ['html', html]] as const) {
        for (const t of ['{{', '}}', '[object Object]', 'undefined', 'NaN', 'Invalid Date', 'Invalid DateTime']) if (body.includes(t)) problems.push(`${labelOf(m)}: "${t}" in the ${part} part`);
      }
      if (m.caseNumber !== null && !text.includes(String(m.caseNumber))) problems.push(`${labelOf(m)}: case number missing from the text part`);
      if (templateDeclaration(m.kind).audience === 'customer' && m.facts.statusLabel !== null && !text.includes(flat(m.facts.statusLabel))) problems.push(`${labelOf(m)}: status "${m.facts.statusLabel}" missing`);
      if (m.kind === 'confirmation' && m.facts.promiseDue !== null && !text.includes(flat(m.facts.promiseDue))) problems.push(`${labelOf(m)}: promised reply time "${m.facts.promiseDue}" missing`);
    }
    expect(problems).toEqual([]);
    expect(corpus.mails.length).toBe(EMAIL_KINDS.length * 6);
  });
});

describe('threading headers (RFC 5322 §3.6.4, Outlook)', () => {
  it('every customer email answers the case: In-Reply-To set, References start with the customer’s first mail and end with In-Reply-To', () => {
    const customer = corpus.mails.filter((m) => m.caseNumber !== null && templateDeclaration(m.kind).audience === 'customer');
    expect(customer.length).toBe(EMAIL_KINDS.filter((k) => templateDeclaration(k).audience === 'customer').length * 6);
    for (const m of customer) {
      const h = rawHeaders(m);
      const irt = h.get('in-reply-to')?.[0];
      const refs = (h.get('references')?.[0] ?? '').split(/\s+/).filter((r) => r !== '');
      expect(irt, labelOf(m)).toMatch(/^<[^<>\s]+>$/);
      expect(refs[0], labelOf(m)).toMatch(new RegExp(`^<first-\\d+@${CUSTOMER.replace('.', '\\.')}>$`));
      expect(refs.at(-1), labelOf(m)).toBe(irt);
      expect(new Set(refs).size, labelOf(m)).toBe(refs.length);
    }
  });

  it('the subject carries the case tag; Thread-Topic is the case subject; Thread-Index has one conversation GUID per case', async () => {
    const byCase = new Map<number, SampleMail[]>();
    for (const m of corpus.mails.filter((x) => x.caseNumber !== null)) byCase.set(m.caseNumber!, [...(byCase.get(m.caseNumber!) ?? []), m]);
    expect(byCase.size).toBe(6);
    for (const [number, mails] of byCase) {
      const c = (await caseByNumber(corpus.env.ctx.db, number))!;
      const guid = caseConversationGuid('support.example.com', number).toString('hex');
      for (const m of mails) {
        expect(m.parsed.subject, labelOf(m)).toContain(`[Case #${number}]`);
        expect(libmime.decodeWords(rawHeaders(m).get('thread-topic')![0]!), labelOf(m)).toBe(c.subject);
        const ti = parseThreadIndex(rawHeaders(m).get('thread-index')![0]!);
        expect(ti, labelOf(m)).not.toBeNull();
        expect(ti!.guid, labelOf(m)).toBe(guid);
        expect(Math.abs(ti!.start.getTime() - new Date(c.created_at).getTime()), labelOf(m)).toBeLessThan(7_000);
        expect(ti!.children, labelOf(m)).toHaveLength(1);
      }
    }
    // Different cases, different conversations.
    const guids = [...byCase.keys()].map((n) => caseConversationGuid('support.example.com', n).toString('hex'));
    expect(new Set(guids).size).toBe(guids.length);
  });
});
