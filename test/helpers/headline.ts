/**
 * Where an email says what it is about: its subject and the first four lines of its text (reply
 * marker, greeting, what happened). Every customer email of a case has the same subject
 * ("[Case #N] Re: <subject>"), so tests tell them apart by this headline.
 */
export function headline(parsed: { subject?: string | undefined; text?: string | undefined }): string {
  const lines = (parsed.text ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return [parsed.subject ?? '', ...lines.slice(0, 4)].join('\n');
}
