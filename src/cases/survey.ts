import type { Transaction } from 'kysely';
import type { AppContext } from '../context.js';
import { addEvent } from '../db/repos/events.js';
import { lockCaseById } from '../db/repos/cases.js';
import { claim, setClaimOutbox } from '../db/repos/jobs.js';
import { saveSurvey, surveyOfCase } from '../db/repos/surveys.js';
import type { CaseRow, Database } from '../db/schema.js';
import { commonData, queueEmail, requesterOf } from '../mail-out/compose.js';
import { recipientRefusal } from '../mail-out/recipient-refusal.js';
import { SURVEY_MAX, SURVEY_MIN } from '../web/links.js';

/**
 * Satisfaction answers (issue 11): a rating 1–5 from the survey page (opened by a rating link) or an email
 * reply whose first line holds a digit or words ("great", "poor"; English and German), plus an
 * optional comment. One answer per case: a second rating replaces the first, comments are kept
 * (each appended). The first rating is thanked with the survey-thanks email, once per case.
 */

export interface SurveyAnswer {
  readonly rating: number | null;
  readonly comment: string;
}

/** Words on the first line → rating; longest phrases first. */
const WORDS: readonly (readonly [RegExp, number])[] = [
  [/^(very\s+bad|very\s+poor|sehr\s+schlecht|terrible|awful|horrible|furchtbar|schrecklich|miserabel|katastrophal|ungenügend)\b/i, 1],
  [/^(very\s+good|sehr\s+gut|excellent|great|awesome|outstanding|perfect|fantastic|amazing|super|ausgezeichnet|hervorragend|toll|klasse|spitze|perfekt|top)\b/i, 5],
  [/^(not\s+good|nicht\s+gut|poor|bad|schlecht|mangelhaft|enttäuschend)\b/i, 2],
  [/^(good|gut|nice|schön|prima)\b/i, 4],
  [/^(ok|okay|fine|average|alright|so\s+lala|geht\s+so|mittel|mittelmäßig|befriedigend|in\s+ordnung)\b/i, 3],
];

/**
 * A rating stands alone: what follows it on its line is nothing, punctuation or a dash before a
 * comment ("Great!", "4 – fast", "Good, thanks"), or a word or two ("OK I guess"). A word that
 * goes on into a sentence is no rating: "Good morning, the problem is back", "Super slow since
 * your fix", "1 more thing: it is broken again".
 */
function endsRating(rest: string): boolean {
  if (/^\s*(?:$|[!.,;:)\-\u2013\u2014]|\p{Extended_Pictographic})/u.test(rest)) return true;
  // A short line may end in a word or two ("OK I guess"), but not a greeting ("Good morning").
  return rest.trim().split(/\s+/).length <= 2 && !/^\s*(?:morning|afternoon|evening|day|night|news)\b/i.test(rest);
}

/**
 * Whether a reply to the survey asks for no more surveys: its first non-empty line is only
 * "unsubscribe", "stop", "no more surveys", "abmelden", "keine Umfragen mehr" … (English and German).
 */
export function isUnsubscribeReply(text: string): boolean {
  const first = text.replace(/\r\n?/g, '\n').split('\n').find((l) => l.trim() !== '') ?? '';
  return /^(?:please\s+|bitte\s+)?(?:unsubscribe(?:\s+me)?|stop|remove\s+me|no\s+more\s+surveys?|abmelden|austragen|keine\s+(?:weiteren\s+)?umfragen(?:\s+mehr)?)(?:\s*,?\s*(?:please|bitte|thanks?|danke))?[\s.!]*$/i.test(first.trim());
}

/** The rating and comment in a reply's new text (the first non-empty line holds the rating). */
export function parseSurveyReply(text: string): SurveyAnswer {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) return { rating: null, comment: '' };
  const line = (lines[first] ?? '').trim();
  const rest = lines.slice(first + 1).join('\n').trim();
  let rating: number | null = null;
  let after = line;
  // "5", "4/5", "4 of 5", "4 von 5", "Rating: 4", "Bewertung 4 – schnell", "★★★★".
  const digit = /^(?:(?:rating|note|bewertung|score)\s*[:=]?\s*)?([1-9]\d*)(?:\s*(?:\/|of|von|out of)\s*5)?(?!\d|[.,]\d)(?:\s*(?:stars?|sterne?|points?|punkte?))?\b/i.exec(line);
  const stars = /^([★⭐]{1,5})/u.exec(line);
  if (digit !== null) {
    const n = Number(digit[1]);
    if (n >= SURVEY_MIN && n <= SURVEY_MAX && endsRating(line.slice(digit[0].length))) {
      rating = n;
      after = line.slice(digit[0].length);
    }
  } else if (stars !== null) {
    rating = [...(stars[1] ?? '')].length;
    after = line.slice(stars[0].length);
  } else {
    for (const [re, value] of WORDS) {
      const m = re.exec(line);
      if (m !== null) {
        if (endsRating(line.slice(m[0].length))) {
          rating = value;
          after = line.slice(m[0].length);
        }
        break;
      }
    }
  }
  if (rating === null) return { rating: null, comment: text.trim() };
  const tail = after.replace(/^[\s!.,;:\-–—)]+/, '').trim();
  return { rating, comment: [tail, rest].filter((s) => s !== '').join('\n') };
}

export interface RecordedAnswer {
  readonly rating: number | null;
  readonly comment: string;
  readonly change: 'rated' | 'rerated' | 'comment' | 'nothing';
  readonly thanked: boolean;
}

/**
 * Store an answer on the case (in the caller's transaction) and thank the first rating. An answer
 * that changes nothing — the rating the case has (or none) and no comment or the comment last
 * kept — records nothing: the survey form sent twice (a double click on Save, a browser sending
 * it again) kept its comment twice and wrote two events. The case is locked first (PostgreSQL),
 * so two saves at once are one after the other and neither loses the other's comment.
 */
export async function recordSurveyAnswer(
  trx: Transaction<Database>,
  ctx: AppContext,
  caseRow: CaseRow,
  answer: SurveyAnswer,
  o: { readonly source: 'web' | 'email'; readonly actor: string; readonly messageRowId?: number | null },
): Promise<RecordedAnswer> {
  const now = ctx.clock.now().toISOString();
  await lockCaseById(trx, caseRow.id);
  const before = await surveyOfCase(trx, caseRow.id);
  const comment = answer.comment.trim().slice(0, 5000);
  const kept = before?.comment ?? '';
  const sameRating = answer.rating === null || answer.rating === before?.rating;
  const sameComment = comment === '' || kept === comment || kept.endsWith(`\n\n${comment}`);
  if (sameRating && sameComment) return { rating: before?.rating ?? null, comment: kept, change: 'nothing', thanked: false };
  const rating = answer.rating ?? before?.rating ?? null;
  const comments = [before?.comment ?? '', comment].filter((c) => c !== '').join('\n\n');
  await saveSurvey(trx, {
    case_id: caseRow.id,
    rating,
    comment: comments,
    source: o.source,
    rated_at: answer.rating !== null ? now : (before?.rated_at ?? null),
    created_at: before?.created_at ?? now,
    updated_at: now,
  });
  const change: RecordedAnswer['change'] = answer.rating === null ? 'comment' : before?.rating != null ? 'rerated' : 'rated';
  const type = change === 'rated' ? 'survey.rated' : change === 'rerated' ? 'survey.rerated' : 'survey.comment';
  const reason =
    change === 'comment'
      ? `comment by ${o.source}`
      : `rating ${answer.rating} of ${SURVEY_MAX} by ${o.source}${change === 'rerated' ? ` (was ${before?.rating})` : ''}${comment !== '' ? ', with a comment' : ''}`;
  await addEvent(trx, { caseId: caseRow.id, messageRowId: o.messageRowId ?? null, type, actor: o.actor, reason, data: { rating: answer.rating, source: o.source, comment }, at: now });

  let thanked = false;
  if (rating !== null) {
    const claimId = await claim(trx, 'survey-thanks', caseRow.id, 'thanks', now);
    const to = requesterOf(caseRow);
    const refusal = claimId === null ? 'thanked before' : await recipientRefusal(ctx, trx, to.address);
    if (claimId !== null && refusal === null) {
      const mailbox = ctx.mailboxes.ofCase(caseRow);
      const outboxId = await queueEmail(trx, ctx, {
        caseRow,
        mailbox,
        kind: 'survey-thanks',
        to,
        autoReply: o.source === 'email',
        generated: o.source === 'web',
        inReplyTo: null,
        references: [],
        data: { ...commonData(ctx, caseRow, mailbox, to), survey: { rating, max: SURVEY_MAX, comment: comments } },
      });
      await setClaimOutbox(trx, claimId, outboxId);
      thanked = true;
    }
  }
  ctx.log.info({ caseId: caseRow.id, caseNumber: caseRow.number, rating, change, source: o.source, thanked }, 'survey answer recorded');
  return { rating, comment: comments, change, thanked };
}
