import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eml } from '../helpers/context.js';
import { peekConfig } from '../helpers/db-peek.js';
import { CliSandbox, describeResult } from '../helpers/cli.js';

/** `casegate report`, `casegate jobs list|run`, `casegate links create|revoke`, as an admin runs them. */

describe('casegate report / jobs / links', () => {
  let box: CliSandbox;
  beforeAll(async () => {
    box = CliSandbox.create({
      queues: { support: { slaPolicy: 'std', tiers: { 1: { addresses: ['lead@example.com'] } } } },
      sla: { calendars: { always: { zone: 'UTC', hours: { daily: '00:00-24:00' } } }, defaultCalendar: 'always', policies: { std: { targets: { normal: { firstResponse: '1h', resolution: '8h' } } } } },
      web: { enabled: false, baseUrl: 'https://help.example.com/cg' },
    });
    const files = [
      box.write('a.eml', eml({ from: 'jane@customer.example', subject: 'Printer on fire', messageId: 'a@customer.example' })),
      box.write('b.eml', eml({ from: 'bob@customer.example', to: 'billing@example.com', subject: 'Invoice wrong', messageId: 'b@customer.example' })),
    ];
    const r = await box.run(['ingest', ...files]);
    expect(r.code, describeResult(r)).toBe(0);
  });
  afterAll(() => box.cleanup());

  it('report --json: opened, backlog by status and priority; --queue narrows it', async () => {
    const all = await box.json<{ opened: number; backlog: { total: number; byStatus: Record<string, number> }; queues: { queue: string; opened: number }[] }>(['report', '--json', '--since', '1d']);
    expect(all.opened).toBe(2);
    expect(all.backlog).toMatchObject({ total: 2, byStatus: { new: 2 } });
    expect(all.queues.map((q) => [q.queue, q.opened])).toEqual([
      ['finance', 1],
      ['support', 1],
    ]);
    const finance = await box.json<{ opened: number; queue: string }>(['report', '--json', '--queue', 'finance', '--since', '2020-01-01']);
    expect(finance).toMatchObject({ opened: 1, queue: 'finance' });
    const text = await box.run(['report']);
    expect(text.code, describeResult(text)).toBe(0);
    expect(text.stdout).toContain('Opened 2 · resolved 0 · closed 0 · reopened 0 · escalations 0');
    expect(text.stdout).toContain('Open now: 2');
    const bad = await box.run(['report', '--since', 'last tuesday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--since/--until take a date');
    // An empty period or a queue nobody has is a mistake, not a report of zeros (admin hunt F9).
    const [backwards, nope] = await Promise.all([box.run(['report', '--since', '2026-12-10', '--until', '2026-12-01']), box.run(['report', '--queue', 'nope'])]);
    expect(backwards.code, describeResult(backwards)).toBe(1);
    expect(backwards.stderr).toMatch(/^casegate: --since \(2026-12-\d\dT[\d:.]+Z\) must be before --until/);
    expect(backwards.stdout).toBe('');
    expect(nope.code, describeResult(nope)).toBe(1);
    expect(nope.stderr).toMatch(/^casegate: no queue "nope" \(queues: .*finance.*\)\n$/);
  });

  it('jobs list shows every job with its schedule; jobs run runs one now', async () => {
    const rows = await box.json<{ job: string; enabled: boolean; schedule: string; next: string | null }[]>(['jobs', 'list', '--json']);
    expect(rows.map((r) => `${r.job} ${r.schedule}`)).toEqual(['sla-check * * * * *', 'critical-reminder */5 * * * *', 'pending-reminder */15 * * * *', 'resolved-close 0 * * * *', 'survey */15 * * * *', 'daily-report 0 7 * * *', 'sent-bodies 40 3 * * *']);
    expect(rows.every((r) => r.enabled && r.next !== null)).toBe(true);
    const run = await box.run(['jobs', 'run', 'sla-check']);
    expect(run.code, describeResult(run)).toBe(0);
    expect(run.stdout).toMatch(/^sla-check: \d+ looked at, \d+ emails queued/);
    const after = await box.json<{ job: string; lastStarted: string | null }[]>(['jobs', 'list', '--json']);
    expect(after.find((r) => r.job === 'sla-check')!.lastStarted).not.toBeNull();
    // The text names the zone of its times (display-time.ts) next to the schedules' zone.
    const text = await box.run(['jobs', 'list']);
    expect(text.stdout).toMatch(/^sla-check +\* \* \* \* \* +last \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  next \d{4}-\d\d-\d\d \d\d:\d\d UTC$/m);
    expect(text.stdout).toContain('(schedules in UTC; times in UTC (jobs.timezone; --utc for UTC))');
    const unknown = await box.run(['jobs', 'run', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no job "nope"');
  });

  it('links create prints a signed link; links revoke records the revocation', async () => {
    const link = await box.json<{ case: number; url: string; expires: string }>(['links', 'create', '10001', '--json']);
    expect(link.url).toMatch(/^https:\/\/help\.example\.com\/cg\/c\/10001\.c\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{24}$/);
    const survey = await box.json<{ url: string }>(['links', 'create', '10001', '--survey', '--days', '2', '--json']);
    // A link that is dead on arrival (or has NaN in it) is never printed.
    for (const days of ['abc', '0', '-5']) {
      const bad = await box.run(['links', 'create', '10001', `--days=${days}`]);
      expect(bad.code, describeResult(bad)).toBe(1);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toMatch(/--days must be a positive whole number/);
    }
    expect(survey.url).toMatch(/\/s\/10001\.s\./);
    // A link naming a participant (what their copies of the case's mail carry); the requester's names nobody else.
    expect((await box.json<{ url: string }>(['links', 'create', '10001', '--for', 'Jane@Customer.example', '--json'])).url).toMatch(/\/c\/10001\.c\.[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{24}$/);
    const stranger = await box.run(['links', 'create', '10001', '--for', 'ann@customer.example']);
    expect(stranger.code, describeResult(stranger)).toBe(1);
    expect(stranger.stderr).toBe('casegate: ann@customer.example is not a customer participant of case 10001\n');
    const cc = await box.run(['cases', 'cc', '10001', 'ann@customer.example']);
    expect(cc.code, describeResult(cc)).toBe(0);
    expect((await box.json<{ url: string }>(['links', 'create', '10001', '--for', 'ann@customer.example', '--json'])).url).toMatch(/\/c\/10001\.c\.p\d+\./);
    const one = await box.run(['links', 'revoke', '10001', '--link', link.url, '--reason', 'forwarded by mistake']);
    expect(one.code, describeResult(one)).toBe(0);
    expect(one.stdout).toBe('revoked that link of case 10001\n');
    const all = await box.run(['links', 'revoke', '10001']);
    expect(all.stdout).toMatch(/^revoked every link of case 10001 issued before /);
    // Links carry whole seconds: a link made right after the revocation (the same second) works,
    // one made before it does not.
    const before = new Date(/issued before (\S+)$/m.exec(all.stdout)![1]!);
    const after = await box.json<{ url: string }>(['links', 'create', '10001', '--json']);
    const db = peekConfig(box.configPath);
    try {
      const rows = await db.all<{ revoked_before: string }>("SELECT revoked_before FROM link_revocations WHERE link_sig IS NULL");
      expect(rows.map((r) => r.revoked_before)).toEqual([before.toISOString()]);
      expect(before.getMilliseconds()).toBe(0);
      const issuedOf = (url: string) => new Date(parseInt(url.split('.').at(-3)!, 36) * 1000);
      expect(issuedOf(after.url).getTime()).toBeGreaterThanOrEqual(before.getTime());
      expect(issuedOf(link.url).getTime()).toBeLessThan(before.getTime());
    } finally {
      await db.close();
    }
    const wrong = await box.run(['links', 'revoke', '10002', '--link', link.url]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('not a valid link of case 10002');
  });
});
