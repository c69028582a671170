/**
 * The variables every outgoing-email template can use: the single place where they are declared.
 *
 * Each template kind is one entry in `templateKinds`: when it is sent (description), who reads it
 * (audience: customer → layouts/default, staff → layouts/staff), what it is about (scope: one
 * case → starts with `commonVariables`; the whole installation → starts with `instanceVariables`,
 * no case fields) and a tree of variable declarations (type, description, example). From that
 * tree we derive
 *   - the TypeScript type of the data a caller must pass (`TemplateDataMap`),
 *   - the static check of the Handlebars files (unknown variables, `#each` item types),
 *   - sample data for trial renders, `templates preview` and `send-test` (`sampleTemplateData`),
 *   - the reference page for admins, docs/templates.md (`listTemplateVariables`,
 *     `casegate templates docs`).
 *
 * Adding a template kind: add one entry to `templateKinds`, ship `templates/<kind>.subject.hbs`,
 * `<kind>.text.hbs` and `<kind>.html.hbs` (and `templates/de/…`), then regenerate the reference
 * page with `casegate templates docs`.
 *
 * `body` is reserved: layouts receive the rendered body under that name.
 */

// ---------------------------------------------------------------------------------------------
// Declaration vocabulary

export interface StringVar {
  readonly type: 'string';
  readonly description: string;
  readonly example: string;
}

export interface NumberVar {
  readonly type: 'number';
  readonly description: string;
  readonly example: number;
}

export interface BooleanVar {
  readonly type: 'boolean';
  readonly description: string;
  readonly example: boolean;
}

export interface ObjectVar<F extends VarFields = VarFields> {
  readonly type: 'object';
  readonly description: string;
  readonly fields: F;
}

export interface ListVar<I extends VarSpec = VarSpec> {
  readonly type: 'list';
  readonly description: string;
  /** Declaration of one item; inside `{{#each}}` the item is `this`. */
  readonly item: I;
  readonly example: readonly DataOf<I>[];
}

export type VarSpec = StringVar | NumberVar | BooleanVar | ObjectVar | ListVar;

export type VarFields = { readonly [name: string]: VarSpec };

/** The data type a declaration describes. */
export type DataOf<S extends VarSpec> = S extends StringVar
  ? string
  : S extends NumberVar
    ? number
    : S extends BooleanVar
      ? boolean
      : S extends ListVar<infer I extends VarSpec>
        ? readonly DataOf<I>[]
        : S extends ObjectVar<infer F extends VarFields>
          ? DataOfFields<F>
          : never;

export type DataOfFields<F extends VarFields> = { readonly [K in keyof F]: DataOf<F[K]> };

const str = (description: string, example: string): StringVar => ({ type: 'string', description, example });
const num = (description: string, example: number): NumberVar => ({ type: 'number', description, example });
const bool = (description: string, example: boolean): BooleanVar => ({ type: 'boolean', description, example });
const obj = <F extends VarFields>(description: string, fields: F): ObjectVar<F> => ({
  type: 'object',
  description,
  fields,
});
const list = <I extends VarSpec>(description: string, item: I, example: readonly DataOf<I>[]): ListVar<I> => ({
  type: 'list',
  description,
  item,
  example,
});

// ---------------------------------------------------------------------------------------------
// Declarations

/**
 * Variables every template kind gets, also the kinds that are not about one case (mail to the
 * admin about the system, reports): the "instance" base.
 */
export const instanceVariables = {
  instance: obj('This casegate installation.', {
    name: str('Name of the support organisation, as customers know it.', 'Example Support'),
  }),
  replyMarker: str(
    'Line above which customers type their reply; incoming replies are cut at it. Text and HTML parts must begin with it.',
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
    priority: str('Priority of the case.', 'normal'),
    createdAt: str('When the case was created, ISO 8601; use {{formatDate case.createdAt}}.', '2025-03-14T09:26:53Z'),
    language: str('Language of the case (e.g. "en", "de").', 'en'),
  }),
  customer: obj('The customer who opened the case (customer mail goes to them).', {
    name: str('Display name of the customer; may be empty.', 'Jane Doe'),
    address: str('Email address of the customer.', 'jane@example.org'),
    greetingName: str('The customer’s name, or "there" when the name is unknown (English).', 'Jane Doe'),
  }),
  caseLink: str(
    'Signed link to the customer’s case page (status, due time, thread, reply form); empty when the web server is off and in staff mail. Expires after web.linkDays.',
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

const owner = obj('The agent who owns the case.', {
  name: str('Display name of the owner; empty when the case is unassigned.', 'Erika Musterfrau'),
});
const reopenDays = num('Days in which a reply reopens the case (cases.reopenWindowDays); later replies open a new case.', 30);
const bug = obj('A bug report (#bug): when a fix is expected.', {
  timeline: str('immediately, weeks, months or not-foreseeable; empty (as in the sample) when the email is not about a bug. The shipped wording differs per class.', ''),
});
const lastCustomerMessage = (description: string) =>
  obj(description, {
    from: str('Sender as "Name <address>".', 'Jane Doe <jane@example.org>'),
    at: str('When it arrived, ISO 8601.', '2025-03-14T10:48:31Z'),
    visibleText: str(
      'Its new text (quoted history and signature removed); plain text, in HTML use {{paragraphs lastMessage.visibleText}}.',
      'Still no luck. Now my colleagues cannot log in either.',
    ),
  });

export const templateKinds = {
  confirmation: {
    description: 'Sent to the customer when a new case was created from their email.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      expectedResponse: str(
        'Expected first response time, in the case’s language (per queue configurable); used when the queue has no SLA target (promise.has is false).',
        'within 4 business hours',
      ),
      promise: obj('The first-response promise of the queue’s SLA policy for this case’s priority, in the queue’s time zone.', {
        has: bool('True when the case has a first-response target (else say expectedResponse).', true),
        target: str('The target in words, in the case’s language: "4 business hours", "15 minutes" (24/7).', '4 business hours'),
        due: str('When the reply is due, in words, in the queue’s time zone and the case’s language.', 'Tuesday 10:00 CST'),
        dueAt: str('The same as ISO 8601 with the zone’s offset.', '2026-03-03T10:00:00.000-06:00'),
        nextBusinessDay: bool('True when the promise is "by the end of the next business day" (a case opened outside hours with that rule).', false),
        open: bool('True when the team is working right now (24/7 targets: always).', false),
        backAt: str('When the team is back, in words (empty while open).', 'Tuesday 07:00 CST'),
      }),
      helpfulInfo: list(
        'What helps us solve it faster (per queue configurable), in the case’s language.',
        str('One thing that helps.', 'screenshots of what you see'),
        [
          'screenshots of what you see',
          'the exact error message',
          'who is affected (just you, your team, everyone)',
          'when it started',
          'the steps that lead to the problem',
        ],
      ),
    },
  },
  reopened: {
    description: 'Sent to the customer when their reply reopened a resolved or closed case.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      reply: obj('The customer’s reply that reopened the case.', {
        visibleText: str(
          'The new text of the reply (quoted history and signature removed).',
          'It happens again since the update yesterday.',
        ),
      }),
    },
  },
  'agent-reply': {
    description: 'Sent to the customer when an agent answers the case: the agent’s text in the casegate layout.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      agent: obj('The agent who wrote the reply (display name only, never an address).', {
        name: str('Display name of the agent; may be empty.', 'Max Mustermann'),
      }),
      reply: obj('The agent’s reply.', {
        text: str(
          'The reply as plain text, without greeting and sign-off (the template adds them). In HTML write {{paragraphs reply.text}}: escaped, line breaks kept.',
          'we have reset your password. You will receive a separate email with a link to choose a new one.\n\nThe link is valid for 24 hours. Please let us know whether you can log in again.',
        ),
        attachments: list('File names of the files attached to the reply.', str('One file name.', 'password-reset-guide.pdf'), [
          'password-reset-guide.pdf',
        ]),
        ownGreeting: bool('True when the agent’s text opens with its own greeting ("Hi Jane,"): the shipped template then adds none.', false),
        ownSignOff: bool('True when the agent’s text ends with its own sign-off ("Best, Ben"): the shipped template then adds none.', false),
      }),
      statusChange: obj('A status change made with the reply (#pending, #hold, #resolve …) that the customer is told about (cases.customerUpdates).', {
        to: str('New status (pending, on_hold, resolved, closed, open); empty when the reply changes no status the customer hears about.', 'pending'),
        label: str('The new status in words, in the case’s language; empty for none.', 'waiting for your reply'),
        expected: str('For on_hold: the expected time of the technical review; else empty.', ''),
      }),
      bug,
      reopenDays,
    },
  },
  'status-changed': {
    description:
      'Sent to the customer when an agent sets the case to pending (waiting for the customer), on hold (technical review), resolved or closed.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      status: obj('The change of status.', {
        from: str('Previous status: new, open, pending, on_hold, resolved or closed.', 'open'),
        to: str(
          'New status: pending (we wait for the customer), on_hold (technical review), resolved or closed; the shipped wording differs per status.',
          'pending',
        ),
        label: str('Name of the new status for customers, in the case’s language (English or German).', 'waiting for your reply'),
        note: str('A note from the agent about the change; empty for none.', 'Could you send us a screenshot of the error message?'),
        changed: bool('False when only the priority changed (see priorityChange); the status is then status.to.', true),
        expected: str('For on_hold: the expected time of the technical review (#hold <time>, else queues.<q>.onHoldExpected / cases.onHoldExpected); else empty.', ''),
      }),
      priorityChange: obj('A raised priority (cases.customerUpdates: priority-raised).', {
        from: str('Previous priority; empty when the priority did not change.', ''),
        to: str('New priority; empty when the priority did not change.', ''),
      }),
      bug,
      reopenDays,
    },
  },
  'status-summary': {
    description: 'Sent to the customer who replied with only "status" or "?": where their case stands (agents are not notified).',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      owner: obj('The agent handling the case.', {
        firstName: str('First name of the owner; empty when nobody owns the case yet.', 'Erika'),
      }),
      lastUpdate: str('When the case last changed, ISO 8601; use {{formatDate lastUpdate}}.', '2025-03-14T11:02:10Z'),
      expectedResponse: str('Expected first response time (per queue configurable), for the next step of a new or open case.', 'within one business day'),
      onHoldExpected: str('Expected time of a technical review, for the next step of a case on hold.', '1–2 business days'),
      reopenDays,
    },
  },
  'escalation-ack': {
    description: 'Sent to the customer when their case is escalated (by them or by an agent): it is now handled with higher priority.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      escalation: obj('The escalation, as the customer may see it.', {
        level: num('Escalation level now (1 = first escalation).', 1),
        reason: str('Why the case was escalated, in words the customer may read; empty for none.', 'The problem affects your whole team.'),
      }),
    },
  },
  'escalation-alert': {
    description: 'Sent to the team leads of the queue when a case is escalated, with a summary of the case and the customer’s latest message.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      escalation: obj('The escalation.', {
        level: num('Escalation level now (1 = first escalation).', 1),
        reason: str('Why the case was escalated; empty for none.', 'Customer reports that the whole team cannot log in.'),
        by: str('Who escalated: an agent’s display name, or the customer’s name when they asked for it.', 'Max Mustermann'),
        at: str('When, ISO 8601; use {{formatDate escalation.at}}.', '2025-03-14T11:02:10Z'),
      }),
      owner,
      lastMessage: obj('The customer’s latest message on the case.', {
        from: str('Sender as "Name <address>".', 'Jane Doe <jane@example.org>'),
        at: str('When it arrived, ISO 8601.', '2025-03-14T10:48:31Z'),
        visibleText: str(
          'Its new text (quoted history and signature removed); plain text, in HTML use {{paragraphs lastMessage.visibleText}}.',
          'Still no luck. Now my colleagues cannot log in either.\nThis is urgent: we cannot send invoices.',
        ),
      }),
    },
  },
  'sla-warning': {
    description: 'Sent to the owner of the case and the queue’s leads (tier 1; else instance.adminAddress) once per case and target, when a share of a service-level target (sla.warnAt) has passed.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      sla: obj('The service-level target at risk.', {
        kind: str('Which target: first-response or resolution.', 'first-response'),
        dueAt: str('When it is due, ISO 8601; use {{formatDate sla.dueAt}}.', '2025-03-14T13:26:53Z'),
        remaining: num('Minutes left until it is due; use {{duration sla.remaining}}.', 45),
      }),
      owner,
    },
  },
  'sla-breach': {
    description: 'Sent to the owner of the case and the queue’s leads (tier 1; else instance.adminAddress) once per case and target, when a service-level target was missed.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      sla: obj('The missed service-level target.', {
        kind: str('Which target: first-response or resolution.', 'first-response'),
        dueAt: str('When it was due, ISO 8601; use {{formatDate sla.dueAt}}.', '2025-03-14T13:26:53Z'),
        overdue: num('Minutes since it was due; use {{duration sla.overdue}}.', 20),
      }),
      owner,
    },
  },
  'stale-reminder': {
    description: 'Sent to the owner of a critical case (or the queue’s leads when unassigned) when it has had no update from the team for jobs.criticalReminder.afterMinutes; again after each further quiet period.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      owner,
      stale: obj('The quiet period.', {
        minutes: num('Minutes since the last update from the team; use {{duration stale.minutes}}.', 60),
        lastUpdateAt: str('When the team last updated the case, ISO 8601; use {{formatDate stale.lastUpdateAt}}.', '2025-03-14T09:26:53Z'),
      }),
    },
  },
  reminder: {
    description: 'Sent to the customer when a case has been waiting for their answer (status pending) for a while.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      reminder: obj('The reminder.', {
        number: num('Which reminder this is (1 = the first).', 1),
        waitingSince: str('Since when we wait for the customer, ISO 8601.', '2025-03-17T10:05:00Z'),
        closesAt: str(
          'When the case will be closed automatically if there is no reply, ISO 8601; empty when it will not be closed.',
          '2025-03-31T10:05:00Z',
        ),
        lastMessage: str(
          'Visible text of our last message to the customer (what we asked); plain text, in HTML use {{paragraphs reminder.lastMessage}}.',
          'Could you send us a screenshot of the error message?',
        ),
      }),
    },
  },
  'still-working': {
    description: 'Sent to the customer of a critical case that has had no update from the team for jobs.criticalReminder.afterMinutes (only with notifyCustomer: true).',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      update: obj('The update.', {
        minutes: num('Minutes since the last update from the team; use {{duration update.minutes}}.', 60),
      }),
    },
  },
  'auto-closed': {
    description: 'Sent to the customer when a pending case was closed automatically because they did not answer.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      autoClose: obj('The automatic closing.', {
        days: num('Days without an answer after which the case was closed.', 14),
      }),
      reopenDays,
    },
  },
  survey: {
    description: 'Sent to the customer after a case was resolved, asking how satisfied they are.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      survey: obj('The satisfaction survey.', {
        url: str('Link to the survey page; empty when the web server is off (customers answer by replying with a rating).', 'https://support.example.com/s/10042.s.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665'),
        min: num('Lowest rating a customer can reply with.', 1),
        max: num('Highest rating a customer can reply with.', 5),
        ratings: list(
          'One-click ratings, lowest first: each link records its rating (empty when the web server is off).',
          obj('One rating.', {
            value: num('The rating.', 1),
            url: str('Link that records it.', 'https://support.example.com/s/10042.s.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665/1'),
          }),
          [1, 2, 3, 4, 5].map((value) => ({ value, url: `https://support.example.com/s/10042.s.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665/${value}` })),
        ),
      }),
    },
  },
  'survey-thanks': {
    description: 'Sent to the customer when their survey answer arrived.',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      survey: obj('The customer’s answer.', {
        rating: num('The rating they gave.', 4),
        max: num('Highest possible rating.', 5),
        comment: str('Their comment; empty for none.', 'Quick and friendly help, thank you!'),
      }),
    },
  },
  'agent-notification': {
    description: 'Sent to the agents of the queue (or the owner) when a customer opens a new case or replies to one.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      event: str(
        'What happened: new-case (a new case was opened), customer-reply (the customer wrote again) or call-request (an agent noted that the customer asks for a phone call).',
        'new-case',
      ),
      owner,
      call: obj('For call-request: the phone call the customer asked for.', {
        when: str('When the customer wants to be called (as the agent wrote it); may be empty.', 'tomorrow 10:00'),
        by: str('The agent who noted it.', 'Max Mustermann'),
      }),
      message: obj('The customer’s message.', {
        from: str('Sender as "Name <address>".', 'Jane Doe <jane@example.org>'),
        at: str('When it arrived, ISO 8601.', '2025-03-14T09:26:50Z'),
        visibleText: str(
          'Its new text (quoted history and signature removed); plain text, in HTML use {{paragraphs message.visibleText}}.',
          'Hello,\n\nsince this morning I cannot log in. The page says "Invalid session".\n\nJane',
        ),
        attachments: list('File names of its attachments.', str('One file name.', 'screenshot.png'), ['screenshot.png']),
      }),
    },
  },
  assignment: {
    description: 'Sent to an agent when a case is assigned to them (also when it is taken over from another agent).',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      owner: obj('The agent the case is assigned to now (the recipient).', {
        name: str('Display name of the new owner.', 'Erika Musterfrau'),
      }),
      previousOwner: obj('The agent who owned the case before.', {
        name: str('Display name; empty when the case was unassigned.', 'Max Mustermann'),
      }),
      assignedBy: str('Who assigned it: an agent’s display name, or "casegate" for automatic assignment.', 'Max Mustermann'),
      note: str('A note for the new owner; empty for none.', 'I am on holiday from tomorrow, please take over.'),
      lastMessage: lastCustomerMessage('The customer’s latest message on the case (for a new case: the one that opened it); all fields empty when there is none.'),
    },
  },
  'command-error': {
    description: 'Sent to an agent whose email to a case had an unknown or malformed #command: nothing of that email was done or relayed.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      errors: list(
        'The command lines that could not be done, each with why.',
        obj('One problem.', {
          line: str('The line as the agent wrote it.', '#priority critical'),
          why: str('What is wrong with it.', '"critical" is not a priority level (urgent, high, normal, low)'),
        }),
        [{ line: '#priority critical', why: '"critical" is not a priority level (urgent, high, normal, low)' }],
      ),
      syntax: list(
        'Every command with its syntax.',
        obj('One command.', {
          usage: str('How to write it.', '#hold [expected time]'),
          meaning: str('What it does.', 'on hold for technical review, e.g. #hold 1–2 business days'),
        }),
        [{ usage: '#hold [expected time]', meaning: 'on hold for technical review, e.g. #hold 1–2 business days' }],
      ),
      notesAddress: str('Address for internal notes of this mailbox; empty when there is none.', 'support+note@example.com'),
      original: obj('The agent’s email.', {
        subject: str('Its subject.', 'Re: [Case #10042] Cannot log in since this morning'),
        text: str('Its new text (commands included), so nothing is lost; plain text, in HTML use {{paragraphs original.text}}.', '#priority critical\nWe are on it.'),
      }),
    },
  },
  'forged-sender': {
    description: 'Sent to an agent or lead when an email claiming their address failed the sender check (DMARC): it was stored as a customer message and no command in it was done.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      forged: obj('The suspicious email.', {
        address: str('The staff address it claimed (the recipient of this notice).', 'erika@example.com'),
        subject: str('Its subject.', 'Re: [Case #10042] Cannot log in since this morning'),
        why: str('Why it failed the sender check.', 'From header; DMARC failed at trusted server'),
        at: str('When it arrived, ISO 8601.', '2025-03-14T11:40:12Z'),
      }),
    },
  },
  reassignment: {
    description: 'Sent to the customer when another agent takes over their case (display names only).',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      owner: obj('The agent now handling the case.', {
        name: str('Display name of the agent.', 'Erika Musterfrau'),
      }),
      previousOwner: obj('The agent who handled it before.', {
        name: str('Display name; empty when nobody did.', 'Max Mustermann'),
      }),
    },
  },
  'bounce-notice': {
    description: 'Sent to the owner of the case (or the queue’s agents) when an email casegate sent on the case bounced.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      bounce: obj('The bounce.', {
        address: str('The address that bounced.', 'jane@example.org'),
        status: str('Delivery status code from the bounce (RFC 3463).', '5.1.1'),
        diagnostic: str(
          'The receiving server’s explanation.',
          'smtp; 550 5.1.1 <jane@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
        ),
        permanent: bool('True for a permanent failure: casegate stops sending to the address.', true),
        kind: str('Template of the email that bounced (agent-reply, confirmation, …).', 'agent-reply'),
        subject: str('Subject of the email that bounced.', '[Case #10042] Re: Cannot log in since this morning'),
        at: str('When the bounce arrived, ISO 8601.', '2025-03-14T11:40:12Z'),
      }),
    },
  },
  'mailbox-alert': {
    description: 'Sent to instance.adminAddress when a watched IMAP mailbox has been failing for imap.alertAfterSeconds.',
    audience: 'staff',
    scope: 'instance',
    variables: mailboxAlertVariables(),
  },
  'mailbox-recovered': {
    description: 'Sent to instance.adminAddress when a mailbox that caused an alert works again.',
    audience: 'staff',
    scope: 'instance',
    variables: mailboxAlertVariables(),
  },
  'outbox-alert': {
    description:
      'Sent to instance.adminAddress when outgoing mail has been failing for outgoing.alertAfterSeconds (at once when the relay rejects the login or TLS fails). It is queued like any email, so when the relay itself is broken it goes out once sending works again; alerts.command is the second path.',
    audience: 'staff',
    scope: 'instance',
    variables: outboxAlertVariables(),
  },
  'outbox-recovered': {
    description: 'Sent to instance.adminAddress when outgoing mail works again after an outbox-alert.',
    audience: 'staff',
    scope: 'instance',
    variables: outboxAlertVariables(),
  },
  report: {
    description: 'Sent to the team leads (tier 1, their queue) and instance.adminAddress (all queues) every morning by the daily-report job: the previous day’s cases, response times in business time, SLA compliance, backlog, satisfaction and feedback.',
    audience: 'staff',
    scope: 'instance',
    variables: {
      ...instanceVariables,
      report: obj('The report.', {
        period: obj('The period covered.', {
          name: str('daily, weekly or monthly.', 'daily'),
          from: str('Start of the period (inclusive), ISO 8601.', '2025-03-13T00:00:00.000+01:00'),
          to: str('End of the period (exclusive), ISO 8601.', '2025-03-14T00:00:00.000+01:00'),
        }),
        queue: str('The queue the report is about; empty for all queues.', ''),
        opened: num('Cases opened in the period.', 42),
        closed: num('Cases closed in the period.', 35),
        resolved: num('Cases resolved in the period.', 38),
        reopened: num('Cases reopened in the period.', 3),
        backlog: num('Cases open (not resolved or closed) when the report was made.', 17),
        firstResponseBreaches: num('Cases that missed their first-response target in the period.', 2),
        resolutionBreaches: num('Cases that missed their resolution target in the period.', 1),
        medianFirstResponse: num('Median time to the first response, in business minutes; use {{duration report.medianFirstResponse}}.', 95),
        p90FirstResponse: num('90th percentile of the time to the first response, business minutes.', 240),
        medianResolution: num('Median time to resolution, business minutes (pauses excluded).', 610),
        p90Resolution: num('90th percentile of the time to resolution, business minutes.', 1920),
        escalations: num('Escalations in the period.', 4),
        compliance: list(
          'SLA compliance per priority, most severe first (clocks that stopped in the period).',
          obj('One priority.', {
            priority: str('The priority level.', 'high'),
            firstResponse: str('Share of first responses in time, "93 %", or "–" when none.', '93 %'),
            resolution: str('Share of resolutions in time, or "–".', '88 %'),
            cases: num('Cases whose clocks stopped in the period.', 15),
          }),
          [
            { priority: 'urgent', firstResponse: '100 %', resolution: '100 %', cases: 2 },
            { priority: 'high', firstResponse: '93 %', resolution: '88 %', cases: 15 },
          ],
        ),
        breaches: list(
          'The missed targets of the period.',
          obj('One breach.', {
            caseNumber: num('Case number.', 10042),
            kind: str('first-response or resolution.', 'first-response'),
            priority: str('Priority of the case.', 'high'),
            subject: str('Subject of the case.', 'Cannot log in since this morning'),
          }),
          [{ caseNumber: 10042, kind: 'first-response', priority: 'high', subject: 'Cannot log in since this morning' }],
        ),
        backlogByStatus: list('Open cases (now) by status.', obj('One status.', { name: str('Status.', 'open'), count: num('Cases.', 9) }), [
          { name: 'new', count: 3 },
          { name: 'open', count: 9 },
          { name: 'pending', count: 4 },
          { name: 'on_hold', count: 1 },
        ]),
        backlogByPriority: list('Open cases by priority, most severe first.', obj('One priority.', { name: str('Priority.', 'high'), count: num('Cases.', 5) }), [
          { name: 'urgent', count: 1 },
          { name: 'high', count: 5 },
          { name: 'normal', count: 11 },
        ]),
        backlogByAge: list('Open cases by age since opening.', obj('One age bracket.', { name: str('Bracket: "< 1 day", "1–3 days", "3–7 days", "> 7 days".', '< 1 day'), count: num('Cases.', 6) }), [
          { name: '< 1 day', count: 6 },
          { name: '1–3 days', count: 7 },
          { name: '3–7 days', count: 3 },
          { name: '> 7 days', count: 1 },
        ]),
        csat: obj('Customer satisfaction: survey ratings given in the period.', {
          average: str('Average rating with one decimal ("4.3"), or "–" when none.', '4.3'),
          count: num('Ratings given.', 12),
          max: num('Highest possible rating.', 5),
        }),
        feedback: obj('Messages to feedback queues in the period.', {
          count: num('How many.', 2),
          items: list(
            'The newest ones (at most 20).',
            obj('One feedback message.', {
              from: str('Sender.', 'jane@example.org'),
              subject: str('Subject.', 'Love the new portal'),
              at: str('When it arrived, ISO 8601.', '2025-03-13T15:02:11Z'),
            }),
            [{ from: 'jane@example.org', subject: 'Love the new portal', at: '2025-03-13T15:02:11Z' }],
          ),
        }),
        queues: list(
          'One row per queue.',
          obj('One queue.', {
            queue: str('Name of the queue.', 'general'),
            opened: num('Cases opened.', 30),
            resolved: num('Cases resolved.', 27),
            backlog: num('Cases open when the report was made.', 12),
            breaches: num('Missed targets (first response and resolution).', 2),
          }),
          [
            { queue: 'general', opened: 30, resolved: 27, backlog: 12, breaches: 2 },
            { queue: 'billing', opened: 12, resolved: 11, backlog: 5, breaches: 1 },
          ],
        ),
      }),
    },
  },
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
        notice: str('A confirmation to show: "sent" after a reply was added; empty for none.', 'sent'),
        error: str('A problem with the form: "empty", "too-long", "form-expired", "retry" or empty for none; the shipped wording differs per code.', ''),
        messages: list(
          'The public thread, oldest first (internal notes and mail to staff are never shown).',
          obj('One message.', {
            from: str('Who wrote it: the support team’s name, another participant’s name; empty for the customer’s own messages (the shipped pages say "You").', ''),
            at: str('When, ISO 8601; use {{formatDate this.at}}.', '2025-03-14T09:26:50Z'),
            text: str('The new text of the message; in HTML use {{paragraphs text}}.', 'Hello,\n\nsince this morning I cannot log in.'),
            fromCustomer: bool('True for the customer’s own messages.', true),
          }),
          [
            { from: '', at: '2025-03-14T09:26:50Z', text: 'Hello,\n\nsince this morning I cannot log in.', fromCustomer: true },
            { from: 'Example Support', at: '2025-03-14T10:02:11Z', text: 'We have reset your session. Please try again.', fromCustomer: false },
          ],
        ),
        form: obj('The reply form (POST, no JavaScript).', {
          action: str('Where the form posts to (the signed link).', '/c/10042.c.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665'),
          csrf: str('Form token (hidden field "csrf").', 'v1.tbq1hs.5c0ffee5c0ffee5c0ffee5c0'),
          maxLength: num('Longest reply accepted, in characters.', 20000),
        }),
      }),
    },
  },
  'survey-page': {
    description: 'Shown to the customer (web page) who clicks a rating in the survey email: the rating is recorded, with a form for another rating and a comment.',
    audience: 'web',
    scope: 'case',
    variables: {
      ...commonVariables,
      survey: obj('The survey page.', {
        rating: num('The recorded rating; 0 when none yet.', 4),
        min: num('Lowest rating.', 1),
        max: num('Highest rating.', 5),
        comment: str('The comments given so far; empty for none.', ''),
        saved: bool('True right after a rating or comment was saved.', true),
        options: list(
          'The ratings to choose from, lowest first.',
          obj('One rating.', { value: num('The rating.', 1), checked: bool('True for the recorded rating.', false) }),
          [1, 2, 3, 4, 5].map((value) => ({ value, checked: value === 4 })),
        ),
        form: obj('The form (POST, no JavaScript).', {
          action: str('Where the form posts to (the signed link).', '/s/10042.s.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665'),
          csrf: str('Form token (hidden field "csrf").', 'v1.tbq1hs.5c0ffee5c0ffee5c0ffee5c0'),
        }),
      }),
    },
  },
  'web-notice': {
    description: 'Shown (web page) when a link cannot be used: expired, revoked, not ours, or the page does not exist.',
    audience: 'web',
    scope: 'instance',
    variables: {
      ...instanceVariables,
      notice: obj('What happened.', {
        kind: str('expired, revoked, invalid, not-found or error; the shipped wording differs per kind.', 'expired'),
        status: num('HTTP status of the page.', 410),
      }),
    },
  },
} as const satisfies { readonly [kind: string]: TemplateKindDeclaration };

/**
 * Health mail to the admin about one watched IMAP mailbox (scope "instance", layouts/staff): the
 * instance base, the mailbox, and everything about the failure under `alert`.
 */
function mailboxAlertVariables() {
  return {
    instance: instanceVariables.instance,
    mailbox: obj('The mailbox the alert is about.', {
      name: str('Name of the mailbox in the configuration.', 'support'),
      address: str('First address the mailbox serves.', 'support@example.com'),
      queue: str('Queue of the mailbox.', 'support'),
    }),
    alert: obj('What happened to the mailbox.', {
      host: str('IMAP server (host:port).', 'imap.example.com:993'),
      user: str('Login name used.', 'support@example.com'),
      folder: str('Folder casegate watches.', 'INBOX'),
      state: str('Health state: backing-off or auth-failed (mailbox-recovered: the state it is in now).', 'auth-failed'),
      error: str('The last error.', 'authentication failed: AUTHENTICATIONFAILED Authentication failed.'),
      since: str('Failing since, ISO 8601; use {{formatDate alert.since}}.', '2025-03-14T09:26:53Z'),
      minutes: num('Minutes the mailbox has been (or was) failing.', 12),
      statusCommand: str('Command that shows the health of every mailbox.', 'casegate status'),
    }),
    replyMarker: instanceVariables.replyMarker,
    isTest: instanceVariables.isTest,
  } as const satisfies VarFields;
}

/**
 * Health mail to the admin about outgoing mail (scope "instance", layouts/staff): the instance
 * base and everything about the failure under `alert`.
 */
function outboxAlertVariables() {
  return {
    instance: instanceVariables.instance,
    alert: obj('What happened to outgoing mail.', {
      transport: str('The outgoing transport: smtp:<host>:<port> or file:<folder>.', 'smtp:relay.example.com:587'),
      state: str('paused (the transport is broken: casegate stopped sending and probes it) or failing (each email is retried); outbox-recovered: ok.', 'paused'),
      errorClass: str('Kind of the last error: auth, tls, connection, recipient, message or unknown.', 'auth'),
      error: str('The last error.', 'EAUTH 535: Invalid login: 535 5.7.8 Error: authentication failed'),
      since: str('Failing since, ISO 8601; use {{formatDate alert.since}}.', '2025-03-14T09:26:53Z'),
      minutes: num('Minutes sending has been (or was) failing.', 12),
      queued: num('Emails waiting in the outbox.', 58),
      oldestQueuedAt: str('When the email waiting longest was queued, ISO 8601; empty when none waits.', '2025-03-14T09:25:10Z'),
      statusCommand: str('Command that shows the state of the outbox.', 'casegate status'),
    }),
    replyMarker: instanceVariables.replyMarker,
    isTest: instanceVariables.isTest,
  } as const satisfies VarFields;
}

export interface TemplateKindDeclaration {
  /** When it is sent (shown on the reference page, docs/templates.md). */
  readonly description: string;
  /** Who reads it: customers (layouts/default), agents, leads and admins (layouts/staff), or a web page (layouts/page). */
  readonly audience: TemplateAudience;
  /**
   * What it is about: one case (its variables start with the case base, `commonVariables`) or
   * the installation as a whole (the instance base, `instanceVariables`: no case fields).
   */
  readonly scope: 'case' | 'instance';
  readonly variables: VarFields;
}

export type TemplateAudience = 'customer' | 'staff' | 'web';

/** Layout file name per audience: layouts/<name>.text.hbs and layouts/<name>.html.hbs. */
export const layoutOfAudience = { customer: 'default', staff: 'staff', web: 'page' } as const satisfies Record<TemplateAudience, string>;

export type TemplateLayout = (typeof layoutOfAudience)[TemplateAudience];

/** Every layout name, each needed in the base folder. */
export const templateLayouts: readonly TemplateLayout[] = [...new Set(Object.values(layoutOfAudience))];

// ---------------------------------------------------------------------------------------------
// Derived types

type Kinds = typeof templateKinds;

export type CommonData = DataOfFields<typeof commonVariables>;

/** Template kind → the data its templates are rendered with. */
export type TemplateDataMap = { readonly [K in keyof Kinds]: DataOfFields<Kinds[K]['variables']> };

export type TemplateName = keyof TemplateDataMap;

export type ConfirmationData = TemplateDataMap['confirmation'];
export type ReopenedData = TemplateDataMap['reopened'];
export type MailboxAlertData = TemplateDataMap['mailbox-alert'];

// ---------------------------------------------------------------------------------------------
// Runtime helpers

/** Every template kind, in declaration order. */
export const templateNames: readonly TemplateName[] = Object.keys(templateKinds) as TemplateName[];

/** Kinds sent to the admin about the system (no case, no customer), not to customers. */
export const systemTemplateNames = ['mailbox-alert', 'mailbox-recovered'] as const satisfies readonly TemplateName[];
export type SystemTemplateName = (typeof systemTemplateNames)[number];
/** Kinds declared with scope "instance" (about the installation, no case). */
export type InstanceTemplateName = { [K in TemplateName]: Kinds[K]['scope'] extends 'instance' ? K : never }[TemplateName];
export type OutboxAlertData = TemplateDataMap['outbox-alert'];

/** Kinds declared with scope "case". */
export type CaseTemplateName = { [K in TemplateName]: Kinds[K]['scope'] extends 'case' ? K : never }[TemplateName];

export function isSystemTemplate(name: TemplateName): name is SystemTemplateName {
  return (systemTemplateNames as readonly TemplateName[]).includes(name);
}

/** Kinds about one case (scope "case": they get the full common data, `commonVariables`). */
export const caseTemplateNames: readonly CaseTemplateName[] = templateNames.filter((n): n is CaseTemplateName => templateKinds[n].scope === 'case');

/** Kinds customers read (layouts/default). */
export const customerTemplateNames: readonly TemplateName[] = templateNames.filter((n) => templateKinds[n].audience === 'customer');

/** Kinds agents, leads and admins read (layouts/staff). */
export const staffTemplateNames: readonly TemplateName[] = templateNames.filter((n) => templateKinds[n].audience === 'staff');

/** Web pages (layouts/page): rendered by the web server, never sent as email. */
export const webTemplateNames: readonly TemplateName[] = templateNames.filter((n) => templateKinds[n].audience === 'web');

/** The declaration of one kind: when it is sent, audience, scope, variables. */
export function templateDeclaration(name: TemplateName): TemplateKindDeclaration {
  return templateKinds[name];
}

/** The layout a kind is wrapped in (by its audience). */
export function templateLayout(name: TemplateName): TemplateLayout {
  return layoutOfAudience[templateKinds[name].audience];
}

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(templateKinds, name);
}

/** The variable declarations of one kind (runtime view). */
export function templateVariables(name: TemplateName): VarFields {
  return templateKinds[name].variables;
}

function exampleOf(spec: VarSpec): unknown {
  switch (spec.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(spec.fields)) out[key] = exampleOf(field);
      return out;
    }
    case 'list':
      return [...spec.example];
    default:
      return spec.example;
  }
}

/** Data made of the declared example values (trial renders, send-test, documentation). */
export function sampleTemplateData<N extends TemplateName>(name: N): TemplateDataMap[N] {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(templateVariables(name))) out[key] = exampleOf(spec);
  // Built from the declaration the type is derived from, so the shapes agree.
  return out as TemplateDataMap[N];
}

export interface VariableInfo {
  /** Path as written in a template: `case.number`, `helpfulInfo` (list), `this` inside `#each`. */
  readonly path: string;
  readonly type: VarSpec['type'];
  readonly description: string;
  /** Example value (JSON-compatible); absent for objects. */
  readonly example?: unknown;
  /** For list items: the path of the list they belong to. */
  readonly itemOf?: string;
}

/** Every variable of a kind, flattened, depth-first in declaration order (for a reference page). */
export function listTemplateVariables(name: TemplateName): VariableInfo[] {
  const out: VariableInfo[] = [];
  const visit = (path: string, spec: VarSpec, itemOf?: string): void => {
    const base = { path, type: spec.type, description: spec.description, ...(itemOf !== undefined ? { itemOf } : {}) };
    if (spec.type === 'object') {
      out.push(base);
      for (const [key, field] of Object.entries(spec.fields)) {
        visit(itemOf !== undefined && path === 'this' ? key : `${path}.${key}`, field, itemOf);
      }
    } else if (spec.type === 'list') {
      out.push({ ...base, example: spec.example });
      visit('this', spec.item, path);
    } else {
      out.push({ ...base, example: spec.example });
    }
  };
  for (const [key, spec] of Object.entries(templateVariables(name))) visit(key, spec);
  return out;
}
