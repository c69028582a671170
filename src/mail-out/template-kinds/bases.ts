import { bool, num, obj, str, type VarFields } from './vars.js';

/**
 * The bases every kind's variables start from: the instance base (every kind) and the case base
 * (every kind about one case), plus what staff mail about a case adds.
 */

/**
 * Variables every template kind gets, also the kinds that are not about one case (mail to the
 * admin about the system, reports): the "instance" base.
 */
export const instanceVariables = {
  instance: obj('This casegate installation.', {
    name: str('Name of the support organisation, as customers know it.', 'Example Support'),
  }),
  replyMarker: str(
    'Line above which customers type their reply, in the language of the email’s templates (German: "##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##"); incoming replies are cut at any of them. Text and HTML parts must begin with it.',
    '##- Please type your reply above this line -##',
  ),
  isTest: bool('True when the email is sent with send-test (not a real case update).', false),
} as const satisfies VarFields;

/** Variables every kind about one case gets (customer mail and staff mail about a case): the "case" base. */
export const commonVariables = {
  instance: instanceVariables.instance,
  mailbox: obj('The support mailbox the case belongs to (replies go there).', {
    name: str('Display name of the mailbox.', 'Example Support'),
    address: str('Email address of the mailbox.', 'support@example.com'),
    queue: str('Queue the case is in.', 'general'),
  }),
  case: obj('The case this email is about.', {
    number: num('Case number.', 10042),
    tag: str('Subject tag that threads replies to the case; keep it in the subject.', '[Case #10042]'),
    subject: str('Subject of the case (from the customer’s first email).', 'Cannot log in since this morning'),
    status: str('Current status of the case: new, open, pending, on_hold, resolved or closed.', 'open'),
    statusLabel: str('The current status in words for customers, in the case’s language (English or German); every customer email states it.', 'open, we are working on it'),
    priority: str('Priority of the case (the configured level name, e.g. "high").', 'normal'),
    priorityLabel: str('The priority in words for customers, in the case’s language: the default levels in German ("hoch", "dringend"); other schemes’ levels as configured.', 'normal'),
    createdAt: str('When the case was created, ISO 8601; use {{formatDate case.createdAt}}.', '2025-03-14T09:26:53Z'),
    language: str('Language of the case (e.g. "en", "de").', 'en'),
  }),
  customer: obj('The customer who opened the case (customer mail goes to them).', {
    name: str('Display name of the customer; may be empty.', 'Jane Doe'),
    address: str('Email address of the customer.', 'jane@example.org'),
    greetingName: str('The customer’s name, or "there" when the name is unknown (English).', 'Jane Doe'),
  }),
  caseLink: str(
    'Signed link to the case page (status, due time, thread, reply form) naming the reader of this copy: the requester, or the participant a copy of the email goes to (a reply written there is theirs); empty when the web server is off and in staff mail. Expires after web.linkDays.',
    'https://support.example.com/c/10042.c.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665',
  ),
  replyMarker: instanceVariables.replyMarker,
  isTest: instanceVariables.isTest,
} as const satisfies VarFields;

/** The case base plus what staff mail about a case adds. */
export const staffCaseVariables = {
  ...commonVariables,
  caseCommand: str('Command that shows the case with its whole thread.', 'casegate cases show 10042'),
} as const satisfies VarFields;
