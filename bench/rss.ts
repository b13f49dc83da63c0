/**
 * Runs a perfemu command in this process (or nothing), then prints its peak RSS to stderr.
 * VmHWM of /proc/self/status, not getrusage's ru_maxrss: the latter carries the parent's
 * high-water mark across fork and exec, so a child of a big process would report the parent's.
 */
import { readFileSync } from 'node:fs';
import { run } from '../src/cli/main.js';

const args = process.argv.slice(2);
if (args.length) {
  const log = console.log;
  console.log = () => undefined; // the command's output is not what we measure
  await run(args);
  console.log = log;
}
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
process.stderr.write(`maxRSS ${hwm ? hwm[1] : process.resourceUsage().maxRSS}\n`);
