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
