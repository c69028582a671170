/**
 * The Handlebars environment of outgoing mail: one private Handlebars instance and the helpers
 * templates may call (eq, join, formatDate, duration, endpoint, paragraphs), with their documentation for
 * admins. Their static signatures (arity, options, types) live with the checker
 * (template-checker.ts). Together with template-folder.ts, template-checker.ts, template-set.ts
 * and templates.ts the only importers of handlebars.
 */
import Handlebars from 'handlebars';
import { DateTime, Duration } from 'luxon';
import { Memo } from '../memo.js';

export type Delegate = Handlebars.TemplateDelegate<object>;
export type Ast = hbs.AST.Program;

/** casegate's own Handlebars environment (not the global one), with the helpers below. */
export const hb = Handlebars.create();

function caseLanguage(root: unknown): string | undefined {
  if (typeof root !== 'object' || root === null || !('case' in root)) return undefined;
  const c: unknown = root.case;
  if (typeof c !== 'object' || c === null || !('language' in c)) return undefined;
  return typeof c.language === 'string' && c.language !== '' ? c.language : undefined;
}

function hashOf(options: unknown): Record<string, unknown> {
  if (typeof options === 'object' && options !== null && 'hash' in options) {
    const h: unknown = options.hash;
    if (typeof h === 'object' && h !== null) return h as Record<string, unknown>;
  }
  return {};
}

hb.registerHelper('eq', (a: unknown, b: unknown): boolean => a === b);

hb.registerHelper('join', (list: unknown, separator: unknown): string => {
  if (!Array.isArray(list)) return '';
  return list.map((v) => String(v)).join(typeof separator === 'string' ? separator : ', ');
});

/** Locale for a helper: its locale="…" option, else @language, else the case's language, else en. */
function helperLocale(options: Handlebars.HelperOptions, hash: Record<string, unknown>): string {
  if (typeof hash.locale === 'string') return hash.locale;
  const data: unknown = options.data;
  if (typeof data === 'object' && data !== null) {
    if ('language' in data && typeof data.language === 'string') return data.language;
    if ('root' in data) return caseLanguage(data.root) ?? 'en';
  }
  return 'en';
}

/**
 * Formatted dates by (value, zone, locale, format): an email shows the same instant in its text
 * and its HTML part, and Luxon's locale formatting (Intl) is the costly part of a render (about
 * 60 µs a call). The default format shows no seconds, so there the value counts to the minute:
 * instants within one minute (a backlog's confirmations) share one text.
 */
const formattedDates = new Memo<string, string>(512);
/** An ISO timestamp's minute and offset: "2026-12-04T21:05:09.123Z" → "2026-12-04T21:05", "Z". */
const ISO_MINUTE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;

/** The render target's time zone (@zone: customer mail's queue zone), when it has one. */
function targetZone(options: Handlebars.HelperOptions): string | undefined {
  const data: unknown = options.data;
  if (typeof data === 'object' && data !== null && 'zone' in data && typeof data.zone === 'string' && data.zone !== '') return data.zone;
  return undefined;
}

hb.registerHelper('formatDate', (value: unknown, options: Handlebars.HelperOptions): string => {
  if (typeof value !== 'string' || value === '') return '';
  const hash = hashOf(options);
  const locale = helperLocale(options, hash);
  // zone="…" in the template, else the target's zone (customer mail: the queue's), else the timestamp's own offset.
  const zone = typeof hash.zone === 'string' ? hash.zone : targetZone(options);
  const minute = hash.format === undefined ? ISO_MINUTE.exec(value) : null;
  const key = `${minute !== null ? `${minute[1]}${minute[2]}` : value}\u0000${String(zone)}\u0000${locale}\u0000${String(hash.format)}`;
  return formattedDates.get(key, () => {
    let dt = DateTime.fromISO(value, { setZone: true });
    if (zone !== undefined) dt = dt.setZone(zone);
    if (!dt.isValid) return value;
    dt = dt.setLocale(locale);
    return typeof hash.format === 'string' ? dt.toFormat(hash.format) : dt.toLocaleString({ ...DateTime.DATETIME_MED, timeZoneName: 'short' });
  });
});

/** Minutes as words in the template language: 95 → "1 hour, 35 minutes" / "1 Stunde und 35 Minuten". */
hb.registerHelper('duration', (value: unknown, options: Handlebars.HelperOptions): string => {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '';
  const total = Math.round(Math.abs(value));
  const parts: Record<string, number> = {};
  const days = Math.floor(total / 1440);
  const hours = Math.floor((total % 1440) / 60);
  const minutes = total % 60;
  if (days > 0) parts.days = days;
  if (hours > 0) parts.hours = hours;
  if (minutes > 0 || total === 0) parts.minutes = minutes;
  return Duration.fromObject(parts, { locale: helperLocale(options, hashOf(options)) }).toHuman({ listStyle: 'long' });
});

/**
 * A server endpoint in words: "relay.example.com:587" → "relay.example.com (port 587)",
 * "smtp:relay.example.com:587" → "SMTP relay.example.com (port 587)"; anything else unchanged.
 * Mail that shows "host:port" reads to spam filters like a web address on an odd port (WEIRD_PORT).
 */
hb.registerHelper('endpoint', (value: unknown, options: Handlebars.HelperOptions): string => {
  if (typeof value !== 'string') return '';
  const m = /^(?:([a-z][a-z0-9+.-]*):)?([^\s:/]+\.[^\s:/]+|\[[0-9a-f:.]+\]):(\d{1,5})$/i.exec(value.trim());
  if (m === null) return value;
  const port = helperLocale(options, hashOf(options)).toLowerCase().startsWith('de') ? 'Port' : 'port';
  return `${m[1] !== undefined ? `${m[1].toUpperCase()} ` : ''}${m[2]} (${port} ${m[3]})`;
});

const PARAGRAPH_STYLE = 'margin:0 0 16px 0;';

/**
 * Plain text → HTML paragraphs, for the html part: every line is escaped, blank lines separate
 * <p>s, single line breaks become <br>; dir="auto" lets Arabic or Hebrew text run right to left. The only helper that returns markup, and it is built from
 * escaped text only.
 */
hb.registerHelper('paragraphs', (value: unknown, options: Handlebars.HelperOptions): Handlebars.SafeString => {
  if (typeof value !== 'string') return new hb.SafeString('');
  const text = value.replace(/\r\n?/g, '\n').replace(/[\u2028\u2029]/g, '\n').trim();
  if (text === '') return new hb.SafeString('');
  const style = hashOf(options).style;
  const attr = hb.escapeExpression(typeof style === 'string' ? style : PARAGRAPH_STYLE);
  const html = text
    .split(/\n[ \t]*\n\s*/)
    .map((p) => `<p style="${attr}" dir="auto">${p.split('\n').map((line) => hb.escapeExpression(line)).join('<br>\n')}</p>`)
    .join('\n');
  return new hb.SafeString(html);
});

/** The helpers as documented for admins (templates/README.md, docs/templates.md). */
export const templateHelpers: ReadonlyArray<{ readonly name: string; readonly usage: string; readonly description: string }> = [
  { name: 'eq', usage: '{{#if (eq status.to "pending")}}…{{/if}}', description: 'True when both values are equal; for #if and #unless.' },
  { name: 'join', usage: '{{join helpfulInfo ", "}}', description: 'A list as one string, with the separator (default ", ").' },
  {
    name: 'formatDate',
    usage: '{{formatDate case.createdAt}} or {{formatDate sla.dueAt format="dd.MM.yyyy HH:mm" zone="Europe/Berlin"}}',
    description:
      'An ISO 8601 time as medium date and time in the template language; in customer mail about a case in the time zone of the case’s queue (its calendar’s, as the promised reply time), elsewhere in the timestamp’s own offset; format (Luxon tokens), zone and locale change that.',
  },
  {
    name: 'duration',
    usage: '{{duration sla.remaining}}',
    description: 'A number of minutes in words in the template language: 95 → "1 hour and 35 minutes" / "1 Stunde und 35 Minuten".',
  },
  {
    name: 'endpoint',
    usage: '{{endpoint alert.host}}',
    description: 'A server as words: "relay.example.com:587" → "relay.example.com (port 587)", "smtp:relay.example.com:587" → "SMTP relay.example.com (port 587)". Spam filters read "host:port" as a web address on an odd port.',
  },
  {
    name: 'paragraphs',
    usage: '{{paragraphs reply.text}}',
    description:
      'HTML parts only: plain text as escaped HTML paragraphs, line breaks kept (<br>). The way to show multi-line text such as a reply in HTML; text parts print {{reply.text}} directly.',
  },
];
