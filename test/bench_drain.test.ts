/**
 * bench/drain.ts, one phase of the consumer bench: each timed round drains every record the
 * ring held (it throws otherwise), also with a second reader in the thread; a reader count it
 * has no callback for is refused. (The figures are the machine's business.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { drainPhase } from '../bench/drain.js';

test('one reader, and a second reader beside it: every round timed, ours and the floor', () => {
  for (const readers of [1, 2]) {
    for (const zeroCopy of [true, false]) {
      const r = drainPhase(64, 2, zeroCopy, readers);
      assert.is(r.ours.length, 2, `readers ${readers}, zeroCopy ${zeroCopy}`);
      assert.is(r.floor.length, 2);
      for (const x of [...r.ours, ...r.floor]) assert.ok(Number.isFinite(x) && x > 0, `a rate: ${x}`);
    }
  }
});

test('a reader count without a callback of its own is refused', () => {
  assert.throws(() => drainPhase(64, 1, true, 4), /readers must be 1 to 3, not 4/);
  assert.throws(() => drainPhase(64, 1, true, 0), /readers must be 1 to 3, not 0/);
});

test.run();
