import { endsWithSignature } from './signature.js';

/**
 * An agent's reply as they wrote it in their mail client usually has its own greeting ("Hi
 * Jane,") and sign-off ("Best, Ben"); the agent-reply template then leaves out its own, so the
 * customer never reads two. Pure.
 */
const GREETING = /^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|hallo|guten (?:tag|morgen|abend)|liebe[rs]?|sehr geehrte[rs]?|moin|servus|grüß gott)\b/i;
const SIGN_OFF = /^(?:best|regards|kind regards|best regards|warm regards|cheers|thanks|thank you|many thanks|sincerely|yours|viele grüße|mit freundlichen grüßen|beste grüße|freundliche grüße|liebe grüße|lg|mfg|gruß|grüße)\b/i;

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** The text opens with a greeting line of its own. */
export function hasOwnGreeting(text: string): boolean {
  const first = lines(text)[0];
  return first !== undefined && first.length <= 60 && GREETING.test(first);
}

/**
 * One of the last three lines is a sign-off ("Best,", "Kind regards, Ben", "Viele Grüße"), or the
 * text ends with the agent's own name on a line of its own ("Ben", "Ben Agent", "– Ben"): a phone's
 * short "Please restart.\nBen" must not get the template's "Kind regards, Ben Agent" below it.
 */
export function hasOwnSignOff(text: string, agentName = ''): boolean {
  const all = lines(text);
  if (all.length <= 1) return false;
  if (all.slice(-3).some((l) => l.length <= 40 && SIGN_OFF.test(l))) return true;
  // A signature block below the text ("Benjamin Adams / Senior Support Engineer / T: +44 …", "Best, B."): signature.ts.
  if (endsWithSignature(text, agentName)) return true;
  const name = agentName.trim().replace(/\s+/g, ' ').toLowerCase();
  if (name === '') return false;
  const last = all[all.length - 1]!.replace(/^[-–—~\s]+/, '').replace(/\s+/g, ' ').toLowerCase();
  return last === name || last === name.split(' ')[0];
}
