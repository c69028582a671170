import { commonVariables, staffCaseVariables } from './bases.js';
import { bool, list, num, obj, str, type TemplateKindDeclaration } from './vars.js';

/** Emails about one case: to the customer (layouts/default) and to agents and leads (layouts/staff). */

const owner = obj('The agent who owns the case.', {
  name: str('Display name of the owner; empty when the case is unassigned.', 'Erika Musterfrau'),
});
const reopenDays = num('Days in which a reply reopens the case (cases.reopenWindowDays); later replies open a new case.', 30);
const bug = obj('A bug report (#bug): when a fix is expected.', {
  timeline: str('immediately, weeks, months or not-foreseeable; empty (as in the sample) when the email is not about a bug. The shipped wording differs per class.', ''),
});
const filesNotAttached = list(
  'Its files this email does not carry (over agentMail.attachFilesMaxBytes in total, suspected spam, missing from the store) and the pictures its HTML shows: each with its size and the command that saves it.',
  obj('One file.', {
    name: str('The file name.', 'recording.mp4'),
    size: str('Its size in words.', '48.2 MB'),
    command: str('The CLI command that saves it into the current directory.', 'casegate cases files 10042 --id 7 --save .'),
    picture: bool('True for a picture the message’s HTML shows (a pasted screenshot of 10 KB or more; smaller ones are taken for logos and left out): staff mail shows no pictures, so it is named here.', false),
  }),
  [{ name: 'recording.mp4', size: '48.2 MB', command: 'casegate cases files 10042 --id 7 --save .', picture: false }],
);
const lastCustomerMessage = (description: string) =>
  obj(description, {
    from: str('Sender as "Name <address>".', 'Jane Doe <jane@example.org>'),
    at: str('When it arrived, ISO 8601.', '2025-03-14T10:48:31Z'),
    visibleText: str(
      'Its new text (quoted history and signature removed); plain text, in HTML use {{paragraphs lastMessage.visibleText}}.',
      'Still no luck. Now my colleagues cannot log in either.',
    ),
    forged: bool('True when its From failed the sender check (security.senderAuth: DMARC fail): it may not come from that address at all. Say so; the shipped templates warn.', false),
    attachments: list('File names of the files it carried (not the pictures its HTML shows); the email carries them as attachments, but for those in notAttached.', str('One file name.', 'error-log.txt'), ['error-log.txt']),
    notAttached: filesNotAttached,
  });

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
  'agent-notification': {
    description: 'Sent to the agents of the queue (or the owner) when a customer opens a new case or replies to one.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      event: str(
        'What happened: new-case (a new case was opened), customer-reply (the customer wrote again), call-request (an agent noted that the customer asks for a phone call) or sender-flood (one sender’s mail caused staff email more than agentMail.notifyPerSenderPerHour times within an hour: the newest message is shown; the sender’s further mail and its cases cause no notification, assignment, escalation, SLA or reminder email to this recipient, each recipient gets one such notice).',
        'new-case',
      ),
      owner,
      call: obj('For call-request: the phone call the customer asked for.', {
        when: str('When the customer wants to be called (as the agent wrote it); may be empty.', 'tomorrow 10:00'),
        by: str('The agent who noted it.', 'Max Mustermann'),
      }),
      flood: obj('For sender-flood: whose mail causes no staff email for now.', {
        sender: str('The sender’s address (a +tag dropped).', 'jane@example.org'),
        limit: num('Messages per sender and hour that cause staff email (agentMail.notifyPerSenderPerHour).', 10),
        suppressed: num('Messages of this sender that caused no staff email since the previous such notice; 0 for the first.', 0),
      }),
      message: obj('The customer’s message.', {
        from: str('Sender as "Name <address>".', 'Jane Doe <jane@example.org>'),
        at: str('When it arrived, ISO 8601.', '2025-03-14T09:26:50Z'),
        visibleText: str(
          'Its new text (quoted history and signature removed); plain text, in HTML use {{paragraphs message.visibleText}}.',
          'Hello,\n\nsince this morning I cannot log in. The page says "Invalid session".\n\nJane',
        ),
        attachments: list('File names of the files it carried (not the pictures its HTML shows); the email carries them as attachments, but for those in notAttached.', str('One file name.', 'screenshot.png'), ['screenshot.png']),
        notAttached: filesNotAttached,
        forged: bool('True when its From failed the sender check (security.senderAuth: DMARC fail): it may not come from that address at all. Say so; the shipped templates warn.', false),
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
  'case-files': {
    description: 'Sent to an agent who asked for a case’s files with #files: the files as attachments, as many as agentMail.attachFilesMaxBytes allows; the others named with the command that saves them.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      requested: str('The command line as the agent wrote it.', '#files'),
      attached: list(
        'The files this email carries.',
        obj('One file.', { name: str('The file name.', 'screenshot.png'), size: str('Its size in words.', '182 KB'), from: str('Whose message brought it, as "Name <address>".', 'Jane Doe <jane@example.org>') }),
        [{ name: 'screenshot.png', size: '182 KB', from: 'Jane Doe <jane@example.org>' }],
      ),
      notAttached: filesNotAttached,
      unknown: list('Ids the agent asked for that are no file of the case.', str('One id.', '99'), []),
    },
  },
  'colleague-answered': {
    description:
      'Sent to the other staff a customer’s message was sent to (agent-notification, assignment, escalation-alert since the case’s previous answer) when an agent answers the customer, with the answer: nobody answers twice (agentMail.tellColleaguesOnAnswer). A reply to it works the case.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      owner,
      answer: obj('The answer the customer got.', {
        by: str('Who answered: the agent’s display name (a CLI user’s name for casegate cases reply).', 'Erika Musterfrau'),
        at: str('When, ISO 8601.', '2025-03-14T10:02:00Z'),
        text: str('The answer’s text (plain text, in HTML use {{paragraphs answer.text}}).', 'Hello Jane,\n\nplease clear your browser’s cookies and log in again.\n\nErika'),
      }),
    },
  },
  'reply-collision': {
    description:
      'Sent to an agent whose emailed reply was held because another agent answered the customer meanwhile (within agentMail.collisionMinutes, after the email the reply answered): nothing of it was done. A reply to this email goes out as usual.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      colleague: obj('The answer that went out first (the newest, when there were several).', {
        by: str('Who answered: the agent’s display name.', 'Erika Musterfrau'),
        at: str('When, ISO 8601.', '2025-03-14T10:02:00Z'),
        text: str('The answer as the customer got it (plain text, in HTML use {{paragraphs colleague.text}}).', 'Hello Jane,\n\nplease clear your browser’s cookies and log in again.\n\nErika'),
        more: num('How many more answers by colleagues went out in the same time, before this one.', 0),
      }),
      held: obj('The agent’s own email, not sent.', {
        subject: str('Its subject.', 'Re: [Case #10042] New case: Cannot log in since this morning'),
        text: str('Its new text (commands included), so nothing is lost; plain text, in HTML use {{paragraphs held.text}}.', 'Hi Jane, this is a known issue with the new release: please log out and in again.'),
      }),
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
  'unproven-staff': {
    description:
      'Sent to an agent or lead whose email about a case of their queue could not be proven to come from them (no sender authentication, and no reply to staff mail sent to that address about the case), or to staff of another queue answering its mail: it was stored as a customer message, nothing in it was done and nothing reached the customer. A reply to this email works the case (for an agent of its queue).',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      unproven: obj('The email that was not acted on.', {
        address: str('The staff address it came from (the recipient of this notice).', 'erika@example.com'),
        subject: str('Its subject.', 'Re: [Case #10042] Cannot log in since this morning'),
        why: str('Why it proved nothing.', 'sender not authenticated (security.senderAuth.mode none); not a reply to staff mail we sent to erika@example.com about case 10042'),
        at: str('When it arrived, ISO 8601.', '2025-03-14T11:40:12Z'),
        text: str('Its new text (commands included), so nothing is lost; plain text, in HTML use {{paragraphs unproven.text}}.', '#resolve\nThe fix is deployed, please try again.'),
        storedIn: num('The case it was stored in as a customer message: this case, or a new one linked to it (a bare subject tag).', 10042),
        otherQueue: bool('True when the sender is staff of another queue (proven or not, the case is not theirs to work); `why` says which queue.', false),
        reached: list('Customer addresses the email itself went to from the sender’s own mail client (its To and Cc: a reply-all to the customer): they have its text already, though the case does not show it as its answer. Empty when it went to support alone.', str('One address.', 'jane@customer.example'), ['jane@customer.example']),
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
    description: 'Sent to the owner of the case (or the queue’s agents) when an email casegate sent on the case bounced, or when the relay refused it as it was sent (a recipient refused, too large, given up).',
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
        permanent: bool('True for a hard bounce: the address is marked bouncing and casegate stops sending to it. False when the relay refused the email as it was sent (the address is not marked).', true),
        kind: str('Template of the email that bounced (agent-reply, confirmation, …).', 'agent-reply'),
        subject: str('Subject of the email that bounced.', '[Case #10042] Re: Cannot log in since this morning'),
        at: str('When the bounce arrived, ISO 8601.', '2025-03-14T11:40:12Z'),
      }),
    },
  },
} as const satisfies { readonly [kind: string]: TemplateKindDeclaration };
