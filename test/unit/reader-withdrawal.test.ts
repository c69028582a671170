import { describe, expect, it } from 'vitest';
import type { OutboxRow } from '../../src/db/schema.js';
import { withoutReader } from '../../src/mail-out/reader-withdrawal.js';

/**
 * A reader taken off a case before an email of the case reached them (mail-out/reader-withdrawal.ts):
 * what the unsent email becomes — the web server off (one email To+Cc), copies per reader (each
 * with their own link), partly sent. No database: the decision alone.
 */

const JANE = { address: 'jane@customer.example', name: 'Jane' };
const ANN = { address: 'ann@customer.example', name: 'Ann' };
const BOB = { address: 'bob@customer.example', name: 'Bob' };

function row(o: { to?: typeof JANE; cc?: (typeof JANE)[]; copies?: boolean; pending?: string[] }): OutboxRow {
  const to = o.to ?? JANE;
  const cc = o.cc ?? [];
  return {
    to_address: to.address,
    to_name: to.name,
    text: `for ${to.address}`,
    html: `<p>for ${to.address}</p>`,
    cc_json: JSON.stringify(cc),
    copies_json: o.copies === true ? JSON.stringify(cc.map((r) => ({ address: r.address, text: `for ${r.address}`, html: `<p>for ${r.address}</p>` }))) : null,
    pending_rcpt_json: o.pending !== undefined ? JSON.stringify(o.pending) : null,
    created_at: '2026-12-01T10:00:00.000Z',
    last_attempt_at: o.pending !== undefined ? '2026-12-01T10:05:00.000Z' : null,
  } as unknown as OutboxRow;
}

describe('a reader taken off the case before the email went', () => {
  it('web server off: out of the Cc (header and envelope), the others keep theirs', () => {
    expect(withoutReader(row({ cc: [ANN, BOB] }), 'Ann@Customer.example')).toMatchObject({ kind: 'rewrite', set: { to_address: JANE.address, cc_json: JSON.stringify([BOB]), copies_json: null, pending_rcpt_json: null } });
  });

  it('copies per reader: their copy goes with them; the last Cc gone, the email is the To’s alone', () => {
    expect(withoutReader(row({ cc: [ANN, BOB], copies: true }), ANN.address)).toMatchObject({ kind: 'rewrite', set: { cc_json: JSON.stringify([BOB]), copies_json: JSON.stringify([{ address: BOB.address, text: `for ${BOB.address}`, html: `<p>for ${BOB.address}</p>` }]) } });
    expect(withoutReader(row({ cc: [ANN], copies: true }), ANN.address)).toMatchObject({ kind: 'rewrite', set: { cc_json: '[]', copies_json: null } });
  });

  it('the To: the next reader takes their place with their own copy (their link); nobody left: cancelled', () => {
    expect(withoutReader(row({ to: ANN, cc: [BOB], copies: true }), ANN.address)).toEqual({
      kind: 'rewrite',
      set: { to_address: BOB.address, to_name: 'Bob', text: `for ${BOB.address}`, html: `<p>for ${BOB.address}</p>`, cc_json: '[]', copies_json: null, pending_rcpt_json: null },
    });
    expect(withoutReader(row({ to: ANN }), ANN.address)).toMatchObject({ kind: 'cancel' });
  });

  it('partly sent: no longer waited for (nobody left: sent, when it last went); already theirs, or never theirs: unchanged', () => {
    expect(withoutReader(row({ cc: [ANN, BOB], copies: true, pending: [ANN.address, BOB.address] }), ANN.address)).toMatchObject({ kind: 'rewrite', set: { to_address: JANE.address, cc_json: JSON.stringify([BOB]), pending_rcpt_json: JSON.stringify([BOB.address]) }, sentAt: null });
    expect(withoutReader(row({ cc: [ANN], pending: [ANN.address] }), ANN.address)).toMatchObject({ kind: 'rewrite', set: { pending_rcpt_json: '[]' }, sentAt: '2026-12-01T10:05:00.000Z' });
    // The To waits while the Cc have theirs: the headers they saw stay, the To is no longer waited for.
    expect(withoutReader(row({ to: ANN, cc: [BOB], pending: [ANN.address] }), ANN.address)).toMatchObject({ kind: 'rewrite', set: { to_address: ANN.address, cc_json: JSON.stringify([BOB]), pending_rcpt_json: '[]' } });
    expect(withoutReader(row({ cc: [ANN, BOB], pending: [BOB.address] }), ANN.address)).toEqual({ kind: 'unchanged' });
    expect(withoutReader(row({ cc: [BOB] }), ANN.address)).toEqual({ kind: 'unchanged' });
  });

  it('erased (purge --requester): the To leaves even an email the others still wait for — the next reader is its To; nobody else waits: cancelled', () => {
    // Ann (the To) has hers, Bob waits: Bob goes on, shown as the To, Ann named nowhere.
    expect(withoutReader(row({ to: ANN, cc: [BOB, JANE], copies: true, pending: [BOB.address] }), ANN.address, { erase: true })).toEqual({
      kind: 'rewrite',
      set: { to_address: BOB.address, to_name: 'Bob', text: `for ${BOB.address}`, html: `<p>for ${BOB.address}</p>`, cc_json: JSON.stringify([JANE]), copies_json: JSON.stringify([{ address: JANE.address, text: `for ${JANE.address}`, html: `<p>for ${JANE.address}</p>` }]), pending_rcpt_json: JSON.stringify([BOB.address]) },
    });
    expect(withoutReader(row({ to: ANN, cc: [BOB], pending: [ANN.address] }), ANN.address, { erase: true })).toMatchObject({ kind: 'cancel', reason: 'the only reader it was still to go to was erased' });
    // Not yet sent at all: as a withdrawal (the next reader with their own copy).
    expect(withoutReader(row({ to: ANN, cc: [BOB], copies: true }), ANN.address, { erase: true })).toMatchObject({ kind: 'rewrite', set: { to_address: BOB.address, text: `for ${BOB.address}`, copies_json: null } });
    expect(withoutReader(row({ to: ANN }), ANN.address, { erase: true })).toMatchObject({ kind: 'cancel', reason: 'the only reader it was still to go to was erased' });
  });
});
