import type { AppContext } from '../context.js';
import type { CaseRow } from '../db/schema.js';
import { commonData, mailZone, requesterOf } from '../mail-out/compose.js';
import type { SavedReplyData } from '../mail-out/template-data.js';
import type { RenderTarget } from '../mail-out/templates.js';
import type { TextLine } from './agent-commands.js';

/**
 * Saved replies (Zammad's text modules, Help Scout's saved replies): Handlebars files
 * replies/<name>.text.hbs in the template folder, with its language and queue folders (the most
 * specific wins). An agent writes "#saved <name>" on a line of its own — by email or in
 * `casegate cases reply --message`, or `--saved <name>` — and the reply goes on with the saved
 * reply's text at that place, written for the case (its language and queue, its customer, the
 * agent's name); the agent's own text stays around it.
 *
 * The text is filled in after the commands were read (agent-commands.ts keeps a "#saved" line as a
 * place in the text) and is never read for commands: a saved reply, or customer text it shows
 * ({{case.subject}}, {{customer.name}}), cannot act on a case.
 */

/** Whom and for which case a saved reply is written. */
export interface SavedFor {
  readonly caseRow: CaseRow;
  /** The queue the reply goes out from (a #queue in the same mail moves the case first). */
  readonly queue: string;
  /** The agent's display name ("" when unknown). */
  readonly agentName: string;
}

function targetOf(ctx: Pick<AppContext, 'config'>, f: SavedFor): RenderTarget {
  return { language: f.caseRow.language, queue: f.queue, zone: mailZone(ctx.config, 'agent-reply', f.queue) };
}

/** The data of a saved reply: the agent-reply's (compose.ts), less what it leaves out (template-data.ts). */
function savedReplyData(ctx: AppContext, f: SavedFor): SavedReplyData {
  const caseRow = { ...f.caseRow, queue: f.queue };
  const { instance, mailbox, case: c, customer } = commonData(ctx, caseRow, ctx.mailboxes.ofCase(caseRow), requesterOf(caseRow));
  return { instance, mailbox, case: c, customer, agent: { name: f.agentName }, reopenDays: ctx.config.cases.reopenWindowDays };
}

/** The saved replies a case can use (sorted names). */
export function savedReplyNames(ctx: Pick<AppContext, 'config' | 'templates'>, f: Pick<SavedFor, 'caseRow' | 'queue'>): string[] {
  return ctx.templates.savedReplies(targetOf(ctx, { ...f, agentName: '' }));
}

export interface Expanded {
  /** The text with every "#saved" line replaced by its saved reply, trimmed. */
  readonly text: string;
  /** Names no saved reply of the case has: nothing may be sent then. */
  readonly errors: { line: string; why: string }[];
  /** The saved replies used, in order. */
  readonly used: string[];
}

/** Fill the "#saved" lines of an agent's text with their saved replies, rendered for the case. */
export function expandSavedReplies(ctx: AppContext, f: SavedFor, lines: readonly TextLine[]): Expanded {
  const errors: { line: string; why: string }[] = [];
  const used: string[] = [];
  if (lines.every((l) => typeof l === 'string')) return { text: (lines as string[]).join('\n').trim(), errors, used };
  const target = targetOf(ctx, f);
  const data = savedReplyData(ctx, f);
  const out = lines.map((l) => {
    if (typeof l === 'string') return l;
    const text = ctx.templates.renderSavedReply(l.saved, data, target);
    if (text === null) {
      const names = ctx.templates.savedReplies(target);
      errors.push({ line: l.line, why: `there is no saved reply "${l.saved}" for case ${f.caseRow.number} (${names.length > 0 ? `saved replies: ${names.join(', ')}` : 'none are set up: replies/<name>.text.hbs in the template folder'})` });
      return l.line;
    }
    used.push(l.saved);
    return text;
  });
  return { text: out.join('\n').trim(), errors, used };
}
