/**
 * Test entry: runs uvu over the compiled suites and prints the closing line CI reads
 * ("uvu: N passed, N failed, N skipped"). uvu has no per-test timeout, so the whole run is
 * bounded here (TEST_TIMEOUT_MS, default 10 min): a hang becomes a failure, not a stuck CI.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const uvuBin = join(dirname(createRequire(import.meta.url).resolve('uvu')), '..', 'bin.js');
const pattern = process.argv[2] ?? '\\.test\\.js$';
const timeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 600_000);

// TEST_BAIL=1: stop at the first failing suite (mutation testing only needs to know whether one fails)
const bail = process.env.TEST_BAIL === '1' ? ['--bail'] : [];
const child = spawn(process.execPath, [uvuBin, here, pattern, '--no-color', ...bail], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (b: Buffer) => {
  out += b.toString();
  process.stdout.write(b);
});
const timer = setTimeout(() => {
  console.log(`uvu: timed out after ${timeoutMs}ms`);
  child.kill('SIGKILL');
}, timeoutMs);
child.on('close', (code, signal) => {
  clearTimeout(timer);
  const total = /Total:\s+(\d+)/.exec(out);
  const passed = /Passed:\s+(\d+)/.exec(out);
  const skipped = /Skipped:\s+(\d+)/.exec(out);
  if (!total || !passed) {
    console.log(`uvu: 0 passed, 1 failed (no summary; exit ${signal ?? code})`);
    process.exit(1);
  }
  const t = Number(total[1]);
  const p = Number(passed[1]);
  const s = skipped ? Number(skipped[1]) : 0;
  const failed = t - p;
  console.log(`uvu: ${p} passed, ${failed} failed, ${s} skipped`);
  process.exit(failed > 0 || code !== 0 || t === 0 ? 1 : 0);
});
