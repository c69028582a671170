import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inlineForwardedOriginal } from '../../src/mail-in/forwarded-original.js';
import { inWindows, readShownDate, sentWindows, zoneOffsetOf } from '../../src/mail-in/forwarded-date.js';
import { CORPUS } from '../helpers/corpus.js';

/**
 * The Date of a forwarded message as mail clients print it in the forward (forwarded-date.ts), read
 * from real forwards and quoted headers of the corpus (test/corpus/vendor): which stored message a
 * customer forwarded (stages/thread.ts, forwarded-copy).
 */
const corpus = (file: string): string => readFileSync(path.join(CORPUS, file), 'utf8');
const at = (iso: string): number => Date.parse(`${iso}Z`);

describe('the forwarded Date as clients print it (corpus)', () => {
  it.each([
    ['Gmail', 'crisp-email-reply-parser/email_tricky_17_forward_header.txt', 'Date:', '2024-12-15T15:00'],
    ['Outlook (US)', 'crisp-email-reply-parser/email_tricky_15_original_message_variations.txt', 'Sent:', '2024-12-15T15:00'],
    ['Outlook (day first)', 'crisp-email-reply-parser/email_customer_quote_header_2.txt', 'Sent:', '2013-05-14T06:18'],
    ['Outlook (p.m.)', 'github-email_reply_parser/email_2_2.txt', 'Sent:', '2012-03-23T17:08'],
    ['Outlook (bold labels)', 'crisp-email-reply-parser/email_2_1.txt', '*Sent:*', '2012-02-09T13:36'],
    ['Outlook for iOS (seconds)', 'crisp-email-reply-parser/email_ios_outlook.txt', 'Sent:', '2019-09-26T11:35:12'],
    ['Outlook for Mac', 'crisp-email-reply-parser/email_18.txt', 'Date:', '2016-07-07T15:10'],
    ['Windows Mail', 'willdurand-emailreplyparser/email_w10_mail.txt', 'Sent:', '2020-04-09T14:02'],
    ['Outlook (German)', 'crisp-email-reply-parser/email_german_2.txt', 'Gesendet:', '2023-03-23T17:11'],
    ['German, numeric', 'crisp-email-reply-parser/email_german_outlook.txt', 'Datum:', '2025-11-25T15:00'],
    ['Outlook (Dutch)', 'crisp-email-reply-parser/email_12.txt', 'Verzonden:', '2016-12-05T17:00'],
    ['Outlook (Italian)', 'crisp-email-reply-parser/email_13.txt', 'Inviato:', '2017-01-03T10:35'],
    ['Outlook (Australia), forwarded by Thunderbird', 'django-helpdesk/forwarded-message.eml', 'Sent:', '2021-04-06T09:09'],
  ])('%s', (_client, file, label, local) => {
    const line = corpus(file).split(/\r\n?|\n/).find((l) => l.trimStart().startsWith(label))!;
    const shown = line.trimStart().slice(label.length).trim();
    expect(readShownDate(shown)).toEqual({ locals: [at(local)], precision: local.length > 16 ? 1_000 : 60_000, offset: null });
  });

  it('a French phone client names its zone: "23/06/24  10:46  (GMT+01:00)" is day first and one instant', () => {
    const line = corpus('crisp-email-reply-parser/email_french_dash_separator.txt').split('\n').find((l) => l.startsWith('Date :'))!;
    const shown = line.slice('Date :'.length).trim();
    expect(readShownDate(shown)).toEqual({ locals: [at('2024-06-23T10:46')], precision: 60_000, offset: 60 });
    // The forwarder's own zone does not matter when the line names one.
    expect(sentWindows(shown, -300)).toEqual([{ from: at('2024-06-23T09:45'), to: at('2024-06-23T09:48') }]);
  });

  it('Gmail in German and French, Outlook in French and Spanish, Apple Mail, East Asian dates', () => {
    expect(readShownDate('Mo., 7. Dez. 2026 um 15:04')?.locals).toEqual([at('2026-12-07T15:04')]);
    // "mar." is Tuesday (mardi) here, not March: the month is the last month name.
    expect(readShownDate('mar. 8 déc. 2026 à 15:04')?.locals).toEqual([at('2026-12-08T15:04')]);
    expect(readShownDate('lundi 7 décembre 2026 15:04')?.locals).toEqual([at('2026-12-07T15:04')]);
    expect(readShownDate('lunes, 7 de diciembre de 2026 15:04')?.locals).toEqual([at('2026-12-07T15:04')]);
    expect(readShownDate('7 December 2026 at 15:04:05 CET')).toEqual({ locals: [at('2026-12-07T15:04:05')], precision: 1_000, offset: 60 });
    expect(readShownDate('2026年12月7日 15:04')?.locals).toEqual([at('2026-12-07T15:04')]);
    expect(readShownDate('2026年12月7日(月) 15:04')?.locals).toEqual([at('2026-12-07T15:04')]);
    expect(readShownDate('seg., 7 de dez. de 2026 às 15:04')?.locals).toEqual([at('2026-12-07T15:04')]);
    expect(readShownDate('mån 7 dec. 2026 kl 15:04')?.locals).toEqual([at('2026-12-07T15:04')]);
  });

  it('03/04 with both readings possible gives both; no time, no year, or nonsense gives none', () => {
    expect(readShownDate('12/7/2026 3:04 PM')?.locals).toEqual([at('2026-07-12T15:04'), at('2026-12-07T15:04')]);
    expect(readShownDate('13/7/2026 15:04')?.locals).toEqual([at('2026-07-13T15:04')]);
    for (const shown of ['Mon, Dec 7, 2026', 'December 7 3:04 PM', 'yesterday at 3:04 PM', '31.02.2026 10:00', '13:04 PM 7 Dec 2026', '']) expect(readShownDate(shown), shown).toBeNull();
  });

  it('a local time is read in the forwarder’s zone and an hour either side; with her zone unknown, not at all', () => {
    const django = corpus('django-helpdesk/forwarded-message.eml');
    const offset = zoneOffsetOf(/^Date: (.*)$/m.exec(django)![1]!);
    expect(offset).toBe(120);
    const windows = sentWindows('Tuesday, 6 April 2021 9:09 AM', offset);
    expect(windows.map((w) => new Date(w.from + 60_000).toISOString())).toEqual(['2021-04-06T07:09:00.000Z', '2021-04-06T08:09:00.000Z', '2021-04-06T06:09:00.000Z']);
    expect(inWindows(windows, '2021-04-06T07:09:59.000Z')).toBe(true);
    expect(inWindows(windows, '2021-04-06T07:40:00.000Z')).toBe(false);
    expect(sentWindows('Tuesday, 6 April 2021 9:09 AM', null)).toEqual([]);
    expect(zoneOffsetOf('Tue, 13 Apr 2021 12:56:39 -0000')).toBeNull();
    expect(zoneOffsetOf('Tue, 13 Apr 2021 12:56:39 -0500 (EST)')).toBe(-300);
    // A full Date header (an attached message, Thunderbird) is its instant, within a minute.
    expect(sentWindows('Mon, 2 Mar 2026 09:00:00 +0100 (CET)', -300)).toEqual([{ from: at('2026-03-02T07:59'), to: at('2026-03-02T08:01') }]);
  });

  it('a hostile Date line (200 KB of digits and colons) or Date header (100 KB of "+0100(") is read in linear time', () => {
    const started = performance.now();
    expect(zoneOffsetOf('+0100('.repeat(16_000))).toBeNull();
    expect(readShownDate('1:'.repeat(100_000))).toBeNull();
    expect(sentWindows(`${'12 '.repeat(70_000)}`, 60)).toEqual([]);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('forward blocks of the corpus are read', () => {
  it.each([
    ['Gmail', 'crisp-email-reply-parser/email_tricky_17_forward_header.txt', { from: 'john@example.com', subject: 'Important update', date: 'Mon, Dec 15, 2024 at 3:00 PM' }],
    ['Outlook "-----Original Message-----"', 'crisp-email-reply-parser/email_tricky_15_original_message_variations.txt', { from: 'sender@example.com', subject: 'RE: Test', date: 'Monday, December 15, 2024 3:00 PM' }],
    ['Outlook (German) "-----Ursprüngliche Nachricht-----"', 'crisp-email-reply-parser/email_german_outlook.txt', { from: 'max.m@beispiel.de', subject: 'Ihre Anfrage', date: '25.11.2025 15:00' }],
    // Outlook's rule of underscores above the block.
    ['Outlook for iOS', 'crisp-email-reply-parser/email_ios_outlook_fr.txt', { from: 'job-applicant-incoming-text+65701@hiringenginemail.com', subject: 'Chauffeur - Berlin, CT - Text from Garret Zeiter', date: 'Thursday, September 26, 2019 11:35:12 AM' }],
    ['Outlook (underscores, p.m.)', 'github-email_reply_parser/email_2_2.txt', { from: 'crm-comment@example.com', subject: '[contact:106] John Greene', date: 'Friday, 23 March 2012 5:08 p.m.' }],
    // Outlook's HTML forward as text: no line above the block at all.
    ['Outlook (German), bare block', 'crisp-email-reply-parser/email_german_2.txt', { from: 'service@example.de', subject: 'AW: Hi there!', date: 'Donnerstag, 23. März 2023 17:11' }],
    ['Outlook (Dutch), bare block', 'crisp-email-reply-parser/email_12.txt', { from: 'questions@company.com', subject: 'Curabitur dictum aliquet mollis.', date: 'maandag 5 december 2016 17:00' }],
    ['Outlook (Italian), bare block', 'crisp-email-reply-parser/email_13.txt', { from: 'questions@company.com', subject: 'Curabitur dictum aliquet mollis.', date: 'martedì 3 gennaio 2017 10:35' }],
    ['Outlook for Mac, bare block', 'crisp-email-reply-parser/email_18.txt', { from: 'john@hellolucy.io', subject: 'Re:', date: 'Thursday, July 7, 2016 at 3:10 PM' }],
  ])('%s', (_client, file, expected) => {
    const read = inlineForwardedOriginal(corpus(file));
    expect(read).toMatchObject(expected);
    expect(read!.text.trim().length).toBeGreaterThan(0);
  });

  it('text without a From, Date and Subject block is no forward', () => {
    expect(inlineForwardedOriginal('Hi,\n\nFrom: the team\nSubject to change.\n\nRegards')).toBeNull();
    expect(inlineForwardedOriginal('________________________________\nSent from my phone')).toBeNull();
  });
});
