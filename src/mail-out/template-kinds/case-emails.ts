import { commonVariables, staffCaseVariables } from './bases.js';
import { owner, reopenDays, bug, lastCustomerMessage } from './case-vars.js';
import { bool, list, num, obj, str, type TemplateKindDeclaration } from './vars.js';

/** Emails about one case through its life: to the customer (layouts/default) and the alerts and reminders to agents and leads (layouts/staff). Who works the case — notifications, assignment, agents' commands and replies: agent-emails.ts. */

export const caseEmailKinds = {
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
        hours: num('The target’s whole hours (4 for 4 h 30 min), to word it yourself in a language casegate has no words for.', 4),
        minutes: num('The target’s minutes past its whole hours (30 for 4 h 30 min).', 0),
        businessTime: bool('True when the target counts business hours only (the queue’s calendar), false for 24/7.', true),
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
        ownSignOff: bool('True when the agent’s text ends with its own sign-off ("Best, Ben"), or with their name on a line of its own ("Ben"): the shipped template then adds none.', false),
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
        fromLabel: str('Previous priority in words, in the case’s language (as case.priorityLabel); empty when the priority did not change.', ''),
        toLabel: str('New priority in words, in the case’s language (as case.priorityLabel); empty when the priority did not change.', ''),
      }),
      bug,
      reopenDays,
    },
  },
  'case-moved': {
    description:
      'Sent to the customer when their case moved to a queue whose mailbox has another address (casegate cases move, #queue): from now on its mail comes from there (a move within one mailbox, or a quiet one, sends nothing).',
    audience: 'customer',
    scope: 'case',
    variables: {
      ...commonVariables,
      move: obj('The move, as the customer may see it (mailbox.address is the new address).', {
        previousAddress: str('The address the case’s mail came from until now (replies to its earlier mail still reach the case).', 'helpdesk@example.com'),
        fromName: str('The display name of the new mailbox (mailboxes[].fromName); empty when it has none.', 'Example Billing'),
      }),
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
      lastMessage: lastCustomerMessage('The customer’s latest message on the case.'),
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
    description: 'Sent to the customer of a critical case that has had no update from the team for jobs.criticalReminder.afterMinutes (only with notifyCustomer: true); once until the next update from the team, not with every further reminder to the team.',
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
          'Rating links, lowest first: each opens the survey page with its rating chosen, recorded when the customer sends it (empty when the web server is off).',
          obj('One rating.', {
            value: num('The rating.', 1),
            url: str('Link to the survey page with this rating chosen.', 'https://support.example.com/s/10042.s.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665/1'),
          }),
          [1, 2, 3, 4, 5].map((value) => ({ value, url: `https://support.example.com/s/10042.s.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665/${value}` })),
        ),
        unsubscribeUrl: str(
          'Page that stops survey emails to this address (its button confirms; the same address is the email’s one-click List-Unsubscribe); empty when the web server is off.',
          'https://support.example.com/s/10042.s.tbq1hs.tc2qhs.3f9a0c1d2e4b5a6978877665/unsubscribe',
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
} as const satisfies { readonly [kind: string]: TemplateKindDeclaration };
