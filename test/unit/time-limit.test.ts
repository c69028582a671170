import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { pause } from '../../src/time-limit.js';

/**
 * pause(): the wait of the loops that run for the daemon's life and end when it stops (an IMAP
 * mailbox backing off or waiting for its server, a standby daemon trying a mailbox's lease every
 * few seconds). They waited with Promise.race([sleep(ms), stopPromise]): each race left a reaction
 * on the stop promise, pending until the daemon stopped — memory that only grew.
 */
describe('pause', () => {
  it('waits its time, or ends as soon as its signal aborts (also one aborted before)', async () => {
    const stop = new AbortController();
    const started = performance.now();
    await pause(30, stop.signal);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    const long = pause(600_000, stop.signal);
    stop.abort();
    await long;
    await pause(600_000, stop.signal);
    expect(performance.now() - started).toBeLessThan(60_000);
  });

  it('20,000 waits leave nothing behind on a signal that lives on (a stop promise kept ~300 bytes per wait)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const life = new AbortController();
    gc();
    const before = process.memoryUsage().heapUsed;
    // 200 rounds of 100 at once (a signal has one waiter at a time in the daemon; 20,000 at once
    // would only measure how EventTarget finds a listener among thousands).
    for (let round = 0; round < 200; round++) await Promise.all(Array.from({ length: 100 }, () => pause(1, life.signal)));
    gc();
    const grew = process.memoryUsage().heapUsed - before;
    // Promise.race with the pending promise: ~6 MB here, held until the signal's owner stopped.
    expect(grew).toBeLessThan(1_500_000);
    expect(getEventListeners(life.signal, 'abort')).toHaveLength(0);
  });
});
