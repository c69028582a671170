import { afterEach, describe, expect, it } from 'vitest';
import { CliSandbox, describeResult } from '../helpers/cli.js';
import { eml, TRUSTED_SENDER_AUTH } from '../helpers/context.js';
import { peekConfig } from '../helpers/db-peek.js';

/**
 * A case number is never handed out twice — not after its case was purged either. The purged
 * customer still holds mail whose signed references (Message-IDs, plus addresses) and links name
 * that number: a new customer's case under it would take their replies and open to their links.
 */

let box: CliSandbox;
afterEach(() => box?.cleanup());

async function ingest(name: string, mail: string): Promise<string> {
  const r = await box.run(['ingest', box.write(name, mail)]);
  expect(r.code, describeResult(r)).toBe(0);
  return r.stdout;
}

async function confirmationTo(address: string): Promise<string> {
  const d = peekConfig(box.configPath);
  try {
    return (await d.get<{ message_id: string }>("select message_id from outbox where to_address = ? and kind = 'confirmation'", address))!.message_id;
  } finally {
    await d.close();
  }
}

async function numbers(): Promise<number[]> {
  const cases = await box.json<{ number: number }[]>(['cases', 'list', '--json']);
  return cases.map((c) => c.number).sort();
}

describe('case numbers over the data’s life', () => {
  it('an erased customer’s number is not given to the next customer, and her old reference does not reach the new case', async () => {
    box = CliSandbox.create({ security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false } });
    await ingest('a.eml', eml({ from: 'ann@customer.example', subject: 'Ann asks', messageId: 'a1@customer.example' }));
    await ingest('b.eml', eml({ from: 'bob@customer.example', subject: 'Bob asks', messageId: 'b1@customer.example' }));
    expect(await numbers()).toEqual([10001, 10002]);
    const bobsConfirmation = await confirmationTo('bob@customer.example');
    const erased = await box.run(['purge', '--requester', 'bob@customer.example']);
    expect(erased.code, describeResult(erased)).toBe(0);
    await ingest('c.eml', eml({ from: 'carl@customer.example', subject: 'Carl private matter', messageId: 'c1@customer.example' }));
    expect(await numbers()).toEqual([10001, 10003]);
    // Bob answers his old confirmation: a signed reference to 10002, which is gone — a new case, not Carl's.
    const out = await ingest('b2.eml', eml({ from: 'bob@customer.example', subject: 'Re: Bob asks', messageId: 'b2@customer.example', headers: { 'In-Reply-To': `<${bobsConfirmation}>`, References: `<${bobsConfirmation}>` } }));
    expect(out).toMatch(/stored \(case 10004\)/);
    const carl = await box.json<{ messages: { from: string }[] }>(['cases', 'show', '10003', '--json']);
    expect(JSON.stringify(carl)).not.toContain('bob@customer.example');
  });

  it('a retention run that took every case does not start the numbers again', async () => {
    box = CliSandbox.create({ security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false } });
    await ingest('a.eml', eml({ from: 'ann@customer.example', subject: 'Ann asks', messageId: 'a1@customer.example' }));
    await ingest('b.eml', eml({ from: 'bob@customer.example', subject: 'Bob asks', messageId: 'b1@customer.example' }));
    const d = peekConfig(box.configPath);
    await d.run("update cases set status = 'closed', closed_at = '2023-03-01T10:00:00.000Z'");
    await d.close();
    const purged = await box.run(['purge', '--closed-before', '2024-01-01']);
    expect(purged.code, describeResult(purged)).toBe(0);
    expect(await numbers()).toEqual([]);
    await ingest('c.eml', eml({ from: 'carl@customer.example', subject: 'Carl asks', messageId: 'c1@customer.example' }));
    expect(await numbers()).toEqual([10003]);
  });

  it('a database purged by an earlier version continues after the highest number its purges recorded', async () => {
    box = CliSandbox.create({ security: { senderAuth: TRUSTED_SENDER_AUTH }, jobs: { enabled: false } });
    await ingest('a.eml', eml({ from: 'ann@customer.example', subject: 'Ann asks', messageId: 'a1@customer.example' }));
    await ingest('b.eml', eml({ from: 'bob@customer.example', subject: 'Bob asks', messageId: 'b1@customer.example' }));
    await ingest('c.eml', eml({ from: 'carl@customer.example', subject: 'Carl asks', messageId: 'c1@customer.example' }));
    const r = await box.run(['purge', '--requester', 'carl@customer.example']);
    expect(r.code, describeResult(r)).toBe(0);
    // As an earlier version left it: no counter, only the purge's audit event naming 10003 (and
    // none of the later migrations either: kysely runs them only in order).
    const d = peekConfig(box.configPath);
    await d.run('drop index cases_requester_domain');
    await d.run('drop index cases_unanswered');
    await d.run('drop index cases_merged_into');
    await d.run('alter table cases drop column merged_into');
    if ((await d.tables()).includes('messages_fts')) {
      for (const t of ['delete', 'update']) await d.run(`drop trigger messages_fts_${t}`);
      await d.run('drop table messages_fts');
    } else await d.run('drop table message_search');
    await d.run('alter table outbox drop column copies_json');
    await d.run('drop index outbox_sent_bodies');
    await d.run('alter table outbox drop column body_dropped_at');
    await d.run('drop table counters');
    // 0040 replaced 0039's relay_rate_slots by relay_rate_seconds.
    await d.run('drop table relay_rate_seconds');
    await d.run('drop index receipts_resend');
    await d.run('drop index cases_mailbox_created');
    await d.run('alter table receipts drop column resend_key');
    await d.run('alter table receipts drop column sent_at');
    await d.run('drop table message_failures');
    await d.run('alter table case_sla drop column moves_json');
    await d.run('alter table case_sla drop column fr_missed_at');
    await d.run('alter table case_sla drop column res_missed_at');
    for (const index of ['cases_priority_list', 'messages_id_case', 'messages_receipt', 'receipts_duplicate_of', 'receipts_retried_as', 'cases_linked', 'cases_open', 'cases_spam', 'receipts_quarantine_waiting', 'cases_requester_subject', 'messages_from_sent']) await d.run(`drop index if exists ${index}`);
    // 0038 added the subject key (its index, cases_requester_subject, is dropped above).
    await d.run('alter table cases drop column subject_key');
    // 0033 replaced 0005's cases_spam_number.
    await d.run('create index cases_spam_number on cases (spam, number)');
    await d.run("delete from casegate_migrations where name in ('0019-case-number-floor', '0020-outbox-sent-bodies', '0021-message-search', '0022-links-recipient-copies', '0023-case-merge', '0024-unanswered-cases', '0025-search-words', '0026-search2-requester-domain', '0027-resend-copies', '0028-resend-case-rate', '0029-leftovers-message-failures', '0030-pgperf2-priority-list', '0031-pgperf2-purge-foreign-keys', '0032-pgperf3-open-cases', '0033-stats-few-valued', '0034-sla-queue-stretches', '0035-intake-forward-subject', '0036-sla-missed-targets', '0037-metrics-sla-breach-counter', '0038-intake-forward-lookup', '0039-relay-rate-slots', '0040-loose-relay-rate-seconds')");
    await d.close();
    const m = await box.run(['migrate']);
    expect(m.code, describeResult(m)).toBe(0);
    await ingest('d.eml', eml({ from: 'dora@customer.example', subject: 'Dora asks', messageId: 'd1@customer.example' }));
    expect(await numbers()).toEqual([10001, 10002, 10004]);
    // 0021 and 0025 indexed the messages stored before them for `cases list --search`.
    const found = await box.run(['cases', 'list', '--json', '--search', 'ann', 'asks']);
    expect((JSON.parse(found.stdout) as { number: number }[]).map((c) => c.number)).toEqual([10001]);
  });
});
