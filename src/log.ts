import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

export type Logger = PinoLogger;

export interface LogOptions {
  readonly level: LevelWithSilent;
  /** Write to stderr instead of stdout (CLI commands keep stdout for their output). */
  readonly toStderr?: boolean;
}

/** The one place that creates the root logger; subsystems take `log.child({ component })`. */
export function createLogger(opts: LogOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { app: 'casegate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: opts.toStderr === true ? 2 : 1, sync: false }),
  );
}

/** A logger that writes nothing (tests, quiet commands). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
