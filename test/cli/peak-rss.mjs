// Peak-memory probe for the CLI tests when /usr/bin/time is not available:
//   node test/cli/peak-rss.mjs <path/to/dist/bin/casegate.js> <casegate args...>
// Runs the CLI in this very process (same modules, same code path as `node dist/bin/casegate.js`)
// and writes its peak RSS in KiB (like GNU time's %M) as the last stderr line: VmHWM of
// /proc/self/status where there is one. Not getrusage's maxRSS (process.resourceUsage): that
// survives exec, so it reports the parent's size at the fork when the parent was larger (a test
// worker holding many modules: 120 MiB reported for a 75 MiB command).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [cli, ...args] = process.argv.slice(2);
if (cli === undefined) {
  process.stderr.write('usage: node peak-rss.mjs <cli.js> <args...>\n');
  process.exit(2);
}
process.argv = [process.argv[0], cli, ...args];

function peakKiB() {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm !== null) return Number(hwm[1]);
  } catch {
    // no /proc
  }
  return process.resourceUsage().maxRSS;
}

process.on('exit', () => {
  process.stderr.write(`\n${peakKiB()}\n`);
});
await import(pathToFileURL(cli).href);
