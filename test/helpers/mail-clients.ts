/**
 * Replies as real mail clients write them (headers, quoting style, multipart layout), for tests
 * where agents and customers answer casegate's mail:
 *
 *  - Thunderbird: In-Reply-To + References, User-Agent, format=flowed text, "On <date>, X wrote:" and ">" quotes;
 *  - Outlook: In-Reply-To + References + Thread-Index/Thread-Topic, multipart/alternative, the
 *    quoted mail below an unquoted "From:/Sent:/To:/Subject:" block (no ">");
 *  - Gmail: In-Reply-To + References, multipart/alternative, the attribution wrapped inside the address;
 *  - Apple Mail (macOS, iOS): In-Reply-To + References, multipart/alternative, the attribution
 *    "On 2 Mar 2026, at 10:00, X <x@y> wrote:" inside the ">" quote, HTML <blockquote type="cite">;
 *  - a bare client (webmail, some phones) that keeps only the subject: no In-Reply-To, no References.
 */

export type ClientStyle = 'thunderbird' | 'outlook' | 'gmail' | 'apple' | 'bare';

export interface Original {
  /** Message-ID without angle brackets. */
  readonly messageId: string;
  readonly subject: string;
  /** The text part of the mail being answered (quoted below the reply). */
  readonly text: string;
  readonly fromName: string;
  readonly fromAddress: string;
  /** References of the original (oldest first), without angle brackets. */
  readonly references?: readonly string[];
}

export interface ReplyOptions {
  readonly style: ClientStyle;
  readonly from: string;
  readonly to: string;
  readonly cc?: string;
  /** What the writer types above the quote. */
  readonly body: string;
  readonly messageId: string;
  readonly attachments?: readonly { readonly filename: string; readonly contentType: string; readonly content: Buffer }[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Subject instead of "Re: <original subject>". */
  readonly subject?: string;
  readonly date?: string;
}

function quoteLines(text: string): string {
  return text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((l) => (l === '' ? '>' : `> ${l}`))
    .join('\r\n');
}

function crlf(s: string): string {
  return s.replace(/\r?\n/g, '\r\n');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function htmlOf(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
    .join('\n');
}

/** A raw RFC 5322 reply to `orig` written the way `o.style` writes it. */
export function clientReply(orig: Original, o: ReplyOptions): string {
  const date = o.date ?? 'Mon, 02 Mar 2026 10:15:00 +0100';
  const subject = o.subject ?? (o.style === 'outlook' ? `RE: ${orig.subject}` : `Re: ${orig.subject}`);
  const refs = [...(orig.references ?? []), orig.messageId].map((r) => `<${r}>`).join(' ');
  const head: string[] = [`From: ${o.from}`, `To: ${o.to}`];
  if (o.cc !== undefined) head.push(`Cc: ${o.cc}`);
  head.push(`Subject: ${subject}`, `Date: ${date}`, `Message-ID: <${o.messageId}>`);
  if (o.style !== 'bare') head.push(`In-Reply-To: <${orig.messageId}>`, `References: ${refs}`);
  if (o.style === 'thunderbird') head.push('User-Agent: Mozilla Thunderbird 128.5.0');
  if (o.style === 'apple') head.push('X-Mailer: Apple Mail (2.3826.300.87.4.3)');
  if (o.style === 'outlook') head.push(`Thread-Topic: ${orig.subject.replace(/^\[[^\]]*\]\s*/, '')}`, 'Thread-Index: AQHaXk2bY3F0c2VjcmV0dGhyZWFkaW5kZXg=', 'X-MS-Has-Attach: ', 'Content-Language: en-US', 'X-Mailer: Microsoft Outlook 16.0');
  for (const [k, v] of Object.entries(o.headers ?? {})) head.push(`${k}: ${v}`);
  head.push('MIME-Version: 1.0');

  let text: string;
  let html: string | null = null;
  switch (o.style) {
    case 'thunderbird':
      text = `${o.body}\n\nOn 3/2/26 10:00 AM, ${orig.fromName} wrote:\n${quoteLines(orig.text)}\n`;
      break;
    case 'outlook':
      text = `${o.body}\n\n________________________________\nFrom: ${orig.fromName} <${orig.fromAddress}>\nSent: Monday, March 2, 2026 10:00 AM\nTo: ${o.from.replace(/^.*<|>$/g, '')}\nSubject: ${orig.subject}\n\n${orig.text}\n`;
      html = `<html><body><div>${htmlOf(o.body)}</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg"><b>From:</b> ${escapeHtml(orig.fromName)} &lt;${orig.fromAddress}&gt;<br><b>Sent:</b> Monday, March 2, 2026 10:00 AM<br><b>Subject:</b> ${escapeHtml(orig.subject)}</div><div>${htmlOf(orig.text)}</div></body></html>`;
      break;
    case 'gmail':
      text = `${o.body}\n\nOn Mon, Mar 2, 2026 at 10:00 AM ${orig.fromName} <\n${orig.fromAddress}> wrote:\n\n${quoteLines(orig.text)}\n`;
      html = `<div dir="ltr">${htmlOf(o.body)}</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Mar 2, 2026 at 10:00 AM ${escapeHtml(orig.fromName)} &lt;<a href="mailto:${orig.fromAddress}">${orig.fromAddress}</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">${htmlOf(orig.text)}</blockquote></div>`;
      break;
    case 'apple':
      text = `${o.body}\n\n> On 2 Mar 2026, at 10:00, ${orig.fromName} <${orig.fromAddress}> wrote:\n>\n${quoteLines(orig.text)}\n`;
      html = `<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">${o.body === '' ? '' : htmlOf(o.body)}<br id="lineBreakAtBeginningOfMessage"><div><br><blockquote type="cite"><div>On 2 Mar 2026, at 10:00, ${escapeHtml(orig.fromName)} &lt;${orig.fromAddress}&gt; wrote:</div><br class="Apple-interchange-newline"><div><div>${htmlOf(orig.text)}</div></div></blockquote></div><br></body></html>`;
      break;
    case 'bare':
      text = `${o.body}\n`;
      break;
  }

  const textPart = ['Content-Type: text/plain; charset=utf-8' + (o.style === 'thunderbird' ? '; format=flowed' : ''), 'Content-Transfer-Encoding: 8bit', '', crlf(text)].join('\r\n');
  const body =
    html === null
      ? textPart
      : ['Content-Type: multipart/alternative; boundary="alt-b"', '', '--alt-b', textPart, '--alt-b', 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', crlf(html), '--alt-b--', ''].join('\r\n');
  const atts = o.attachments ?? [];
  if (atts.length === 0) return `${head.join('\r\n')}\r\n${body}\r\n`;
  const parts = [`Content-Type: multipart/mixed; boundary="mix-b"`, '', '--mix-b', body];
  atts.forEach((a, i) => {
    // Gmail gives every attachment a Content-ID (and X-Attachment-Id), also one the HTML does not show.
    const gmailId = o.style === 'gmail' ? [`Content-ID: <f_m4k2x9${i}0>`, `X-Attachment-Id: f_m4k2x9${i}0`] : [];
    parts.push('--mix-b', `Content-Type: ${a.contentType}; name="${a.filename}"`, `Content-Disposition: attachment; filename="${a.filename}"`, 'Content-Transfer-Encoding: base64', ...gmailId, '', a.content.toString('base64').replace(/.{76}/g, '$&\r\n'));
  });
  parts.push('--mix-b--', '');
  return `${head.join('\r\n')}\r\n${parts.join('\r\n')}`;
}
