import MailComposer from 'nodemailer/lib/mail-composer';
import type Mail from 'nodemailer/lib/mailer/index.js';

/**
 * An outgoing email built into its bytes ahead of sending (on the daemon's MIME thread,
 * src/mime/mime-thread.ts): nodemailer's own composer, the same one the transport runs when it is
 * handed the options, so the bytes are what it would have built. The transport then signs
 * (DKIM) and sends them as they are.
 */
export interface BuiltMessage {
  /** The whole message, CRLF line ends. */
  readonly raw: Buffer;
  /** MAIL FROM and RCPT TO, from the From, To and Cc headers (what nodemailer derives). */
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  /** The Message-ID header's value, with its angle brackets. */
  readonly messageId: string;
}

export async function buildMessage(options: Mail.Options): Promise<BuiltMessage> {
  const node = new MailComposer(options).compile();
  const raw = await node.build();
  const envelope = node.getEnvelope();
  return { raw, envelope: { from: envelope.from === false ? '' : envelope.from, to: envelope.to }, messageId: node.messageId() };
}
