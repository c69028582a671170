import { describe, expect, it } from 'vitest';
import { classifySendError, isTransportClass } from '../../src/mail-out/send-errors.js';

/** The one list of send errors: nodemailer's codes and SMTP replies → class → what the outbox does. */
const err = (fields: Record<string, unknown>, message = 'failed'): Error => Object.assign(new Error(message), fields);

describe('classifySendError', () => {
  it.each([
    ['535 on AUTH', err({ code: 'EAUTH', responseCode: 535, response: '535 5.7.8 Error: authentication failed' }, 'Invalid login: 535 5.7.8 Error: authentication failed'), 'auth', 'pause'],
    ['no credentials', err({ code: 'ENOAUTH' }, 'Missing credentials for "PLAIN"'), 'auth', 'pause'],
    ['OAuth2 token refresh', err({ code: 'EOAUTH2' }), 'auth', 'pause'],
    ['530 authentication required on MAIL FROM', err({ code: 'EENVELOPE', responseCode: 530, response: '530 5.7.0 Authentication required' }), 'auth', 'pause'],
    ['554 relay access denied on RCPT', err({ code: 'EENVELOPE', responseCode: 554, response: '554 5.7.1 <x@y.example>: Relay access denied' }), 'auth', 'pause'],
    ['STARTTLS failed', err({ code: 'ETLS' }, 'Error initiating TLS - self-signed certificate'), 'tls', 'pause'],
    ['certificate expired (connect)', err({ code: 'ESOCKET', originalCode: 'CERT_HAS_EXPIRED' }, 'certificate has expired'), 'tls', 'pause'],
    ['self-signed (connect)', err({ code: 'ESOCKET', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, 'self-signed certificate'), 'tls', 'pause'],
    ['REQUIRETLS unsupported', err({ code: 'EREQUIRETLS' }), 'tls', 'pause'],
    ['connection refused', err({ code: 'ESOCKET', originalCode: 'ECONNREFUSED' }, 'connect ECONNREFUSED 127.0.0.1:25'), 'connection', 'pause'],
    ['plain ECONNREFUSED', err({ code: 'ECONNREFUSED' }), 'connection', 'pause'],
    ['timeout', err({ code: 'ETIMEDOUT' }, 'Greeting never received'), 'connection', 'pause'],
    ['DNS', err({ code: 'EDNS', originalCode: 'ENOTFOUND' }), 'connection', 'pause'],
    ['connection closed', err({ code: 'ECONNECTION' }, 'Connection closed unexpectedly'), 'connection', 'pause'],
    ['421 service not available', err({ code: 'EMESSAGE', responseCode: 421, response: '421 4.3.2 Service shutting down' }), 'connection', 'pause'],
    ['file transport: disk full', err({ code: 'ENOSPC' }, 'no space left on device'), 'connection', 'pause'],
    ['553 sender not owned by user on MAIL FROM', err({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 553, response: '553 5.7.1 <billing@example.com>: Sender address rejected: not owned by user ben' }, 'Mail command failed: 553 5.7.1 <billing@example.com>: Sender address rejected: not owned by user ben'), 'sender', 'hold'],
    ['550 sender rejected on MAIL FROM', err({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 550, response: '550 5.7.60 SMTP; Client does not have permissions to send as this sender' }), 'sender', 'hold'],
    ['554 Sender address rejected to every RCPT TO (Postfix, smtpd_delay_reject)', err({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 554, response: '554 5.7.1 <billing@example.com>: Sender address rejected: not owned by user ben' }, "Can't send mail - all recipients were rejected: 554 5.7.1 <billing@example.com>: Sender address rejected: not owned by user ben"), 'sender', 'hold'],
    ['552 size on MAIL FROM (the email, not the sender)', err({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 552, response: '552 5.3.4 Message size exceeds fixed limit' }), 'recipient', 'fail'],
    ['451 on MAIL FROM (for now: this email retries)', err({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 451, response: '451 4.3.0 try later' }), 'recipient', 'retry'],
    ['530 authentication required on MAIL FROM (the login, not the sender)', err({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 530, response: '530 5.7.0 Authentication required' }), 'auth', 'pause'],
    ['550 user unknown', err({ code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 <x@y.example>: Recipient address rejected' }), 'recipient', 'fail'],
    ['450 greylisted', err({ code: 'EENVELOPE', responseCode: 450, response: '450 4.2.0 Greylisted' }), 'recipient', 'retry'],
    ['invalid recipient (local)', err({ code: 'EENVELOPE' }, 'Invalid recipient "x"'), 'recipient', 'fail'],
    ['451 on DATA', err({ code: 'EMESSAGE', responseCode: 451, response: '451 4.3.0 try later' }), 'message', 'retry'],
    ['552 too big', err({ code: 'EMESSAGE', responseCode: 552, response: '552 5.3.4 Message too big' }), 'message', 'fail'],
    ['554 content rejected', err({ code: 'EMESSAGE', responseCode: 554, response: '554 5.7.1 Spam message rejected' }), 'message', 'fail'],
    ['503 bad sequence (a new session may work)', err({ code: 'EPROTOCOL', responseCode: 503 }), 'connection', 'pause'],
    ['503 on DATA', err({ code: 'EMESSAGE', responseCode: 503, response: '503 5.5.1 Error: need RCPT command' }), 'message', 'retry'],
    ['size known too big locally', err({ code: 'EMESSAGE' }, 'Message size larger than allowed 1000'), 'message', 'fail'],
    ['anything else', err({}, 'something odd'), 'unknown', 'retry'],
    ['Microsoft 365 Send As denied at the end of DATA (the mailbox\'s login may not send as this From)', err({ code: 'EMESSAGE', command: 'DATA', responseCode: 554, response: '554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.' }), 'sender', 'hold'],
    ['SendGrid: From not a verified Sender Identity', err({ code: 'EMESSAGE', responseCode: 550, response: '550 The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.' }), 'sender', 'hold'],
    ['Microsoft 365 submission quota used up (5xx, heals)', err({ code: 'EMESSAGE', responseCode: 554, response: '554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.' }), 'message', 'retry'],
    ['Gmail daily sending limit at MAIL FROM (not the sender\'s permission)', err({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 550, response: '550 5.4.5 Daily user sending limit exceeded. For more information on Gmail sending limits go to https://support.google.com/a/answer/166852' }), 'message', 'retry'],
    ['a recipient\'s full mailbox stays a recipient refusal', err({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 552, response: '552 5.2.2 <x@y.example>: Mailbox full, over quota' }), 'recipient', 'fail'],
    ['not even an Error', 'boom', 'unknown', 'retry'],
  ] as const)('%s → %s / %s', (_name, e, cls, decision) => {
    const c = classifySendError(e);
    expect(c.errorClass).toBe(cls);
    expect(c.decision).toBe(decision);
    expect(c.summary.length).toBeGreaterThan(0);
    expect(c.summary.length).toBeLessThanOrEqual(500);
    expect(isTransportClass(c.errorClass)).toBe(c.decision === 'pause');
  });

  it('a TLS failure of a named relay names that relay\'s keys, not outgoing.smtp', () => {
    const c = classifySendError(err({ code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'unable to verify the first certificate'), { port: 587, secure: false, key: 'outgoing.relays.brand' });
    expect(c).toMatchObject({ errorClass: 'tls', summary: expect.stringMatching(/^the server's certificate is not signed by a CA this machine trusts: give its CA \(or the self-signed certificate itself\) as outgoing\.relays\.brand\.caFile/) });
  });

  it('keeps the reply code and text in the one-line summary', () => {
    const c = classifySendError(err({ code: 'EAUTH', responseCode: 535 }, 'Invalid login: 535 5.7.8 Error: authentication failed\nsecond line'));
    expect(c).toMatchObject({ responseCode: 535, summary: 'EAUTH: Invalid login: 535 5.7.8 Error: authentication failed' });
  });
});
