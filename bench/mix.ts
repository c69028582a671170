/**
 * The benchmark's messages. Two mixes:
 *  - plain: 2 KB plain-text mail, each opening a new case (the simplest useful work);
 *  - heavy: 40 % plain, 30 % HTML with a 30 KB quoted reply chain, 10 % with a 200 KB
 *    attachment, 20 % replies (In-Reply-To/References) to earlier messages of the same run.
 * And `large`: mail with one big attachment (BENCH_LARGE_MB, default 25), for the large-message mode.
 */
export type MixName = 'plain' | 'heavy';
export type Kind = 'plain' | 'html-quoted' | 'attachment' | 'reply' | 'large';

export interface BenchMessage {
  readonly id: string;
  readonly raw: Buffer;
  readonly kind: Kind;
}

export const ADDRESS = 'support@bench.example';
export const CUSTOMER_DOMAIN = 'customer.bench.example';
const LOREM = 'The export to CSV stops at 65,536 rows and the dashboard shows an error afterwards. ';

function quotedChain(depth: number): string {
  let html = '';
  for (let d = 0; d < depth; d++) {
    html = `<div>Reply ${d}: ${LOREM.repeat(8)}</div><div class="gmail_quote">On Mon, 2 Mar 2026 at 09:${String(d).padStart(2, '0')}, Support wrote:<blockquote>${html}</blockquote></div>`;
  }
  return html;
}

const QUOTED = quotedChain(12); // ~30 KB of HTML
const ATTACHMENT = base64Lines(Buffer.alloc(200 * 1024, 'bench-attachment-'));
/** ~2 KB of plain text in total with the headers. */
const PLAIN_BODY = (i: number): string => `Hello,\r\n\r\n${LOREM.repeat(20)}\r\n\r\nRegards\r\nCustomer ${i}`;

function base64Lines(data: Buffer): string {
  return data.toString('base64').replace(/.{76}/g, '$&\r\n');
}

/**
 * Each batch of messages (each makeMessages / makeLargeMessages call, by its prefix) has a Date of
 * its own: the history phase sends several batches into one database (and the cluster phase one
 * per worker process), and the same sender, subject, text and Date under a new Message-ID is a
 * re-sent copy (ignored, no case) — the history phase's second round failed on it.
 */
let batches = 0;
function prefixHash(prefix: string): number {
  let h = 2166136261;
  for (let k = 0; k < prefix.length; k++) h = Math.imul(h ^ prefix.charCodeAt(k), 16777619) >>> 0;
  return h;
}
function batchDate(prefix: string): string {
  const minutes = (prefixHash(prefix) % 500_000) + batches++;
  return new Date(Date.UTC(2026, 2, 2, 9, 0, 0) - minutes * 60_000).toUTCString().replace('GMT', '+0000');
}

/**
 * A batch's mark in its subjects. A sender (700 of them, `i % 700`) writing a message with the same
 * subject and text as one answered automatically within the hour gets no second answer (the
 * auto-responder guard, pipeline/stages/react.ts): the live phase's messages after the backlog, and
 * the history phase's rounds into one database, would otherwise repeat the backlog's.
 */
const batchTag = (prefix: string): string => prefixHash(prefix).toString(36);

function head(id: string, i: number, date: string): string[] {
  return [`From: Customer ${i % 700} <customer${i % 700}@${CUSTOMER_DOMAIN}>`, `To: ${ADDRESS}`, `Message-ID: <${id}>`, `Date: ${date}`, 'MIME-Version: 1.0'];
}

function build(id: string, i: number, kind: Kind, body: string[], date: string): BenchMessage {
  return { id, kind, raw: Buffer.from([...head(id, i, date), ...body].join('\r\n') + '\r\n') };
}

function plain(prefix: string, i: number, date: string): BenchMessage {
  const id = `${prefix}-${i}@${CUSTOMER_DOMAIN}`;
  return build(id, i, 'plain', [`Subject: Problem ${i} (${batchTag(prefix)})`, 'Content-Type: text/plain; charset=utf-8', '', PLAIN_BODY(i)], date);
}

export function makeMessages(mix: MixName, n: number, prefix: string): BenchMessage[] {
  const out: BenchMessage[] = [];
  const date = batchDate(prefix);
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}@${CUSTOMER_DOMAIN}`;
    const slot = i % 10;
    if (mix === 'plain' || slot <= 3 || (slot >= 8 && i < 10)) {
      out.push(plain(prefix, i, date));
    } else if (slot >= 8) {
      const target = `${prefix}-${i - 8}@${CUSTOMER_DOMAIN}`; // a plain new-case message of this run
      out.push(
        build(id, i, 'reply', [`Subject: Re: Problem ${i - 8}`, `In-Reply-To: <${target}>`, `References: <${target}>`, 'Content-Type: text/plain; charset=utf-8', '', `More detail for you.\r\n\r\nOn Mon, Customer wrote:\r\n> ${LOREM}`], date),
      );
    } else if (slot <= 6) {
      out.push(build(id, i, 'html-quoted', [`Subject: Problem ${i} (${batchTag(prefix)})`, 'Content-Type: text/html; charset=utf-8', '', `<html><body><p>New question ${i}: ${LOREM}</p>${QUOTED}</body></html>`], date));
    } else {
      out.push(build(id, i, 'attachment', [...attachmentBody(`Problem ${i} (${batchTag(prefix)}, screenshot attached)`, ATTACHMENT)], date));
    }
  }
  return out;
}

function attachmentBody(subject: string, base64: string): string[] {
  return [
    `Subject: ${subject}`,
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `See the attachment. ${LOREM}`,
    '--b',
    'Content-Type: application/octet-stream; name="dump.bin"',
    'Content-Disposition: attachment; filename="dump.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    base64,
    '--b--',
  ];
}

/** Messages with one attachment of `mb` MB of (incompressible-looking) bytes each. */
export function makeLargeMessages(n: number, mb: number, prefix: string): BenchMessage[] {
  const payload = Buffer.alloc(mb * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
  const encoded = base64Lines(payload);
  const date = batchDate(prefix);
  return Array.from({ length: n }, (_, i) => {
    const id = `${prefix}-${i}@${CUSTOMER_DOMAIN}`;
    return build(id, i, 'large', attachmentBody(`Large dump ${i}`, encoded), date);
  });
}

/** How many confirmations a run of these messages produces (replies produce none). */
export function expectedConfirmations(messages: readonly BenchMessage[]): number {
  return messages.filter((m) => m.kind !== 'reply').length;
}

export function describeMix(messages: readonly BenchMessage[]): string {
  const kinds: Record<string, number> = {};
  for (const m of messages) kinds[m.kind] = (kinds[m.kind] ?? 0) + 1;
  const mb = messages.reduce((s, m) => s + m.raw.length, 0) / 1048576;
  return `${JSON.stringify(kinds)}, ${mb.toFixed(1)} MB`;
}
