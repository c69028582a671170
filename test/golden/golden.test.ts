/**
 * Golden fixtures (DESIGN §6): every test/fixtures/<name>.eml goes through the whole pipeline on a
 * fresh SQLite and is compared with test/fixtures/<name>.expected.json. The format, the scenario
 * mechanism ("before" + placeholders) and UPDATE_GOLDEN=1 are described in test/golden/README.md.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { envelopeId } from '../../src/cases/thread-token.js';
import type { Outcome } from '../../src/pipeline/types.js';
import { testEnv, type TestEnv } from '../helpers/context.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
/** GOLDEN_KNOWN=1 runs the known failures as ordinary tests, to read what still differs. */
const SHOW_KNOWN = process.env['GOLDEN_KNOWN'] === '1';

/**
 * Fixtures whose expectation is right but the code does not meet it yet: run with `it.fails`
 * (the test goes red the day the code is fixed, so the entry is removed then). UPDATE_GOLDEN never
 * rewrites these expectations.
 */
const KNOWN_FAILURES: Readonly<Record<string, string>> = {};

// ---------------------------------------------------------------------------------------------
// the expected.json format

type OutcomeKind = 'stored' | 'ignored' | 'quarantined';

interface TextChecks {
  contains?: string[];
  notContains?: string[];
}

interface Expected {
  description?: string;
  before?: string[];
  arrival?: { envelopeFrom?: string | null; envelopeTo?: string[]; mailbox?: string };
  outcome: OutcomeKind;
  reason?: string;
  created?: boolean;
  rule?: string;
  automated?: string | null;
  autoReplies?: number;
  case?: Record<string, string | number | null>;
  visibleText?: TextChecks;
  attachments?: { filename: string; contentType: string }[];
  participants?: string[];
  subjectSent?: string;
  htmlSent?: TextChecks;
  headersSent?: { noCRLF?: boolean };
  bouncing?: string[];
}

const KEYS = new Set([
  'description',
  'before',
  'arrival',
  'outcome',
  'reason',
  'created',
  'rule',
  'automated',
  'autoReplies',
  'case',
  'visibleText',
  'attachments',
  'participants',
  'bouncing',
  'subjectSent',
  'htmlSent',
  'headersSent',
]);
/** Fields that describe the stored message or its case: meaningless for ignored/quarantined mail. */
const STORED_ONLY = ['created', 'rule', 'automated', 'case', 'visibleText', 'attachments', 'participants'] as const;

function fixturePath(name: string, ext: '.eml' | '.expected.json'): string {
  return join(FIXTURES, `${name}${ext}`);
}

function readExpected(name: string): Expected {
  const file = fixturePath(name, '.expected.json');
  if (!existsSync(file)) throw new Error(`${name}: no ${name}.expected.json beside ${name}.eml (run with UPDATE_GOLDEN=1 to create one, then check it by hand)`);
  const json = JSON.parse(readFileSync(file, 'utf8')) as Expected;
  const unknown = Object.keys(json).filter((k) => !KEYS.has(k));
  if (unknown.length > 0) throw new Error(`${name}.expected.json: unknown field(s) ${unknown.join(', ')}`);
  if (!['stored', 'ignored', 'quarantined'].includes(json.outcome)) throw new Error(`${name}.expected.json: outcome must be stored, ignored or quarantined`);
  if (json.outcome !== 'stored') {
    const misplaced = STORED_ONLY.filter((k) => json[k] !== undefined);
    if (misplaced.length > 0) throw new Error(`${name}.expected.json: ${misplaced.join(', ')} only apply to stored messages`);
  }
  return json;
}

// ---------------------------------------------------------------------------------------------
// scenarios: earlier messages and placeholders

interface ScenarioState {
  confirmationMessageId: string | null;
  confirmationEnvelopeId: string | null;
}

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

/** Substitute {{placeholders}} in the raw bytes (latin1 round trip keeps 8-bit bytes intact). */
function substitute(name: string, raw: Buffer, state: ScenarioState): Buffer {
  const text = raw.toString('latin1');
  if (!text.includes('{{')) return raw;
  const out = text.replace(PLACEHOLDER, (_m, key: string) => {
    if (key === 'confirmation_message_id') {
      if (state.confirmationMessageId === null) throw new Error(`${name}: {{confirmation_message_id}} used, but no confirmation was queued by the "before" messages`);
      return state.confirmationMessageId;
    }
    if (key === 'confirmation_envelope_id') {
      // What a relay offering DSN was given with MAIL FROM and writes back into its report.
      if (state.confirmationEnvelopeId === null) throw new Error(`${name}: {{confirmation_envelope_id}} used, but no confirmation was queued by the "before" messages`);
      return state.confirmationEnvelopeId;
    }
    throw new Error(`${name}: unknown placeholder {{${key}}}`);
  });
  return Buffer.from(out, 'latin1');
}

async function scenarioState(env: TestEnv): Promise<ScenarioState> {
  const first = await env.ctx.db.selectFrom('outbox').select(['id', 'message_id', 'to_address']).where('kind', '=', 'confirmation').orderBy('id').limit(1).executeTakeFirst();
  return { confirmationMessageId: first?.message_id ?? null, confirmationEnvelopeId: first !== undefined ? envelopeId(first.id, first.to_address, env.ctx.secret) : null };
}

async function ingestFixture(env: TestEnv, name: string, expected: Expected): Promise<Outcome> {
  const raw = substitute(name, readFileSync(fixturePath(name, '.eml')), await scenarioState(env));
  const a = expected.arrival ?? {};
  return env.ingest(raw, {
    ...(a.envelopeFrom !== undefined ? { envelopeFrom: a.envelopeFrom } : {}),
    ...(a.envelopeTo !== undefined ? { envelopeTo: a.envelopeTo } : {}),
    ...(a.mailbox !== undefined ? { mailbox: a.mailbox } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// what actually happened

interface Actual {
  outcome: Outcome;
  created: boolean | null;
  rule: string | null;
  automated: string | null;
  visibleText: string | null;
  caseRow: Record<string, unknown> | null;
  attachments: { filename: string; contentType: string }[];
  participants: string[];
  sent: { subject: string; html: string; text: string; headerValues: string[] }[];
  bouncing: string[];
}

async function observe(env: TestEnv, outcome: Outcome, outboxBefore: number): Promise<Actual> {
  const db = env.ctx.db;
  const rows = await db.selectFrom('outbox').selectAll().where('id', '>', outboxBefore).orderBy('id').execute();
  const sent = rows.map((r) => {
    const extra = JSON.parse(r.headers_json) as Record<string, string>;
    const headerValues = [r.subject, r.from_name, r.from_address, r.to_name, r.to_address, r.reply_to ?? '', r.message_id, r.in_reply_to ?? '', r.references_text ?? ''];
    for (const [k, v] of Object.entries(extra)) headerValues.push(k, v);
    return { subject: r.subject, html: r.html, text: r.text, headerValues };
  });
  const bouncing = (await db.selectFrom('address_status').select('address').where('bouncing', '=', 1).orderBy('address').execute()).map((r) => r.address);
  const actual: Actual = { outcome, created: null, rule: null, automated: null, visibleText: null, caseRow: null, attachments: [], participants: [], sent, bouncing };
  if (outcome.kind !== 'stored') return actual;
  actual.created = outcome.created;
  const receipt = await db.selectFrom('receipts').selectAll().where('id', '=', outcome.receiptId).executeTakeFirstOrThrow();
  if (receipt.message_row_id !== null) {
    const m = await db.selectFrom('messages').selectAll().where('id', '=', receipt.message_row_id).executeTakeFirstOrThrow();
    actual.rule = m.thread_rule;
    actual.automated = m.automated;
    actual.visibleText = m.visible_text;
    actual.attachments = (await db.selectFrom('attachments').selectAll().where('message_row_id', '=', m.id).orderBy('id').execute()).map((a) => ({
      filename: a.filename,
      contentType: a.content_type,
    }));
  }
  actual.caseRow = (await db.selectFrom('cases').selectAll().where('id', '=', outcome.caseId).executeTakeFirst()) ?? null;
  actual.participants = (await db.selectFrom('case_participants').select('address').where('case_id', '=', outcome.caseId).orderBy('id').execute()).map((p) => p.address);
  return actual;
}

// ---------------------------------------------------------------------------------------------
// comparison: every mismatch is listed, not just the first

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 2000 ? `${s.slice(0, 2000)}…` : s;
};
const sorted = <T>(list: readonly T[]): string[] => list.map((x) => show(x)).sort();

function compare(exp: Expected, act: Actual): string[] {
  const problems: string[] = [];
  const check = (field: string, ok: boolean, want: unknown, got: unknown): void => {
    if (!ok) problems.push(`${field}: expected ${show(want)}, got ${show(got)}`);
  };
  const o = act.outcome;
  check('outcome', o.kind === exp.outcome, exp.outcome, `${o.kind} (${o.reason})`);
  if (exp.reason !== undefined) check('reason', new RegExp(exp.reason).test(o.reason), `/${exp.reason}/`, o.reason);
  if (exp.created !== undefined) check('created', act.created === exp.created, exp.created, act.created);
  if (exp.rule !== undefined) check('rule', act.rule === exp.rule, exp.rule, act.rule);
  if (exp.automated !== undefined) check('automated', act.automated === exp.automated, exp.automated, act.automated);
  if (exp.autoReplies !== undefined) check('autoReplies', act.sent.length === exp.autoReplies, exp.autoReplies, act.sent.length);
  if (exp.case !== undefined) {
    for (const [k, v] of Object.entries(exp.case)) {
      const got = act.caseRow === null ? undefined : act.caseRow[k];
      check(`case.${k}`, got === v, v, got);
    }
  }
  if (exp.visibleText !== undefined) {
    const text = act.visibleText ?? '';
    for (const s of exp.visibleText.contains ?? []) check('visibleText.contains', text.includes(s), s, text);
    for (const s of exp.visibleText.notContains ?? []) check('visibleText.notContains', !text.includes(s), `not ${s}`, text);
  }
  if (exp.attachments !== undefined) check('attachments', show(sorted(act.attachments)) === show(sorted(exp.attachments)), exp.attachments, act.attachments);
  if (exp.participants !== undefined) check('participants', show(sorted(act.participants)) === show(sorted(exp.participants)), exp.participants, act.participants);
  if (exp.bouncing !== undefined) check('bouncing', show(sorted(act.bouncing)) === show(sorted(exp.bouncing)), exp.bouncing, act.bouncing);
  if (exp.subjectSent !== undefined) {
    const first = act.sent[0];
    check('subjectSent', first !== undefined && new RegExp(exp.subjectSent).test(first.subject), `/${exp.subjectSent}/`, first?.subject ?? '(nothing queued)');
  }
  if (exp.htmlSent !== undefined) {
    if (act.sent.length === 0) problems.push('htmlSent: nothing was queued to check');
    for (const row of act.sent) {
      for (const s of exp.htmlSent.contains ?? []) check('htmlSent.contains', row.html.includes(s), s, row.html);
      for (const s of exp.htmlSent.notContains ?? []) check('htmlSent.notContains', !row.html.includes(s), `not ${s}`, row.html);
    }
  }
  if (exp.headersSent?.noCRLF === true) {
    if (act.sent.length === 0) problems.push('headersSent: nothing was queued to check');
    for (const row of act.sent) {
      for (const v of row.headerValues) check('headersSent.noCRLF', !/[\r\n]/.test(v), 'no CR/LF', v);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// UPDATE_GOLDEN=1: write what happened (computed fields); hand-written checks are kept

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function toExpected(old: Partial<Expected>, act: Actual): Expected {
  const o = act.outcome;
  const next: Expected = {
    ...(old.description !== undefined ? { description: old.description } : {}),
    ...(old.before !== undefined ? { before: old.before } : {}),
    ...(old.arrival !== undefined ? { arrival: old.arrival } : {}),
    outcome: o.kind === 'retry' ? 'quarantined' : o.kind,
    reason: `^${escapeRegex(o.reason)}$`,
    autoReplies: act.sent.length,
  };
  if (o.kind === 'stored') {
    const c = act.caseRow ?? {};
    next.created = act.created ?? false;
    next.rule = act.rule ?? '';
    next.automated = act.automated;
    next.case = {};
    for (const k of ['number', 'subject', 'status', 'requester_address', 'requester_name', 'queue', 'language']) next.case[k] = c[k] as string | number | null;
    const firstLine = (act.visibleText ?? '').split('\n').find((l) => l.trim() !== '');
    next.visibleText = old.visibleText ?? (firstLine !== undefined ? { contains: [firstLine.trim()] } : {});
    next.attachments = act.attachments;
    next.participants = act.participants;
  }
  if (act.sent[0] !== undefined) next.subjectSent = `^${escapeRegex(act.sent[0].subject)}$`;
  if (old.htmlSent !== undefined) next.htmlSent = old.htmlSent;
  if (old.headersSent !== undefined) next.headersSent = old.headersSent;
  if (old.bouncing !== undefined || act.bouncing.length > 0) next.bouncing = act.bouncing;
  return next;
}

// ---------------------------------------------------------------------------------------------

const all = readdirSync(FIXTURES);
const names = all.filter((f) => f.endsWith('.eml')).map((f) => f.slice(0, -'.eml'.length)).sort();

async function runFixture(name: string): Promise<void> {
  const file = fixturePath(name, '.expected.json');
  const old: Partial<Expected> | null = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<Expected>) : null;
  const exp = UPDATE ? null : readExpected(name);
  const env = await testEnv();
  try {
    for (const step of (exp ?? old)?.before ?? []) {
      if (!names.includes(step)) throw new Error(`${name}: "before" names ${step}, which has no ${step}.eml`);
      const prior = existsSync(fixturePath(step, '.expected.json')) ? readExpected(step) : ({ outcome: 'stored' } as Expected);
      const out = await ingestFixture(env, step, prior);
      if (out.kind !== 'stored') throw new Error(`${name}: "before" step ${step} was not stored (${out.kind}: ${out.reason})`);
    }
    const outboxBefore = Number((await env.ctx.db.selectFrom('outbox').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst())?.max ?? 0);
    const outcome = await ingestFixture(env, name, exp ?? (old as Expected | null) ?? { outcome: 'stored' });
    const actual = await observe(env, outcome, outboxBefore);
    if (UPDATE) {
      const next = toExpected(old ?? {}, actual) as unknown as Record<string, unknown>;
      const ordered = Object.fromEntries([...KEYS].filter((k) => next[k] !== undefined).map((k) => [k, next[k]]));
      writeFileSync(file, `${JSON.stringify(ordered, null, 2)}\n`);
      return;
    }
    const problems = compare(exp!, actual);
    if (problems.length > 0) throw new Error(`${name}.eml differs from ${name}.expected.json:\n  - ${problems.join('\n  - ')}`);
  } finally {
    await env.close();
  }
}

describe('golden fixtures (test/fixtures/*.eml)', () => {
  it('has fixtures, and no expected.json without its .eml', () => {
    expect(names.length).toBeGreaterThan(0);
    const orphans = all.filter((f) => f.endsWith('.expected.json') && !names.includes(f.slice(0, -'.expected.json'.length)));
    expect(orphans, 'expected.json files without a .eml').toEqual([]);
    const stale = Object.keys(KNOWN_FAILURES).filter((n) => !names.includes(n));
    expect(stale, 'KNOWN_FAILURES entries without a fixture').toEqual([]);
  });

  const passing = names.filter((n) => SHOW_KNOWN || KNOWN_FAILURES[n] === undefined);
  const failing = SHOW_KNOWN ? [] : names.filter((n) => KNOWN_FAILURES[n] !== undefined);
  if (passing.length > 0) it.each(passing)('%s', runFixture);
  if (!UPDATE) {
    for (const name of failing) it.fails(`${name} — known failure: ${KNOWN_FAILURES[name]}`, () => runFixture(name));
  }
});
