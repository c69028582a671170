// Peak-memory probe for the CLI tests when /usr/bin/time is not available:
//   node test/cli/peak-rss.mjs <path/to/dist/bin/casegate.js> <casegate args...>
// Runs the CLI in this very process (same modules, same code path as `node dist/bin/casegate.js`)
// and writes process.resourceUsage().maxRSS (KiB, like GNU time's %M) as the last stderr line.
import { pathToFileURL } from 'node:url';

const [cli, ...args] = process.argv.slice(2);
if (cli === undefined) {
  process.stderr.write('usage: node peak-rss.mjs <cli.js> <args...>\n');
  process.exit(2);
}
process.argv = [process.argv[0], cli, ...args];
process.on('exit', () => {
  process.stderr.write(`\n${process.resourceUsage().maxRSS}\n`);
});
await import(pathToFileURL(cli).href);
