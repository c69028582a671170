import { describe, expect, it } from 'vitest';
import { decodeFlowed } from '../../src/mail-in/flowed.js';
import { extractVisibleText } from '../../src/mail-in/visible-text.js';
import { parseForTest } from '../helpers/parse-for-test.js';

describe('decodeFlowed (RFC 3676, quote depth respected)', () => {
  it.each([
    ['soft breaks are joined', 'one two \nthree\n', false, 'one two three\n'],
    ['a hard break stays', 'one\ntwo\n', false, 'one\ntwo\n'],
    ['delsp=yes removes the space of the soft break', 'Ver-\x20\nbindung\n', true, 'Ver-bindung\n'],
    ['quoted soft breaks are joined within one depth', '> one \n> two\n', false, '> one two\n'],
    ['a quoted flowed line does not absorb the unquoted answer', '> Could you send the log? \nHere it is.\n', false, '> Could you send the log? \nHere it is.\n'],
    ['an unquoted flowed line does not absorb the quote below', 'My answer \n> quoted\n', false, 'My answer \n> quoted\n'],
    ['depth 2 does not join depth 1', '>> older \n> newer\n', false, '>> older \n> newer\n'],
    ['"-- " is never flowed', 'Text\n-- \nJane\n', false, 'Text\n-- \nJane\n'],
    ['space-stuffing is removed from unquoted lines', ' From here on\n', false, 'From here on\n'],
    ['"> > " counts as depth 2', '> > a \n>> b\n', false, '> > a b\n'],
  ])('%s', (_name, input, delSp, expected) => {
    expect(decodeFlowed(input, delSp)).toBe(expected);
  });
});

const flowedReply = (body: string, params = 'format=flowed'): string =>
  [
    'From: Jana Novak <jana.novak@example.net>',
    'To: support@example.com',
    'Subject: Re: [Case #10001] Import fails',
    'Message-ID: <flowed-1@example.net>',
    'Date: Mon, 2 Mar 2026 10:00:00 +0100',
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset=UTF-8; ${params}`,
    'Content-Transfer-Encoding: 8bit',
    '',
    body,
  ].join('\r\n');

describe('format=flowed bottom-posted replies through the real parser', () => {
  it('keeps the answer written below a flowed quoted line (Thunderbird bottom-post)', async () => {
    const body = 'On 02.03.26 09:12, Support wrote:\r\n> Could you send the log of the \r\n> failed update? \r\nHere is the log you asked for. It \r\nstarts at 10:02.\r\n\r\n> And the version? \r\nVersion 4.2.\r\n';
    const parsed = await parseForTest(flowedReply(body));
    expect(parsed.text).toContain('> Could you send the log of the failed update? \nHere is the log you asked for. It starts at 10:02.');
    const visible = extractVisibleText(parsed.text, parsed.html);
    expect(visible.text).toBe('Here is the log you asked for. It starts at 10:02.\n\nVersion 4.2.');
    expect(visible.hadQuote).toBe(true);
  });

  it('decodes delsp=yes inside quoted-printable parts', async () => {
    const raw = flowedReply('Guten Tag, der Fehler tritt seit Mon=\r\ntag auf. Die Ver-=20\r\nbindung bricht ab.\r\n', 'format=flowed; delsp=yes').replace(
      'Content-Transfer-Encoding: 8bit',
      'Content-Transfer-Encoding: quoted-printable',
    );
    const parsed = await parseForTest(raw);
    expect(parsed.text?.trim()).toBe('Guten Tag, der Fehler tritt seit Montag auf. Die Ver-bindung bricht ab.');
  });

  it('decodes flowed text in base64 parts with a non-UTF-8 charset', async () => {
    const latin1 = Buffer.from('> Haben Sie die Quittung? \r\nJa, ich habe sie \r\nnoch. Grüße\r\n', 'latin1').toString('base64');
    const raw = flowedReply(`${latin1}\r\n`, 'format=flowed').replace('charset=UTF-8', 'charset=ISO-8859-1').replace('Content-Transfer-Encoding: 8bit', 'Content-Transfer-Encoding: base64');
    const parsed = await parseForTest(raw);
    expect(parsed.text?.trim()).toBe('> Haben Sie die Quittung? \nJa, ich habe sie noch. Grüße');
    expect(extractVisibleText(parsed.text, parsed.html).text).toBe('Ja, ich habe sie noch. Grüße');
  });
});
