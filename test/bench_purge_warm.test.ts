/**
 * The control bench's purge warm-up (bench/control.bench.ts): small maps get more untimed
 * purges, so that each size's code has run about as many slots before it is timed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { purgeWarmCount } from '../bench/control.bench.js';

test('about 40,000 slots of warm-up per size, at least 150 (40 quick), at most 1,000 purges', () => {
  assert.is(purgeWarmCount(4096, false), 150);
  assert.is(purgeWarmCount(1024, false), 150);
  assert.is(purgeWarmCount(64, false), 625);
  assert.is(purgeWarmCount(1, false), 1000);
  assert.is(purgeWarmCount(4096, true), 40);
  assert.is(purgeWarmCount(64, true), 625);
  for (const n of [1, 2, 64, 100, 1024, 4096]) assert.ok(purgeWarmCount(n, false) * n >= Math.min(40_000, 1000 * n), `size ${n}`);
});

test.run();
