import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

/** auto: pretty on a terminal, JSON lines otherwise (journald, files, pipes); json / pretty: always. */
export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LogOptions {
  readonly level: LevelWithSilent;
  /** Write to stderr instead of stdout (CLI commands keep stdout for their output). */
  readonly toStderr?: boolean;
  /** log.format (default auto). */
  readonly format?: LogFormat;
  /** Where the JSON lines go instead of stdout or stderr (a test reading them). */
  readonly destination?: DestinationStream;
}

/**
 * The inbound message being processed, for the lines logged about it. The pipeline's decisions are
 * taken in many modules (SLA clocks, assignment, staff mail, escalation) that log through the shared
 * logger; each line they write while a message is processed carries its Message-ID, so every
 * decision can be traced to the message (and its case) without threading the id through every call.
 * `ended` is set when the message's outcome is reached: a timer or socket created meanwhile keeps
 * this context, and its later lines must not name a message they are not about.
 */
export interface MessageScope {
  readonly messageId: () => string | null | undefined;
  ended: boolean;
}

const messageScope = new AsyncLocalStorage<MessageScope>();

/** Run `fn` with `scope` as the message its log lines are about. */
export function inMessageScope<T>(scope: MessageScope, fn: () => T): T {
  return messageScope.run(scope, fn);
}

/** Returned when a line is about no message: the line's own fields stay as they are. */
const NO_MESSAGE: object = Object.freeze({});

function messageFields(): object {
  const scope = messageScope.getStore();
  if (scope === undefined || scope.ended) return NO_MESSAGE;
  const id = scope.messageId();
  return id == null ? NO_MESSAGE : { messageId: id };
}

/** A line's own messageId (an outgoing email's, say) wins; pino would otherwise write the key twice. */
function mergeMessageFields(line: object, fields: object): object {
  return fields === NO_MESSAGE || 'messageId' in line ? line : Object.assign(fields, line);
}

/**
 * Every logger created from a root (children, grandchildren), so a reload can change their level.
 * Children come and go by the thousand (one per email sent, per message, per web request): the
 * references to those collected are dropped as the set grows (`remember`), else the set kept one
 * WeakRef per child ever made — about 13,000 more every 25 minutes in the soak, for good.
 */
const families = new WeakMap<Logger, Family>();

interface Family {
  readonly members: Set<WeakRef<Logger>>;
  /** The size at which the references to collected children are dropped next. */
  sweepAt: number;
}

/** The fewest references a family holds before its first sweep (a sweep is one pass over them). */
const SWEEP_MIN = 1024;

function remember(family: Family, child: Logger): void {
  family.members.add(new WeakRef(child));
  if (family.members.size < family.sweepAt) return;
  for (const ref of family.members) if (ref.deref() === undefined) family.members.delete(ref);
  // Twice the living: each sweep pays for itself with the additions before the next.
  family.sweepAt = Math.max(SWEEP_MIN, family.members.size * 2);
}

/** How many child loggers a root remembers (tests: the set must not grow with every child ever made). */
export function rememberedChildren(root: Logger): number {
  return families.get(root)?.members.size ?? 0;
}

/** Whether lines to this fd go to a person (a terminal) rather than a program. */
function wantsPretty(format: LogFormat, fd: 1 | 2): boolean {
  if (format !== 'auto') return format === 'pretty';
  return (fd === 1 ? process.stdout : process.stderr).isTTY === true;
}

/**
 * pino-pretty, loaded only for a terminal (a script or journald never pays for it). Synchronous
 * on purpose: a person reading a terminal wants every line before the prompt comes back.
 */
function prettyStream(fd: 1 | 2): DestinationStream {
  const require = createRequire(import.meta.url);
  const pretty = require('pino-pretty') as (opts: Record<string, unknown>) => DestinationStream;
  return pretty({ destination: fd, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,app' });
}

/**
 * The one place that creates the root logger; subsystems take `log.child({ component })`.
 *
 * The daemon logs to stdout through pino's own buffered writer. A command logs its few lines
 * through process.stderr, which Node writes synchronously on Linux (files, pipes, terminals): each
 * line is out before the command's next output, and a command run in a test's process
 * (test/helpers/cli-in-process.ts) has its log lines on the stderr it captures. (log.format
 * pretty, or auto on a terminal, writes through pino-pretty to the file descriptor itself.)
 */
export function createLogger(opts: LogOptions): Logger {
  const fd = opts.toStderr === true ? 2 : 1;
  const family: Family = { members: new Set(), sweepAt: SWEEP_MIN };
  const root = pino(
    {
      level: opts.level,
      base: { app: 'casegate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: messageFields,
      mixinMergeStrategy: mergeMessageFields,
      // Inherited by every child: remembered (weakly) so setLogLevel reaches them all.
      onChild: (child) => remember(family, child),
    },
    opts.destination ?? (wantsPretty(opts.format ?? 'auto', fd) ? prettyStream(fd) : fd === 2 ? process.stderr : pino.destination({ fd, sync: false })),
  );
  families.set(root, family);
  return root;
}

/** Change the level of a root logger and every logger derived from it (configuration reload). */
export function setLogLevel(root: Logger, level: LevelWithSilent): void {
  root.level = level;
  const members = families.get(root)?.members;
  if (members === undefined) return;
  for (const ref of members) {
    const child = ref.deref();
    if (child === undefined) members.delete(ref);
    else child.level = level;
  }
}

/** A logger that writes nothing (tests, quiet commands). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
