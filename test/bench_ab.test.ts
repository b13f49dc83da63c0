/**
 * bench/ab.ts, the A/B harness a change to the output path or the purge is measured with: it
 * runs both builds' paths and reports each figure and a ratio; bad arguments are refused. (What
 * the figures are is the machine's business: only that they are there is checked.)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ab = fileURLToPath(new URL('../bench/ab.js', import.meta.url));
const dist = fileURLToPath(new URL('..', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [ab, ...args], { encoding: 'utf8', timeout: 120_000 });

test('the same build on both sides: a figure for each build and a ratio, per path', () => {
  const r = run(dist, dist, '--rounds', '2');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^output {2}A [\d.]+ {2}B [\d.]+ ns per output {2}B\/A [\d.]+$/m);
  assert.match(r.stdout, /^purge {3}A [\d.]+ {2}B [\d.]+ µs per 4096-slot purge {2}B\/A [\d.]+$/m);
});

test('bad arguments are refused, naming the rule', () => {
  let r = run(dist);
  assert.is(r.status, 2);
  assert.match(r.stderr, 'ab: give two dist folders; got 1');
  r = run(dist, '/nonexistent');
  assert.is(r.status, 2);
  assert.match(r.stderr, 'ab: /nonexistent is not a built dist folder (no src/emulator.js)');
  r = run(dist, dist, '--rounds', '0');
  assert.is(r.status, 2);
  assert.match(r.stderr, "--rounds must be an integer from 1 to 1000; got '0'");
});

test.run();
