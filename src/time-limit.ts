/**
 * Waiting for a promise at most so long, the one way casegate does it: the promise is left to
 * settle on its own (its work is not cancelled), the timer never keeps the process alive.
 */

export const TIMED_OUT = Symbol('timed out');

/** `p`'s value, or TIMED_OUT when it has not settled within `ms` (its rejection, if first, rejects). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMED_OUT), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `p` fulfilled within `ms` (its rejection, if first, rejects). */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return (await within(p, ms)) !== TIMED_OUT;
}

/**
 * Wait `ms`, or less when `stop` aborts; resolves either way. For loops that wait again and again
 * while something long-lived may end them (a mailbox's watcher, a lease standing by): the wait
 * leaves nothing behind on `stop`. `Promise.race([sleep(ms), stopPromise])` did — each race a
 * reaction on the pending promise (about 300 bytes) until that promise settled, i.e. for the
 * daemon's life: a standby daemon's mailbox lease retried every 5 s, 5 MB a day per mailbox.
 */
export function pause(ms: number, stop: AbortSignal): Promise<void> {
  if (stop.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    stop.addEventListener('abort', done, { once: true });
  });
}
