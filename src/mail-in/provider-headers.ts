/**
 * Headers the big mail platforms put on machine-made mail, beyond RFC 3834, and the bulk/list
 * headers (RFC 2369, Precedence). Each entry names the header, the platform, and which values
 * mean what; only headers that mark the *kind* of message are listed — a platform's plain
 * "sent through us" headers (Amazon SES's X-SES-Outgoing, SendGrid's X-SG-EID, Zendesk's or
 * Freshdesk's ticket ids) also ride on mail a person typed (an agent of another helpdesk), so they
 * prove nothing. Helpdesk and monitoring systems (Zendesk, Freshdesk, Jira, Zammad, RT) mark their
 * automatic mail with Auto-Submitted / Precedence, which auto-reply.ts reads.
 */
import type { AutomatedKind, AutomatedVerdict, ListContext } from './automated.js';
import { header, type ParsedMail } from './parsed-mail.js';

interface ProviderHeader {
  /** Lower-case header name. */
  readonly name: string;
  /** Display form for reasons. */
  readonly display: string;
  /** The kind a value means, or null when this value says nothing. */
  readonly kind: (value: string) => AutomatedKind | null;
}

const PROVIDER_HEADERS: readonly ProviderHeader[] = [
  {
    // Exchange / Exchange Online: the transport agent that generated the message. "Mailbox Rules
    // Agent" writes out-of-office replies and inbox-rule replies; others write transport-rule
    // notices, journal reports, content-filter notices.
    name: 'x-ms-exchange-generated-message-source',
    display: 'X-MS-Exchange-Generated-Message-Source',
    kind: (v) => (/mailbox rules agent/i.test(v) ? 'auto-reply' : 'auto-generated'),
  },
  {
    // Exchange: a message produced by an inbox rule (auto-reply, redirect) carries the mailbox
    // that ran the rule, so rules do not loop.
    name: 'x-ms-exchange-inbox-rules-loop',
    display: 'X-MS-Exchange-Inbox-Rules-Loop',
    kind: () => 'auto-generated',
  },
  {
    // Exchange transport-rule notifications ("your message was blocked by policy").
    name: 'x-ms-exchange-transport-rules-notification',
    display: 'X-MS-Exchange-Transport-Rules-Notification',
    kind: () => 'auto-generated',
  },
  {
    // ServiceNow notifications (incident created/updated).
    name: 'x-servicenow-generated',
    display: 'X-ServiceNow-Generated',
    kind: (v) => (/^\s*(?:true|yes|1)\b/i.test(v) ? 'auto-generated' : null),
  },
  {
    // Salesforce: workflow alerts, mass mail and auto-responses; an agent's reply from the case
    // feed ("emailPublisherEmail") or a single API mail is a person's or an app's one-off mail.
    name: 'x-sfdc-emailcategory',
    display: 'X-SFDC-EmailCategory',
    kind: (v) => (/workflow|alert|mass|auto/i.test(v) ? 'auto-generated' : null),
  },
];

/** The first provider header that marks the message as machine-made. */
export function providerHeaderVerdict(mail: ParsedMail): AutomatedVerdict | null {
  for (const h of PROVIDER_HEADERS) {
    const value = header(mail, h.name);
    if (value === null) continue;
    const kind = h.kind(value);
    if (kind !== null) return { kind, reason: `${h.display}${value.trim() !== '' ? `: ${value.trim().slice(0, 80)}` : ''}` };
  }
  return null;
}

const LIST_HEADERS = [
  'list-id',
  'list-unsubscribe',
  'list-post',
  'list-subscribe',
  'list-help',
  'list-owner',
  'list-archive',
  'mailing-list',
  'x-mailing-list',
  'x-mlserver',
];

/**
 * Precedence: auto_reply → auto-reply; bulk/junk/list → bulk; mailing-list headers → bulk. Mail
 * through a list of our own (listIsOurs) is not bulk for its list headers or "Precedence: list".
 */
export function bulkVerdict(mail: ParsedMail, opts: ListContext = {}): AutomatedVerdict | null {
  const precedence = header(mail, 'precedence');
  if (precedence !== null) {
    const value = precedence.trim().toLowerCase();
    if (value === 'auto_reply' || value === 'auto-reply') return { kind: 'auto-reply', reason: `Precedence: ${value}` };
    if (value === 'bulk' || value === 'junk' || (value === 'list' && opts.listIsOurs !== true)) return { kind: 'bulk', reason: `Precedence: ${value}` };
  }
  if (opts.listIsOurs === true) return null;
  for (const name of LIST_HEADERS) {
    if (header(mail, name) !== null) return { kind: 'bulk', reason: displayName(name) };
  }
  return null;
}

export function displayName(name: string): string {
  const special: Record<string, string> = {
    'list-id': 'List-Id',
    'x-mlserver': 'X-MLServer',
    'x-autoreply-from': 'X-AutoReply-From',
  };
  return special[name] ?? name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}
