/**
 * Is it a bounce (or a feedback report)? The evidence, most specific first:
 *
 *  1. multipart/report: report-type delivery-status → bounce, feedback-report → feedback-report,
 *     disposition-notification → a read receipt (an automatic response, RFC 8098: auto-reply).
 *  2. A message/delivery-status part; a feedback part or a returned message carrying Microsoft's
 *     complaint header (JMRP) → feedback-report; an Amazon SES notification delivered by SNS
 *     (bounce / complaint / delivery); a MAILER-DAEMON sender (From, Sender or Return-Path);
 *     X-Failed-Recipients; Exchange's X-MS-Exchange-Message-Is-Ndr.
 *  3. A postmaster sender only together with a sign of a bounce (bounce subject or wording, a
 *     returned message, the null sender): people write from postmaster@ too.
 *  4. A bounce subject or bounce wording together with a weak signal (empty Return-Path, no From
 *     address, a returned message part in a mail that is not a forward; Auto-Submitted only
 *     confirms wording that only mail systems use, since shops set it on "your parcel could not
 *     be delivered" notices).
 * Bounces are checked before auto-reply headers because most MTAs also set
 * "Auto-Submitted: auto-replied" on their bounces.
 */
import type { AutomatedVerdict } from './automated.js';
import { bodyText, headerSection, isDsnType, isReturnedMessageType, SCAN_LIMIT } from './mail-text.js';
import { header, type ParsedMail } from './parsed-mail.js';
import { daemonSender } from './sender-roles.js';
import { sesNotification } from './ses-notification.js';

export function reportTypeVerdict(mail: ParsedMail): AutomatedVerdict | null {
  if (mail.contentType.toLowerCase() !== 'multipart/report') return null;
  const type = (mail.reportType ?? '').toLowerCase();
  const reason = `multipart/report; report-type=${type}`;
  switch (type) {
    case 'delivery-status':
    case 'global-delivery-status':
      return { kind: 'bounce', reason };
    case 'feedback-report':
      return { kind: 'feedback-report', reason };
    case 'disposition-notification':
    case 'global-disposition-notification':
      return { kind: 'auto-reply', reason: `read receipt (${reason})` };
    default:
      return null;
  }
}

/** Subjects MTAs give their bounces and delay warnings (checked at the start of the subject). */
const BOUNCE_SUBJECT = new RegExp(
  // Barracuda wraps its subject in asterisks: "**Message you sent blocked by our bulk email filter**".
  '^(?:\\[[^\\]]{0,40}\\]\\s*)?[*\\s]*(?:' +
    [
      'undeliver',
      'undelivered mail',
      'non[- ]?deliver',
      'delivery (?:status notification|failure|failed|notification|status|has failed|problem)',
      'mail delivery (?:failed|failure|system|subsystem|status)',
      'delivery status notification',
      'returned mail',
      'mail returned',
      'returning message to sender',
      'failure notice',
      'failed delivery',
      'failure delivery',
      'permanent delivery failure',
      'message (?:delivery has failed|not delivered|could not be delivered|undeliverable)',
      'mail could not be delivered',
      'could not send (?:message|mail)',
      'warning: (?:message .{0,80} delayed|could not send)',
      'delayed mail',
      'mail system error',
      'email delivery failure',
      'mail failure',
      'there was an error sending your mail',
      'delivery failure',
      '[^:]{0,60} mail delivery failed',
      'message you sent (?:was |has been )?blocked by',
    ].join('|') +
    ')',
  'i',
);

/** Phrases only mail systems write (plain-text bounces without a DSN part). */
const MTA_BOUNCE_TEXT = new RegExp(
  [
    '^[ \\t]*final-recipient[ \\t]*:',
    'this is the mail system at host',
    'this message was created automatically by mail delivery software',
    'this is the qmail-send program',
    'delivery to the following recipients? (?:has )?failed',
    'could not be delivered to one or more (?:of its )?recipients',
    'the following address(?:\\(es\\)|es)? (?:had permanent fatal errors|failed)',
    'i\'m afraid i wasn\'t able to deliver',
    'delivery has failed to these recipients',
    'there was an error delivering your mail',
    'transcript of session follows',
    'unable to deliver (?:your|the) message to the following',
    // Barracuda's spam firewall, in text without a delivery-status part.
    'was blocked by (?:our|the) (?:barracuda )?spam firewall',
    'the e-?mail you sent with the following subject has not been delivered',
  ].join('|'),
  'im',
);

/** Phrases that also occur in ordinary notifications ("your parcel could not be delivered to"). */
const GENERIC_BOUNCE_TEXT = new RegExp(
  [
    'your (?:message|mail|e-?mail) (?:could not|couldn\'t|cannot|can\'t|was not|wasn\'t) (?:be )?delivered',
    'could not be delivered to',
    'unable to deliver (?:your|the) message',
    'message could not be delivered',
    'undeliverable message',
    'returned mail: ',
    'mail delivery failed',
    'delivery status notification',
  ].join('|'),
  'im',
);

const FORWARD_OR_REPLY_SUBJECT = /^\s*(?:re|fwd?|aw|wg|tr|rv|sv|vs|antw|odp|res|enc)\s*(?:\[\d+\])?\s*:/i;

export function bounceVerdict(mail: ParsedMail): AutomatedVerdict | null {
  if (mail.reportParts.some((p) => isDsnType(p.contentType))) {
    return { kind: 'bounce', reason: 'message/delivery-status part' };
  }
  if (mail.reportParts.some((p) => p.contentType.toLowerCase() === 'message/feedback-report')) {
    return { kind: 'feedback-report', reason: 'message/feedback-report part' };
  }
  if (mail.reportParts.some((p) => isReturnedMessageType(p.contentType) && /^x-hmxmroriginalrecipient\s*:/im.test(headerSection(p.content)))) {
    return { kind: 'feedback-report', reason: 'returned message with X-HmXmrOriginalRecipient' };
  }
  const ses = sesNotification(mail);
  if (ses !== null) {
    const reason = `Amazon SES ${ses.type} notification`;
    if (ses.type === 'bounce') return { kind: 'bounce', reason };
    if (ses.type === 'complaint') return { kind: 'feedback-report', reason };
    return { kind: 'auto-generated', reason };
  }
  const daemon = daemonSender(mail);
  // Nobody writes as MAILER-DAEMON; people do write from postmaster@ (below).
  if (daemon === 'MAILER-DAEMON') return { kind: 'bounce', reason: `sender ${daemon}` };
  if (header(mail, 'x-failed-recipients') !== null) return { kind: 'bounce', reason: 'X-Failed-Recipients' };
  if (header(mail, 'x-ms-exchange-message-is-ndr') !== null) return { kind: 'bounce', reason: 'X-MS-Exchange-Message-Is-Ndr' };

  let scanned: string | null = null;
  const text = (): string => (scanned ??= bodyText(mail).slice(0, SCAN_LIMIT));
  if (daemon === 'postmaster') {
    // A postmaster's mail is a bounce only when it looks like one; otherwise a person wrote it.
    const looks = postmasterBounceSign(mail, text());
    if (looks !== null) return { kind: 'bounce', reason: `sender postmaster + ${looks}` };
  }
  const weak = weakSignal(mail);
  if (weak !== null) {
    if (weak.strong && BOUNCE_SUBJECT.test(mail.subject)) return { kind: 'bounce', reason: `${weak.name} + bounce subject` };
    if (MTA_BOUNCE_TEXT.test(text())) return { kind: 'bounce', reason: `${weak.name} + bounce text` };
    if (weak.strong && GENERIC_BOUNCE_TEXT.test(text())) return { kind: 'bounce', reason: `${weak.name} + bounce text` };
  }
  return null;
}

/**
 * A signal too weak to decide alone, used to confirm bounce-looking subjects and bodies. Strong
 * ones (null sender, no From, a returned message) confirm a bounce subject or generic "could not
 * be delivered" wording; Auto-Submitted (shops and trackers set it too: "Delivery failed: your
 * parcel ...") only confirms wording that only mail systems use.
 */
function weakSignal(mail: ParsedMail): { name: string; strong: boolean } | null {
  if (mail.returnPath === '') return { name: 'empty Return-Path', strong: true };
  if (mail.from === null || mail.from.address === '') return { name: 'no From address', strong: true };
  // A person forwarding a bounce as an attachment writes "Fwd:"; an MTA returning one does not.
  if (mail.reportParts.some((p) => isReturnedMessageType(p.contentType)) && !FORWARD_OR_REPLY_SUBJECT.test(mail.subject)) {
    return { name: 'returned message part', strong: true };
  }
  const autoSubmitted = header(mail, 'auto-submitted');
  if (autoSubmitted !== null && !/^\s*no\b/i.test(autoSubmitted)) return { name: 'Auto-Submitted', strong: false };
  return null;
}

/**
 * An SMTP error as MTAs quote it in home-made notices: a reply-code line naming the failure
 * ("550 - Requested action not taken: no such user here"), or the envelope of the failed
 * session ("MAIL FROM:" and "RCPT TO:" lines).
 */
const SMTP_ERROR_TEXT =
  /^[ \t]*[45]\d\d[ \t]*[- ]?[ \t]*(?:#?[45]\.\d{1,3}\.\d{1,3}[ \t]*)?(?:requested action not taken|no such user|user unknown|unknown user|mailbox (?:unavailable|not found|full)|recipient (?:address )?rejected|invalid (?:recipient|mailbox|user))|^[ \t]*mail from[ \t]*:[^\n]*\n(?:[^\n]*\n){0,3}?[ \t]*rcpt to[ \t]*:/im;

/** What makes a postmaster's message a bounce: the same signs as for any sender, each enough alone. */
function postmasterBounceSign(mail: ParsedMail, text: string): string | null {
  if (BOUNCE_SUBJECT.test(mail.subject)) return 'bounce subject';
  if (MTA_BOUNCE_TEXT.test(text) || GENERIC_BOUNCE_TEXT.test(text)) return 'bounce text';
  if (SMTP_ERROR_TEXT.test(text)) return 'SMTP error text';
  if (mail.reportParts.some((p) => isReturnedMessageType(p.contentType)) && !FORWARD_OR_REPLY_SUBJECT.test(mail.subject)) return 'returned message part';
  if (mail.returnPath === '') return 'empty Return-Path';
  return null;
}

