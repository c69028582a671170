import { instanceVariables } from './bases.js';
import { list, num, obj, str, type TemplateKindDeclaration, type VarFields } from './vars.js';

/** Emails about the installation as a whole (scope "instance", no case): health alerts and the report, to staff. */

export const instanceEmailKinds = {
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
  'sla-digest': {
    description:
      'Sent to the owner and the queue’s leads (tier 1; else instance.adminAddress) instead of single sla-warning / sla-breach emails when one sla-check run has alerts about more than one case for the same person, and instead of single stale-reminder emails when one critical-reminder run reminds the same person of more than one critical case without an update: one email listing them, missed targets first — after a downtime, a weekend or in a busy hour, not one email per case.',
    audience: 'staff',
    scope: 'instance',
    variables: {
      ...instanceVariables,
      digest: obj('The alerts of this sweep for the recipient.', {
        cases: num('How many cases the list names.', 3),
        breaches: num('How many of the alerts are missed targets.', 1),
        warnings: num('How many are warnings (a target due soon).', 1),
        stale: num('How many are critical cases without an update from the team (jobs.criticalReminder; its digests list only these).', 1),
        more: num('Alerts not listed in `items` (it lists at most 100, the most urgent); 0 when all are.', 0),
        items: list(
          'One alert each (at most 100), missed targets first (longest overdue first), then warnings (soonest due first).',
          obj('One alert.', {
            alert: str('breach (the target was missed), warning (it is due soon) or stale (a critical case without an update from the team).', 'breach'),
            kind: str('Which target: first-response or resolution; update for stale.', 'first-response'),
            caseNumber: num('Case number.', 10042),
            caseTag: str('The case’s subject tag.', '[Case #10042]'),
            subject: str('Subject of the case.', 'Cannot log in since this morning'),
            queue: str('Queue of the case.', 'general'),
            priority: str('Priority of the case.', 'high'),
            owner: str('Display name of the owner; empty when the case has none.', 'Max Mustermann'),
            dueAt: str('When the target is (was) due — stale: when the team last updated the case —, ISO 8601 in the queue’s time zone; use {{formatDate dueAt}}.', '2025-03-14T13:26:53+01:00'),
            minutes: num('breach: minutes since it was due; warning: minutes left; stale: minutes since the last update; use {{duration minutes}}.', 20),
            caseCommand: str('The CLI command to look at the case.', 'casegate cases show 10042'),
          }),
          [
            { alert: 'breach', kind: 'first-response', caseNumber: 10042, caseTag: '[Case #10042]', subject: 'Cannot log in since this morning', queue: 'general', priority: 'high', owner: 'Max Mustermann', dueAt: '2025-03-14T13:26:53+01:00', minutes: 20, caseCommand: 'casegate cases show 10042' },
            { alert: 'warning', kind: 'resolution', caseNumber: 10043, caseTag: '[Case #10043]', subject: 'Invoice 2025-117 is wrong', queue: 'billing', priority: 'normal', owner: '', dueAt: '2025-03-14T16:00:00+01:00', minutes: 45, caseCommand: 'casegate cases show 10043' },
            { alert: 'stale', kind: 'update', caseNumber: 10044, caseTag: '[Case #10044]', subject: 'Payments down', queue: 'general', priority: 'urgent', owner: 'Max Mustermann', dueAt: '2025-03-14T12:10:00+01:00', minutes: 96, caseCommand: 'casegate cases show 10044' },
          ],
        ),
      }),
    },
  },
  'message-quarantined': {
    description:
      'Sent to instance.adminAddress when casegate gives up on an inbound message: a stage ran out of time on it again and again (pipeline.giveUpAfterAttempts, pipeline.giveUpAfterMinutes) while it worked for other mail. The raw message is kept in the quarantine; `casegate quarantine retry` runs it again after a fix. At most one an hour (the others are events; `casegate quarantine list` shows every one).',
    audience: 'staff',
    scope: 'instance',
    variables: {
      instance: instanceVariables.instance,
      mailbox: obj('The mailbox the message came to.', {
        name: str('Name of the mailbox in the configuration.', 'support'),
        address: str('First address the mailbox serves.', 'support@example.com'),
      }),
      message: obj('The message given up.', {
        receipt: num('Its receipt id: casegate quarantine show/retry <receipt>.', 812),
        from: str('Its sender (From), or empty when it could not be read.', 'jane@customer.example'),
        subject: str('Its subject, or empty when it could not be read.', 'Invoice 2025-113 attached'),
        messageId: str('Its Message-ID, or empty.', '<CAF3x9@mail.customer.example>'),
        channel: str('How it came: imap, smtp or pipe.', 'imap'),
      }),
      failure: obj('Why it was given up.', {
        stage: str('The pipeline stage that ran out of time on it.', 'parse'),
        error: str('The last error.', 'stage parse took longer than 30 s'),
        attempts: num('Attempts that ended in this failure.', 6),
        since: str('First failed at, ISO 8601; use {{formatDate failure.since}}.', '2025-03-14T09:26:53Z'),
        minutes: num('Minutes from the first failure to giving up.', 64),
        showCommand: str('Command that shows the message.', 'casegate quarantine show 812'),
        retryCommand: str('Command that runs it again after a fix.', 'casegate quarantine retry 812'),
      }),
      replyMarker: instanceVariables.replyMarker,
      isTest: instanceVariables.isTest,
    },
  },
  'case-rate-alert': {
    description:
      'Sent to instance.adminAddress when a mailbox opened more than alerts.newCasesPerMailboxPerHour new cases within an hour (a flood from many senders that no per-sender limit sees): once per mailbox and hour, also through alerts.command. Nothing is held: every message is a case as usual.',
    audience: 'staff',
    scope: 'instance',
    variables: {
      instance: instanceVariables.instance,
      mailbox: obj('The mailbox the alert is about.', {
        name: str('Name of the mailbox in the configuration.', 'support'),
        address: str('First address the mailbox serves.', 'support@example.com'),
      }),
      alert: obj('What the mailbox received.', {
        cases: num('New cases of the mailbox within the past hour (counted up to the limit and one more, so at least limit + 1).', 101),
        limit: num('alerts.newCasesPerMailboxPerHour.', 100),
        senders: num('Different senders (requesters) of those cases.', 97),
        since: str('Start of the hour counted, ISO 8601; use {{formatDate alert.since}}.', '2025-03-14T08:26:53Z'),
        newest: list(
          'The newest cases of the hour (at most 5).',
          obj('One case.', {
            number: num('Case number.', 10142),
            from: str('Requester address.', 'ann@example.org'),
            subject: str('Subject of the case.', 'Invoice attached'),
          }),
          [{ number: 10142, from: 'ann@example.org', subject: 'Invoice attached' }],
        ),
        listCommand: str('Command that lists the newest cases.', 'casegate cases list'),
      }),
      replyMarker: instanceVariables.replyMarker,
      isTest: instanceVariables.isTest,
    },
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
        opened: num('Cases opened in the period (suspected spam not counted).', 42),
        suspectedSpam: num('Cases opened in the period by mail our MX called spam, still held (casegate cases list --spam): in neither opened nor backlog.', 0),
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
      error: str('The last error.', 'login rejected: AUTHENTICATIONFAILED: Command failed: Authentication failed.'),
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
      relay: str('The relay\'s name: "default" (outgoing.smtp) or one of outgoing.relays (mailboxes[].relay).', 'default'),
      settings: str('Where the relay is configured: outgoing.smtp or outgoing.relays.<name>.', 'outgoing.smtp'),
      login: str('The keys of the relay\'s login, to check when it is rejected.', 'outgoing.smtp.user and outgoing.smtp.password'),
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
