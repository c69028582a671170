import { stripPlus } from '../cases/thread-token.js';
import { isLoopback, type Config } from './schema.js';
import { tlsPortMismatch } from './tls-mode-hints.js';
import { didYouMean } from './key-hints.js';

/**
 * Settings that are legal but probably wrong or risky. Not errors (a lab or a migration may mean
 * them), but the daemon logs each loudly at start and `casegate config` prints them.
 */
export function configWarnings(cfg: Config): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const mailboxDomains = [...new Set(cfg.mailboxes.flatMap((m) => m.addresses.map((a) => a.slice(a.lastIndexOf('@') + 1))))];
  const realDomains = mailboxDomains.filter((d) => d !== 'localhost' && d.includes('.'));
  if (cfg.instance.domain.trim().toLowerCase() === 'localhost' && realDomains.length > 0) {
    out.push({
      path: 'instance.domain',
      message: `is "localhost" while the mailboxes serve ${realDomains.join(', ')}: our Message-IDs would end in @localhost (spam filters and threading clients distrust that). Set it to ${realDomains[0]}`,
    });
  }
  if (cfg.listener.enabled && !isLoopback(cfg.listener.host)) {
    out.push({
      path: 'listener.host',
      message: `"${cfg.listener.host}" accepts SMTP from the network, not only from this machine: anyone who reaches port ${cfg.listener.port} can hand in mail for ${mailboxDomains.join(', ')}${
        cfg.security.senderAuth.mode === 'verify' ? '' : `; with security.senderAuth.mode "${cfg.security.senderAuth.mode}" casegate does not check those senders itself (use "verify" when the listener is your MX)`
      }`,
    });
  }
  if (cfg.listener.enabled && isLoopback(cfg.listener.host) && cfg.security.senderAuth.mode === 'verify' && cfg.listener.trustXForwardFrom.length === 0) {
    out.push({
      path: 'security.senderAuth.mode',
      message: `"verify" checks SPF against the address of the SMTP client, and listener.host "${cfg.listener.host}" takes connections from this machine only (your MTA in front): mail through the listener would be judged as sent from ${cfg.listener.host}, not from the sender's server, and a sender without DKIM would look forged. Let your MTA pass the client on (XFORWARD, listener.trustXForwardFrom) or check itself ("trusted-header" with its Authentication-Results), or make the listener your MX`,
    });
  }
  // On loopback the listener's clients are "your MTA" — and every other process of this machine: a
  // local user who connects writes the headers (or XFORWARD) that prove a sender, an agent included.
  if (cfg.listener.enabled && isLoopback(cfg.listener.host) && cfg.listener.localUsers.length === 0) {
    const localProof =
      cfg.security.senderAuth.mode === 'trusted-header'
        ? { path: 'security.senderAuth.mode', what: `the Authentication-Results of your MX (${cfg.security.senderAuth.authservId ?? 'authservId'})` }
        : cfg.security.senderAuth.mode === 'verify' && cfg.listener.trustXForwardFrom.some((a) => isLoopback(a))
          ? { path: 'listener.trustXForwardFrom', what: 'an XFORWARD naming any client address (SPF judged for that address)' }
          : null;
    if (localProof !== null) {
      out.push({
        path: localProof.path,
        message: `any process on this machine, of any user, can connect to the listener (${cfg.listener.host}:${cfg.listener.port}) and hand in mail with ${localProof.what}: it proves any sender, an agent too, whose mail then reaches customers as yours. Fine on a host only you use; on a host with other users, name your MTA's user in listener.localUsers (e.g. [postfix]), or receive through the Postfix pipe (\`casegate ingest\`, run as casegate) or IMAP and set listener.enabled: false (docs/security.md)`,
      });
    }
  }
  const linksNobodyOpens = cfg.web.enabled && cfg.web.baseUrl === undefined && (isLoopback(cfg.web.host) || ['0.0.0.0', '::', '[::]'].includes(cfg.web.host));
  if (linksNobodyOpens) {
    out.push({
      path: 'web.baseUrl',
      message: `is not set: the case and survey links in customer mail would point at http://${cfg.web.host}:${cfg.web.port}, which customers cannot open. Set it to the public URL of your reverse proxy (e.g. https://support.example.com/casegate)`,
    });
  }
  if (cfg.ops.enabled && !isLoopback(cfg.ops.host)) {
    out.push({
      path: 'ops.host',
      message: `"${cfg.ops.host}" serves /metrics and /healthz (with mailbox names and relay errors) to the network; keep it on 127.0.0.1 or a private monitoring network behind a firewall`,
    });
  }
  // (Links to a wildcard address are said above: nobody can open them, encrypted or not.)
  const publicHttp = cfg.web.enabled && !linksNobodyOpens ? plainHttpHost(cfg.web.baseUrl ?? `http://${cfg.web.host.includes(':') ? `[${cfg.web.host}]` : cfg.web.host}:${cfg.web.port}`) : null;
  if (publicHttp !== null) {
    out.push({
      path: 'web.baseUrl',
      message: `"${cfg.web.baseUrl}" is plain http on ${publicHttp}: every case link in customers' mail (it opens the case, its history and the reply form) would cross the network unencrypted. Put a TLS reverse proxy in front and set web.baseUrl to its https:// URL`,
    });
  }
  cfg.mailboxes.forEach((m, i) => {
    const problem = m.imap === undefined ? null : tlsPortMismatch('imap', m.imap.port, m.imap.tls === 'implicit');
    if (problem !== null) out.push({ path: `mailboxes.${i}.imap.tls`, message: problem });
  });
  const smtp = cfg.outgoing.transport === 'smtp' ? cfg.outgoing.smtp : undefined;
  const smtpProblem = smtp === undefined ? null : tlsPortMismatch('smtp', smtp.port, smtp.secure);
  if (smtpProblem !== null) out.push({ path: 'outgoing.smtp.secure', message: smtpProblem });
  // Each named relay too (a SendGrid relay on 465 without secure: true would time out, and only its mailboxes' mail waits).
  if (cfg.outgoing.transport === 'smtp') {
    for (const [name, relay] of Object.entries(cfg.outgoing.relays)) {
      const problem = tlsPortMismatch('smtp', relay.port, relay.secure);
      if (problem !== null) out.push({ path: `outgoing.relays.${name}.secure`, message: problem });
    }
  }
  // A queue's settings under a misspelt name: the queue that gets the cases has no agents (nobody
  // is notified, no assignment, no tiers) and the settings apply to nothing.
  const fed = new Set([...cfg.mailboxes.map((m) => m.queue ?? m.name), ...cfg.rules.flatMap((r) => (r.set.queue !== undefined ? [r.set.queue] : []))]);
  const bare = [...fed].filter((q) => !Object.hasOwn(cfg.queues, q));
  const misspelt = new Set<string>();
  for (const name of Object.keys(cfg.queues)) {
    if (fed.has(name)) continue;
    // queues.billing for the mailbox billing whose cases go to `queue: finance`: a queue is named
    // by the mailbox's `queue`, not by the mailbox.
    const mailbox = cfg.mailboxes.find((m) => m.name === name && m.queue !== undefined && m.queue !== name);
    if (mailbox?.queue !== undefined && !Object.hasOwn(cfg.queues, mailbox.queue)) {
      misspelt.add(mailbox.queue);
      out.push({
        path: `queues.${name}`,
        message: `"${name}" is the name of a mailbox whose cases go to queue "${mailbox.queue}" (its queue: key), and no mailbox or rule sends cases to a queue "${name}": these settings apply to no case, and queue "${mailbox.queue}" has none (no agents are notified). Write them under queues.${mailbox.queue}`,
      });
      continue;
    }
    const guess = didYouMean(name, bare);
    if (guess === null) continue;
    misspelt.add(guess);
    out.push({
      path: `queues.${name}`,
      message: `no mailbox or rule sends cases to queue "${name}", while queue "${guess}" gets cases and has no settings of its own (no agents are notified, no assignment, tiers, calendar or SLA policy): did you mean "${guess}"?`,
    });
  }
  // A queue that gets cases but has nobody to tell, in a configuration where other queues have
  // agents: its new cases and customers' replies notify no one (only `cases list` shows them).
  if (Object.values(cfg.queues).some((q) => q.agents.length > 0)) {
    for (const name of fed) {
      const q = cfg.queues[name];
      if (misspelt.has(name) || (q !== undefined && (q.feedback || q.agents.length > 0))) continue;
      const feeders = [...cfg.mailboxes.filter((m) => (m.queue ?? m.name) === name).map((m) => `mailbox ${m.name}`), ...cfg.rules.filter((r) => r.set.queue === name).map((r) => `rule ${r.name}`)];
      out.push({
        path: q !== undefined ? `queues.${name}.agents` : `queues.${name}`,
        message: `queue "${name}" gets cases (${feeders.join(', ')}) but has no agents: its new cases and customers' replies notify nobody${q !== undefined && Object.keys(q.tiers).length > 0 ? ' (tiers are alerted only on escalation)' : ''}; list them in queues.${name}.agents`,
      });
    }
  }
  out.push(...shadowedRules(cfg.rules));
  // IMAP logins and the relay fail on their own (a rotated password, a revoked app token): with
  // nowhere to send the alert, only /healthz and `casegate status` would show it.
  const watched = cfg.mailboxes.filter((m) => m.imap !== undefined).map((m) => m.name);
  if (cfg.instance.adminAddress === undefined && cfg.alerts.command === undefined && (watched.length > 0 || cfg.outgoing.transport === 'smtp')) {
    out.push({
      path: 'instance.adminAddress',
      message: `is not set and there is no alerts.command: ${watched.length > 0 ? `an IMAP mailbox whose login fails (${watched.join(', ')})` : 'a failing relay'}${watched.length > 0 && cfg.outgoing.transport === 'smtp' ? ' or a failing relay' : ''} alerts nobody (only /healthz and casegate status show it). Set instance.adminAddress (or alerts.command)`,
    });
  }
  // A calendar or policy no queue uses: most likely a queue that should name it does not, and
  // runs on the default one (another zone, another country's holidays, other targets).
  const queueNames = [...new Set([...fed, ...Object.keys(cfg.queues)])];
  for (const [kind, key, names, fallback] of [
    ['calendar', 'calendar', Object.keys(cfg.sla.calendars), cfg.sla.defaultCalendar],
    ['policy', 'slaPolicy', Object.keys(cfg.sla.policies), cfg.sla.defaultPolicy],
  ] as const) {
    const used = new Set(Object.values(cfg.queues).flatMap((q) => (q[key] !== undefined ? [q[key]] : [])));
    if (fallback !== undefined) used.add(fallback);
    const without = queueNames.filter((q) => cfg.queues[q]?.[key] === undefined && cfg.queues[q]?.feedback !== true);
    for (const name of names) {
      if (used.has(name)) continue;
      const section = kind === 'calendar' ? 'calendars' : 'policies';
      out.push({
        path: `sla.${section}.${name}`,
        message: `${kind} "${name}" is used by no queue (queues.<q>.${key}) and is not sla.default${kind === 'calendar' ? 'Calendar' : 'Policy'}${without.length > 0 ? `; the queues without a ${kind} of their own (${without.join(', ')}) use ${fallback !== undefined ? `"${fallback}"` : kind === 'calendar' ? 'Mon–Fri 09:00–17:00 UTC' : 'none (no SLA targets)'}` : ''}`,
      });
    }
  }
  cfg.mailboxes.forEach((mb, i) => {
    if (!mb.verp || cfg.outgoing.transport !== 'smtp') return;
    const host = (mb.relay !== undefined && mb.relay !== 'default' ? cfg.outgoing.relays[mb.relay]?.host : cfg.outgoing.smtp?.host)?.toLowerCase() ?? '';
    const provider = ENVELOPE_REWRITERS.find((r) => r.host.test(host));
    if (provider === undefined) return;
    out.push({
      path: `mailboxes.${i}.verp`,
      message: `is on, but ${provider.name} (${host}) ${provider.does}: bounces come back to the mailbox's plain address, unsigned, and with verp on they mark nobody as bouncing. Turn verp off for this mailbox, or send through a relay that keeps the envelope sender (docs/deliverability.md, "Signed bounce addresses")`,
    });
  });
  const served = new Set(cfg.mailboxes.flatMap((m) => m.addresses));
  cfg.rules.forEach((r, i) => {
    const list = r.match.recipient === undefined ? [] : Array.isArray(r.match.recipient) ? r.match.recipient : [r.match.recipient];
    list.forEach((a, j) => {
      if (!a.slice(0, a.indexOf('@')).includes('+')) return;
      if (served.has(stripPlus(a))) return;
      out.push({
        path: Array.isArray(r.match.recipient) ? `rules.${i}.match.recipient.${j}` : `rules.${i}.match.recipient`,
        message: `${a} can never match: mail to it does not reach casegate (${stripPlus(a)} is not one of the mailboxes' addresses: ${[...served].join(', ')})`,
      });
    });
  });
  return out;
}

/** Submission services that do not keep the envelope sender a client gives (mailboxes[].verp). */
const ENVELOPE_REWRITERS: readonly { readonly host: RegExp; readonly name: string; readonly does: string }[] = [
  { host: /^smtp(?:-relay)?\.gmail\.com$|\.googlemail\.com$/, name: 'Google', does: 'sends with the account as envelope sender, whatever MAIL FROM says' },
  { host: /^email-smtp\.[a-z0-9-]+\.amazonaws\.com$/, name: 'Amazon SES', does: 'puts its own envelope sender in place and reports bounces by notification' },
  { host: /^smtp\.office365\.com$|^smtp-mail\.outlook\.com$/, name: 'Microsoft 365', does: 'takes only the login\'s own address (or one it may Send As) as MAIL FROM' },
];

/** The host of an http:// (not https) URL that is not this machine, or null. */
function plainHttpHost(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && !isLoopback(u.hostname) && u.hostname !== 'localhost' ? u.hostname : null;
  } catch {
    return null;
  }
}

type Rule = Config['rules'][number];

/** A condition's values as a set of comparable texts (lists and single values alike). */
function values(v: unknown): Set<string> {
  const list = v === undefined ? [] : Array.isArray(v) ? (v as unknown[]) : [v];
  return new Set(list.map((x) => (typeof x === 'string' ? x.trim().toLowerCase().replace(/^@/, '') : JSON.stringify(x))));
}

/**
 * Rules an earlier rule always wins over (the first matching rule wins): the earlier one asks for
 * nothing the later one does not also ask for — each of its conditions is also the later one's,
 * with the later one's values among its own (lists) or the same pattern. Such a rule never fires.
 */
function shadowedRules(rules: readonly Rule[]): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const covers = (a: Rule, b: Rule): boolean =>
    Object.entries(a.match).every(([key, av]) => {
      const bv = (b.match as Record<string, unknown>)[key];
      if (bv === undefined) return false;
      if (key === 'subject' || key === 'body' || key === 'header') return JSON.stringify(av) === JSON.stringify(bv);
      const allowed = values(av);
      return [...values(bv)].every((x) => allowed.has(x));
    });
  rules.forEach((b, i) => {
    const j = rules.slice(0, i).findIndex((a) => covers(a, b));
    if (j < 0) return;
    const a = rules[j]!;
    out.push({
      path: `rules.${i}`,
      message: `rule "${b.name}" never fires: rule "${a.name}" (rules.${j}) comes first and matches ${Object.keys(a.match).length === 0 ? 'every new case' : 'every message this one matches'} (the first matching rule wins); put "${b.name}" before it, or narrow "${a.name}"`,
    });
  });
  return out;
}

/**
 * SLA targets written as a bare number are minutes ("4h" is four hours): `firstResponse: 4` or
 * `resolution: 24` is far more likely meant as hours than as 4 or 24 minutes (15 or 240 are minutes) — every case
 * of the queues with that policy would breach (and alert) within minutes. Read from the file as
 * written (the schema turns every duration into minutes).
 */
export function bareMinuteTargets(raw: unknown): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const policies = (raw as { sla?: { policies?: unknown } } | null)?.sla?.policies;
  if (policies === null || typeof policies !== 'object') return out;
  for (const [policy, p] of Object.entries(policies as Record<string, unknown>)) {
    const targets = (p as { targets?: unknown } | null)?.targets;
    if (targets === null || typeof targets !== 'object') continue;
    for (const [level, t] of Object.entries(targets as Record<string, unknown>)) {
      for (const key of ['firstResponse', 'resolution'] as const) {
        const v = (t as Record<string, unknown> | null)?.[key];
        // Under 15, or a day's or days' hours (24, 48, 72): not what SLA targets in minutes look like (15, 30, 240 …).
        if (typeof v !== 'number' || v <= 0 || !(v < 15 || (v % 24 === 0 && v <= 72))) continue;
        out.push({ path: `sla.policies.${policy}.targets.${level}.${key}`, message: `${v} is ${v} minute${v === 1 ? '' : 's'} (a bare number is minutes): write "${v}h" for hours, or "${v}m" to keep minutes and silence this` });
      }
    }
  }
  return out;
}
