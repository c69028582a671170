/**
 * The soak's traffic (bench/soak.ts): one action at a time, picked by a fixed mix — new cases by
 * SMTP and IMAP, customer replies to our emails, out-of-office auto-replies, DSN bounces, agent
 * replies by email and by `casegate cases reply`, case-page views, now and then a flood (one sender,
 * many messages at once) or a large message. It records every message the daemon accepted (the
 * SMTP 250, the IMAP APPEND) and every one it refused, for the verdict at the end.
 */
import { spawn } from 'node:child_process';
import nodemailer, { type Transporter } from 'nodemailer';
import type { DovecotServer } from '../test/helpers/dovecot-server.js';
import type { RelayedMail, SoakRelay } from './soak-relay.js';

export const MX = 'mx.example.com';
export const AGENTS = [
  { name: 'Ann Agent', address: 'ann@example.com' },
  { name: 'Bob Agent', address: 'bob@example.com' },
] as const;

export interface Handed {
  readonly id: string;
  readonly kind: string;
  readonly via: 'smtp' | 'imap';
  /** When the soak began to hand it over (SMTP MAIL FROM, IMAP APPEND). */
  readonly at: number;
}

export interface TrafficDeps {
  readonly dovecot: DovecotServer;
  readonly relay: SoakRelay;
  readonly listenerPort: number;
  readonly cli: readonly string[];
  /** Sizes (MB) of the large messages' attachment. */
  readonly largeMb: number;
}

export class Traffic {
  readonly accepted = new Map<string, Handed>();
  readonly refused: Handed[] = [];
  readonly kinds = new Map<string, number>();
  readonly cli = { ok: 0, failed: 0, failures: [] as string[] };
  readonly web = { ok: 0, failed: 0 };
  /** Senders the relay refuses (550): their confirmations fail by design. */
  readonly refusedCustomers: string[] = [];
  #n = 0;
  readonly #smtp: Transporter;

  constructor(private readonly deps: TrafficDeps) {
    this.#smtp = nodemailer.createTransport({ host: '127.0.0.1', port: deps.listenerPort, secure: false, ignoreTLS: true, pool: false });
  }

  close(): void {
    this.#smtp.close();
  }

  /** One action of the mix. */
  async one(): Promise<void> {
    const n = ++this.#n;
    const pick = n % 40;
    if (pick < 10) return this.#newCase(n, 'smtp');
    if (pick < 18) return this.#newCase(n, 'imap');
    if (pick < 26) return this.#customerReply(n);
    if (pick < 28) return this.#autoReply(n);
    if (pick < 30) return this.#bounce(n);
    if (pick < 34) return this.#agentMail(n);
    if (pick < 36) return this.#agentCli(n);
    return this.#viewPage();
  }

  /** One sender writing `count` new messages at once (agent-notification flood notice). */
  async flood(count: number): Promise<void> {
    const n = ++this.#n;
    const from = `flood${n}@customer-flood.example`;
    await Promise.all(Array.from({ length: count }, (_, i) => this.#smtpSend(from, 'help@example.com', message({ from, to: 'help@example.com', subject: `Flood ${n}/${i}`, id: `soak-flood-${n}-${i}@customer-flood.example`, body: `Message ${i} of a flood.` }), 'flood')));
  }

  /** A new case with a large attachment, by SMTP or IMAP. */
  async large(): Promise<void> {
    const n = ++this.#n;
    const from = `big${n}@customer${n % 50}.example`;
    const raw = message({ from, to: 'support@example.com', subject: `Large ${n}`, id: `soak-large-${n}@customer${n % 50}.example`, body: 'See the attached log.', attachmentMb: this.deps.largeMb });
    if (n % 2 === 0) await this.#smtpSend(from, 'help@example.com', raw, 'large-smtp');
    else await this.#imapSend('support', raw, 'large-imap');
  }

  async #newCase(n: number, via: 'smtp' | 'imap'): Promise<void> {
    const customer = `c${n}@customer${n % 50}.example`;
    const id = `soak-${n}@customer${n % 50}.example`;
    if (n % 97 === 0) {
      this.deps.relay.refuseRecipient(customer);
      this.refusedCustomers.push(customer);
    }
    if (via === 'smtp') {
      await this.#smtpSend(customer, 'help@example.com', message({ from: customer, to: 'help@example.com', subject: `Problem ${n}`, id, body: `My thing ${n} is broken.\nPlease help.` }), 'new-smtp');
    } else {
      const box = n % 2 === 0 ? 'support' : 'billing';
      await this.#imapSend(box, message({ from: customer, to: `${box}@example.com`, subject: `Issue ${n}${n % 7 === 0 ? ' URGENT' : ''}`, id, body: `Issue ${n} happened.` }), 'new-imap');
    }
  }

  async #customerReply(n: number): Promise<void> {
    const m = pickRecent(this.deps.relay.recent('customer'));
    if (m === undefined) return;
    const raw = message({ from: m.to, to: m.from, subject: `Re: ${m.subject}`, id: `soak-${n}@reply.customer.example`, inReplyTo: m.messageId, body: `Additional detail ${n}: the error code is E${n}.` });
    const box = boxOf(m.from);
    if (box === 'help' || n % 2 === 0) await this.#smtpSend(m.to, m.from, raw, 'reply-smtp');
    else await this.#imapSend(box, raw, 'reply-imap');
  }

  async #autoReply(n: number): Promise<void> {
    const m = pickRecent(this.deps.relay.recent('customer'));
    if (m === undefined) return;
    const raw = message({ from: m.to, to: m.from, subject: `Out of office: ${m.subject}`, id: `soak-${n}@ooo.customer.example`, inReplyTo: m.messageId, body: 'I am out of the office until Monday.', extra: ['Auto-Submitted: auto-replied', 'X-Autoreply: yes'] });
    await this.#smtpSend(m.to, m.from, raw, 'auto-reply');
  }

  async #bounce(n: number): Promise<void> {
    const m = pickRecent(this.deps.relay.recent('customer'));
    if (m === undefined) return;
    const box = boxOf(m.from) === 'billing' ? 'billing' : 'support';
    await this.#imapSend(box, dsn({ to: m.from, id: `soak-${n}@mx.customer.example`, failed: m.to, original: m.messageId }), 'bounce');
  }

  async #agentMail(n: number): Promise<void> {
    const m = pickRecent(this.deps.relay.recent('agent'));
    if (m === undefined) return;
    const agent = AGENTS.find((a) => a.address === m.to) ?? AGENTS[0];
    const body = n % 3 === 0 ? 'We fixed it.\n\n#resolve' : `Thanks, we are looking into it (${n}).`;
    await this.#smtpSend(agent.address, m.from, message({ from: `${agent.name} <${agent.address}>`, to: m.from, subject: `Re: ${m.subject}`, id: `soak-${n}@agent.example.com`, inReplyTo: m.messageId, body }), 'agent-mail');
  }

  async #agentCli(n: number): Promise<void> {
    const m = pickRecent(this.deps.relay.recent('customer'));
    const num = m === undefined ? undefined : /\[[^\]]*?#?(\d+)\]/.exec(m.subject)?.[1];
    if (num === undefined) return;
    this.#count('agent-cli');
    const [bin, ...args] = this.deps.cli;
    await new Promise<void>((resolve) => {
      const p = spawn(bin!, [...args, 'cases', 'reply', num, '--message', `CLI answer ${n}${n % 2 === 0 ? '\n\n#resolve' : ''}`, '--agent', AGENTS[0].address], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (b: Buffer) => {
        if (err.length < 2000) err += b.toString();
      });
      p.on('exit', (code) => {
        if (code === 0) this.cli.ok += 1;
        else {
          this.cli.failed += 1;
          if (this.cli.failures.length < 10) this.cli.failures.push(`case ${num}: exit ${code}: ${err.trim().slice(0, 300)}`);
        }
        resolve();
      });
    });
  }

  async #viewPage(): Promise<void> {
    const withLink = this.deps.relay.recent('customer').filter((m) => m.link !== null);
    const m = pickRecent(withLink);
    if (m?.link == null) return;
    this.#count('web');
    try {
      const res = await fetch(m.link, { signal: AbortSignal.timeout(15_000) });
      await res.text();
      if (res.ok) this.web.ok += 1;
      else this.web.failed += 1;
    } catch {
      this.web.failed += 1;
    }
  }

  #count(kind: string): void {
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
  }

  async #smtpSend(from: string, to: string, raw: string, kind: string): Promise<void> {
    this.#count(kind);
    const id = /^Message-ID: <([^>]+)>/m.exec(raw)![1]!;
    const at = Date.now();
    try {
      await this.#smtp.sendMail({ envelope: { from, to: [to] }, raw });
      this.accepted.set(id, { id, kind, via: 'smtp', at });
    } catch (err) {
      this.refused.push({ id, kind: `${kind}: ${(err as Error).message.slice(0, 100)}`, via: 'smtp', at: Date.now() });
    }
  }

  async #imapSend(box: string, raw: string, kind: string): Promise<void> {
    this.#count(kind);
    const id = /^Message-ID: <([^>]+)>/m.exec(raw)![1]!;
    const at = Date.now();
    try {
      await this.deps.dovecot.append(box, raw);
      this.accepted.set(id, { id, kind, via: 'imap', at });
    } catch (err) {
      this.refused.push({ id, kind: `${kind}: ${(err as Error).message.slice(0, 100)}`, via: 'imap', at: Date.now() });
    }
  }
}

/** Mostly one of the newest, sometimes an older one. */
function pickRecent(list: readonly RelayedMail[]): RelayedMail | undefined {
  if (list.length === 0) return undefined;
  const back = Math.floor(Math.random() ** 2 * list.length);
  return list[list.length - 1 - back];
}

function boxOf(address: string): string {
  return (address.split('@')[0] ?? 'help').replace(/\+.*/, '');
}

interface MessageParts {
  from: string;
  to: string;
  subject: string;
  id: string;
  body: string;
  inReplyTo?: string;
  extra?: string[];
  attachmentMb?: number;
}

/** A message as our MX hands it over: its Authentication-Results (DMARC pass) on top. */
export function message(o: MessageParts): string {
  const domain = /@([^>\s]+)/.exec(o.from)?.[1] ?? 'customer.example';
  const head = [
    `Authentication-Results: ${MX}; spf=pass smtp.mailfrom=${domain}; dmarc=pass header.from=${domain}`,
    `Received: from mail.${domain} (mail.${domain} [192.0.2.25]) by ${MX} with ESMTPS id 4fSoak; ${new Date().toUTCString()}`,
    `From: ${o.from}`,
    `To: ${o.to}`,
    `Subject: ${o.subject}`,
    `Message-ID: <${o.id}>`,
    ...(o.inReplyTo !== undefined ? [`In-Reply-To: ${o.inReplyTo}`, `References: ${o.inReplyTo}`] : []),
    ...(o.extra ?? []),
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
  ];
  if (o.attachmentMb === undefined) return [...head, 'Content-Type: text/plain; charset=utf-8', '', o.body, ''].join('\r\n');
  const boundary = `b-${o.id.replace(/[^a-z0-9]/gi, '')}`;
  const data = Buffer.alloc(Math.round(o.attachmentMb * 1024 * 1024), `log line of ${o.id}\n`).toString('base64').replace(/.{76}/g, '$&\r\n');
  return [...head, `Content-Type: multipart/mixed; boundary="${boundary}"`, '', `--${boundary}`, 'Content-Type: text/plain; charset=utf-8', '', o.body, `--${boundary}`, 'Content-Type: application/octet-stream; name="app.log"', 'Content-Disposition: attachment; filename="app.log"', 'Content-Transfer-Encoding: base64', '', data, `--${boundary}--`, ''].join('\r\n');
}

function dsn(o: { to: string; id: string; failed: string; original: string }): string {
  const b = `b-${o.id.replace(/[^a-z0-9]/gi, '')}`;
  return [
    'From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>',
    `To: ${o.to}`,
    'Subject: Undelivered Mail Returned to Sender',
    `Message-ID: <${o.id}>`,
    `Date: ${new Date().toUTCString()}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain',
    '',
    `Your message could not be delivered to ${o.failed}.`,
    '',
    `--${b}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.customer.example',
    '',
    `Final-Recipient: rfc822; ${o.failed}`,
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550 5.1.1 user unknown',
    '',
    `--${b}`,
    'Content-Type: text/rfc822-headers',
    '',
    `Message-ID: ${o.original}`,
    `To: ${o.failed}`,
    `From: ${o.to}`,
    '',
    `--${b}--`,
    '',
  ].join('\r\n');
}
