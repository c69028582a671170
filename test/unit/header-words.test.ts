import { describe, expect, it } from 'vitest';
import { decodeHeaderWords } from '../../src/mail-in/header-words.js';
import { parseForTest } from '../helpers/parse-for-test.js';

/** Header values as mailparser hands them over: one character per raw byte. */
const bytes = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');

describe('decodeHeaderWords', () => {
  it.each([
    ['raw Latin-1 byte inside an ISO-8859-1 Q word', '=?ISO-8859-1?Q?Fr\xf6sche_im_Teich?=', 'Frösche im Teich'],
    ['raw UTF-8 bytes inside a UTF-8 Q word', '=?UTF-8?Q?Fr\xc3\xb6sche?=', 'Frösche'],
    ['Latin-1 bytes under a UTF-8 label', '=?UTF-8?Q?Preis=FCbersicht_Januar?=', 'Preisübersicht Januar'],
    ['unknown charset, Latin-1 bytes', '=?x-unknown?Q?Caf=E9_au_lait?=', 'Café au lait'],
    ['unknown charset, UTF-8 bytes', '=?x-unknown?Q?Caf=C3=A9?=', 'Café'],
    ['invalid base64 stays as written', '=?utf-8?B?!!notbase64!!?= Rechnung', '=?utf-8?B?!!notbase64!!?= Rechnung'],
    ['unterminated word stays as written', '=?utf-8?Q?unterminated_word', '=?utf-8?Q?unterminated_word'],
    ['raw 8-bit Latin-1 outside words', 'Gr\xfc\xdfe aus K\xf6ln', 'Grüße aus Köln'],
    ['raw 8-bit UTF-8 outside words (RFC 6532)', 'Gr\xc3\xbc\xc3\x9fe', 'Grüße'],
    ['whitespace between words is dropped', '=?UTF-8?Q?a?= =?UTF-8?Q?b?=', 'ab'],
    ['a character split across two words', '=?utf-8?Q?=E2=82?= =?utf-8?Q?=AC_5?=', '€ 5'],
    ['base64 emoji', '=?UTF-8?B?8J+YgCBTbWlsZQ==?=', '😀 Smile'],
    ['ISO-2022-JP', '=?ISO-2022-JP?B?GyRCJEgkaiQiJCgkOhsoQg==?=', 'とりあえず'],
    ['text around a word keeps its spaces', 'Re: =?iso-8859-1?q?R=E9union?= demain', 'Re: Réunion demain'],
    ['language suffix in the charset', '=?utf-8*de?Q?Stra=C3=9Fe?=', 'Straße'],
    ['folded header', 'Ihre Anfrage\r\n =?UTF-8?Q?=C3=BCber?= den Vertrag', 'Ihre Anfrage über den Vertrag'],
    // Node 20's TextDecoder reads windows-1252 as ISO-8859-1: these became invisible C1 controls.
    ['Windows-1252 quotes, euro and dash (Outlook)', '=?Windows-1252?Q?=93Invoice=94_=80_20_=96_overdue?=', '“Invoice” € 20 – overdue'],
    ['ISO-8859-1 label, Windows-1252 bytes', '=?iso-8859-1?Q?Caf=E9_=96_=80?=', 'Café – €'],
    ['raw Windows-1252 bytes outside words', 'Preis \x80 20 \x96 \x93neu\x94', 'Preis € 20 – “neu”'],
  ])('%s', (_name, raw, expected) => {
    expect(decodeHeaderWords(bytes(raw))).toBe(expected);
  });
});

describe('subjects through the real parser', () => {
  const message = (subjectBytes: string): Buffer =>
    Buffer.concat([
      Buffer.from('From: Kai <kai@example.de>\r\nTo: support@example.com\r\nMessage-ID: <s1@example.de>\r\nSubject: ', 'latin1'),
      Buffer.from(subjectBytes, 'latin1'),
      Buffer.from('\r\n\r\nHallo\r\n', 'latin1'),
    ]);
  it.each([
    ['=?ISO-8859-1?Q?Fr\xf6sche_im_Teich?=', 'Frösche im Teich'],
    ['=?UTF-8?Q?Preis=FCbersicht?=', 'Preisübersicht'],
    ['=?utf-8?B?!!notbase64!!?= Rechnung', '=?utf-8?B?!!notbase64!!?= Rechnung'],
    ['Gr\xfc\xdfe aus K\xf6ln', 'Grüße aus Köln'],
  ])('%j', async (raw, expected) => {
    const parsed = await parseForTest(message(raw));
    expect(parsed.subject).toBe(expected);
    expect(parsed.subject).not.toMatch(/\ufffd|ï¿½/);
  });
});

describe('an 8-bit body without a charset', () => {
  it('is read as Windows-1252 when it is not UTF-8: euro, dashes and quotes survive', async () => {
    const raw = Buffer.concat([
      Buffer.from('From: Kai <kai@example.de>\r\nTo: support@example.com\r\nMessage-ID: <b1@example.de>\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n', 'latin1'),
      Buffer.from('Preis 20\x80 \x96 \x93Caf\xe9\x94\r\n', 'latin1'),
    ]);
    const parsed = await parseForTest(raw);
    expect(parsed.text?.trimEnd()).toBe('Preis 20€ – “Café”');
  });
});

describe('text parts whose charset is missing or wrong', () => {
  const head = 'From: Kai <kai@example.de>\r\nTo: support@example.com\r\nMessage-ID: <c1@example.de>\r\nSubject: x\r\nMIME-Version: 1.0\r\n';
  const multipart = (partHeaders: string, body: Buffer): Buffer =>
    Buffer.concat([Buffer.from(`${head}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n${partHeaders}\r\n\r\n`, 'latin1'), body, Buffer.from('\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n', 'latin1')]);

  it.each([
    ['Latin-1 bytes in a part without a charset (a script’s multipart)', multipart('Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit', Buffer.from('Gr\xfc\xdfe, 20\x80 \x96 ok', 'latin1')), 'Grüße, 20€ – ok'],
    ['UTF-8 labelled ISO-8859-1 (a web form)', multipart('Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit', Buffer.from('Grüße aus Köln — 日本', 'utf8')), 'Grüße aus Köln — 日本'],
    ['UTF-8 labelled ISO-8859-1, quoted-printable', multipart('Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable', Buffer.from('Gr=C3=BC=C3=9Fe', 'latin1')), 'Grüße'],
    ['real ISO-8859-1 stays ISO-8859-1', multipart('Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable', Buffer.from('Gr=FC=DFe =80', 'latin1')), 'Grüße €'],
    ['US-ASCII label on Latin-1 bytes', multipart('Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit', Buffer.from('K\xf6ln', 'latin1')), 'Köln'],
    ['UTF-8 without a label, single part', Buffer.concat([Buffer.from(`${head}Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n`, 'latin1'), Buffer.from(Buffer.from('Grüße 日本').toString('base64'))]), 'Grüße 日本'],
  ])('%s', async (_name, raw, expected) => {
    const parsed = await parseForTest(raw);
    expect(parsed.text?.trim()).toBe(expected);
    expect(parsed.attachments.length).toBeLessThanOrEqual(1);
  });

  it('an HTML-only part labelled ISO-8859-1 holding UTF-8', async () => {
    const raw = Buffer.concat([Buffer.from(`${head}Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`, 'latin1'), Buffer.from('<p>Grüße aus Köln</p>', 'utf8')]);
    const parsed = await parseForTest(raw);
    expect(parsed.html).toContain('Grüße aus Köln');
    expect(parsed.text).toContain('Grüße aus Köln');
  });
});

describe('legacy CJK and Cyrillic mail: unlabelled ISO-2022-JP, raw 8-bit headers in the body’s charset, unlabelled bodies', () => {
  // こんにちは / プリンター in ISO-2022-JP (ESC $ B … ESC ( B), KOI8-R and Shift_JIS bytes, written out.
  const HELLO_JIS = Buffer.from('1b244224332473244b2441244f1b2842', 'hex');
  const PRINTER_JIS = Buffer.from('1b24422557256a2573253f213c1b2842', 'hex');
  const PRINTER_KOI8 = Buffer.from('f0d2c9ced4c5d2', 'hex'); // Принтер
  const PRINTER_SJIS = Buffer.from('8376838a8393835e815b', 'hex'); // プリンター
  const HELLO_SJIS = Buffer.from('82b182f182c982bf82cd', 'hex'); // こんにちは
  const HELLO_KOI8 = Buffer.from('fac4d2c1d7d3d4d7d5cad4c5', 'hex'); // Здравствуйте
  const msg = (subject: Buffer, contentType: string, body: Buffer, from = 'Kai <kai@example.jp>'): Buffer =>
    Buffer.concat([
      Buffer.from(`From: ${from}\r\nTo: support@example.com\r\nMessage-ID: <j-${Math.random()}@example.jp>\r\nSubject: `, 'latin1'),
      subject,
      Buffer.from(`\r\nMIME-Version: 1.0\r\nContent-Type: ${contentType}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`, 'latin1'),
      body,
      Buffer.from('\r\n', 'latin1'),
    ]);
  const ew = (charset: string, b: Buffer): Buffer => Buffer.from(`=?${charset}?B?${b.toString('base64')}?=`, 'latin1');

  it('a body in ISO-2022-JP without a charset label, and a raw ISO-2022-JP subject', async () => {
    const parsed = await parseForTest(msg(PRINTER_JIS, 'text/plain', HELLO_JIS));
    expect(parsed.text?.trim()).toBe('こんにちは');
    expect(parsed.subject).toBe('プリンター');
  });

  it('raw 8-bit subjects in the charset the body declares (Shift_JIS, KOI8-R); Latin-1 text under a Latin-1 label stays Latin-1', async () => {
    expect((await parseForTest(msg(PRINTER_SJIS, 'text/plain; charset=Shift_JIS', HELLO_SJIS))).subject).toBe('プリンター');
    const koi8 = await parseForTest(msg(PRINTER_KOI8, 'text/plain; charset=koi8-r', HELLO_KOI8, `${PRINTER_KOI8.toString('latin1')} <ivan@example.ru>`));
    expect(koi8.subject).toBe('Принтер');
    expect(koi8.from?.name).toBe('Принтер');
    expect((await parseForTest(msg(Buffer.from('Gr\xfc\xdfe', 'latin1'), 'text/plain; charset=iso-8859-1', Buffer.from('x')))).subject).toBe('Grüße');
  });

  it('an unlabelled 8-bit body in the charset the subject is encoded in; without one, Windows-1252 as before', async () => {
    expect((await parseForTest(msg(ew('koi8-r', PRINTER_KOI8), 'text/plain', HELLO_KOI8))).text?.trim()).toBe('Здравствуйте');
    expect((await parseForTest(msg(ew('ISO-2022-JP', PRINTER_JIS), 'text/plain', HELLO_SJIS))).text?.trim()).toBe('こんにちは');
    expect((await parseForTest(msg(ew('iso-8859-1', Buffer.from('Gr\xfc\xdfe', 'latin1')), 'text/plain', Buffer.from('Gr\xfc\xdfe', 'latin1')))).text?.trim()).toBe('Grüße');
    expect((await parseForTest(msg(Buffer.from('x'), 'text/plain', Buffer.from('Gr\xfc\xdfe', 'latin1')))).text?.trim()).toBe('Grüße');
  });
  it('a raw Shift_JIS or KOI8-R attachment name (filename="…" without encoding) in the charset the text declares; an encoded one as before', async () => {
    const NAME_SJIS = Buffer.from('90bf8b818f9187402e706466', 'hex'); // 請求書①.pdf
    const NAME_KOI8 = Buffer.from('d3dec5d42e706466', 'hex'); // счет.pdf
    const withFile = (charset: string, name: Buffer, text: Buffer): Buffer =>
      Buffer.concat([
        Buffer.from(`From: a <a@example.jp>\r\nTo: support@example.com\r\nMessage-ID: <f-${Math.random()}@example.jp>\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=${charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`, 'latin1'),
        text,
        Buffer.from('\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="', 'latin1'),
        name,
        Buffer.from('"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n', 'latin1'),
      ]);
    expect((await parseForTest(withFile('Shift_JIS', NAME_SJIS, HELLO_SJIS))).attachments.map((a) => a.filename)).toEqual(['請求書①.pdf']);
    expect((await parseForTest(withFile('koi8-r', NAME_KOI8, HELLO_KOI8))).attachments.map((a) => a.filename)).toEqual(['счет.pdf']);
    expect((await parseForTest(withFile('Shift_JIS', Buffer.from('=?UTF-8?Q?Gr=C3=BC=C3=9Fe.pdf?=', 'latin1'), HELLO_SJIS))).attachments.map((a) => a.filename)).toEqual(['Grüße.pdf']);
  });
});
