/** Runs a perfemu command in this process (or nothing), then prints its peak RSS to stderr. */
import { run } from '../src/cli/main.js';

const args = process.argv.slice(2);
if (args.length) {
  const log = console.log;
  console.log = () => undefined; // the command's output is not what we measure
  await run(args);
  console.log = log;
}
process.stderr.write(`maxRSS ${process.resourceUsage().maxRSS}\n`);
