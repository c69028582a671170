import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import type { OutboxRow } from '../../src/db/schema.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';

/**
 * What agents see of odd inbound mail, through the whole pipeline on a real database: the text
 * and file names of the agents' notification, the leads' alert and the owner's assignment email
 * (the CLI and the case page show the stored visible text).
 */

const CONFIG: ConfigInput = {
  instance: { name: 'Example Support', domain: 'support.example.com', secret: 'test-secret-0123456789abcdef-0123456789', adminAddress: 'ops@example.com' },
  mailboxes: [{ name: 'support', addresses: ['support@example.com'] }],
  queues: {
    support: {
      tiers: { 1: { addresses: ['lead@example.com'] } },
      agents: [{ name: 'Ben Agent', address: 'ben@example.com' }],
    },
  },
  autoReply: { minIntervalSeconds: 0 },
};

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv(CONFIG);
});
afterEach(async () => {
  await env.close();
});

async function sent(kind: string, to: string): Promise<OutboxRow[]> {
  return (await env.ctx.db.selectFrom('outbox').selectAll().orderBy('id').execute()).filter((o) => o.kind === kind && o.to_address === to);
}

async function stored(raw: string | Buffer): Promise<number> {
  const out = await env.ingest(raw);
  if (out.kind !== 'stored') throw new Error(`expected stored, got ${out.kind}: ${out.reason}`);
  return out.caseId;
}

const FORWARDED = ['---------- Forwarded message ---------', 'From: Billing <billing@vendor.example>', 'Date: Mon, Mar 2, 2026 at 8:00 AM', 'Subject: Your invoice', 'To: <jane@customer.example>', '', 'Invoice 4711 is overdue. Amount: 99 EUR.'].join('\n');

describe('forwarded mail in what agents are sent', () => {
  it('a forward with nothing added: the notification carries the forwarded message, not an empty text', async () => {
    await stored(eml({ subject: 'Fwd: Your invoice', body: FORWARDED }));
    const [note] = await sent('agent-notification', 'ben@example.com');
    expect(note?.text).toContain('Invoice 4711 is overdue. Amount: 99 EUR.');
    expect(note?.html).toContain('Invoice 4711 is overdue. Amount: 99 EUR.');
  });

  it('a forward below a note (Apple Mail): the notification has both', async () => {
    await stored(eml({ subject: 'Fwd: Error', body: 'See below, it happens daily.\n\nBegin forwarded message:\n\nFrom: Monitor <mon@x.example>\nSubject: Error\nDate: 2 March 2026 at 08:00:00 GMT\nTo: jane@customer.example\n\nDisk full on host db1.\n' }));
    const [note] = await sent('agent-notification', 'ben@example.com');
    expect(note?.text).toContain('See below, it happens daily.');
    expect(note?.text).toContain('Disk full on host db1.');
  });

  it('the leads’ alert shows the forwarded message below the customer’s request', async () => {
    await stored(eml({ subject: 'Fwd: Your invoice', body: `Please escalate this, we paid already.\n\n${FORWARDED}` }));
    const [alert] = await sent('escalation-alert', 'lead@example.com');
    expect(alert?.text).toContain('Please escalate this, we paid already.');
    expect(alert?.text).toContain('Invoice 4711 is overdue.');
  });

  it('an "escalate" inside the forwarded message still escalates nothing', async () => {
    await stored(eml({ subject: 'Fwd: Your invoice', body: `Why do I get this?\n\n${FORWARDED}\nWe will escalate to collection.` }));
    expect(await sent('escalation-alert', 'lead@example.com')).toEqual([]);
    const [note] = await sent('agent-notification', 'ben@example.com');
    expect(note?.text).toContain('We will escalate to collection.');
  });
});

describe('an Outlook forward with a note above it', () => {
  const OUTLOOK_BLOCK = ['From: Monitor <mon@x.example>', 'Sent: Monday, March 2, 2026 8:00 AM', 'To: Jane <jane@customer.example>', 'Subject: Error', '', 'Disk full on host db1.'].join('\n');
  const GERMAN_BLOCK = ['Von: Monitor <mon@x.example>', 'Gesendet: Montag, 2. März 2026 08:00', 'An: Jane <jane@customer.example>', 'Betreff: Fehler', '', 'Festplatte voll auf db1.'].join('\n');

  it.each([
    ['FW: Error', `Please look at this error, it happens daily.\n\n${OUTLOOK_BLOCK}`, 'Please look at this error, it happens daily.', 'Disk full on host db1.'],
    ['WG: Fehler', `Bitte prüfen, das passiert täglich.\n\n${GERMAN_BLOCK}`, 'Bitte prüfen, das passiert täglich.', 'Festplatte voll auf db1.'],
    ['[EXTERNAL] Fw: Error', `See the error below.\n\n-----Original Message-----\n${OUTLOOK_BLOCK}`, 'See the error below.', 'Disk full on host db1.'],
  ])('"%s": the forwarded message is kept below the note (stored, notified)', async (subject, body, note, forwarded) => {
    const caseId = await stored(eml({ subject, body }));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toContain(note);
    expect(message?.visible_text).toContain(forwarded);
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).toContain(forwarded);
  });

  it('HTML only (Outlook on the web): the forwarded message is kept below the note', async () => {
    const html = '<div>Please look at this error.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Monitor &lt;mon@x.example&gt;<br><b>Sent:</b> Monday, March 2, 2026 8:00 AM<br><b>To:</b> Jane<br><b>Subject:</b> Error</div><div>Disk full on host db1.</div>';
    const caseId = await stored(eml({ subject: 'FW: Error', html }));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toContain('Please look at this error.');
    expect(message?.visible_text).toContain('Disk full on host db1.');
  });

  it('a reply ("RE: FW: …") is still cut at the header block, and "escalate" in a forward escalates nothing', async () => {
    const replied = await stored(eml({ subject: 'RE: FW: Error', body: `Thanks, that helped.\n\n${OUTLOOK_BLOCK}` }));
    const [reply] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', replied).execute();
    expect(reply?.visible_text).toBe('Thanks, that helped.');
    await stored(eml({ subject: 'FW: Error', from: 'Joe <joe@customer.example>', body: `Look at this.\n\n${OUTLOOK_BLOCK}\nWe will escalate this to your manager.` }));
    expect(await sent('escalation-alert', 'lead@example.com')).toEqual([]);
  });
});

describe('HTML-only mail with a table', () => {
  it('a pasted table keeps its cells apart, one row a line (stored text and notification)', async () => {
    const html =
      '<html><body><div class="WordSection1"><p class="MsoNormal">These orders failed:<o:p></o:p></p>' +
      '<table class="MsoTableGrid"><tr><td><p class="MsoNormal"><b>Order</b><o:p></o:p></p></td><td><p class="MsoNormal"><b>Amount</b></p></td></tr>' +
      '<tr><td><p class="MsoNormal">4711<o:p></o:p></p></td><td><p class="MsoNormal">99<o:p></o:p></p></td></tr>' +
      '<tr><td><p class="MsoNormal">4712</p></td><td><p class="MsoNormal">250</p></td></tr></table>' +
      '<p class="MsoNormal">Please check them.</p></div></body></html>';
    const caseId = await stored(eml({ subject: 'Failed orders', html }));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toBe('These orders failed:\n\nOrder | Amount\n4711 | 99\n4712 | 250\n\nPlease check them.');
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).toContain('4711 | 99\n4712 | 250');
  });

  it('a layout table (the whole message inside one) keeps its paragraphs', async () => {
    const html = '<table width="100%"><tr><td><p>First paragraph of my request.</p><p>Second paragraph.</p></td></tr><tr><td><img src="cid:logo"></td><td>Jane Doe<br>ACME Corp</td></tr></table>';
    const caseId = await stored(eml({ subject: 'Layout', html }));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toBe('First paragraph of my request.\n\nSecond paragraph.\n\nJane Doe\nACME Corp');
  });
});

describe('display names written in raw 8-bit bytes', () => {
  // Old mailers and scripts put Latin-1 bytes into headers unencoded; the subject was read right,
  // the From name became "J\uFFFDrgen M\uFFFDller" — in the customer's greeting too.
  const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

  it.each([
    ['raw Latin-1', 'From: J\xfcrgen M\xfcller <juergen@customer.example>'],
    ['raw Latin-1 inside an encoded-word', 'From: =?ISO-8859-1?Q?J\xfcrgen_M\xfcller?= <juergen@customer.example>'],
  ])('%s: the name reads "Jürgen Müller" in the case, the greeting and the notification', async (_label, fromLine) => {
    const raw = eml({ from: 'Placeholder <juergen@customer.example>', subject: 'Gr\xfc\xdfe', body: 'Hallo' }).replace('From: Placeholder <juergen@customer.example>', fromLine);
    const caseId = await stored(latin1(raw));
    const row = await env.ctx.db.selectFrom('cases').select('requester_name').where('id', '=', caseId).executeTakeFirst();
    expect(row?.requester_name).toBe('Jürgen Müller');
    const [confirmation] = await sent('confirmation', 'juergen@customer.example');
    expect(confirmation?.text).toContain('Jürgen');
    expect(confirmation?.text).not.toContain('\ufffd');
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).toContain('From Jürgen Müller <juergen@customer.example>');
  });

  it('UTF-8 raw names (RFC 6532) and encoded names with a comma stay as they were', async () => {
    const raw = eml({ subject: 'x', body: 'y' }).replace('From: Jane Customer <jane@customer.example>', 'From: =?UTF-8?Q?M=C3=BCller=2C_Hans?= <hans@customer.example>, =?UTF-8?B?5bGx55Sw?= <yamada@customer.example>');
    const caseId = await stored(raw);
    const row = await env.ctx.db.selectFrom('cases').select('requester_name').where('id', '=', caseId).executeTakeFirst();
    expect(row?.requester_name).toBe('Müller, Hans');
    const utf8 = eml({ subject: 'x', body: 'y', from: 'Zoë Ünal <zoe@customer.example>' });
    const second = await stored(utf8);
    const zoe = await env.ctx.db.selectFrom('cases').select('requester_name').where('id', '=', second).executeTakeFirst();
    expect(zoe?.requester_name).toBe('Zoë Ünal');
  });
});

describe('attachment file names', () => {
  function withFiles(names: readonly string[]): string {
    const parts = names.flatMap((n) => ['--x', `Content-Type: application/octet-stream; name="${n}"`, `Content-Disposition: attachment; filename="${n}"`, 'Content-Transfer-Encoding: base64', '', 'SGVsbG8=']);
    return eml({ subject: 'files', body: '' }).replace('Content-Type: text/plain; charset=utf-8\r\n\r\n', ['Content-Type: multipart/mixed; boundary=x', '', '--x', 'Content-Type: text/plain; charset=utf-8', '', 'files attached', ...parts, '--x--', ''].join('\r\n'));
  }
  /** The names stored with the customer's message (the agents' notification carries copies of its files). */
  async function names(raw: string): Promise<string[]> {
    const caseId = await stored(raw);
    const rows = await env.ctx.db.selectFrom('attachments').innerJoin('messages', 'messages.id', 'attachments.message_row_id').select('attachments.filename').where('messages.case_id', '=', caseId).where('messages.direction', '=', 'in').orderBy('attachments.id').execute();
    return rows.map((r) => r.filename);
  }

  it('a right-to-left override cannot disguise the extension ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf")', async () => {
    const got = await names(withFiles(['invoice\u202Efdp.exe', 'a\u2066b\u2069c\u200F.txt']));
    expect(got).toEqual(['invoicefdp.exe', 'abc.txt']);
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).toContain('Attachments: invoicefdp.exe, abc.txt');
  });

  it('a name longer than 200 characters is shortened before its extension, which stays', async () => {
    const [got] = await names(withFiles([`${'Quarterly report '.repeat(20)}final.pdf`]));
    expect(got?.length).toBeLessThanOrEqual(200);
    expect(got).toMatch(/^Quarterly report .*\.pdf$/);
  });
});

describe('a message that is nothing but an attachment', () => {
  const scan = (preamble: string): string =>
    eml({ subject: 'Scan', body: '' }).replace(
      'Content-Type: text/plain; charset=utf-8\r\n\r\n',
      ['Content-Type: multipart/mixed; boundary="scan-b"', '', preamble, '--scan-b', 'Content-Type: application/pdf; name="scan0001.pdf"', 'Content-Disposition: attachment; filename="scan0001.pdf"', 'Content-Transfer-Encoding: base64', '', 'JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+CnN0cmVhbQp4nCvkMlAwUDC1NNUzMVGwMDHUszRSKErlCtdSyOMyVDAAQaUsLkMlMwMA', '--scan-b--', ''].join('\r\n'),
    );

  it.each([['without a preamble', ''], ['with the usual preamble', 'This is a multi-part message in MIME format.\r\n']])('%s: no MIME source or base64 as the customer’s text', async (_label, preamble) => {
    const caseId = await stored(scan(preamble));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toBe('');
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).not.toContain('JVBERi0');
    expect(notification?.text).not.toContain('--scan-b');
    expect(notification?.text).toContain('Attachments: scan0001.pdf');
  });
});

describe('which files the agents’ notification lists', () => {
  it('the attached PDF (also Apple Mail’s "inline" one), not the signature logo the HTML shows nor a PGP signature', async () => {
    const body = [
      'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary=s',
      '',
      '--s',
      'Content-Type: multipart/mixed; boundary=m',
      '',
      '--m',
      'Content-Type: multipart/related; boundary=r',
      '',
      '--r',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>The offer is attached.</p><img src="cid:image001.png@01D">',
      '--r',
      'Content-Type: image/png; name="image001.png"',
      'Content-ID: <image001.png@01D>',
      'Content-Disposition: inline; filename="image001.png"',
      'Content-Transfer-Encoding: base64',
      '',
      'iVBORw0KGgo=',
      '--r--',
      '--m',
      'Content-Type: application/pdf; name="offer.pdf"',
      'Content-Disposition: inline; filename="offer.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      'JVBERi0=',
      '--m--',
      '--s',
      'Content-Type: application/pgp-signature; name="signature.asc"',
      '',
      '-----BEGIN PGP SIGNATURE-----',
      'abc',
      '-----END PGP SIGNATURE-----',
      '--s--',
      '',
    ].join('\r\n');
    await stored(eml({ subject: 'Offer', body: '' }).replace('Content-Type: text/plain; charset=utf-8\r\n\r\n', body));
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).toContain('The offer is attached.');
    expect(notification?.text).toContain('Attachments: offer.pdf\n');
  });
});

describe('direction overrides in names and subjects', () => {
  it('cannot turn the sender’s address around in the agents’ notification', async () => {
    // "\u202E" reverses what follows on the line: the notification's "<address>" read backwards.
    const name = `=?UTF-8?B?${Buffer.from('Bank Support \u202Emoc.knab@eciffo').toString('base64')}?=`;
    const caseId = await stored(eml({ from: `${name} <eve@customer.example>`, subject: `=?UTF-8?B?${Buffer.from('Invoice \u2067overdue\u2069 \u202Atoday\u202C').toString('base64')}?=` }));
    const row = await env.ctx.db.selectFrom('cases').select(['requester_name', 'subject']).where('id', '=', caseId).executeTakeFirst();
    expect(row?.requester_name).toBe('Bank Support moc.knab@eciffo');
    expect(row?.subject).toBe('Invoice overdue today');
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).toContain('From Bank Support moc.knab@eciffo <eve@customer.example>');
    expect(`${notification?.text}${notification?.html}${notification?.subject}`).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
  });
});

describe('HTML-only mail with a pasted screenshot (a data: image in the HTML)', () => {
  it('keeps the text below a large image', async () => {
    const image = 'iVBORw0KGgo'.repeat(150_000); // 1.6 MB of base64, as a pasted screenshot
    const html = `<p>Screenshot below:</p><img src="data:image/png;base64,${image}" alt="shot"><p>After the image: the error happens at 9am.</p><div style="background:url(data:image/png;base64,${image})">Last line.</div>`;
    const caseId = await stored(eml({ subject: 'Screenshot', html }));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toBe('Screenshot below:\n\nAfter the image: the error happens at 9am.\n\nLast line.');
  });
});

describe('mail forwarded as an attachment (message/rfc822)', () => {
  const withAttachedMail = (note: string, inner: string, disposition = 'attachment'): string =>
    eml({ subject: 'Fwd: weird mail', body: '' }).replace(
      'Content-Type: text/plain; charset=utf-8\r\n\r\n',
      ['Content-Type: multipart/mixed; boundary=x', '', '--x', 'Content-Type: text/plain; charset=utf-8', '', note, '--x', 'Content-Type: message/rfc822', `Content-Disposition: ${disposition}; filename="weird.eml"`, '', inner, '--x--', ''].join('\r\n'),
    );
  const INNER = ['From: Bob Vendor <bob@vendor.example>', 'Date: Sun, 01 Mar 2026 10:00:00 +0000', 'Subject: Your licence expires', 'Content-Type: text/plain; charset=utf-8', '', 'Licence key 4711-ABCD expires tomorrow. We will escalate to legal.'].join('\r\n');

  // Apple Mail marks every part inline, a forwarded mail too (so does nodemailer by default).
  it.each(['attachment', 'inline'])('%s: agents see the attached message’s sender, subject and text below the note, and get the file; it escalates nothing', async (disposition) => {
    const caseId = await stored(withAttachedMail('Is this real? Please check.', INNER, disposition));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toBe(
      'Is this real? Please check.\n\n---------- Forwarded message ---------\nFrom: Bob Vendor <bob@vendor.example>\nDate: Sun, 01 Mar 2026 10:00:00 +0000\nSubject: Your licence expires\n\nLicence key 4711-ABCD expires tomorrow. We will escalate to legal.',
    );
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).toContain('Licence key 4711-ABCD expires tomorrow.');
    expect(notification?.text).toContain('Attachments: weird.eml');
    const files = await env.ctx.db.selectFrom('attachments').innerJoin('messages', 'messages.id', 'attachments.message_row_id').select(['attachments.filename', 'attachments.content_type']).where('messages.case_id', '=', caseId).where('messages.direction', '=', 'in').execute();
    expect(files).toEqual([{ filename: 'weird.eml', content_type: 'message/rfc822' }]);
    expect(await sent('escalation-alert', 'lead@example.com')).toEqual([]);
  });
});

describe('a calendar invitation with no text', () => {
  const ICS = ['BEGIN:VCALENDAR', 'METHOD:REQUEST', 'BEGIN:VEVENT', 'SUMMARY:Outage review', 'DTSTART:20260303T100000Z', 'DTEND:20260303T110000Z', 'LOCATION:Room 4\\, building B', 'DESCRIPTION:Please join to discuss the outage.\\nBring the logs.', ' (long line folded)', 'END:VEVENT', 'END:VCALENDAR'].join('\r\n');

  it('shows what it proposes as the message text; an invitation beside a text keeps the text', async () => {
    const only = await stored(eml({ subject: 'Invitation: Outage review', body: '' }).replace('Content-Type: text/plain; charset=utf-8\r\n\r\n', `Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n${ICS}\r\n`));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', only).execute();
    expect(message?.visible_text).toBe('Calendar invitation: Outage review\nWhen: 2026-03-03 10:00 – 11:00 UTC\nWhere: Room 4, building B\n\nPlease join to discuss the outage.\nBring the logs.(long line folded)');
    const [notification] = await sent('agent-notification', 'ben@example.com');
    expect(notification?.text).toContain('Calendar invitation: Outage review');

    const withText = await stored(
      eml({ subject: 'Call?', from: 'Joe <joe@customer.example>', body: '' }).replace(
        'Content-Type: text/plain; charset=utf-8\r\n\r\n',
        ['Content-Type: multipart/alternative; boundary=a', '', '--a', 'Content-Type: text/plain; charset=utf-8', '', 'Can we talk tomorrow at 10?', '--a', 'Content-Type: text/calendar; charset=utf-8; method=REQUEST', '', ICS, '--a--', ''].join('\r\n'),
      ),
    );
    const [second] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', withText).execute();
    expect(second?.visible_text).toBe('Can we talk tomorrow at 10?');
  });
});

describe('HTML-only mail: text the writer never saw', () => {
  it('hidden elements (display:none preheaders, tracking text) are not shown to agents', async () => {
    const html = '<div style="display:none;max-height:0;overflow:hidden">Preheader: win a prize now</div><p>My real question: why is invoice 12 twice?</p><span style="DISPLAY: NONE">trk-7f3a</span><p>Thanks</p>';
    const caseId = await stored(eml({ subject: 'Invoice', html }));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toBe('My real question: why is invoice 12 twice?\n\nThanks');
  });
});

describe('a P.S. below the phone signature', () => {
  it.each([
    ['Sent from my iPhone', 'P.S. The serial number is 12345.'],
    ['Von meinem iPhone gesendet', 'PS: Seriennummer 12345'],
  ])('"%s" then "%s": the P.S. is the customer’s, kept', async (device, ps) => {
    const caseId = await stored(eml({ subject: 'Printer', body: `The printer is broken again.\n\n${device}\n\n${ps}\n` }));
    const [message] = await env.ctx.db.selectFrom('messages').select('visible_text').where('case_id', '=', caseId).execute();
    expect(message?.visible_text).toContain(ps);
    expect(message?.visible_text).toContain('The printer is broken again.');
  });
});
