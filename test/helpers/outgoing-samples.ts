import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { ConfigInput } from '../../src/config/schema.js';
import type { AppContext } from '../../src/context.js';
import { statusLabel } from '../../src/cases/lifecycle.js';
import { promiseData } from '../../src/cases/promise.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import type { CaseRow } from '../../src/db/schema.js';
import { commonData, queueEmail, requesterOf, staffCaseData } from '../../src/mail-out/compose.js';
import { generateDkimKey, type GeneratedKey } from '../../src/mail-out/dkim.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { queueSystemEmail } from '../../src/mail-out/system-email.js';
import { templateDeclaration, templateNames, type CaseTemplateName, type TemplateDataMap, type TemplateName } from '../../src/mail-out/template-data.js';
import { sampleDataFor } from '../../src/mail-out/template-tools.js';
import { createTransport } from '../../src/mail-out/transport.js';
import { MimeThread } from '../../src/mime/mime-thread.js';
import { surveyLinksFor } from '../../src/web/links.js';
import { eml, testEnv, type TestEnv } from './context.js';
import { compiledMimeWorker } from './mime-worker.js';

/**
 * Every email template kind, in English and German, with realistic and hostile data, sent the way
 * the product sends it: a customer's mail through the real pipeline opens a case (and gets the
 * real confirmation), every other kind is queued with queueEmail / queueSystemEmail /
 * (system mail) on that case (data: the kind's declared sample, made concrete with the
 * case's common data and the variant's people and texts), and the outbox worker sends all of it
 * through the configured transport, DKIM-signed with a key `generateDkimKey` put into the data
 * directory. Issue 14's checks (DKIM, SpamAssassin, headers, rendering) run on these messages.
 */

export const SIGNING_DOMAIN = 'example.com';
export const SELECTOR = 'cg2026';
export const CUSTOMER = 'customer.example';
export const STAFF_ADDRESS = 'erika@example.com';
export const ADMIN_ADDRESS = 'admin@example.com';

/** The email kinds (web pages are not email). */
export const EMAIL_KINDS: readonly TemplateName[] = templateNames.filter((k) => templateDeclaration(k).audience !== 'web');

/** How each kind is sent in production (who calls queueEmail with which autoReply). */
export const AUTO_REPLIED_KINDS: ReadonlySet<TemplateName> = new Set(['confirmation', 'reopened', 'status-summary', 'escalation-ack', 'survey-thanks']);
export const HUMAN_KINDS: ReadonlySet<TemplateName> = new Set(['agent-reply']);

export type Language = 'en' | 'de';
export type VariantName = 'realistic' | 'hostile' | 'scripts';

/** The people and texts of one variant: they replace every name, subject and free text of the samples. */
export interface Variant {
  readonly name: VariantName;
  readonly customerName: string;
  readonly subject: string;
  readonly text: string;
  readonly agentName: string;
  readonly fileName: string;
}

const LONG_TOKEN = 'https://intranet.customer.example/tickets/export?session=' + 'a1b2c3d4e5'.repeat(12);

export const VARIANTS: Readonly<Record<Language, readonly Variant[]>> = {
  en: [
    {
      name: 'realistic',
      customerName: 'Jane Doe',
      subject: 'Cannot log in since this morning',
      text: 'Hello,\n\nsince this morning I cannot log in. The page says "Invalid session" after I enter my password.\nMy colleagues have the same problem.\n\nThanks, Jane',
      agentName: 'Max Mustermann',
      fileName: 'screenshot.png',
    },
    {
      name: 'hostile',
      customerName: 'Maximiliane Alexandra Konstantinopoulou-Wolfeschlegelsteinhausenbergerdorff von Hohenzollern-Sigmaringen <b>VIP</b>',
      subject: '<b>URGENT</b> <script>alert("x")</script> invoice & "payment" <img src=http://tracker.invalid/p.gif> failed ' + 'x'.repeat(40),
      text: `We cannot pay: <a href="http://phish.invalid">click</a> <style>body{display:none}</style>\nLog: ${LONG_TOKEN}\n\nRegards`,
      agentName: 'Bartholomew Featherstonehaugh-Cholmondeley <i>Senior</i>',
      fileName: `${'very-long-file-name-'.repeat(6)}.pdf`,
    },
    {
      name: 'scripts',
      customerName: 'Александра Иванова',
      subject: '无法登录 / ログインできません / Не могу войти',
      text: 'لا أستطيع تسجيل الدخول منذ هذا الصباح.\nЯ не могу войти в систему с утра.\n今朝からログインできません。',
      agentName: '王小明',
      fileName: 'снимок-экрана.png',
    },
  ],
  de: [
    {
      name: 'realistic',
      customerName: 'Jürgen Müller',
      subject: 'Anmeldung seit heute Morgen nicht möglich',
      text: 'Guten Tag,\n\nseit heute Morgen kann ich mich nicht mehr anmelden. Die Seite meldet „Ungültige Sitzung“.\nMeinen Kollegen geht es genauso.\n\nViele Grüße\nJürgen Müller',
      agentName: 'Erika Musterfrau',
      fileName: 'bildschirmfoto.png',
    },
    {
      name: 'hostile',
      customerName: 'Friederike Wilhelmine Donaudampfschifffahrtsgesellschaftskapitänswitwe von Überlingen <b>VIP</b>',
      subject: '<b>DRINGEND</b> <script>alert("x")</script> Rechnung & „Zahlung“ fehlgeschlagen ' + 'ß'.repeat(40),
      text: `Zahlung geht nicht: <a href="http://phish.invalid">hier</a> <style>body{display:none}</style>\nProtokoll: ${LONG_TOKEN}\n\nGrüße`,
      agentName: 'Hans-Christian Schönebeck-Großkopf <i>Teamleitung</i>',
      fileName: `${'sehr-langer-dateiname-'.repeat(6)}.pdf`,
    },
    {
      name: 'scripts',
      customerName: 'Дмитрий Соколов',
      subject: '登录失败 / ログイン失敗 / Вход невозможен',
      text: 'لا أستطيع تسجيل الدخول.\nВход в систему невозможен.\n今朝からログインできません。',
      agentName: '李华',
      fileName: 'скриншот.png',
    },
  ],
};

/** One sent email of the corpus. */
export interface SampleMail {
  readonly kind: TemplateName;
  readonly language: Language;
  readonly variant: VariantName;
  readonly caseNumber: number | null;
  /** How it was produced: the pipeline (the customer's mail) or queued here with sample data. */
  readonly source: 'pipeline' | 'sample';
  readonly messageId: string;
  readonly raw: Buffer;
  readonly parsed: ParsedMail;
  /** The data it was rendered with (sample mails), for fact checks. */
  readonly data: Readonly<Record<string, unknown>> | null;
  /** Facts the email must state (case mail): the status in words; the confirmation's promised reply time. */
  readonly facts: { readonly statusLabel: string | null; readonly promiseDue: string | null };
}

export interface SampleCorpus {
  readonly env: TestEnv;
  readonly key: GeneratedKey;
  readonly mails: readonly SampleMail[];
  /** The key's TXT record for a DNS resolver stub. */
  readonly dns: ReadonlyMap<string, string>;
  close(): Promise<void>;
}

export interface CorpusOptions {
  /** Outgoing transport (default file: .eml files in the data directory). */
  readonly outgoing?: ConfigInput['outgoing'];
  readonly languages?: readonly Language[];
  readonly variants?: readonly VariantName[];
  /** Where the sent messages are collected from (SMTP: the caller's sink). Default: the file transport's folder. */
  readonly collect?: () => Promise<Buffer[]>;
  /** Build the emails on a MIME thread (the daemon's way: the transport signs and sends their bytes). Default: the transport builds them. */
  readonly mimeThread?: boolean;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** People's names in the samples (the display names of customer, agents and owners; not the instance, queue or mailbox). */
const PERSON = new Set(['customer', 'agent', 'owner', 'previousOwner']);

/** Replace the people and texts of sample data with the variant's (by the name of the field). */
function withVariant(value: unknown, v: Variant, key = '', parent = ''): unknown {
  if (Array.isArray(value)) return value.map((x) => withVariant(x, v, key, parent));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, withVariant(x, v, k, key)]));
  if (typeof value !== 'string' || value === '') return value;
  switch (key) {
    case 'name':
    case 'greetingName':
    case 'firstName':
      return PERSON.has(parent) ? (parent === 'customer' ? v.customerName : v.agentName) : value;
    case 'by':
    case 'assignedBy':
      return v.agentName;
    case 'from':
      return parent === 'status' ? value : `${v.customerName} <jane@${CUSTOMER}>`;
    case 'subject':
      return v.subject;
    case 'visibleText':
    case 'text':
    case 'note':
    case 'reason':
    case 'comment':
    case 'lastMessage':
    case 'when':
      return v.text;
    case 'attachments':
      return v.fileName;
    default:
      return value;
  }
}

/** Build and send the corpus. */
export async function buildSampleCorpus(opts: CorpusOptions = {}): Promise<SampleCorpus> {
  const languages = opts.languages ?? ['en', 'de'];
  const variantNames = opts.variants ?? ['realistic', 'hostile', 'scripts'];
  const env = await testEnv({
    instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: ADMIN_ADDRESS },
    mailboxes: [{ name: 'support', addresses: [`support@${SIGNING_DOMAIN}`], plusAddressing: true, fromName: 'Example Support' }],
    queues: { support: { calendar: 'us', slaPolicy: 'std' } },
    sla: {
      calendars: { us: { zone: 'America/Chicago', hours: { 'mon-fri': '07:00-17:00' }, holidays: { country: 'US' } } },
      policies: { std: { targets: { urgent: { firstResponse: '15m', resolution: '12h', coverage: '24x7' }, high: { firstResponse: '2h', resolution: '18h' }, normal: { firstResponse: '4h', resolution: '24h' }, low: { firstResponse: '8h', resolution: '48h' } } } },
    },
    web: { enabled: true, baseUrl: 'https://support.example.com' },
    outgoing: opts.outgoing ?? { transport: 'file' },
    autoReply: { perSenderPerHour: 1000 },
  });
  const key = generateDkimKey(env.resolved.paths.dataDir, SIGNING_DOMAIN, SELECTOR);
  const ctx = env.ctx;
  const mailbox = ctx.mailboxes.byName('support')!;
  const planned: { kind: TemplateName; language: Language; variant: VariantName; caseNumber: number | null; outboxId: number; data: Json | null; facts: SampleMail['facts'] }[] = [];
  let n = 0;
  for (const language of languages) {
    for (const v of VARIANTS[language].filter((x) => variantNames.includes(x.name))) {
      n += 1;
      const customer = `customer${n}@${CUSTOMER}`;
      const outcome = await env.ingest(
        eml({
          from: `"${v.customerName.replace(/"/g, '')}" <${customer}>`,
          subject: v.subject,
          messageId: `first-${n}@${CUSTOMER}`,
          headers: { 'Content-Language': language, 'Content-Type': 'text/plain; charset=utf-8' },
          body: v.text,
        }),
      );
      if (outcome.kind !== 'stored') throw new Error(`customer mail ${n} not stored: ${JSON.stringify(outcome)}`);
      const caseRow = (await caseByNumber(ctx.db, outcome.caseNumber))!;
      if (caseRow.language !== language) throw new Error(`case ${caseRow.number} has language ${caseRow.language}, wanted ${language}`);
      const pipelineRows = await ctx.db.selectFrom('outbox').select(['id', 'kind']).where('case_id', '=', caseRow.id).execute();
      const promise = promiseData(ctx.config, caseRow, ctx.clock.now());
      const facts = { statusLabel: statusLabel(caseRow.status, language), promiseDue: promise.has ? promise.due : null };
      for (const r of pipelineRows) planned.push({ kind: r.kind as TemplateName, language, variant: v.name, caseNumber: caseRow.number, outboxId: r.id, data: null, facts });
      for (const kind of EMAIL_KINDS) {
        if (kind === 'confirmation' || templateDeclaration(kind).scope !== 'case') continue;
        const data = sampleCaseData(env, kind as CaseTemplateName, caseRow, language, v);
        const staff = templateDeclaration(kind).audience === 'staff';
        const outboxId = await ctx.db.transaction().execute((trx) =>
          queueEmail(trx, ctx, {
            caseRow,
            mailbox,
            kind: kind as CaseTemplateName,
            data: data as TemplateDataMap[CaseTemplateName],
            to: staff ? { address: STAFF_ADDRESS, name: v.agentName } : requesterOf(caseRow),
            autoReply: AUTO_REPLIED_KINDS.has(kind),
            inReplyTo: null,
            references: [],
            ...(kind === 'agent-reply' ? { fromName: v.agentName } : {}),
            // As the survey job sends it: with its one-click List-Unsubscribe, and its page's link
            // (and the rating links under it) as the reader's own — every other signed link is cut.
            ...(kind === 'survey' ? { unsubscribeUrl: surveyLinksFor(ctx, caseRow.number).unsubscribe, readerLinks: [String((data['survey'] as Json)['url'])] } : {}),
          }),
        );
        planned.push({ kind, language, variant: v.name, caseNumber: caseRow.number, outboxId, data: data as Json, facts: { statusLabel: String((data['case'] as Json)['statusLabel']), promiseDue: null } });
      }
    }
  }
  // Mail about the installation is rendered in cases.defaultLanguage: each language's version is
  // queued with that language as the default (a copy of the context with it).
  for (const kind of EMAIL_KINDS.filter((k) => templateDeclaration(k).scope === 'instance')) {
    for (const language of languages) {
      const lctx: AppContext = { ...ctx, config: { ...ctx.config, cases: { ...ctx.config.cases, defaultLanguage: language } } };
      for (const v of VARIANTS[language].filter((x) => variantNames.includes(x.name))) {
        const data = withVariant(sampleDataFor(kind, lctx.config, { language, queue: 'support' }), v) as Json;
        const outboxId = await ctx.db.transaction().execute(async (trx) => {
          const r = await queueSystemEmail(trx, lctx, { kind: kind as 'mailbox-alert', to: ADMIN_ADDRESS, mailbox, data: data as TemplateDataMap['mailbox-alert'], event: { type: kind === 'report' ? 'report.sent' : 'test.alert', reason: kind } });
          return r.outboxId;
        });
        planned.push({ kind, language, variant: v.name, caseNumber: null, outboxId, data, facts: { statusLabel: null, promiseDue: null } });
      }
    }
  }
  const transport = createTransport(env.resolved);
  const lost: string[] = [];
  const mime = opts.mimeThread === true ? new MimeThread(ctx.blobs, compiledMimeWorker(), (reason) => lost.push(reason)) : null;
  const worker = new OutboxWorker(mime !== null ? { ...ctx, mime } : ctx, transport);
  let sent = 0;
  for (;;) {
    const k = await worker.drain();
    if (k === 0) break;
    sent += k;
  }
  transport.close();
  await mime?.close();
  if (lost.length > 0) throw new Error(`MIME thread lost: ${lost.join('; ')}`);
  const rows = await ctx.db.selectFrom('outbox').select(['id', 'message_id', 'status', 'last_error']).execute();
  const failed = rows.filter((r) => r.status !== 'sent');
  if (failed.length > 0) throw new Error(`not sent: ${JSON.stringify(failed)}`);
  const raws = opts.collect !== undefined ? await opts.collect() : readOutgoing(env.resolved.paths.outgoingDir);
  const byId = new Map<string, Buffer>();
  for (const raw of raws) {
    const id = /^Message-ID:\s*<([^>]+)>/im.exec(raw.toString('latin1'))?.[1];
    if (id !== undefined) byId.set(id, raw);
  }
  const mails: SampleMail[] = [];
  for (const p of planned) {
    const row = rows.find((r) => r.id === p.outboxId)!;
    const raw = byId.get(row.message_id);
    if (raw === undefined) throw new Error(`no sent message for ${p.kind} (${row.message_id}); ${sent} sent`);
    mails.push({ kind: p.kind, language: p.language, variant: p.variant, caseNumber: p.caseNumber, source: p.data === null ? 'pipeline' : 'sample', messageId: row.message_id, raw, parsed: await simpleParser(raw), data: p.data, facts: p.facts });
  }
  return {
    env,
    key,
    mails,
    dns: new Map([[`${SELECTOR}._domainkey.${SIGNING_DOMAIN}`, key.record]]),
    close: () => env.close(),
  };
}

/** The sample data of a case kind for this case: the declared sample, the case's real common data, the variant's people and texts. */
function sampleCaseData(env: TestEnv, kind: CaseTemplateName, caseRow: CaseRow, language: Language, v: Variant): Json {
  const ctx = env.ctx;
  const mailbox = ctx.mailboxes.byName(caseRow.mailbox)!;
  const sample = withVariant(sampleDataFor(kind, ctx.config, { language, queue: caseRow.queue }), v) as Json;
  const common = (templateDeclaration(kind).audience === 'staff' ? staffCaseData(ctx, caseRow, mailbox) : commonData(ctx, caseRow, mailbox, requesterOf(caseRow))) as unknown as Json;
  const declared = templateDeclaration(kind).variables;
  const out: Json = { ...sample };
  for (const [k, val] of Object.entries(common)) if (Object.hasOwn(declared, k)) out[k] = val;
  // A status change is sent after the case changed: its case fields say the new status, as in production.
  if (kind === 'status-changed') {
    const status = out['status'] as Json;
    out['case'] = { ...(out['case'] as Json), status: status['to'], statusLabel: status['label'] };
  }
  return out;
}

export function readOutgoing(dir: string): Buffer[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

/** A label for reports: "confirmation en realistic". */
export function labelOf(m: Pick<SampleMail, 'kind' | 'language' | 'variant'>): string {
  return `${m.kind} ${m.language} ${m.variant}`;
}

/** A DNS resolver stub for mailauth: the TXT records of the map, ENOTFOUND for anything else. */
export function dnsStub(records: ReadonlyMap<string, string>): (name: string, type: string) => Promise<string[][]> {
  return async (name, type) => {
    const v = records.get(name.toLowerCase().replace(/\.$/, ''));
    if (type === 'TXT' && v !== undefined) return [v.match(/.{1,255}/g) ?? [v]];
    throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  };
}

/** The corpus without its test environment: what the files that only look at the sent bytes use. */
export type SentSampleCorpus = Pick<SampleCorpus, 'mails' | 'dns' | 'close'>;

/**
 * The default corpus (buildSampleCorpus()), built once per test run and shared by the files that
 * only check its bytes (rendering, SpamAssassin): the first file to ask builds it and leaves the
 * sent messages and their facts in CASEGATE_TEST_SHARED (test/global-setup.ts); the others read
 * them and parse the bytes again. A build costs ~5–7 s of CPU (the pipeline, 204 renders and
 * DKIM signatures); headers.test.ts and dkim.test.ts still build their own (they look at its
 * database and data directory). Without CASEGATE_TEST_SHARED each caller builds its own.
 */
export async function sharedSampleCorpus(): Promise<SentSampleCorpus> {
  const shared = process.env['CASEGATE_TEST_SHARED'];
  if (shared === undefined || shared === '') return buildSampleCorpus();
  const file = join(shared, 'sample-corpus.json');
  const lock = join(shared, 'sample-corpus.lock');
  const deadline = Date.now() + 600_000;
  for (;;) {
    if (existsSync(file)) return readShared(file);
    let mine = false;
    try {
      mkdirSync(lock);
      mine = true;
    } catch {
      // another file is building it
    }
    if (mine) {
      try {
        const corpus = await buildSampleCorpus();
        const saved: SavedCorpus = { dns: [...corpus.dns], mails: corpus.mails.map(({ parsed: _parsed, raw, ...m }) => ({ ...m, raw: raw.toString('base64') })) };
        writeFileSync(`${file}.tmp`, JSON.stringify(saved));
        renameSync(`${file}.tmp`, file);
        return corpus;
      } finally {
        // A failed build lets the next caller try (and fail) on its own.
        if (!existsSync(file)) rmSync(lock, { recursive: true, force: true });
      }
    }
    if (Date.now() > deadline) throw new Error(`no shared sample corpus in ${shared} after 10 minutes (${lock} held)`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface SavedCorpus {
  readonly dns: [string, string][];
  readonly mails: (Omit<SampleMail, 'raw' | 'parsed'> & { raw: string })[];
}

async function readShared(file: string): Promise<SentSampleCorpus> {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedCorpus;
  const mails: SampleMail[] = [];
  for (const m of saved.mails) {
    const raw = Buffer.from(m.raw, 'base64');
    mails.push({ ...m, raw, parsed: await simpleParser(raw) });
  }
  return { mails, dns: new Map(saved.dns), close: async () => undefined };
}
