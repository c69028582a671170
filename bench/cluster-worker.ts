/**
 * One "daemon" of the cluster phase (bench/cluster.ts): casegate in this process (pipeline and
 * outbox worker, as bench/product.ts) on the shared PostgreSQL schema. Prints "ready", waits for
 * "go" on stdin, ingests its messages, waits until the shared outbox is empty, prints its times.
 * argv: config, mix, count, id-prefix, in-flight.
 */
import { createInterface } from 'node:readline';
import { makeMessages, type MixName } from './mix.js';
import { runProduct } from './product.js';

const [config, mix, count, prefix, inFlight] = process.argv.slice(2);
const messages = makeMessages(mix as MixName, Number(count), prefix!).filter((m) => m.kind !== 'reply');
process.stdout.write('ready\n');
const rl = createInterface({ input: process.stdin });
rl.once('line', () => {
  rl.close();
  const start = Date.now();
  runProduct(config!, messages, Number(inFlight)).then(
    () => {
      process.stdout.write(JSON.stringify({ start, end: Date.now(), messages: messages.length }) + '\n');
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
});
