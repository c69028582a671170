import { personAddresses } from '../../cases/staff.js';
import { caseGoingOnAs } from '../../db/repos/case-merge.js';
import { verifyStaffMessageId } from '../../cases/thread-token.js';
import type { AuthJudgement } from '../../mail-in/sender-auth.js';
import { authenticateSender } from '../sender-check.js';
import { plainAddress } from '../../mail-in/header-values.js';
import { need, NEXT, type DecideStage } from '../types.js';

/**
 * Who wrote it, and is the address proven? From, else the envelope sender (else, for a bounce about
 * our mail, MAILER-DAEMON: the null sender). How it is proven is
 * security.senderAuth.mode (docs/how-it-works.md, "Threading and trust"):
 *   none            nothing is checked: auth none for everyone
 *   trusted-header  the Authentication-Results our MX wrote (authservId, within its trusted hops);
 *                   copies claiming our id from further down are ignored
 *   verify          SPF/DKIM/DMARC checked here with mailauth (the SMTP listener is the MX)
 * A forged sender (fail) is stored but never answered; participant rights need pass. Besides, a
 * reply to staff mail we sent to this very address (our recipient-bound Message-ID) proves a staff
 * address for that case whatever the mode (answersStaffMail). A message naming several From
 * addresses is never proven: the authentication results may be for another of them. Form mail
 * (form-mail stage) is the person's in its Reply-To: never proven, forged when the form's is.
 */
export const senderStage: DecideStage = {
  name: 'sender',
  async run(msg, ctx) {
    const parsed = need(msg.notes.parsed, 'parsed');
    const form = msg.notes.form ?? null;
    if (form?.kind === 'unusable') {
      // Someone filled in a form (or wrote through our group), and nobody could be answered.
      const what = form.how === 'form' ? `form mail from ${form.via} (mailboxes[].formSenders)` : `mail our group ${form.via} relayed with its From rewritten`;
      return { end: 'quarantined', reason: `${what} that names nobody to answer: ${form.why}` };
    }
    if (form !== null) {
      // The form's own sender may be authenticated; the person it names is not (they typed it).
      const formAuth = await authenticateSender(msg, ctx, form.via);
      const forged = formAuth.verdict === 'fail';
      msg.notes.sender = {
        address: form.person.address,
        name: form.person.name,
        auth: forged ? 'fail' : 'none',
        verified: !forged,
        why: `${form.how === 'form' ? `Reply-To of form mail from ${form.via} (mailboxes[].formSenders)` : `the writer ${form.how === 'group' ? 'our group' : 'the list'} ${form.via} named when it rewrote the From`}, an address nobody proved; the ${form.how}'s sender: ${formAuth.why}`,
        answersStaffMail: [],
      };
      return NEXT;
    }
    let address = parsed.from?.address ?? null;
    let name = parsed.from?.name ?? '';
    let why = 'From header';
    if (address === null) {
      const env = plainAddress(msg.arrival.envelopeFrom ?? parsed.returnPath ?? '');
      if (env !== null) {
        address = env;
        name = '';
        why = 'envelope sender (no usable From)';
      }
    }
    if (address === null && msg.notes.bounce != null) {
      // A bounce about our mail from the null sender with no From address ("Barracuda" <>): the
      // mail system wrote it, and the name mail systems give the null sender is MAILER-DAEMON.
      address = 'MAILER-DAEMON';
      why = 'null sender of a bounce (no From address)';
    }
    if (address === null) return { end: 'quarantined', reason: 'no sender address (From missing or unusable, no envelope sender)' };
    // Several From addresses: whatever our MX (or mailauth) authenticated may be another of them.
    const several = parsed.from !== null && parsed.fromCount > 1;
    const checked = await authenticateSender(msg, ctx, address);
    const auth: AuthJudgement =
      several && checked.verdict === 'pass' ? { verdict: 'none', why: `${checked.why}, but the message names ${parsed.fromCount} From addresses: nothing proves it is ${address}` } : checked;
    // Staff mail we sent to any address of this person (an agent writing from an alias answers
    // mail we sent to their configured address).
    const own = personAddresses(ctx.config, address);
    const signed = several ? [] : [...new Set([...parsed.inReplyTo, ...parsed.references].flatMap((id) => own.map((a) => verifyStaffMessageId(id, ctx.secret, a))).filter((n) => n !== null))];
    // Staff mail about a case merged since proves the agent for the case it goes on as (where a
    // reference to it leads): a colleague's #merge must not turn their answer into a stranger's.
    const goingOn = signed.length > 0 ? await Promise.all(signed.map((n) => caseGoingOnAs(ctx.db, n))) : [];
    const answersStaffMail = [...new Set([...signed, ...goingOn.flatMap((c) => (c !== undefined ? [c.number] : []))])];
    const proof = signed.length > 0 ? `; answers our staff mail to ${address} (case ${signed.join(', ')}${answersStaffMail.length > signed.length ? `, going on as ${answersStaffMail.filter((n) => !signed.includes(n)).join(', ')}` : ''})` : '';
    msg.notes.sender = { address, name, auth: auth.verdict, verified: auth.verdict !== 'fail', why: `${why}; ${auth.why}${proof}`, answersStaffMail };
    return NEXT;
  },
};
