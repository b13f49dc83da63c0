#!/usr/bin/env node
// The package's command: runs the compiled CLI (npm ci builds it through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('perfemu: dist/ is missing; run `npm ci` (or `npm run build`) in the perfemu checkout first');
  process.exit(2);
}
const { run, quietOnClosedPipe } = await import(main.href);
quietOnClosedPipe();
process.exitCode = await run(process.argv.slice(2));
