import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setStatus } from '../../src/cases/lifecycle.js';
import { caseByNumber } from '../../src/db/repos/cases.js';
import { generateDkimKey } from '../../src/mail-out/dkim.js';
import { OutboxWorker } from '../../src/mail-out/outbox-worker.js';
import { createTransport, type MailTransport } from '../../src/mail-out/transport.js';
import { surveyJob } from '../../src/jobs/survey.js';
import { silentLogger } from '../../src/log.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { clientReply } from '../helpers/mail-clients.js';
import { readOutgoing } from '../helpers/outgoing-samples.js';

/**
 * Issue 14 item 3: a whole case conversation — the customer's mail, our confirmation, the agent's
 * reply, the customer's answer, the survey — produced by the real pipeline and outbox, put into
 * one mbox as the customer's client holds it, and opened in a real mail client (mutt, driven in a
 * private tmux server). With strict_threads mutt threads by Message-ID/In-Reply-To/References only
 * (never by subject): it must show one thread, in the order the messages were written.
 */

function have(cmd: string): boolean {
  const ok = spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  if (!ok && process.env['CI'] === 'true') throw new Error(`${cmd} is not installed (.ci/run installs mutt and tmux)`);
  return ok;
}

const JANE = 'Jane Customer <jane@customer.example>';
const AUTH = { 'Authentication-Results': 'mx.example.com; dmarc=pass header.from=example.com' };

/** One mbox message: a From_ line, the message with ">From " quoting, a blank line. */
function mboxEntry(raw: Buffer, sender: string, date: Date): string {
  const text = raw.toString('latin1').replace(/\r\n/g, '\n');
  return `From ${sender} ${date.toUTCString().replace(/^(\w+), (\d+) (\w+) (\d+) (\S+) GMT$/, '$1 $3 $2 $5 $4')}\n${text.replace(/^(>*From )/gm, '>$1')}${text.endsWith('\n') ? '' : '\n'}\n`;
}

interface MuttScreen {
  readonly lines: string[];
}

/** Open the mbox in mutt inside a private tmux server and return the index as shown. */
function muttIndex(dir: string, mbox: string, extra: string[] = []): MuttScreen {
  const rc = join(dir, 'muttrc');
  writeFileSync(
    rc,
    [
      'set sort=threads',
      'set sort_aux=date-sent',
      // Thread by headers only: a subject match must not hide broken threading.
      'set strict_threads=yes',
      'set ascii_chars=yes',
      'set hide_thread_subject=no',
      'set index_format="%4C %{%Y-%m-%d %H:%M} %-16.16F |%s"',
      'set mark_old=no',
      'set check_new=no',
      'set mbox_type=mbox',
      'set charset=utf-8',
      'set pager_index_lines=0',
      'set help=no',
      'set status_format="-- %f %m messages --"',
      `set folder=${dir}`,
      ...extra,
      '',
    ].join('\n'),
  );
  const sock = `cg-mutt-${process.pid}-${Date.now()}`;
  const env = { ...process.env, TERM: 'screen', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: dir, MAIL: mbox };
  try {
    execFileSync('tmux', ['-L', sock, '-f', '/dev/null', 'new-session', '-d', '-x', '160', '-y', '40', `mutt -n -F ${rc} -R -f ${mbox}`], { env });
    let text = '';
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      text = execFileSync('tmux', ['-L', sock, 'capture-pane', '-p', '-t', '0'], { env, encoding: 'utf8' });
      if (/-- .* messages --/.test(text) && /\|/.test(text)) break;
      spawnSync('sleep', ['0.2']);
    }
    return { lines: text.split('\n').filter((l) => /^\s*\d+ \d{4}-\d{2}-\d{2} /.test(l)) };
  } finally {
    spawnSync('tmux', ['-L', sock, 'kill-server'], { env });
  }
}

describe.runIf(have('mutt') && have('tmux'))('a whole case in a real mail client (mutt)', () => {
  let env: TestEnv;
  let transport: MailTransport;
  let dir: string;
  let mbox: string;
  const order: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'casegate-mutt-'));
    env = await testEnv(
      {
        queues: { support: { agents: [{ name: 'Ben Agent', address: 'ben@example.com' }], assignment: 'fixed', fixedOwner: 'Ben Agent' } },
        outgoing: { transport: 'file' },
        jobs: { survey: { afterHours: 0 } },
      },
      '2026-03-02T09:00:00Z',
    );
    generateDkimKey(env.resolved.paths.dataDir, 'example.com', 'cg');
    transport = createTransport(env.resolved);
    const worker = new OutboxWorker(env.ctx, transport);
    const entries: string[] = [];
    const sentToJane = new Set<string>();
    const collect = async (): Promise<void> => {
      await worker.drain();
      for (const raw of readOutgoing(env.resolved.paths.outgoingDir)) {
        const m = await simpleParser(raw);
        const id = m.messageId ?? '';
        if (sentToJane.has(id) || !(m.to && 'value' in m.to && m.to.value.some((a) => a.address === 'jane@customer.example'))) continue;
        sentToJane.add(id);
        entries.push(mboxEntry(raw, 'support@example.com', m.date ?? new Date()));
        const row = await env.ctx.db.selectFrom('outbox').select('kind').where('message_id', '=', id.replace(/^<|>$/g, '')).executeTakeFirstOrThrow();
        order.push(`ours:${row.kind}`);
      }
    };
    const customer = async (label: string, raw: string, date: Date): Promise<void> => {
      const out = await env.ingest(raw);
      if (out.kind !== 'stored') throw new Error(`customer mail not stored: ${out.reason}`);
      entries.push(mboxEntry(Buffer.from(raw), 'jane@customer.example', date));
      order.push(`jane:${label}`);
    };

    // 1. Jane writes; the confirmation answers.
    await customer('first mail', eml({ from: JANE, subject: 'Printer on fire', messageId: 'jane-1@customer.example', date: 'Mon, 02 Mar 2026 08:59:00 +0000', body: 'The printer in room 4 is on fire.\nPlease help.' }), new Date('2026-03-02T08:59:00Z'));
    await collect();
    // 2. Ben answers the notification casegate sent him (his client quotes it): staff mail signed for his address.
    const notice = (await env.ctx.db.selectFrom('outbox').selectAll().where('to_address', '=', 'ben@example.com').orderBy('id').executeTakeFirstOrThrow());
    env.clock.set('2026-03-02T09:30:00Z');
    const orig = { messageId: notice.message_id, subject: notice.subject, text: notice.text, fromName: notice.from_name, fromAddress: notice.from_address, references: notice.references_text?.match(/[^<>\s]+/g) ?? [] };
    const agent = await env.ingest(clientReply(orig, { style: 'thunderbird', from: 'Ben Agent <ben@example.com>', to: 'support@example.com', body: 'Hi Jane,\n\nplease pull the plug and step away. A technician is on the way.\n\nBen', messageId: 'ben-1@example.com', date: 'Mon, 02 Mar 2026 09:30:00 +0000', headers: AUTH }));
    if (agent.kind !== 'stored') throw new Error(`agent mail not stored: ${agent.reason}`);
    await collect();
    // 3. Jane answers the agent's reply from her client.
    env.clock.set('2026-03-02T10:15:00Z');
    const reply = (await env.ctx.db.selectFrom('outbox').selectAll().where('kind', '=', 'agent-reply').executeTakeFirstOrThrow());
    const janeReply = clientReply(
      { messageId: reply.message_id, subject: reply.subject, text: reply.text, fromName: reply.from_name, fromAddress: reply.from_address, references: reply.references_text?.match(/[^<>\s]+/g) ?? [] },
      { style: 'thunderbird', from: JANE, to: 'Example Support <support@example.com>', body: 'Done, the fire is out. Thanks!', messageId: 'jane-2@customer.example', date: 'Mon, 02 Mar 2026 10:15:00 +0000', headers: AUTH },
    );
    await customer('reply', janeReply, new Date('2026-03-02T10:15:00Z'));
    await collect();
    // 4. Ben resolves the case; the survey job sends the survey.
    env.clock.set('2026-03-02T11:00:00Z');
    const c = (await caseByNumber(env.ctx.db, 10001))!;
    await env.ctx.db.transaction().execute((trx) => setStatus(trx, env.ctx, c.id, 'resolved', { actor: 'agent:ben@example.com', reason: 'fire out' }));
    env.clock.set('2026-03-02T11:05:00Z');
    await surveyJob.run({ ctx: env.ctx, now: env.clock.now(), log: silentLogger(), stopping: () => false });
    await collect();
    mbox = join(dir, 'jane.mbox');
    writeFileSync(mbox, entries.join(''), { encoding: 'latin1' });
  }, 120_000);

  afterAll(async () => {
    transport?.close();
    await env?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the conversation has the customer’s mails, the confirmation, the agent’s reply and the survey', () => {
    expect(order).toEqual(['jane:first mail', 'ours:confirmation', 'ours:agent-reply', 'jane:reply', 'ours:survey']);
  });

  it('mutt shows one thread, in the order the messages were written', () => {
    const expanded = muttIndex(dir, mbox);
    console.log(`mutt index (sort=threads, strict_threads):\n${expanded.lines.join('\n')}`);
    expect(expanded.lines).toHaveLength(order.length);
    // The first line is the thread's root (Jane's first mail), every other line hangs in its tree.
    expect(expanded.lines[0]).toMatch(/\|Printer on fire$/);
    expect(expanded.lines[0]).not.toMatch(/->/);
    for (const l of expanded.lines.slice(1)) expect(l).toMatch(/\|[ |`-]*->/);
    // In the order they were written (mutt's %C numbers follow the display order).
    const times = expanded.lines.map((l) => /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.exec(l)![0]);
    expect([...times].sort()).toEqual(times);
    // Collapsed, the whole case is one line.
    const collapsed = muttIndex(dir, mbox, ['push <collapse-all>']);
    console.log(`collapsed:\n${collapsed.lines.join('\n')}`);
    expect(collapsed.lines).toHaveLength(1);
    expect(collapsed.lines[0]).toMatch(/Printer on fire/);
  });
});
