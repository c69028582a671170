import { commonVariables, instanceVariables } from './bases.js';
import { bool, list, num, obj, str, type TemplateKindDeclaration } from './vars.js';

/** Web pages (layouts/page): rendered by the web server for the customer, never sent as email. */

export const webPageKinds = {
  'case-page': {
    description: 'Shown to the customer (web page, not email) who opens the signed link of their case: status, priority, owner, due time, the public thread and a reply form.',
    audience: 'web',
    scope: 'case',
    variables: {
      ...commonVariables,
      page: obj('The case page.', {
        statusLabel: str('The status in words, in the case’s language.', 'in progress'),
        ownerName: str('First name of the agent handling the case; empty when nobody yet.', 'Erika'),
        zone: str('Time zone of the case’s queue, for times on the page: {{formatDate case.createdAt zone=page.zone}}.', 'America/Chicago'),
        due: obj('What is due next.', {
          kind: str('first-response (we reply by …), resolution (we aim to resolve it by …), waiting (we wait for the customer) or empty for nothing; the shipped wording differs per kind.', 'first-response'),
          when: str('When, in words, in the queue’s time zone and the case’s language.', 'Tuesday 10:00 CST'),
        }),
        closed: bool('True when the case is resolved or closed (a reply reopens it within cases.reopenWindowDays).', false),
        newCase: bool('True when the case was resolved or closed more than cases.reopenWindowDays ago: a reply no longer reopens it but opens a new case linked to it.', false),
        notice: str('A confirmation to show: "sent" after a reply was added; "sent-new-case" after a reply opened a new case (page.newCase); empty for none.', 'sent'),
        error: str('A problem with the form: "empty", "too-long", "form-expired", "too-many" (web.repliesPerHour), "retry" or empty for none; the shipped wording differs per code.', ''),
        messages: list(
          'The public thread, oldest first (internal notes and mail to staff are never shown).',
          obj('One message.', {
            from: str('Who wrote it: the support team’s name, another participant’s name; empty for the customer’s own messages (the shipped pages say "You").', ''),
            at: str('When, ISO 8601; use {{formatDate this.at}}.', '2025-03-14T09:26:50Z'),
            text: str('The new text of the message; in HTML use {{paragraphs text}}.', 'Hello,\n\nsince this morning I cannot log in.'),
            lang: str('The language the text is written in when it is clearly another than the page’s (a customer’s French message on an English page), else empty: the shipped page marks the text with lang="{{lang}}" so a screen reader reads it in that language.', ''),
            dir: str('The writing direction of `lang` (rtl or ltr); empty when `lang` is.', ''),
            fromCustomer: bool('True for the customer’s own messages.', true),
            forged: bool('True when its From failed the sender check (DMARC fail): someone else may have written it; `from` then names the address even when it is the customer’s.', false),
            attachments: list('File names of the files an email of the customer’s carried (not inline images; not downloadable here); empty for our replies, which name theirs in the text.', str('One file name.', 'screenshot.png'), ['screenshot.png']),
          }),
          [
            { from: '', at: '2025-03-14T09:26:50Z', text: 'Hello,\n\nsince this morning I cannot log in.', lang: '', dir: '', fromCustomer: true, forged: false, attachments: ['screenshot.png'] },
            { from: 'Example Support', at: '2025-03-14T10:02:11Z', text: 'We have reset your session. Please try again.', lang: '', dir: '', fromCustomer: false, forged: false, attachments: [] },
          ],
        ),
        form: obj('The reply form (POST, no JavaScript).', {
          action: str('Where the form posts to: the signed link, relative to the page (a reverse proxy may serve the pages under a path of its own).', '10042.c.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665'),
          csrf: str('Form token (hidden field "csrf").', 'v1.tbq1hs.5c0ffee5c0ffee5c0ffee5c0'),
          maxLength: num('Longest reply accepted, in characters.', 20000),
          text: str('What the customer typed when the form was refused (page.error), to put back in the box: {{page.form.text}} inside the textarea; empty otherwise.', ''),
        }),
      }),
    },
  },
  'survey-page': {
    description: 'Shown to the customer (web page) who clicks a rating in the survey email: that rating chosen in a form they send to record it (a click alone records nothing: mail scanners fetch every link), with a comment if they like.',
    audience: 'web',
    scope: 'case',
    variables: {
      ...commonVariables,
      survey: obj('The survey page.', {
        rating: num('The recorded rating; 0 when none yet.', 4),
        chosen: num('The rating clicked in the survey email, chosen in the form but not recorded until the form is sent; 0 when the page was opened otherwise.', 0),
        min: num('Lowest rating.', 1),
        max: num('Highest rating.', 5),
        comment: str('The comments given so far; empty for none.', ''),
        saved: bool('True right after a rating or comment was saved.', true),
        error: str('Why the form was refused (nothing was saved): "form-expired" (the page was open over 24 hours; survey.chosen and survey.form.comment hold what it carried), "empty" (no rating chosen and no comment), "too-many" (web.repliesPerHour answers in the last hour; what it carried is kept as for form-expired); empty otherwise.', ''),
        options: list(
          'The ratings to choose from, lowest first.',
          obj('One rating.', { value: num('The rating.', 1), checked: bool('True for the rating clicked in the email (chosen), else the recorded one.', false) }),
          [1, 2, 3, 4, 5].map((value) => ({ value, checked: value === 4 })),
        ),
        form: obj('The form (POST, no JavaScript).', {
          action: str('Where the form posts to: the signed link, relative to the page (a reverse proxy may serve the pages under a path of its own).', '../10042.s.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665'),
          csrf: str('Form token (hidden field "csrf").', 'v1.tbq1hs.5c0ffee5c0ffee5c0ffee5c0'),
          comment: str('The comment a refused form carried, to put back in the box: {{survey.form.comment}} inside the textarea; empty otherwise.', ''),
        }),
      }),
    },
  },
  'web-notice': {
    description: 'Shown (web page) when a link cannot be used: expired, revoked, not ours, or the page does not exist; and the survey\'s unsubscribe page.',
    audience: 'web',
    scope: 'instance',
    variables: {
      ...instanceVariables,
      notice: obj('What happened.', {
        kind: str('expired, revoked, invalid, not-found or error; unsubscribe (the survey\'s List-Unsubscribe page: a button that posts to the page) or unsubscribed; fresh-sent (a fresh link was emailed to the person the link names — the page names no address) or fresh-too-many (asked for too often in the last hour); the shipped wording differs per kind.', 'expired'),
        status: num('HTTP status of the page.', 410),
        fresh: obj('The "Email me a fresh link" button (a POST to the page with fields fresh=1 and csrf), offered for an expired or revoked case link of ours whose reader still takes part in the case; never for a link that is not ours.', {
          csrf: str('Form token (hidden field "csrf"); empty: no button.', 'v1.tbq1hs.5c0ffee5c0ffee5c0ffee5c0'),
        }),
      }),
    },
  },
} as const satisfies { readonly [kind: string]: TemplateKindDeclaration };
