import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tempDir } from './temp-dirs.js';
import { ManualClock } from '../../src/clock.js';
import { loadConfig, type ResolvedConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { closeContext, createContext, type AppContext } from '../../src/context.js';
import { silentLogger } from '../../src/log.js';
import { runPipeline } from '../../src/pipeline/run-pipeline.js';
import type { Arrival, Outcome } from '../../src/pipeline/types.js';
import type { DnsResolver } from '../../src/mail-in/sender-auth.js';
import { stringify } from 'yaml';
import { writeFileSync } from 'node:fs';
import { releaseTestDatabase, testDatabase } from './test-db.js';
import { copySqliteTemplate } from './db-template.js';
import { keepInProcessTemplateCheck, seedInProcessTemplateCheck } from './template-check-seed.js';

export interface TestEnv {
  readonly dir: string;
  readonly ctx: AppContext;
  readonly clock: ManualClock;
  readonly resolved: ResolvedConfig;
  ingest(raw: string | Buffer, opts?: Partial<Pick<Arrival, 'channel' | 'envelopeFrom' | 'envelopeTo' | 'client'>> & { mailbox?: string }): Promise<Outcome>;
  close(): Promise<void>;
}

/** Write a config file into a fresh temp dir and load it exactly as the CLI would. */
export function writeConfig(dir: string, config: ConfigInput): ResolvedConfig {
  const file = join(dir, 'casegate.yaml');
  const database = testDatabase(config.database, dir);
  writeFileSync(file, stringify({ dataDir: 'data', instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789' }, ...config, ...(database !== undefined ? { database } : {}) }));
  const resolved = loadConfig({ path: file, env: {} });
  // A migrated database copied from the run's template unless the test named its own (test/helpers/db-template.ts).
  if (resolved.config.database.driver === 'sqlite' && config.database?.path === undefined) copySqliteTemplate(resolved.paths.dbPath);
  return resolved;
}

/**
 * The test environment's MX: testEnv() trusts the Authentication-Results it writes
 * (security.senderAuth trusted-header), like a deployment behind its own MX. eml() adds its
 * headers (a passing DMARC result) unless told otherwise; golden fixtures that need an
 * authenticated sender carry them too.
 */
export const TRUSTED_MX = 'mx.example.com';
export const TRUSTED_SENDER_AUTH = { mode: 'trusted-header', authservId: TRUSTED_MX } as const;

/** The two headers our MX puts on top of a message it received: its Authentication-Results and Received. */
export function mxHeaders(fromDomain: string, dmarc: 'pass' | 'fail' | 'none'): string[] {
  return [
    `Authentication-Results: ${TRUSTED_MX}; spf=${dmarc === 'pass' ? 'pass' : dmarc === 'fail' ? 'fail' : 'none'} smtp.mailfrom=${fromDomain}; dmarc=${dmarc} header.from=${fromDomain}`,
    `Received: from mail.${fromDomain} (mail.${fromDomain} [192.0.2.25]) by ${TRUSTED_MX} with ESMTPS id 4fTest; Mon, 02 Mar 2026 08:59:30 +0000`,
  ];
}

/** The same two headers as fields (for mail clients' `headers` options). */
export function mxHeaderFields(fromDomain: string, dmarc: 'pass' | 'fail' | 'none'): Record<string, string> {
  return Object.fromEntries(mxHeaders(fromDomain, dmarc).map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 2)]));
}

/**
 * opts.templates 'none': no template engine (compiling the templates is most of a context's start:
 * ~1.5 s idle, tens of seconds on a loaded 2-core CI machine) for tests that send no mail.
 */
export async function testEnv(config: ConfigInput = {}, clockStart = '2026-03-02T09:00:00Z', opts: { resolveDns?: DnsResolver; templates?: 'none' } = {}): Promise<TestEnv> {
  const dir = tempDir('casegate-test-');
  const input: ConfigInput = {
    mailboxes: [
      { name: 'support', addresses: ['support@example.com'] },
      { name: 'billing', addresses: ['billing@example.com'] },
    ],
    templates: { watch: false },
    ...config,
    security: { senderAuth: TRUSTED_SENDER_AUTH, ...config.security },
  };
  const resolved = writeConfig(dir, input);
  // The shipped templates as already checked in this run for this configuration (template-check-seed.ts).
  const seed = opts.templates === 'none' ? null : seedInProcessTemplateCheck(input, resolved.paths.dataDir);
  const clock = new ManualClock(clockStart);
  const ctx = await createContext({ resolved, log: silentLogger(), clock, ...(opts.resolveDns !== undefined ? { resolveDns: opts.resolveDns } : {}), ...(opts.templates !== undefined ? { templates: opts.templates } : {}) });
  if (seed !== null) keepInProcessTemplateCheck(seed);
  return {
    dir,
    ctx,
    clock,
    resolved,
    async ingest(raw, opts = {}) {
      const blob = await ctx.blobs.put(Readable.from([typeof raw === 'string' ? Buffer.from(raw) : raw]));
      const mailbox = opts.mailbox !== undefined ? ctx.mailboxes.byName(opts.mailbox) : ctx.mailboxes.default;
      if (mailbox === null) throw new Error(`no mailbox ${opts.mailbox}`);
      return runPipeline(ctx, {
        channel: opts.channel ?? 'test',
        mailbox,
        envelopeFrom: opts.envelopeFrom ?? null,
        envelopeTo: opts.envelopeTo ?? [],
        receivedAt: clock.now(),
        raw: blob,
        ...(opts.client !== undefined ? { client: opts.client } : {}),
      });
    },
    async close() {
      await closeContext(ctx);
      rmSync(dir, { recursive: true, force: true });
      // PostgreSQL: the schema, reset, serves the worker's next test environment.
      await releaseTestDatabase(dir);
    },
  };
}

/** Dates eml() stamped so far in this test file (see there). */
let emlCount = 0;
const emlDates = new Map<string, string>();
const EML_DATE = Date.parse('2026-03-02T08:59:00Z');

/**
 * Without `date`, each new message gets a Date of its own (08:59:00, then 15 minutes earlier each
 * time: further apart than pipeline.resendWindowMinutes), as if each had been written on its own:
 * two calls with the same text are two messages, not a re-sent copy (stages/resend.ts). The same
 * message built again (the same `messageId`; without a Message-ID, the same options) gets the same
 * Date, so it is still the same message (dedupe). Give the same `date` to build a re-sent copy.
 */
function emlDate(key: string | null): string {
  const known = key !== null ? emlDates.get(key) : undefined;
  if (known !== undefined) return known;
  const date = new Date(EML_DATE - 15 * 60_000 * emlCount++).toUTCString().replace('GMT', '+0000');
  if (key !== null) emlDates.set(key, date);
  return date;
}

/** Build a raw RFC 5322 message. */
export function eml(opts: {
  from?: string | null;
  to?: string;
  cc?: string;
  subject?: string;
  messageId?: string | null;
  inReplyTo?: string;
  references?: string;
  date?: string;
  headers?: Record<string, string>;
  body?: string;
  html?: string;
  /** DMARC result in our MX's headers on top (default pass); null: no MX headers (mail that did not pass our MX). */
  auth?: 'pass' | 'fail' | 'none' | null;
}): string {
  const lines: string[] = [];
  const from = opts.from === null ? null : (opts.from ?? 'Jane Customer <jane@customer.example>');
  const fromDomain = /@([^>\s]+)/.exec(from ?? '')?.[1] ?? 'customer.example';
  if (opts.auth !== null) lines.push(...mxHeaders(fromDomain.toLowerCase(), opts.auth ?? 'pass'));
  if (from !== null) lines.push(`From: ${from}`);
  lines.push(`To: ${opts.to ?? 'support@example.com'}`);
  if (opts.cc !== undefined) lines.push(`Cc: ${opts.cc}`);
  lines.push(`Subject: ${opts.subject ?? 'Printer on fire'}`);
  if (opts.messageId !== null) lines.push(`Message-ID: <${opts.messageId ?? `${Math.random().toString(36).slice(2)}@customer.example`}>`);
  if (opts.inReplyTo !== undefined) lines.push(`In-Reply-To: <${opts.inReplyTo}>`);
  if (opts.references !== undefined) lines.push(`References: ${opts.references}`);
  lines.push(`Date: ${opts.date ?? emlDate(typeof opts.messageId === 'string' ? `mid:${opts.messageId}` : opts.messageId === null ? `raw:${JSON.stringify(opts)}` : null)}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) lines.push(`${k}: ${v}`);
  lines.push('MIME-Version: 1.0');
  if (opts.html !== undefined && opts.body === undefined) {
    lines.push('Content-Type: text/html; charset=utf-8', '', opts.html);
  } else if (opts.html !== undefined) {
    lines.push('Content-Type: multipart/alternative; boundary="b1"', '', '--b1', 'Content-Type: text/plain; charset=utf-8', '', opts.body ?? '', '--b1', 'Content-Type: text/html; charset=utf-8', '', opts.html, '--b1--');
  } else {
    lines.push('Content-Type: text/plain; charset=utf-8', '', opts.body ?? 'Hello, my printer is on fire.\nPlease help.');
  }
  return lines.join('\r\n') + '\r\n';
}
