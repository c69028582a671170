/**
 * A delivery status notification (RFC 3464) as an MTA writes it: every recipient failed with 5.1.1,
 * and — when `refersTo` is given — the original's headers quoting that Message-ID.
 */
export interface DsnOptions {
  readonly recipients: readonly string[];
  /** The DSN's own Message-ID (without brackets). */
  readonly messageId: string;
  /** The original's Message-ID the DSN quotes (text/rfc822-headers); none when absent. */
  readonly refersTo?: string;
  /** Its To (the envelope sender the MTA returned it to). */
  readonly to?: string;
  /** The reporting MTA's host. */
  readonly mta?: string;
  /** Subject of the quoted original. */
  readonly originalSubject?: string;
  /** The Original-Envelope-Id the MTA writes (the ENVID it was given with MAIL FROM). */
  readonly envelopeId?: string;
  /** Its From address (default MAILER-DAEMON@<mta>). */
  readonly from?: string;
  /** With Auto-Submitted: auto-replied (many MTAs leave it out). */
  readonly autoSubmitted?: boolean;
  /** With an Original-Recipient line per recipient (RFC 3461 ORCPT, as the sender's MTA passed it on). */
  readonly originalRecipient?: boolean;
}

export function dsn(o: DsnOptions): string {
  const mta = o.mta ?? 'mx.customer.example';
  const status = o.recipients.map((r) => `${o.originalRecipient === true ? `Original-Recipient: rfc822;${r}\r\n` : ''}Final-Recipient: rfc822; ${r}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n`).join('\r\n');
  return [
    `From: ${o.from ?? `MAILER-DAEMON@${mta}`} (Mail Delivery System)`,
    `To: ${o.to ?? 'support@example.com'}`,
    'Subject: Undelivered Mail Returned to Sender',
    'Date: Mon, 02 Mar 2026 09:05:00 +0000',
    `Message-ID: <${o.messageId}>`,
    ...(o.autoSubmitted === true ? ['Auto-Submitted: auto-replied'] : []),
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    'Your message could not be delivered.',
    '--b',
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${mta}`,
    ...(o.envelopeId !== undefined ? [`Original-Envelope-Id: ${o.envelopeId}`] : []),
    '',
    status,
    ...(o.refersTo !== undefined ? ['--b', 'Content-Type: text/rfc822-headers', '', 'From: support@example.com', `Message-ID: <${o.refersTo}>`, `Subject: ${o.originalSubject ?? '[Case #10001] Re: Printer on fire'}`, ''] : []),
    '--b--',
    '',
  ].join('\r\n');
}
