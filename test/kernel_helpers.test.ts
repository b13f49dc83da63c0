/**
 * The helpers of kernel/trace/bpf_trace.c seen from a program: bpf_perf_event_output through a
 * program's second map, and bpf_perf_event_read's choice of event, its index bound, the event
 * types 4.x accepts, and the read-side section it leaves on every return. Synchronous, per
 * kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PERF_COUNT_SW_BPF_OUTPUT, PERF_TYPE_RAW, type RingRecord } from '../src/index.js';
import { BEHAVIOURS } from '../src/kernel/behaviour.js';
import { VERSIONS, mk, payload, perfArray } from './fixtures/scenario.js';

const sampleBytes = (r: RingRecord[]) => r.map((x) => (x.type === 'sample' ? [...x.data.subarray(0, 4)] : x.type));

for (const v of VERSIONS) {
  test(`${v}: output through a program's second map lands in that map's event, checked against that map's size`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const small = perfArray(app, 1);
    const big = perfArray(app, 3);
    const prog = app.bpf.progLoad({ maps: [small, big] });
    const a = app.perfEventOpen({ cpu: 0, pages: 1 });
    const b = app.perfEventOpen({ cpu: 0, pages: 1 });
    app.bpf.mapUpdateElem(small, 0, a);
    app.bpf.mapUpdateElem(big, 2, b);
    const cpu = kernel.cpu(0);
    assert.is(cpu.perfEventOutput(prog, 1, 2, payload(4, 7)), 0, 'slot 2 of the 3-slot map');
    assert.is(cpu.perfEventOutput(prog, 1, 1, payload(4)), -2, 'slot 1 of the 3-slot map is empty (not past its end)');
    assert.is(cpu.perfEventOutput(prog, 0, 1, payload(4)), -7, 'slot 1 is past the 1-slot map');
    assert.is(cpu.perfEventOutput(prog, 0, 0, payload(4, 9)), 0);
    assert.equal(sampleBytes(app.readRing(b)), [[...payload(4, 7)]]);
    assert.equal(sampleBytes(app.readRing(a)), [[...payload(4, 9)]]);
  });

  const old = BEHAVIOURS[v].readChecksType;
  test(`${v}: bpf_perf_event_read reads the event of the slot asked for; index max_entries is E2BIG; ${old ? 'a RAW event is read (4.x: HARDWARE and RAW only)' : 'each counter counts its own samples'}`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    const prog = app.bpf.progLoad({ maps: [m] });
    const cpu = kernel.cpu(0);
    if (old) {
      app.bpf.mapUpdateElem(m, 0, app.perfEventOpen({ cpu: 0, type: PERF_TYPE_RAW, config: PERF_COUNT_SW_BPF_OUTPUT, mmap: false }));
      app.bpf.mapUpdateElem(m, 1, app.perfEventOpen({ cpu: 0, pages: 1 }));
      assert.equal([cpu.perfEventRead(prog, 0, 0), cpu.perfEventRead(prog, 0, 1)], [0, -22], 'the RAW event, then the bpf-output one');
    } else {
      app.bpf.mapUpdateElem(m, 0, app.perfEventOpen({ cpu: 0, pages: 1 }));
      app.bpf.mapUpdateElem(m, 1, app.perfEventOpen({ cpu: 0, pages: 1 }));
      for (const index of [0, 0, 1]) assert.is(cpu.perfEventOutput(prog, 0, index, payload(8)), 0);
      assert.equal([cpu.perfEventRead(prog, 0, 0), cpu.perfEventRead(prog, 0, 1)], [2, 1]);
      assert.equal(
        [0, 1].map((i) => cpu.perfEventReadValue(prog, 0, i).counter),
        [2, 1],
      );
    }
    assert.is(cpu.perfEventRead(prog, 0, 2), -7, 'index 2 of a 2-slot map');
  });

  test(`${v}: bpf_perf_event_read leaves its read-side section on every return: a grace period still completes`, () => {
    const kernel = mk(v, 1);
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    const prog = app.bpf.progLoad({ maps: [m] });
    const cpu = kernel.cpu(0);
    assert.is(cpu.perfEventRead(prog, 0, 1), -2, 'an empty slot');
    kernel.synchronizeRcu(200);
    app.bpf.mapUpdateElem(m, 0, app.perfEventOpen({ cpu: 0, type: 'hardware', config: 0, mmap: false }));
    assert.is(cpu.perfEventRead(prog, 0, 0), 0, 'a hardware event on its CPU');
    kernel.synchronizeRcu(200);
    app.bpf.mapDeleteElem(m, 0);
    kernel.rcuBarrier(200);
    assert.is(kernel.inspect().entriesPendingFree, 0);
  });
}

test.run();
