import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusAvailable, rawCorpusFiles } from '../helpers/corpus.js';
import { testEnv, type TestEnv } from '../helpers/context.js';

/**
 * Broken mail, made from real mail: every third corpus message, damaged in the ways transport and
 * hostile senders damage mail (cut off, bytes flipped, no header/body separator, NUL and 0xFF runs,
 * bare CR line ends, a 200 KB header line, a broken MIME boundary, the header block twice, two
 * halves spliced, undecodable encoded words, charsets and transfer encodings that are wrong or
 * unknown, parts nested hundreds deep, addresses that are HTML, empty, huge or not addresses),
 * chosen by a seeded generator so a failure repeats.
 * Each damaged message must end in exactly one outcome — stored, ignored or quarantined, never a
 * crash and never `retry` (which means "try again later" and would loop forever on bad bytes) —
 * and leave exactly one receipt that says so, its raw bytes kept: nothing is lost.
 * FUZZ_SEED=<n> runs other damage (the default seed is what CI runs).
 *
 * It found, on PostgreSQL: a NUL byte in a Message-ID made every attempt fail (the message was
 * retried for ever), one in a text, an attachment's headers or a bounce report quarantined the
 * message (src/db/nul-free.ts).
 */

/** A small deterministic generator (LCG): the same damage on every run and machine. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Damage = (raw: Buffer, random: () => number) => Buffer;
const pick = <T,>(list: readonly T[], random: () => number): T => list[Math.floor(random() * list.length)]!;
const CHARSETS = ['utf-7', 'utf-16', 'utf-32', 'x-mac-roman', 'gb18030', 'iso-2022-jp', 'iso-2022-kr', 'hz-gb-2312', 'x-user-defined', 'bogus-9', ''];
const ENCODINGS = ['base64', 'quoted-printable', 'x-uuencode', 'binary', 'bogus', 'x-gzip'];
const HOSTILE_ADDRESSES = ['"<script>alert(1)</script>" <@>', '<<<>>>', 'a@b@c', '"\\"', '=?utf-8?B?PGltZyBzcmM9eD4=?= <x@y.example>', ':;', 'group: a@b.example, c@d.example;, e@f.example', `"x" <${'a'.repeat(5000)}@b.example>`, '@@@,,,', '(((comment'];
const latin1 = (b: Buffer): string => b.toString('latin1');
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

const DAMAGE: Readonly<Record<string, Damage>> = {
  'cut off': (b, r) => b.subarray(0, Math.floor(r() * b.length)),
  'bytes flipped': (b, r) => {
    const c = Buffer.from(b);
    for (let i = 0; i < 20 && c.length > 0; i++) c[Math.floor(r() * c.length)] = Math.floor(r() * 256);
    return c;
  },
  'no separator': (b) => bytes(latin1(b).replace(/\r?\n\r?\n/, '\n')),
  'NUL and 0xFF': (b, r) => {
    const at = Math.floor(r() * b.length);
    return Buffer.concat([b.subarray(0, at), Buffer.alloc(50, 0), Buffer.alloc(50, 0xff), b.subarray(at)]);
  },
  'bare CR': (b) => bytes(latin1(b).replace(/\r?\n/g, '\r')),
  'huge header line': (b) => Buffer.concat([bytes(`X-Long: ${'a'.repeat(200_000)}\r\n`), b]),
  'broken boundary': (b, r) => bytes(latin1(b).replace(/boundary="?[^";\r\n]+"?/i, r() < 0.5 ? 'boundary=""' : 'boundary="--"')),
  'headers twice': (b) => {
    const s = latin1(b);
    const end = s.search(/\r?\n\r?\n/);
    return end < 0 ? b : bytes(s.slice(0, end) + '\r\n' + s.slice(0, end) + s.slice(end));
  },
  spliced: (b, r) => {
    const at = Math.floor(r() * b.length);
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.floor(r() * b.length))]);
  },
  'wrong charset': (b, r) => bytes(latin1(b).replace(/charset="?[^";\r\n]*"?/gi, () => `charset="${pick(CHARSETS, r)}"`)),
  'wrong transfer encoding': (b, r) => bytes(latin1(b).replace(/Content-Transfer-Encoding:[^\r\n]*/gi, () => `Content-Transfer-Encoding: ${pick(ENCODINGS, r)}`)),
  'nested deep': (b, r) => {
    let head = 'MIME-Version: 1.0\r\n';
    let tail = '';
    for (let i = 0, n = 1 + Math.floor(r() * 300); i < n; i++) {
      // Each level a multipart around the rest (closed at the end) or an inline message/rfc822.
      if (r() < 0.5) {
        head += `Content-Type: multipart/mixed; boundary="n${i}"\r\n\r\n--n${i}\r\n`;
        tail = `\r\n--n${i}--\r\n${tail}`;
      } else head += 'Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n';
    }
    return Buffer.concat([bytes(head), b, bytes(tail)]);
  },
  'hostile addresses': (b, r) => bytes(latin1(b).replace(/^(From|To|Cc|Reply-To):[^\r\n]*/gim, (_m, h: string) => `${h}: ${pick(HOSTILE_ADDRESSES, r)}`)),
  'bad encoded words': (b) => Buffer.concat([bytes(`From: =?x-unknown?B?${'////'.repeat(100)}?= <a@b.example>\r\nSubject: =?utf-8?Q?=ZZ=?= =?iso-2022-jp?B?GyRC?=\r\n`), b]),
};

describe.runIf(corpusAvailable())('damaged real-world mail through the whole pipeline', () => {
  let env: TestEnv;
  const runs: { what: string; outcome: string; error?: string }[] = [];

  beforeAll(async () => {
    env = await testEnv({ autoReply: { perSenderPerHour: 1000 } });
    const random = seeded(Number(process.env['FUZZ_SEED'] ?? 20261204));
    const files = rawCorpusFiles();
    for (let i = 0; i < files.length; i += 3) {
      const file = files[i]!;
      const raw = readFileSync(file.file);
      // About a third of the kinds of damage per message, a different third each time.
      for (const [name, damage] of Object.entries(DAMAGE)) {
        if (random() < 0.67) continue;
        const what = `${file.rel} (${name})`;
        const damaged = damage(raw, random);
        try {
          const outcome = await env.ingest(damaged, { envelopeFrom: random() < 0.5 ? 'sender@customer.example' : null });
          runs.push({ what, outcome: outcome.kind, ...(outcome.kind === 'retry' ? { error: (outcome as { reason?: string }).reason } : {}) });
        } catch (err) {
          runs.push({ what, outcome: 'threw', error: (err as Error).stack?.split('\n').slice(0, 3).join(' | ') ?? String(err) });
        }
      }
    }
  }, 600_000);

  afterAll(async () => {
    await env?.close();
  });

  it('every damaged message ends stored, ignored or quarantined: none throws, none is left to retry forever', () => {
    expect(runs.length).toBeGreaterThan(300);
    const bad = runs.filter((r) => !['stored', 'ignored', 'quarantined'].includes(r.outcome));
    expect(bad).toEqual([]);
    // The damage reaches all three outcomes (it is not all swallowed as duplicates, say).
    expect(new Set(runs.map((r) => r.outcome))).toEqual(new Set(['stored', 'ignored', 'quarantined']));
  });

  it('each leaves exactly one receipt with its outcome and its raw bytes kept', async () => {
    const receipts = await env.ctx.db.selectFrom('receipts').select(['outcome', 'raw_sha256', 'raw_size']).orderBy('id').execute();
    expect(receipts.map((r) => r.outcome)).toEqual(runs.map((r) => r.outcome));
    for (const r of receipts.filter((_, i) => i % 25 === 0)) {
      const kept = await new Promise<number>((resolve, reject) => {
        let n = 0;
        env.ctx.blobs
          .open(r.raw_sha256)
          .on('data', (c: Buffer) => (n += c.length))
          .on('end', () => resolve(n))
          .on('error', reject);
      });
      expect(kept).toBe(r.raw_size);
    }
  });
});
