/**
 * bench/drain.ts, one phase of the consumer bench: each timed round drains every record the
 * ring held (it throws otherwise), also with a second reader in the thread, with a callback of
 * its own or the first reader's; an unknown second reader is refused. (The figures are the
 * machine's business.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SECOND_READERS, drainPhase, type SecondReader } from '../bench/drain.js';

test("one reader, and a second reader beside it (its own callback or the first one's): every round timed, ours and the floor", () => {
  for (const second of SECOND_READERS) {
    for (const zeroCopy of [true, false]) {
      const r = drainPhase(64, 2, zeroCopy, second);
      assert.is(r.ours.length, 2, `second ${second}, zeroCopy ${zeroCopy}`);
      assert.is(r.floor.length, 2);
      for (const x of [...r.ours, ...r.floor]) assert.ok(Number.isFinite(x) && x > 0, `a rate: ${x}`);
    }
  }
});

test('an unknown second reader is refused, naming the choices', () => {
  assert.throws(() => drainPhase(64, 1, true, 'two' as SecondReader), /the second reader must be one of none, own, shared, not two/);
});

test.run();
