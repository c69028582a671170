/**
 * Property-style checks of the promise "never lose a customer's words", on generated messages
 * (seeded, so a failure is reproducible: the seed and the input are in the assertion message).
 */
import { describe, expect, it } from 'vitest';
import { extractVisibleText } from '../../src/mail-in/visible-text.js';

const MARKER = '##- Please type your reply above this line -##';

/** mulberry32: a small deterministic PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T,>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)] as T;

// Ordinary words in several languages (no signature words, no attribution verbs, no header labels).
const WORDS = [
  'the', 'invoice', 'printer', 'is', 'broken', 'since', 'Monday', 'order', '4711', 'please', 'check', 'again', 'login',
  'fails', 'with', 'error', 'E-219', 'die', 'Rechnung', 'ist', 'falsch', 'und', 'der', 'Drucker', 'la', 'facture',
  'est', 'fausse', 'et', 'le', 'serveur', 'tombe', 'el', 'pedido', 'no', 'llega', 'счёт', 'неверный', '请求', '失败',
  'version', '4.2', '10:30', '3', 'May', 'https://example.com/x', 'user@example.net', '(see', 'attachment)', '-5',
  '"quoted"', 'café', 'Grüße?', 'ok!', '42%', 'x=1', 'a/b', 'On', 'Le', 'Am', 'From', 'To', 'Date',
];
const ENDINGS = ['', '.', '!', '?', ',', ';', ' :)', '...'];

function sentence(r: () => number): string {
  const n = 1 + Math.floor(r() * 12);
  const words: string[] = [];
  for (let i = 0; i < n; i += 1) words.push(pick(r, WORDS));
  return words.join(' ') + pick(r, ENDINGS);
}

function paragraph(r: () => number): string[] {
  const lines: string[] = [];
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i += 1) {
    const kind = r();
    if (kind < 0.1) lines.push(`- ${sentence(r)}`);
    else if (kind < 0.15) lines.push(`  ${sentence(r)}`);
    else if (kind < 0.18) lines.push(`${1 + i}. ${sentence(r)}`);
    else lines.push(sentence(r));
  }
  return lines;
}

/** A message of 1–5 paragraphs without any quote marker, attribution, header block or signature. */
function plainMessage(r: () => number): string {
  const parts: string[] = [];
  const n = 1 + Math.floor(r() * 5);
  for (let i = 0; i < n; i += 1) parts.push(paragraph(r).join('\n'));
  return parts.join(pick(r, ['\n\n', '\n\n\n', '\n']));
}

/** What the module promises to keep: trailing spaces trimmed, at most two blank lines in a row, outer blank lines dropped. */
function asVisible(raw: string): string {
  return raw
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .replace(/\n{4,}/g, '\n\n\n')
    .replace(/^\n+|\n+$/g, '');
}

const ATTRIBUTIONS = [
  'On Mon, Jan 8, 2024 at 10:02 AM Example Support <support@example.com> wrote:',
  'Am Mo., 8. Jan. 2024 um 10:02 Uhr schrieb Example Support <support@example.com>:',
  'Le lun. 8 janv. 2024 à 10:02, Example Support <support@example.com> a écrit :',
  'El lun, 8 ene 2024 a las 10:02, Example Support (<support@example.com>) escribió:',
  'Op ma 8 jan 2024 om 10:02 schreef Example Support <support@example.com>:',
  'Den mån 8 jan. 2024 kl 10:02 skrev Example Support <support@example.com>:',
  'On 8 Jan 2024, at 10:02, Example Support <support@example.com> wrote:',
  'Example Support <support@example.com> 于2024年1月8日周一 10:02写道：',
];

function quoteBlock(r: () => number): string {
  const lines = [`> ${MARKER}`, '>'];
  for (const line of paragraph(r)) lines.push(`> ${line}`);
  lines.push('>', `> ${sentence(r)}`);
  return lines.join('\n');
}

const SEEDS = Array.from({ length: 300 }, (_v, i) => i + 1);

describe('never lose a customer\'s words (generated messages)', () => {
  it.each(SEEDS)('a message without quote markers is kept whole (seed %i)', (seed) => {
    const input = plainMessage(rng(seed));
    const result = extractVisibleText(input, null, { replyMarker: MARKER });
    expect(result.text, `seed ${seed}:\n${input}`).toBe(asVisible(input));
    expect(result.hadQuote).toBe(false);
  });

  it.each(SEEDS)('a top-posted reply survives whole above any attribution and quote (seed %i)', (seed) => {
    const r = rng(seed * 7919);
    const reply = plainMessage(r);
    const input = `${reply}\n\n${pick(r, ATTRIBUTIONS)}\n\n${quoteBlock(r)}\n`;
    const result = extractVisibleText(input, null, { replyMarker: MARKER });
    expect(result.text, `seed ${seed}:\n${input}`).toBe(asVisible(reply));
    expect(result.hadQuote).toBe(true);
  });

  it.each(SEEDS)('a bottom-posted reply survives whole below the quote (seed %i)', (seed) => {
    const r = rng(seed * 104729);
    const reply = plainMessage(r);
    const input = `${pick(r, ATTRIBUTIONS)}\n${quoteBlock(r)}\n\n${reply}\n`;
    const result = extractVisibleText(input, null, { replyMarker: MARKER });
    expect(result.text, `seed ${seed}:\n${input}`).toBe(asVisible(reply));
  });

  it.each(SEEDS.slice(0, 100))('every non-quoted line of an inline reply survives, in order (seed %i)', (seed) => {
    const r = rng(seed * 15485863);
    const answers: string[] = [];
    const parts = [pick(r, ATTRIBUTIONS)];
    const n = 1 + Math.floor(r() * 4);
    for (let i = 0; i < n; i += 1) {
      parts.push(quoteBlock(r));
      const answer = paragraph(r).join('\n');
      answers.push(answer);
      parts.push(answer);
    }
    const input = parts.join('\n\n');
    const visible = extractVisibleText(input, null, { replyMarker: MARKER }).text.split('\n');
    const wanted = answers.join('\n').split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
    const got = visible.filter((l) => l.trim() !== '');
    expect(got, `seed ${seed}:\n${input}`).toEqual(wanted);
  });
});

describe('arbitrary input: the module finishes and invents nothing', () => {
  const ALPHABET = ['>', '> ', ':', '-', '--', '__', '=', '@', '<', '>', ' ', ' ', '\n', '\n', '\n\n', 'a', 'On ', 'wrote:', 'From: ', 'Sent: ', '1', '10:02', '2024', '|', '*', '\t', 'é', '写道', '\r\n', '-----Original Message-----', MARKER];
  it.each(SEEDS.slice(0, 60))('random soup (seed %i)', (seed) => {
    const r = rng(seed * 31337);
    let input = '';
    while (input.length < 20_000) input += pick(r, ALPHABET);
    const result = extractVisibleText(input, null, { replyMarker: MARKER });
    const inputWords = new Set(input.split(/\s+/));
    for (const word of result.text.split(/\s+/)) {
      if (word !== '') expect(inputWords.has(word) || input.includes(word), `seed ${seed}: "${word}"`).toBe(true);
    }
  });
});
