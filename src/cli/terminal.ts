/**
 * Text from mail is hostile: an ESC sequence in a subject could recolour, retitle or rewrite the
 * agent's terminal. Everything the CLI prints from mail goes through these: C0 controls become
 * their visible control pictures (ESC → ␛), C1 controls, DEL and bidirectional overrides become
 * U+FFFD. Only newlines and tabs survive, and only in multi-line text.
 */

// eslint-disable-next-line no-control-regex
const C0 = /[\u0000-\u0008\u000b-\u001f]/g;
// eslint-disable-next-line no-control-regex
const OTHER = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Multi-line text (message bodies): keeps \n and \t. */
export function safeText(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    .replace(C0, (c) => String.fromCharCode(0x2400 + c.charCodeAt(0)))
    .replace(OTHER, '\ufffd');
}

/** One line (subjects, names, table cells): newlines and tabs become spaces. */
export function safeLine(s: string): string {
  return safeText(s).replace(/[\n\t]+/g, ' ');
}

/** Cut to `width` characters (code points), with … when cut; padded to `width` when `pad`. */
export function fit(s: string, width: number, pad = true): string {
  const chars = Array.from(s);
  if (chars.length > width) return width <= 1 ? chars.slice(0, width).join('') : chars.slice(0, width - 1).join('') + '…';
  return pad ? s + ' '.repeat(width - chars.length) : s;
}

/** The width to format for: --width, else the terminal's columns, else unlimited (pipes, files). */
export function outputWidth(option: number | undefined): number | null {
  if (option !== undefined) return option;
  return process.stdout.isTTY === true && (process.stdout.columns ?? 0) > 0 ? process.stdout.columns : null;
}
