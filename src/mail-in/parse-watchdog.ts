/**
 * mailparser can wait for ever on some broken input: when the input ends inside the header block
 * of an inline message/rfc822 part (a cut-off forward), it waits for that part's content stream
 * to end, which nothing ever reads (mailparser 3.14, as its issues #190 and #263 did for other
 * shapes). Without a guard the pipeline's stage time limit ends such a message in `retry` — and
 * the same bytes stall again on every attempt, for ever.
 *
 * The watchdog tells a stall from slow work by progress, not by total time: every chunk the
 * parser takes or gives (input, parts, attachment bytes) counts; STALL_MS without any, once the
 * input has ended, is a stall.
 */
export const STALL_MS = 5_000;
const CHECK_EVERY_MS = 1_000;

export class ParserStalledError extends Error {
  constructor(stallMs: number) {
    super(`the MIME parser made no progress for ${stallMs / 1000} s after the end of the message`);
    this.name = 'ParserStalledError';
  }
}

export interface ParseWatchdog {
  /** Something moved (a chunk in or out of the parser). */
  progress(): void;
  /** The parser has been given the whole message. */
  inputEnded(): void;
  /** `work`, or ParserStalledError once the parser stalls after the end of its input. */
  guard<T>(work: Promise<T>): Promise<T>;
}

export function parseWatchdog(stallMs = STALL_MS): ParseWatchdog {
  let last = performance.now();
  let ended = false;
  return {
    progress() {
      last = performance.now();
    },
    inputEnded() {
      ended = true;
      last = performance.now();
    },
    guard<T>(work: Promise<T>): Promise<T> {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_resolve, reject) => {
        timer = setInterval(() => {
          if (ended && performance.now() - last > stallMs) reject(new ParserStalledError(stallMs));
        }, Math.min(CHECK_EVERY_MS, stallMs));
      });
      return Promise.race([work, stalled]).finally(() => clearInterval(timer));
    },
  };
}
