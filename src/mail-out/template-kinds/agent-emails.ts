import { commonVariables, staffCaseVariables } from './bases.js';
import { owner, filesNotAttached, lastCustomerMessage } from './case-vars.js';
import { bool, list, num, obj, str, type TemplateKindDeclaration } from './vars.js';

/** Emails about who works a case: notifications to agents, assignment (and the customer told of a new agent), what agents' commands and replies cause (command errors, files, a colleague's answer, a held reply, sender warnings), bounces. */

export const agentEmailKinds = {
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
      related: obj('The case this one is linked to (possibly related: a forward of the customer’s earlier message, a stranger’s reference or tag, a reply after the reopen window); number 0 and subject empty when none.', {
        number: num('Its case number; 0 when none.', 10017),
        subject: str('Its subject.', 'Printer on fire'),
        command: str('The command that shows it.', 'casegate cases show 10017'),
      }),
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
        notCopied: list(
          'Addresses the message copied (To/Cc) that the case’s mail does not reach: nothing proves the sender (security.senderAuth), an agent took them off the case, or a customer’s mail already made 50 people take part. An agent copies one in with #cc <address>. Empty for most messages.',
          str('One address.', 'colleague@example.org'),
          [],
        ),
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
  'out-of-office-held': {
    description:
      'Sent to an agent whose emailed reply read like an automatic out-of-office reply that nobody marked (no Auto-Submitted header, no "Automatic reply:" subject): it was not sent to the customer, it is kept on the case for the team only. A reply to this email with nothing written sends the held text to the customer; one with a text sends that text. At most one an hour per case and agent.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      held: obj('The agent’s email, not sent.', {
        subject: str('Its subject.', 'Re: [Case #10042] New case: Cannot log in since this morning'),
        text: str('Its new text, as it would have gone to the customer; plain text, in HTML use {{paragraphs held.text}}.', 'I am out of the office until Monday 14 December with limited access to email.'),
        matched: str('The words that made it look automatic.', 'text "I am out of the office" + "until"'),
      }),
    },
  },
  'empty-reply': {
    description:
      'Sent to an agent whose emailed reply had nothing written of their own: no text above the quoted email (Outlook’s empty reply, whose From:/Sent: block is not sent either), or only a signature or a phone’s "Sent from my iPhone" line; no command, no file. Nothing was sent to the customer and nothing on the case changed. At most one an hour per case and agent, and none for an empty reply to this email.',
    audience: 'staff',
    scope: 'case',
    variables: {
      ...staffCaseVariables,
      reply: obj('The agent’s email.', {
        subject: str('Its subject.', 'Re: [Case #10042] New case: Cannot log in since this morning'),
        signature: str('The signature that was all it said, as written (plain text); empty when it said nothing at all.', 'Erika Musterfrau\nSupport Team'),
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
