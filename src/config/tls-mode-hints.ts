/**
 * The TLS mode of a connection and the port it goes to must agree: implicit TLS (IMAP 993, SMTP
 * 465) speaks TLS from the first byte, plain IMAP (143) and SMTP submission (587, 25) start in
 * clear text and upgrade with STARTTLS. A mismatch is the most common first mistake, and what
 * the TLS library says about it ("ssl3_get_record:wrong version number", a greeting that never
 * comes) names neither the setting nor the fix. One home for both: the warning `casegate config`
 * and the start print, and the hint the error line of a failed connection carries.
 */

export type TlsSide = 'imap' | 'smtp';

/** The key and the wording of each side: `mailboxes.<i>.imap.tls` or `outgoing.smtp.secure`. */
const IMPLICIT_PORT: Record<TlsSide, number> = { imap: 993, smtp: 465 };
const PLAIN_PORTS: Record<TlsSide, readonly number[]> = { imap: [143], smtp: [587, 25] };
const IMPLICIT_SETTING: Record<TlsSide, string> = { imap: 'tls: implicit', smtp: 'secure: true' };
const PLAIN_SETTING: Record<TlsSide, string> = { imap: 'tls: starttls', smtp: 'secure: false' };

/** A warning when `implicit` (TLS from the first byte) and the port disagree, or null. */
export function tlsPortMismatch(side: TlsSide, port: number, implicit: boolean): string | null {
  if (implicit && PLAIN_PORTS[side].includes(port)) {
    return `${IMPLICIT_SETTING[side]} (TLS from the first byte) on port ${port}, where the server starts in plain text and offers STARTTLS: the connection would fail ("wrong version number"). For port ${port} set ${PLAIN_SETTING[side]}; ${IMPLICIT_SETTING[side]} is for port ${IMPLICIT_PORT[side]}`;
  }
  if (!implicit && port === IMPLICIT_PORT[side]) {
    return `port ${port} expects TLS from the first byte, but this connection starts in plain text and waits for the server's greeting, which never comes (a timeout). For port ${port} set ${IMPLICIT_SETTING[side]}`;
  }
  return null;
}

interface ErrorFields {
  code?: unknown;
  message?: unknown;
  reason?: unknown;
}

/**
 * What to change when a connection failed because of its TLS mode or certificate, or null when
 * the error says nothing of the kind. `key` is the block's path (`mailboxes.0.imap`, `outgoing.smtp`).
 */
export function tlsFailureHint(side: TlsSide, key: string, err: unknown, implicit: boolean, port: number): string | null {
  const e = (err ?? {}) as ErrorFields;
  const code = typeof e.code === 'string' ? e.code : '';
  const text = `${code} ${typeof e.message === 'string' ? e.message : ''} ${typeof e.reason === 'string' ? e.reason : ''}`;
  if (implicit && /wrong version number|ERR_SSL_WRONG_VERSION_NUMBER|packet length too long|unknown protocol/i.test(text)) {
    return `the server on port ${port} does not speak TLS from the first byte (${key}.${IMPLICIT_SETTING[side]}): for a port that starts in plain text (${PLAIN_PORTS[side].join(', ')}) set ${key}.${PLAIN_SETTING[side]}`;
  }
  if (!implicit && /GREETING_TIMEOUT|Greeting never received/i.test(text)) {
    return `no greeting from the server on port ${port}: a server that expects TLS from the first byte (port ${IMPLICIT_PORT[side]}) stays silent for a plain-text client; if so, set ${key}.${IMPLICIT_SETTING[side]}`;
  }
  // (nodemailer with requireTLS, when the server does not know STARTTLS: "Error upgrading connection with STARTTLS: 500 …")
  if (!implicit && /does not support STARTTLS|STARTTLS (is )?(not supported|unavailable)|upgrading connection with STARTTLS: 5\d\d/i.test(text)) {
    return `the server on port ${port} offers no STARTTLS (${key}.${PLAIN_SETTING[side]}): if it speaks TLS from the first byte (port ${IMPLICIT_PORT[side]}), set ${key}.${IMPLICIT_SETTING[side]} and that port; plain text only for a test server on this machine`;
  }
  if (/self[- ]signed|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to (get local issuer|verify the first) certificate/i.test(text)) {
    return `the server's certificate is not signed by a CA this machine trusts: give its CA (or the self-signed certificate itself) as ${key}.caFile`;
  }
  if (/CERT_HAS_EXPIRED|certificate has expired|CERT_NOT_YET_VALID|certificate is not yet valid/i.test(text)) {
    return `the server's certificate is outside its validity dates (or this machine's clock is wrong): the server needs a current certificate; ${key}.insecureSkipVerify only for a test server`;
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|does not match certificate's altnames/i.test(text)) {
    return `the server's certificate is for another name: set ${key}.host to a name the certificate names`;
  }
  return null;
}
