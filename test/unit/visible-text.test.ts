import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractVisibleText, type VisibleText, type VisibleTextOptions } from '../../src/mail-in/visible-text.js';
import { CORPUS } from '../helpers/corpus.js';

// The reply-body sets of the shared corpus (../shared/corpus beside the repository, see
// test/helpers/corpus.ts). Their <stem>.expected.txt files hold the upstream assertions (crisp-oss
// JS, willdurand PHP, github Ruby); every row below restates one of them as a check on the
// visible text. A missing corpus makes these tests fail, it does not skip them.
const CRISP = 'crisp-email-reply-parser';
const WILLDURAND = 'willdurand-emailreplyparser';
const GITHUB = 'github-email_reply_parser';

function corpusText(set: string, file: string): string {
  return readFileSync(path.join(CORPUS, set, file), 'utf8');
}

const MARKER = '##- Please type your reply above this line -##';

/** The first fragment most crisp/willdurand fixtures share. */
const COMMON_FIRST_FRAGMENT = [
  'Fusce bibendum, quam hendrerit sagittis tempor, dui turpis tempus erat, pharetra sodales ante sem sit amet metus.',
  'Nulla malesuada, orci non vulputate lobortis, massa felis pharetra ex, convallis consectetur ex libero eget ante.',
  'Nam vel turpis posuere, rhoncus ligula in, venenatis orci. Duis interdum venenatis ex a rutrum.',
  'Duis ut libero eu lectus consequat consequat ut vel lorem. Vestibulum convallis lectus urna,',
  'et mollis ligula rutrum quis. Fusce sed odio id arcu varius aliquet nec nec nibh.',
].join('\n');

const RIAK_QUESTION = 'Hi folks\n\nWhat is the best way to clear a Riak bucket of all key, values after\nrunning a test?\nI am currently using the Java HTTP API.';

/** A whole input as visible text: newlines normalised, trailing spaces and outer blank lines dropped. */
function asVisible(raw: string): string {
  return raw
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .replace(/^\n+|\n+$/g, '');
}

interface Spec {
  /** Exact visible text. */
  equals?: string;
  /** The visible text is the whole input (nothing removed). */
  equalsInput?: true;
  /** Same non-blank lines in the same order (the spec differs from us only in blank lines). */
  sameLinesAs?: string;
  startsWith?: string;
  includes?: readonly string[];
  excludes?: readonly string[];
  /** No visible line starts with ">". */
  noQuotedLines?: true;
  quote?: boolean;
  signature?: boolean;
  /** hadQuote || hadSignature: the library's flag differs by language (Italian "In data … ha scritto:" is a "signature" there). */
  removed?: true;
}

function check(result: VisibleText, spec: Spec, input: string): void {
  const { text } = result;
  if (spec.equals !== undefined) expect(text).toBe(spec.equals);
  if (spec.equalsInput) expect(text).toBe(asVisible(input));
  if (spec.sameLinesAs !== undefined) {
    const nonBlank = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');
    expect(nonBlank(text)).toEqual(nonBlank(spec.sameLinesAs));
  }
  if (spec.startsWith !== undefined) expect(text.slice(0, spec.startsWith.length)).toBe(spec.startsWith);
  for (const s of spec.includes ?? []) expect(text).toContain(s);
  for (const s of spec.excludes ?? []) expect(text).not.toContain(s);
  if (spec.noQuotedLines) expect(text.split('\n').filter((l) => /^\s*>/.test(l))).toEqual([]);
  if (spec.quote !== undefined) expect(result.hadQuote).toBe(spec.quote);
  if (spec.signature !== undefined) expect(result.hadSignature).toBe(spec.signature);
  if (spec.removed) expect(result.hadQuote || result.hadSignature).toBe(true);
}

type Row = readonly [set: string, file: string, spec: Spec];

const common = (quote = true): Spec => ({ equals: COMMON_FIRST_FRAGMENT, ...(quote ? { quote: true } : { removed: true }) });

// ---------------------------------------------------------------------------------------------
// crisp-oss/email-reply-parser (the library we use): mostly "fragments[0].trim() equals …"
// ---------------------------------------------------------------------------------------------
const crispRows: readonly Row[] = [
  [CRISP, 'correct_sig.txt', { equals: 'this is an email with a correct -- signature.', signature: true, quote: false }],
  [CRISP, 'email_1.txt', { equals: `${RIAK_QUESTION}\n\n-Abhishek Kona`, signature: true, quote: false }],
  [CRISP, 'email_2.txt', { startsWith: 'Hi,\n', includes: ['You can list the keys for the bucket', 'delete them all individually.'], excludes: ['On Tue, 2011-03-01', 'riak-users mailing list'], noQuotedLines: true, quote: true }],
  [CRISP, 'email_3.txt', { equals: 'Oh thanks.\n\nHaving the function would be great.\n\n-Abhishek Kona', quote: true }],
  [CRISP, 'email_4.txt', { startsWith: 'Awesome', excludes: ['Loader', 'On '], quote: true }],
  [CRISP, 'email_5.txt', { equalsInput: true, quote: false }],
  [CRISP, 'email_6.txt', { startsWith: 'I get', excludes: ['Was this'], quote: true }],
  [CRISP, 'email_7.txt', common(false)],
  [CRISP, 'email_8.txt', common()],
  [CRISP, 'email_9.txt', common()],
  [CRISP, 'email_10.txt', common()],
  [CRISP, 'email_11.txt', common()],
  [CRISP, 'email_12.txt', common()],
  [CRISP, 'email_13.txt', common()],
  [CRISP, 'email_14.txt', common()],
  [CRISP, 'email_15.txt', { equals: COMMON_FIRST_FRAGMENT, signature: true }],
  [CRISP, 'email_16.txt', common()],
  [CRISP, 'email_17.txt', common()],
  [CRISP, 'email_18.txt', common()],
  [CRISP, 'email_22.txt', common()],
  [CRISP, 'email_23.txt', common()],
  [CRISP, 'email_24.txt', common()],
  [CRISP, 'email_25.txt', common()],
  [CRISP, 'email_26.txt', common()],
  [CRISP, 'email_danish_dash_separator.txt', common()],
  [CRISP, 'email_emoji.txt', { equals: '🎉\n\n—\nJohn Doe\nCEO at Pandaland\n\n@pandaland' }],
  [CRISP, 'email_en_multiline_2.txt', common()],
  [CRISP, 'email_finnish.txt', common()],
  [CRISP, 'email_fr_multiline.txt', common()],
  [CRISP, 'email_french_2.txt', common()],
  [CRISP, 'email_french_dash_separator.txt', common()],
  [CRISP, 'email_german.txt', common()],
  [CRISP, 'email_german_2.txt', common()],
  [CRISP, 'email_german_3.txt', { equals: COMMON_FIRST_FRAGMENT, signature: true }],
  [CRISP, 'email_german_outlook.txt', common()],
  [CRISP, 'email_gmail_split_line_from.txt', common()],
  [CRISP, 'email_ios_outlook.txt', { ...common(), signature: true }],
  [CRISP, 'email_ios_outlook_fr.txt', { ...common(), signature: true }],
  [CRISP, 'email_italian.txt', common(false)],
  [CRISP, 'email_msn.txt', common()],
  [CRISP, 'email_norwegian_gmail.txt', common()],
  [CRISP, 'email_not_a_signature.txt', { equalsInput: true, signature: false }],
  [CRISP, 'email_not_a_signature_2.txt', { equalsInput: true, signature: false }],
  [CRISP, 'email_one_is_not_on.txt', { includes: ['One outstanding question'], excludes: ['On Oct 1, 2012'], quote: true }],
  [CRISP, 'email_original_message.txt', common()],
  [CRISP, 'email_original_message_2.txt', common()],
  [CRISP, 'email_outlook_split_line_from.txt', common()],
  [CRISP, 'email_portuguese.txt', common()],
  [CRISP, 'email_reply_header.txt', { startsWith: 'This is the latest reply.', includes: ['\nOn the other hand, it could happen TWICE!'], excludes: ['On Wed, Dec 9', 'mrmister'], quote: true }],
  [CRISP, 'email_russian.txt', common()],
  [CRISP, 'email_sent_from.txt', { equals: 'Hi it can happen to any texts you type, as long as you type in between words or paragraphs.', signature: true }],
  [CRISP, 'email_tricky_1_on_false_positive.txt', { equalsInput: true, quote: false }],
  [CRISP, 'email_tricky_2_url_with_wrote.txt', { includes: ['Check out this article', 'https://example.com/blog/on-date-someone-wrote-about-parsing'], quote: false }],
  // Upstream only asks for "function sendEmail" in the first fragment; we keep the whole text.
  [CRISP, 'email_tricky_3_code_block.txt', { equalsInput: true, signature: false }],
  // Upstream: at least one fragment ("From:" in body text is an edge case there); here nothing is cut.
  [CRISP, 'email_tricky_4_from_in_body.txt', { equalsInput: true, quote: false }],
  [CRISP, 'email_tricky_5_mixed_languages.txt', common()],
  [CRISP, 'email_tricky_6_regards_in_sentence.txt', { equalsInput: true, signature: false }],
  // Upstream only asks for "Key Points"; "----" / "====" separators are not signatures here.
  [CRISP, 'email_tricky_7_multiple_dashes.txt', { equalsInput: true, signature: false }],
  [CRISP, 'email_tricky_8_sent_from_in_content.txt', { equalsInput: true, signature: false }],
  [CRISP, 'email_tricky_9_nested_quotes.txt', { equals: 'I agree with the points below.', quote: true }],
  [CRISP, 'email_tricky_10_special_chars_in_name.txt', common()],
  [CRISP, 'email_tricky_11_double_signature.txt', { equals: 'Thanks for your help!', signature: true }],
  [CRISP, 'email_tricky_12_no_space_after_header.txt', common()],
  [CRISP, 'email_tricky_13_timestamp_variations.txt', { equalsInput: true, quote: false }],
  [CRISP, 'email_tricky_14_long_quote_header.txt', common()],
  [CRISP, 'email_tricky_15_original_message_variations.txt', common()],
  [CRISP, 'email_tricky_16_unicode_signatures.txt', { startsWith: 'Thanks for the update!', excludes: ['Product Manager'], signature: true }],
  // Upstream: "See the forwarded message" in the first fragment. Our decision: the forward is kept.
  [CRISP, 'email_tricky_17_forward_header.txt', { startsWith: 'See the forwarded message below.', includes: ['---------- Forwarded message ---------', 'This is the forwarded content'], quote: false }],
  [CRISP, 'email_tricky_18_inline_reply.txt', { equals: 'I think option A is great.\n\nOption B has some drawbacks.\n\nOption C is not suitable for our use case.', quote: true }],
  [CRISP, 'email_tricky_19_quote_without_header.txt', { equals: 'I wanted to respond to your points:\n\nMy response to the quoted text above.\n\nAnd my final thoughts.', quote: true }],
  [CRISP, 'email_tricky_20_html_entities.txt', { includes: ['&gt; 100 and &lt; 200', '&amp; symbols'], excludes: ['Previous message', 'Johnny'], quote: true }],
  [CRISP, 'email_with_regards.txt', { equals: 'Hi,\n\nI still have the same problem....\n\nCan you help?', signature: true }],
  [CRISP, 'email_zoho.txt', { equals: 'What is the best way to clear a Riak bucket of all key, values after\nrunning a test?', quote: true }],
  [CRISP, 'sig_no_empty_line.txt', { equals: 'this is an email with a signature with no empty line above.', signature: true }],
];

// ---------------------------------------------------------------------------------------------
// willdurand/EmailReplyParser (PHP): fragments, flags and parseReply() results
// ---------------------------------------------------------------------------------------------
const willdurandRows: readonly Row[] = [
  [WILLDURAND, 'correct_sig.txt', { equals: 'this is an email with a correct -- signature.', signature: true }],
  [WILLDURAND, 'email_1.txt', { startsWith: RIAK_QUESTION, excludes: ['riak-users mailing list', '____'], signature: true }],
  // parseReply() equals "Hi,\nYou can list …": the same lines; we keep a blank line where the quote was.
  [WILLDURAND, 'email_2.txt', { sameLinesAs: asVisible(willdurandParseReplyOfEmail2()), quote: true }],
  [WILLDURAND, 'email_3.txt', { startsWith: 'Oh thanks.\n\nHaving', excludes: ['On Tue', 'riak-users'], quote: true }],
  [WILLDURAND, 'email_4.txt', { startsWith: 'Awesome', excludes: ['Loader'], quote: true }],
  [WILLDURAND, 'email_5.txt', { equalsInput: true }],
  [WILLDURAND, 'email_6.txt', { startsWith: 'I get', excludes: ['Was this'], quote: true }],
  [WILLDURAND, 'email_7.txt', common(false)],
  [WILLDURAND, 'email_8.txt', common()],
  [WILLDURAND, 'email_9.txt', common()],
  [WILLDURAND, 'email_10.txt', common()],
  [WILLDURAND, 'email_11.txt', common()],
  [WILLDURAND, 'email_12.txt', common()],
  [WILLDURAND, 'email_13.txt', common()],
  [WILLDURAND, 'email_14.txt', common()],
  [WILLDURAND, 'email_15.txt', { equals: COMMON_FIRST_FRAGMENT, signature: true }],
  [WILLDURAND, 'email_16.txt', common()],
  [WILLDURAND, 'email_17.txt', common()],
  [WILLDURAND, 'email_18.txt', common()],
  [WILLDURAND, 'email_19.txt', { startsWith: 'On Thursday', excludes: ['On Dec 16', 'Was this'], quote: true }],
  [WILLDURAND, 'email_20.txt', { equals: 'On Thursday.', quote: true }],
  [WILLDURAND, 'email_21.txt', { startsWith: 'On Thursday', quote: false }],
  [WILLDURAND, 'email_22.txt', common()],
  [WILLDURAND, 'email_23.txt', common()],
  [WILLDURAND, 'email_23_1.txt', { equals: COMMON_FIRST_FRAGMENT.replace('rutrum.\n', 'rutrum.\n\nSomething wrote:\n'), quote: true }],
  [WILLDURAND, 'email_2_1.txt', { equals: 'Outlook with a reply', quote: true }],
  [WILLDURAND, 'email_blackberry.txt', { equals: 'Here is another email', signature: true }],
  [WILLDURAND, 'email_bullets.txt', { equals: 'test 2 this should list second\n\nand have spaces\n\nand retain this formatting\n\n\n   - how about bullets\n   - and another' }],
  // Upstream needs a custom quote-header regex for the Hungarian "… írta:"; handled here natively.
  [WILLDURAND, 'email_custom_quote_header.txt', { equals: 'Thank you!', quote: true }],
  [WILLDURAND, 'email_customer_quote_header_2.txt', { equals: 'Thank you very much.', quote: true }],
  [WILLDURAND, 'email_customer_quote_header_3.txt', { equals: "bonjour,\nje n'ai pas eu de retour sur ma précision..\nmerci d'avance", quote: true }],
  [WILLDURAND, 'email_iphone.txt', { equals: 'Here is another email', signature: true }],
  // Upstream (custom signature regex): two fragments, body and signature ("-- \nglen").
  [WILLDURAND, 'email_ls-l.txt', { startsWith: 'MIME-Version: 1.0', includes: ['sess_25tni1suqgasqk8osnmk098sc6'], excludes: ['glen'], signature: true }],
  [WILLDURAND, 'email_multi_word_sent_from_my_mobile_device.txt', { equals: 'Here is another email', signature: true }],
  [WILLDURAND, 'email_norwegian_gmail.txt', common()],
  [WILLDURAND, 'email_one_is_not_on.txt', { includes: ['One outstanding question'], excludes: ['On Oct 1, 2012'], quote: true }],
  [WILLDURAND, 'email_thread.txt', { equals: 'This is new email reply in thread from bellow.', quote: true }],
  [WILLDURAND, 'email_unquoted_reply.txt', { equals: 'This is my reply.', quote: true }],
  [WILLDURAND, 'email_w10_mail.txt', { equals: 'Great thanks Bort, going for a test now.\nBraxton', quote: true }],
  [WILLDURAND, 'email_zimbra_free_en.txt', { includes: ['Michael Scott'], excludes: ['Toby Flenderson'], quote: true }],
  [WILLDURAND, 'email_zimbra_free_fr.txt', { includes: ['Michael Scott'], excludes: ['Toby Flenderson'], quote: true }],
  [WILLDURAND, 'sig_no_empty_line.txt', { equals: 'this is an email with a signature with no empty line above.', signature: true }],
];

/** willdurand's expected parseReply() of email_2.txt (test testParseReply), from email_2.expected.txt. */
function willdurandParseReplyOfEmail2(): string {
  const expected = corpusText(WILLDURAND, 'email_2.expected.txt');
  const m = /<<<EMAIL\n([\s\S]*?)\nEMAIL/.exec(expected.slice(expected.indexOf('testParseReply')));
  if (m?.[1] === undefined) throw new Error('email_2.expected.txt: parseReply block not found');
  return m[1];
}

// ---------------------------------------------------------------------------------------------
// github/email_reply_parser (Ruby)
// ---------------------------------------------------------------------------------------------
const githubRows: readonly Row[] = [
  [GITHUB, 'email_1_1.txt', { startsWith: RIAK_QUESTION, excludes: ['riak-users mailing list'], quote: false }],
  [GITHUB, 'email_1_2.txt', { startsWith: 'Hi,\n', includes: ['You can list the keys'], excludes: ['On Tue, 2011-03-01', 'riak-users mailing list'], noQuotedLines: true, quote: true }],
  [GITHUB, 'email_1_3.txt', { startsWith: 'Oh thanks.\n\nHaving', excludes: ['On Tue', 'riak-users'], quote: true }],
  // Ruby keeps quotes above visible text visible; here every quote is hidden (crisp semantics).
  [GITHUB, 'email_1_8.txt', { equals: 'I will reply under this one\n\nand under this.', quote: true, signature: true }],
  [GITHUB, 'email_2_1.txt', { equals: 'Outlook with a reply', quote: true }],
  [GITHUB, 'email_2_2.txt', { equals: 'Outlook with a reply directly above line', quote: true }],
  [GITHUB, 'email_2_3.txt', { equals: 'Outlook with a reply directly above line', quote: true }],
  [GITHUB, 'email_BlackBerry.txt', { equals: 'Here is another email', signature: true }],
  [GITHUB, 'email_bullets.txt', { equals: 'test 2 this should list second\n\nand have spaces\n\nand retain this formatting\n\n\n   - how about bullets\n   - and another' }],
  [GITHUB, 'email_iPhone.txt', { equals: 'Here is another email', signature: true }],
  // Ruby: finishes within 1 s with 5 fragments. Default cap: the first 200 000 characters.
  [GITHUB, 'email_long_quote.txt', { startsWith: 'Hi folks\n\nWhat is the best way to clear a Riak bucket of all key, values after\nrunning a test?\n', includes: ['\nasdf\nA>>>>>>>>>>'], noQuotedLines: true, quote: true }],
  [GITHUB, 'email_multi_word_sent_from_my_mobile_device.txt', { equals: 'Here is another email', signature: true }],
  [GITHUB, 'email_sig_delimiter_in_middle_of_line.txt', { equalsInput: true, signature: false }],
];

describe('extractVisibleText: corpus expectations', () => {
  it.each(crispRows)('%s/%s', (set, file, spec) => {
    const input = corpusText(set, file);
    check(extractVisibleText(input, null), spec, input);
  });
  it.each(willdurandRows)('%s/%s', (set, file, spec) => {
    const input = corpusText(set, file);
    check(extractVisibleText(input, null), spec, input);
  });
  it.each(githubRows)('%s/%s', (set, file, spec) => {
    const input = corpusText(set, file);
    check(extractVisibleText(input, null), spec, input);
  });

  // willdurand's data providers: email_with_date_headers.txt with [DATE] replaced.
  const dateHeaders = [
    'On Tue, 2011-03-01 at 18:02 +0530, Abhishek Kona wrote:',
    '2014-03-20 8:48 GMT+01:00 Rémi Dolan <do_not_reply@dolan.com>:',
    '2014-03-20 20:48 GMT+01:00 Rémi Dolan <do_not_reply@dolan.com>:',
    '2014-03-09 20:48 GMT+01:00 Rémi Dolan <do_not_reply@dolan.com>:',
    'Le 19 mars 2014 10:37, Cédric Lombardot <cedric.lombardot@gmail.com> a écrit :',
    'El 19/03/2014 11:34, Juan Pérez <juan.perez@mailcatch.com> escribió:',
    'El 19/03/2014 11:34, Juan Pérez <juan.perez@mailcatch.com> ha escrit:',
    'W dniu 7 stycznia 2015 15:24 użytkownik Paweł Brzoski <pbrzoski91@gmail.com> napisał:',
    'Le 19/03/2014 11:34, Georges du chemin a écrit :',
    'W dniu 2015-01-07 14:23, pbrzoski91@gmail.com pisze: ',
    'Den 08/06/2015 kl. 21.21 skrev Test user <test@example.com>:',
    'Am 25.06.2015 um 10:55 schrieb Test user:',
    'Test user <test@example.com> schrieb:',
    '在 2016年11月8日，下午2:23，Test user <test@example.com> 写道：',
    '2016. 11. 8. 오후 12:39 Test user <test@example.com> 작성:',
    '2016/11/08 14:26、Test user <test@example.com> のメッセージ:',
    'tir. 18. apr. 2017 kl. 13:09 skrev Test user <test@example.com>:',
  ];
  it.each(dateHeaders)('willdurand email_with_date_headers: %s', (header) => {
    const input = corpusText(WILLDURAND, 'email_with_date_headers.txt').replace('[DATE]', header);
    const result = extractVisibleText(input, null);
    expect(result.text).toBe('Thank you very much.');
    expect(result.hadQuote).toBe(true);
  });

  // willdurand: the same fixtures with "-- " (trailing space) as delimiter.
  it.each(['correct_sig.txt', 'sig_no_empty_line.txt'])('willdurand %s with "-- " delimiter', (file) => {
    const input = corpusText(WILLDURAND, file).replaceAll('--', '-- ');
    const result = extractVisibleText(input, null);
    expect(result.hadSignature).toBe(true);
    expect(result.text).not.toContain('rick');
    expect(result.text.startsWith('this is an email with a')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Deliberate differences from upstream: each test asserts what we do instead, and says why that
// is the better behaviour for a support desk (the customer's words come first).
// ---------------------------------------------------------------------------------------------
describe('extractVisibleText: deliberate differences from upstream', () => {
  // willdurand and github treat "-Abhishek Kona" (a line starting "-<letter>") as a signature.
  // We keep it: a line starting with "-" is ordinary content far more often (list items,
  // "-5 °C", "-Name" sign-offs are the customer's own words); only "--"/"-- " delimiters,
  // phone lines and known sign-offs count as signatures. The mailing-list footer below the
  // "____" line is still removed.
  it.each([
    [WILLDURAND, 'email_1.txt'],
    [GITHUB, 'email_1_1.txt'],
  ])('%s/%s: a "-Name" line is kept, the list footer is cut', (set, file) => {
    const result = extractVisibleText(corpusText(set, file), null);
    expect(result.text).toBe(`${RIAK_QUESTION}\n\n-Abhishek Kona`);
    expect(result.text).not.toContain('riak-users mailing list');
    expect(result.hadSignature).toBe(true);
  });

  it('a list whose items start with "-" is kept whole', () => {
    const input = 'What I tried:\n-restarted the router\n-changed the cable\n-called my provider\n\nNothing helped.';
    expect(extractVisibleText(input, null)).toEqual({ text: input, hadQuote: false, hadSignature: false });
  });

  // "Sent from my desk, is much easier then my mobile phone." is a sentence. The library's rule
  // takes any line starting "Sent from " for a phone signature; we hand it lines of more than
  // eight words defused, so the sentence is kept (upstream willdurand/github agree). Short phone
  // lines are still signatures.
  it.each([
    [WILLDURAND, 'email_sent_from_my_not_signature.txt'],
    [GITHUB, 'email_sent_from_my_not_signature.txt'],
  ])('%s/%s: "Sent from my desk, …" is kept as text', (set, file) => {
    const result = extractVisibleText(corpusText(set, file), null);
    expect(result.text).toBe('Here is another email\n\nSent from my desk, is much easier then my mobile phone.');
  });

  it.each([
    'Sent from my iPhone',
    'Sent from my iPhone, please excuse typos',
    'Von meinem iPhone gesendet',
    'Envoyé de mon iPad',
    'Enviado desde mi Samsung Galaxy',
    'Az iPhone-omról küldve',
    'Get Outlook for Android',
    'Outlook für iOS beziehen <https://aka.ms/o0ukef>',
    'Gesendet von meinem BlackBerry 10-Smartphone.',
  ])('a short phone line above the quote is a signature: %s', (line) => {
    const result = extractVisibleText(`Yes, that works.\n\n${line}\n\nOn 8 Jan 2024, at 10:02, Support <support@example.com> wrote:\n\n> Does it work?\n`, null);
    expect(result).toEqual({ text: 'Yes, that works.', hadQuote: true, hadSignature: true });
  });

  // willdurand email_with_from_headers: a message that *starts* with "From: x <x>" is all quote
  // upstream (empty visible text). We keep it: a lone "From:" line is no header block (no date,
  // no subject), a customer may well write "From: <my address>", and a message that starts with
  // a real header block is a forward with nothing added (kept as well, see the module's
  // decisions). Returning "" would silence the customer.
  it.each([
    'From: foo@example.com <foo@example.com>',
    'De: foo@example.com <foo@example.com>',
    'Van: foo@example.com <foo@example.com>',
    'Da: foo@example.com <foo@example.com>',
  ])('willdurand email_with_from_headers: "%s" at the top is kept with what follows', (from) => {
    const input = corpusText(WILLDURAND, 'email_with_from_headers.txt').replace('[FROM]', from);
    expect(extractVisibleText(input, null)).toEqual({ text: asVisible(input), hadQuote: false, hadSignature: false });
  });
});

// ---------------------------------------------------------------------------------------------
// Performance and pathological input: assert the result; the suite's timeout bounds the time.
// ---------------------------------------------------------------------------------------------
describe('extractVisibleText: large and pathological input', () => {
  it('handles the 767 KB quote (github email_long_quote) with a raised cap', () => {
    const input = corpusText(GITHUB, 'email_long_quote.txt');
    expect(input.length).toBeGreaterThan(700_000);
    const result = extractVisibleText(input, null, { maxInputChars: 1_000_000 });
    expect(result.text.startsWith('Hi folks\n')).toBe(true);
    expect(result.text).toContain('asdf');
    expect(result.text).toContain('I am currently using the Java HTTP API.');
    expect(result.text).not.toContain('riak-users mailing list');
    expect(result.text.split('\n').some((l) => l.startsWith('>'))).toBe(false);
    expect(result.hadQuote).toBe(true);
  });

  it('handles github pathological.txt (the ReDoS case)', () => {
    const result = extractVisibleText(corpusText(GITHUB, 'pathological.txt'), null);
    expect(result).toEqual({
      text: "I think you're onto something. I will try to fix the problem as soon as I\nget back to a computer.",
      hadQuote: true,
      hadSignature: false,
    });
  });

  it('does not take "On your remote host …" for an attribution (github greedy_on.txt)', () => {
    const result = extractVisibleText(corpusText(GITHUB, 'greedy_on.txt'), null);
    expect(result.text.startsWith('On your remote host you can run:\n\n     telnet 127.0.0.1 52698')).toBe(true);
    expect(result.text.endsWith('fails, the tunnel is not working.')).toBe(true);
    expect(result.hadQuote).toBe(true);
  });

  it('cuts input at maxInputChars', () => {
    const input = `${'word '.repeat(100)}\n`.repeat(10);
    const result = extractVisibleText(input, null, { maxInputChars: 1_000 });
    expect(result.text.length).toBeLessThanOrEqual(1_000);
    expect(result.text.startsWith('word word')).toBe(true);
  });

  it('does not split a surrogate pair at the cap', () => {
    const result = extractVisibleText(`${'a'.repeat(9)}😀😀`, null, { maxInputChars: 10 });
    expect(result.text).toBe('a'.repeat(9));
  });

  // Inputs built against email-reply-parser's backtracking patterns (measured on the bare
  // library: 10 000 blank lines take ~3 s, 20 000 characters of "abc. skrev x" lines ~18 s).
  const unit = (s: string, n = 200_000): string => s.repeat(Math.ceil(n / s.length)).slice(0, n);
  const pathological: readonly (readonly [string, string])[] = [
    ['blank lines', unit('\n')],
    ['whitespace lines', unit(' \t\n')],
    ['one long line', unit('a')],
    ['one long quoted line', unit('>')],
    ['Dutch "Op" starts', unit('Op x\n')],
    ['Dutch headers without colon', unit('Op x\nschreef y\n')],
    ['Norwegian "skrev" soup', unit('abc. skrev x\n')],
    ['Polish "Dnia" starts', unit('Dnia x\n')],
    ['Chinese 在 starts', unit('在 x\n')],
    ['"From:" lines and blanks', unit('From: a b\n\n')],
    ['500-char lines of digits/from/<', unit(`${'1234from<'.repeat(56)}\n`)],
    ['500-char lines of " on at"', unit(`${' on at'.repeat(83)}\n`)],
    ['underscore lines', unit('__\n')],
    ['attributions with quotes', unit('On 1 Jan, A <a@b.c> wrote:\n> x\n')],
    ['colons', unit(':\n')],
    ['a phone line, then separator lines', `Sent from my iPhone\n${unit('--\n')}`],
    ['wrapped attribution starts', unit('On 1\n2\n3\n4\n\n5:\n')],
    ['attributions sharing lines with text', unit('reply On Mon 8 Jan 2024 10:02 a@b.c wrote:\n> q\n')],
    ['header labels collapsed into lines', unit('Temat: Nadawca: Adresat: Subject: From: Date: a@b 10:02 ')],
    ['attribution verbs soup', unit('wrote schrieb a écrit skrev napisał 10:02 @ ')],
    ['Polymail-like fragments', unit('On 1 Jan\n> wrote:\n')],
  ];
  it.each(pathological)('finishes on %s (200 000 characters)', (_name, input) => {
    const result = extractVisibleText(input, null, { replyMarker: MARKER });
    expect(typeof result.text).toBe('string');
    expect(result.text.length).toBeLessThanOrEqual(200_000);
  });

  it('reduces deeply nested HTML to text', () => {
    const html = `${'<div>'.repeat(50_000)}deep &amp; down${'</div>'.repeat(50_000)}`;
    expect(extractVisibleText(null, html).text).toBe('deep & down');
  });
});

// ---------------------------------------------------------------------------------------------
// Own cases: common clients
// ---------------------------------------------------------------------------------------------
interface OwnCase {
  readonly name: string;
  readonly text?: string;
  readonly html?: string;
  readonly opts?: VisibleTextOptions;
  readonly expected: VisibleText;
}

const ownTextCases: readonly OwnCase[] = [
  {
    name: 'Gmail "On … wrote:" (CRLF)',
    text: 'Thanks, the update worked.\r\n\r\nOn Mon, Jan 8, 2024 at 10:02 AM Casegate Support <support@example.com> wrote:\r\n\r\n> Hello Jane,\r\n> please install the update.\r\n',
    expected: { text: 'Thanks, the update worked.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'Gmail "On … wrote:" wrapped inside the address',
    text: 'Thanks, the update worked.\n\nOn Mon, Jan 8, 2024 at 10:02 AM Casegate Support <\nsupport@example.com> wrote:\n\n> Hello Jane,\n> please install the update.\n',
    expected: { text: 'Thanks, the update worked.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'Gmail "On … wrote:" wrapped before the address, no blank line around it',
    text: 'Thanks, the update worked.\nOn Mon, Jan 8, 2024 at 10:02 AM Casegate Support\n<support@example.com> wrote:\n> Hello Jane,\n',
    expected: { text: 'Thanks, the update worked.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'Outlook desktop, English, with "Best regards" signature',
    text: 'The printer is on the second floor.\n\nBest regards\nMax Mustermann\nACME Corp.\n\nFrom: Casegate Support <support@example.com>\nSent: Monday, January 8, 2024 10:02 AM\nTo: Max Mustermann <max@example.com>\nSubject: RE: [Case #42] Printer\n\nWhere is the printer?\n',
    expected: { text: 'The printer is on the second floor.', hadQuote: true, hadSignature: true },
  },
  {
    name: 'Outlook desktop, English, underscore line and "[mailto:]" sender',
    text: 'Done.\n________________________________\nFrom: Casegate Support [mailto:support@example.com]\nSent: Monday, January 8, 2024 10:02 AM\nTo: Max\nCc: Team\nSubject: RE: Printer\n\nWhere is it?\n',
    expected: { text: 'Done.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'Outlook desktop, German, with "-----Ursprüngliche Nachricht-----"',
    text: 'Der Drucker steht im 2. OG.\n\nMit freundlichen Grüßen\nMax\n\n-----Ursprüngliche Nachricht-----\nVon: Casegate Support <support@example.com>\nGesendet: Montag, 8. Januar 2024 10:02\nAn: Max <max@example.de>\nBetreff: AW: [Fall #42] Drucker\n\nWo steht der Drucker?\n',
    expected: { text: 'Der Drucker steht im 2. OG.\n\nMit freundlichen Grüßen\nMax', hadQuote: true, hadSignature: false },
  },
  {
    name: '"-----Urspruengliche Nachricht-----" (ue for ü) cuts like "Ursprüngliche"',
    text: 'Der Drucker steht im 2. OG.\n\n-----Urspruengliche Nachricht-----\nWo steht der Drucker?\n',
    expected: { text: 'Der Drucker steht im 2. OG.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'Outlook desktop, German, header block only',
    text: 'Danke!\nVon: Casegate Support\nGesendet: Montag, 8. Januar 2024 10:02\nAn: Max\nBetreff: Drucker\n\nWo?\n',
    expected: { text: 'Danke!', hadQuote: true, hadSignature: false },
  },
  {
    name: 'Outlook, French "De :/Envoyé :/À :/Objet :"',
    text: 'Merci.\n\nDe : Casegate Support <support@example.com>\nEnvoyé : lundi 8 janvier 2024 10:02\nÀ : Max <max@example.fr>\nObjet : Imprimante\n\nOù ?\n',
    expected: { text: 'Merci.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'Apple Mail',
    text: 'Works now, thank you.\n\nOn 8 Jan 2024, at 10:02, Casegate Support <support@example.com> wrote:\n\n> Please try again.\n',
    expected: { text: 'Works now, thank you.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'iOS "Sent from my iPhone"',
    text: 'Yes, that is my order.\n\nSent from my iPhone\n\n> On 8 Jan 2024, at 10:02, Support <support@example.com> wrote:\n>\n> Is this your order?\n',
    expected: { text: 'Yes, that is my order.', hadQuote: true, hadSignature: true },
  },
  {
    name: '"-- " signature delimiter',
    text: 'Short answer: yes.\n-- \nJane Doe\nACME Inc.\n',
    expected: { text: 'Short answer: yes.', hadQuote: false, hadSignature: true },
  },
  {
    name: 'our reply marker inside the quote, attribution above it',
    text: `Please close the case.\n\nOn Mon, Jan 8, 2024 at 10:02 AM Support <support@example.com> wrote:\n\n> ${MARKER}\n>\n> Your case #42 was updated.\n`,
    opts: { replyMarker: MARKER },
    expected: { text: 'Please close the case.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'our reply marker, unquoted and re-spaced by the client',
    text: `Please close the case.\n${MARKER.replaceAll(' ', '\u00a0 ')}\nYour case #42 was updated.\n`,
    opts: { replyMarker: MARKER },
    expected: { text: 'Please close the case.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'our reply marker with nothing written above it',
    text: `${MARKER}\nYour case #42 was updated.\n`,
    opts: { replyMarker: MARKER },
    expected: { text: '', hadQuote: true, hadSignature: false },
  },
  {
    name: 'no quote at all',
    text: 'Hello,\n\nmy order 123 has not arrived yet.   \n\n\n\n\nThanks\n',
    expected: { text: 'Hello,\n\nmy order 123 has not arrived yet.\n\n\nThanks', hadQuote: false, hadSignature: false },
  },
  {
    name: 'empty input',
    text: '',
    expected: { text: '', hadQuote: false, hadSignature: false },
  },
  {
    name: 'whitespace-only input',
    text: ' \r\n\t\n\u200b\n',
    expected: { text: '', hadQuote: false, hadSignature: false },
  },
  {
    name: 'a reply that is nothing but the quote',
    text: 'On Mon, Jan 8, 2024 at 10:02 AM Support <support@example.com> wrote:\n> Is this your order?\n',
    expected: { text: '', hadQuote: true, hadSignature: false },
  },
  {
    name: 'an answer the library hides entirely as a signature is kept',
    text: '> Is this your order?\nRegards,\nJane\n',
    expected: { text: 'Regards,\nJane', hadQuote: true, hadSignature: true },
  },
  {
    name: 'bottom-posting: the answer below the quote is kept',
    text: 'On Mon, Jan 8, 2024 at 10:02 AM Support <support@example.com> wrote:\n> Is this your order?\n\nYes it is.\n',
    expected: { text: 'Yes it is.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'Gmail forward keeps the forwarded message',
    text: 'FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Shop <shop@example.com>\nDate: Mon, Jan 8, 2024 at 9:00 AM\nSubject: Your order\nTo: <jane@example.com>\n\nYour order 123 has shipped.\n',
    expected: {
      text: 'FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Shop <shop@example.com>\nDate: Mon, Jan 8, 2024 at 9:00 AM\nSubject: Your order\nTo: <jane@example.com>\n\nYour order 123 has shipped.',
      hadQuote: false,
      hadSignature: false,
      ownText: 'FYI, see below.',
    },
  },
  {
    name: 'Apple Mail forward with nothing added',
    text: 'Begin forwarded message:\n\nFrom: Shop <shop@example.com>\nSubject: Your order\nDate: 8 January 2024 at 09:00:00 CET\nTo: jane@example.com\n\nYour order 123 has shipped.\n',
    expected: {
      text: 'Begin forwarded message:\n\nFrom: Shop <shop@example.com>\nSubject: Your order\nDate: 8 January 2024 at 09:00:00 CET\nTo: jane@example.com\n\nYour order 123 has shipped.',
      hadQuote: false,
      hadSignature: false,
      ownText: '',
    },
  },
  {
    name: 'Outlook forward with nothing added (header block at the top) is kept',
    text: '-----Original Message-----\nFrom: Shop <shop@example.com>\nSent: Monday, January 8, 2024 9:00 AM\nTo: Jane\nSubject: Your order\n\nYour order 123 has shipped.\n',
    expected: {
      text: '-----Original Message-----\nFrom: Shop <shop@example.com>\nSent: Monday, January 8, 2024 9:00 AM\nTo: Jane\nSubject: Your order\n\nYour order 123 has shipped.',
      hadQuote: false,
      hadSignature: false,
      ownText: '',
    },
  },
  {
    name: 'quoted lines re-wrapped by the client stay in the quote',
    text: 'Fine by me.\n\nOn Mon, Jan 8, 2024 at 10:02 AM Support <support@example.com> wrote:\n> We will replace the device and send you a prepaid label for the old\none, please confirm.\n> Thanks\n',
    expected: { text: 'Fine by me.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'a short inline answer directly between quoted lines is kept',
    text: '> Is the device still under warranty?\nYes.\n> Do you have the receipt?\nNo.\n',
    expected: { text: 'Yes.\n\nNo.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'markdown separators do not swallow the text below',
    text: 'Steps:\n---\n1. open the app\n2. crash\n===\nLogs attached.\n',
    expected: { text: 'Steps:\n---\n1. open the app\n2. crash\n===\nLogs attached.', hadQuote: false, hadSignature: false },
  },
  {
    name: 'a P.S. below a sign-off is the customer\'s, not a signature',
    text: 'Thanks!\n\nBest regards,\nJane\n\nP.S. The serial number is SN-123 on the back.\n\nOn Mon, Jan 8, 2024 at 10:02 AM Support <support@example.com> wrote:\n> Which serial number?\n',
    expected: { text: 'Thanks!\n\nBest regards,\nJane\n\nP.S. The serial number is SN-123 on the back.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'a sign-off followed only by name and contact lines is a signature',
    text: 'Thanks!\n\nRegards,\nJane Doe\nACME Inc.\n+49 30 1234567\n',
    expected: { text: 'Thanks!', hadQuote: false, hadSignature: true },
  },
  {
    name: 'an underscore line with more of the reply below it is kept',
    text: 'First part of my answer.\n\n______________________________\n\nThis is the second part of my answer to you.\n\nJane\n',
    expected: { text: 'First part of my answer.\n\n______________________________\n\nThis is the second part of my answer to you.\n\nJane', hadQuote: false, hadSignature: false },
  },
  {
    name: 'mailing-list footer after an underscore line',
    text: 'See attached.\n\n_______________________________________________\nusers mailing list\nusers@lists.example.org\n',
    expected: { text: 'See attached.', hadQuote: false, hadSignature: true },
  },
];

const ownHtmlCases: readonly OwnCase[] = [
  {
    name: 'HTML-only Gmail reply',
    html: '<div dir="ltr">Thanks, that fixed it!<div><br></div><div>Jane</div></div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Mon, Jan 8, 2024 at 10:02 AM Support &lt;<a href="mailto:support@example.com">support@example.com</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex"><div>Hello Jane,<br>please restart the router.</div></blockquote></div>',
    expected: { text: 'Thanks, that fixed it!\n\n\nJane', hadQuote: true, hadSignature: false },
  },
  {
    name: 'HTML-only Gmail reply with our marker in the quote and a signature',
    html: `<div dir="ltr">Yes, please close it.<br clear="all"><br><span class="gmail_signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature">Jane Doe<br>ACME</div></div><br><div class="gmail_quote"><div class="gmail_attr">On Mon, Jan 8, 2024 Support wrote:</div><blockquote class="gmail_quote"><div>${MARKER}</div><div>Your case was solved.</div></blockquote></div>`,
    opts: { replyMarker: MARKER },
    expected: { text: 'Yes, please close it.', hadQuote: true, hadSignature: true },
  },
  {
    name: 'HTML-only Outlook (web/new) reply: #appendonsend and #divRplyFwdMsg',
    html: '<html><body><div style="font-family:Calibri"><p>The invoice number is 4711.</p></div><div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr"><font face="Calibri" style="font-size:11pt"><b>From:</b> Support &lt;support@example.com&gt;<br><b>Sent:</b> Monday, January 8, 2024 10:02 AM<br><b>To:</b> Max &lt;max@example.de&gt;<br><b>Subject:</b> Re: [Case #12] Invoice</font><div>&nbsp;</div></div><div><p>Hello Max, which invoice?</p></div></body></html>',
    expected: { text: 'The invoice number is 4711.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'HTML-only Outlook desktop reply (German): border-top header block',
    html: '<html><body lang="DE"><div class="WordSection1"><p class="MsoNormal">Hallo,<o:p></o:p></p><p class="MsoNormal">die Rechnung ist angehängt.<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p><div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>Von:</b> Support &lt;support@example.com&gt; <br><b>Gesendet:</b> Montag, 8. Januar 2024 10:02<br><b>An:</b> Max &lt;max@example.de&gt;<br><b>Betreff:</b> AW: Rechnung<o:p></o:p></p></div></div><p class="MsoNormal">Bitte senden Sie die Rechnung.<o:p></o:p></p></div></body></html>',
    expected: { text: 'Hallo,\n\ndie Rechnung ist angehängt.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'HTML-only Apple Mail reply: blockquote type=cite',
    html: '<html><body><div dir="ltr">Works now, thank you.</div><div dir="ltr"><br><blockquote type="cite">On 8. Jan 2024, at 10:02, Support &lt;support@example.com&gt; wrote:<br><br></blockquote></div><blockquote type="cite"><div dir="ltr"><div>Please try again.</div></div></blockquote></body></html>',
    expected: { text: 'Works now, thank you.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'HTML-only Thunderbird reply: moz-cite-prefix',
    html: '<html><body><p>Here is the log you asked for.</p><div class="moz-cite-prefix">On 08.01.24 10:02, Support wrote:<br></div><blockquote type="cite" cite="mid:abc@example.com">Could you send the log?</blockquote></body></html>',
    expected: { text: 'Here is the log you asked for.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'HTML-only inline answers between blockquotes',
    html: '<div>See answers inline.</div><blockquote>Question one?</blockquote><div>Answer one.</div><blockquote>Question two?</blockquote><div>Answer two.</div>',
    expected: { text: 'See answers inline.\n\n\nAnswer one.\n\n\nAnswer two.', hadQuote: true, hadSignature: false },
  },
  {
    name: 'HTML-only Gmail forward keeps the forwarded message',
    html: '<div dir="ltr">FYI, see below.<br><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">---------- Forwarded message ---------<br>From: <strong class="gmail_sendername" dir="auto">Shop</strong> <span dir="auto">&lt;<a href="mailto:shop@example.com">shop@example.com</a>&gt;</span><br>Date: Mon, Jan 8, 2024 at 9:00 AM<br>Subject: Your order<br>To: &lt;jane@example.com&gt;<br></div><br><br><div>Your order 123 has shipped.</div></div></div>',
    expected: {
      text: 'FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Shop <shop@example.com>\nDate: Mon, Jan 8, 2024 at 9:00 AM\nSubject: Your order\nTo: <jane@example.com>\n\n\nYour order 123 has shipped.',
      hadQuote: false,
      hadSignature: false,
      ownText: 'FYI, see below.',
    },
  },
  {
    name: 'HTML-only Apple Mail forward (inside blockquote type=cite) keeps the forwarded message',
    html: '<html><body><div>See this.</div><div><br><blockquote type="cite"><div>Begin forwarded message:</div><br><div><b>From: </b>Shop &lt;shop@example.com&gt;</div><div><b>Subject: </b>Order</div><br><div>Your order 123 has shipped.</div></blockquote></div></body></html>',
    expected: {
      text: 'See this.\n\nBegin forwarded message:\n\nFrom: Shop <shop@example.com>\nSubject: Order\n\nYour order 123 has shipped.',
      hadQuote: false,
      hadSignature: false,
      ownText: 'See this.',
    },
  },
  {
    name: 'HTML-only Outlook forward with nothing added is kept',
    html: '<html><body><div id="appendonsend"></div><hr><div id="divRplyFwdMsg"><b>From:</b> Shop &lt;shop@example.com&gt;<br><b>Sent:</b> Monday<br><b>To:</b> Max<br><b>Subject:</b> Order</div><div>Your order 123 has shipped.</div></body></html>',
    expected: { text: 'From: Shop <shop@example.com>\nSent: Monday\nTo: Max\nSubject: Order\nYour order 123 has shipped.', hadQuote: false, hadSignature: false, ownText: '' },
  },
  {
    name: 'HTML entities, <style>, images and links',
    html: '<html><head><style>p{color:red}</style></head><body><p>5 &gt; 3 &amp; see <a href="https://example.com/x">the page</a> <img src="cid:logo"></p></body></html>',
    expected: { text: '5 > 3 & see the page [https://example.com/x]', hadQuote: false, hadSignature: false },
  },
];

describe('extractVisibleText: own text cases', () => {
  it.each(ownTextCases)('$name', ({ text, html, opts, expected }) => {
    expect(extractVisibleText(text ?? null, html ?? null, opts)).toEqual(expected);
  });
});

describe('extractVisibleText: own HTML cases', () => {
  it.each(ownHtmlCases)('$name', ({ html, opts, expected }) => {
    expect(extractVisibleText(null, html ?? null, opts)).toEqual(expected);
  });
});

describe('extractVisibleText: choosing the part', () => {
  it.each([
    ['text is preferred over HTML', 'text wins', '<p>html loses</p>', 'text wins'],
    ['HTML is used when text is null', null, '<p>html only</p>', 'html only'],
    ['HTML is used when text is blank', ' \n ', '<p>html only</p>', 'html only'],
    ['both null', null, null, ''],
    ['blank HTML', null, ' <br> ', ''],
  ] as const)('%s', (_name, text, html, expected) => {
    expect(extractVisibleText(text, html).text).toBe(expected);
  });
});
