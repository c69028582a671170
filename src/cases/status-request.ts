/**
 * A customer asking only where their case stands: "status", "Status?", "?" (German "Stand?"),
 * optionally followed by one short line (their name). Pure.
 */
const QUESTION = /^(?:\?+|(?:status|stand|state)\s*[?!.]*)$/i;

export function isStatusRequest(writtenText: string): boolean {
  const lines = writtenText
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length === 0 || lines.length > 2) return false;
  if (!QUESTION.test(lines[0]!)) return false;
  return lines.length === 1 || (lines[1]!.length <= 40 && !/[?]/.test(lines[1]!));
}
