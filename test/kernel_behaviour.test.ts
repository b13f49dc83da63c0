/**
 * The behaviour table (src/kernel/behaviour.ts) and the kernel context (src/kernel/context.ts):
 * which version a kernel is, what an arena header says, and the rows whose effect is not an
 * errno of some other suite.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Kernel } from '../src/index.js';
import { H_KERNEL_VERSION } from '../src/arena/layout.js';
import { BEHAVIOURS } from '../src/kernel/behaviour.js';
import { FIXED, OLD, VERSIONS, mk, perfArray, throwsCode } from './fixtures/scenario.js';

test('a kernel created without a version is 6.18, the newest modelled', () => {
  const kernel = Kernel.create({ cpus: 1 });
  assert.is(kernel.version, '6.18');
  assert.is(kernel.inspect().version, '6.18');
  assert.is(VERSIONS.at(-1), '6.18');
});

for (const v of VERSIONS) {
  test(`${v}: the kernel, a handle attached to its arena and inspect() all say ${v}`, () => {
    const kernel = mk(v, 1);
    assert.equal([kernel.version, Kernel.attach(kernel.sab).version, kernel.inspect().version], [v, v, v]);
  });
}

test('attaching to an arena whose header names no modelled kernel is refused, naming the code', () => {
  const kernel = mk('6.18', 1);
  kernel.arena.i32[H_KERNEL_VERSION] = 99;
  assert.throws(
    () => Kernel.attach(kernel.sab),
    (e: Error) => e.message === 'unknown kernel behaviour code 99 in arena header',
  );
});

for (const v of VERSIONS) {
  const waits = BEHAVIOURS[v].mapFreeSynchronizeRcu;
  test(`${v}: freeing a perf event array ${waits ? 'waits for a grace period first (fd_array_map_free)' : 'does not wait for a grace period'}`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    app.close(perfArray(app));
    assert.is(kernel.inspect().work.length, 1, 'the free is queued work');
    kernel.rcuTick();
    const s = kernel.inspect();
    assert.equal([s.work, s.maps[0]!.alive], [[], false]);
    assert.is(s.rcu.gpSeq, waits ? 2 : 0, 'grace periods run');
  });
}
test('4.7 and 4.8 synchronize RCU in fd_array_map_free (4.7 after clearing the slots); 5.10 and 6.18 do not', () => {
  assert.equal(
    VERSIONS.filter((v) => BEHAVIOURS[v].mapFreeSynchronizeRcu),
    ['4.7', '4.8'],
  );
});

for (const v of OLD) {
  test(`${v}: a lookup does not check its flags: any flags give the lookup's own answer`, () => {
    const p = mk(v).process('app');
    const m = perfArray(p);
    throwsCode(() => p.bpf.mapLookupElem(m, 0, 1), 'ENOENT');
    throwsCode(() => p.bpf.mapLookupElem(99, 0, 1), 'EBADF', 'a bad fd is found first');
  });
}

for (const v of FIXED) {
  test(`${v}: a release purge reads under a task's RCU section, whichever handle runs it: a grace period waits for it, and no CPU is named`, () => {
    const kernel = mk(v, 2);
    const other = Kernel.attach(kernel.sab); // a second handle: the next task reader
    const app = other.process('app');
    const m = perfArray(app);
    app.bpf.mapUpdateElem(m, 0, app.perfEventOpen({ cpu: 0, mmap: false }));
    let stall = '';
    other.hooks = {
      purgeLoaded: () => {
        try {
          kernel.synchronizeRcu(5);
        } catch (e) {
          stall = (e as Error).message;
        }
      },
    };
    app.close(m);
    other.hooks = {};
    const named = /read-side section: (.+)$/.exec(stall);
    assert.ok(named, `a stall: ${stall}`);
    assert.ok(
      named![1]!.split(', ').every((r) => /^task reader \d+$/.test(r)),
      `only task readers: ${stall}`,
    );
    kernel.synchronizeRcu(1000); // once the section ended, grace periods complete
  });
}

test.run();
