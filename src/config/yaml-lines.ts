import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, YAMLParseError } from 'yaml';

/**
 * The configuration file's YAML with the line of every key, so that a problem reported at a key
 * path ("mailboxes.18.addresses.0") also names the line to open — in a file of 25 mailboxes,
 * counting to the 19th entry is where an admin goes wrong.
 */
export interface ReadYaml {
  readonly value: unknown;
  /** The line (1-based) of the deepest part of a dotted key path the file has, or null. */
  lineOf(path: string): number | null;
}

/** Parse a YAML text; a syntax error throws with its line and, where it helps, a hint. */
export function readYaml(text: string): ReadYaml {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter });
  const error = doc.errors[0];
  if (error !== undefined) throw new Error(syntaxMessage(error, text));
  const line = (offset: number): number => counter.linePos(offset).line;
  return {
    value: doc.toJS() as unknown,
    lineOf(path) {
      if (path === '') return null;
      let node: unknown = doc.contents;
      let found: number | null = null;
      for (const key of path.split('.')) {
        if (isSeq(node)) {
          node = node.items[Number(key)];
          if (isNode(node) && node.range !== undefined && node.range !== null) found = line(node.range[0]);
        } else if (isMap(node)) {
          const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === key);
          if (pair === undefined) break;
          // A key's own line (a block value starts on the next one).
          if (isNode(pair.key) && pair.key.range !== undefined && pair.key.range !== null) found = line(pair.key.range[0]);
          node = pair.value;
        } else break;
      }
      return found;
    },
  };
}

function syntaxMessage(err: YAMLParseError, text: string): string {
  const at = err.linePos?.[0]?.line;
  const source = at !== undefined ? (text.split('\n')[at - 1] ?? '') : '';
  // "auth: { user: x, password: ${IMAP_PW} }": in a { … } or [ … ] list the $ starts a plain word
  // and the { of ${ opens a map — YAML's own words for it ("Unexpected flow-map-start") do not say so.
  const hint = /[{[][^}\]]*(?<!["'])\$\{/.test(source) ? ' — a ${NAME} inside { … } or [ … ] must be quoted: password: "${IMAP_PW}"' : '';
  const cut = err.message.indexOf('\n');
  const [head, frame] = cut < 0 ? [err.message, ''] : [err.message.slice(0, cut).replace(/:$/, ''), err.message.slice(cut)];
  return `YAML syntax error at line ${at ?? '?'}: ${head}${hint}${frame}`;
}
