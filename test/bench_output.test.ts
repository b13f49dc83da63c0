/**
 * The output bench's rows (bench/output.bench.ts): the workload's 64-page rings, and larger rings
 * for some CPU counts, where the floor is at its best. Each session really writes and drains
 * at both sizes (ours needs an arena with room for the larger rings).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { outputConfigs, outputSession } from '../bench/output.bench.js';

test('every run has 64 B rows in 64-page and in 512-page rings, the larger right after', () => {
  for (const quick of [true, false]) {
    for (const cpus of [1, 8]) {
      const c = outputConfigs(quick, cpus);
      const large = c.findIndex((x) => x.pages === 512);
      assert.ok(large > 0, `quick ${quick}, ${cpus} CPUs`);
      assert.equal(c[large], { size: 64, pages: 512 });
      assert.ok(c.slice(0, large).some((x) => x.size === 64 && x.pages === 64));
      assert.ok(c.every((x, i) => i === large || x.pages === 64));
    }
  }
  assert.is(outputConfigs(true, 4).length, 1, '--quick: 4 CPUs only in the workload rings');
  assert.is(outputConfigs(false, 2).length, 3);
});

for (const pages of [64, 512]) {
  test(`ours and the floor write and drain through ${pages}-page rings, 2 CPUs`, async () => {
    for (const impl of ['ours', 'floor'] as const) {
      const s = await outputSession(impl, 2, 64, pages);
      try {
        const w = await s.window(60);
        assert.ok(w.rate > 0, `${impl}: ${w.rate} records/s`);
        assert.ok(w.lostShare >= 0 && w.lostShare < 1, `${impl}: lost share ${w.lostShare}`);
      } finally {
        await s.close();
      }
    }
  });
}

test.run();
