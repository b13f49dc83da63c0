/**
 * perf events (kernel/events/core.c): perf_event_open's pid/cpu/type checks, the event's
 * recorded attributes, enable/disable, the ring mapping shared by several mappers
 * (perf_mmap / perf_mmap_close), the ring freed a grace period after its last unmapping, and
 * the ring page pool running out. Synchronous, per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, Kernel, PERF_TYPE_BREAKPOINT, PERF_TYPE_HW_CACHE, PERF_TYPE_RAW, PERF_TYPE_TRACEPOINT, type KernelVersion } from '../src/index.js';
import { perf_event_open } from '../src/kernel/perf_event.js';
import { VERSIONS, eventIdOf, payload, perfArray, throwsCode } from './fixtures/scenario.js';

function kernelOf(v: KernelVersion, ringPages = 64) {
  const kernel = Kernel.create({ cpus: 2, version: v, limits: { ringPages } });
  return { kernel, app: kernel.process('app') };
}
const live = (kernel: Kernel) => kernel.inspect().perfEvents.filter((e) => e.alive);

for (const v of VERSIONS) {
  test(`${v}: perf_event_open: another task's pid is ESRCH, a cpu below -1 EINVAL; a per-task event (pid 0, cpu -1) runs nowhere`, () => {
    const { kernel, app } = kernelOf(v);
    throwsCode(() => app.perfEventOpen({ cpu: 0, pid: 5, mmap: false }), 'ESRCH');
    const attr = { type: 1, config: 10, inherit: false, sampleRaw: true, disabled: false, wakeupEvents: 1, watermark: 0 };
    assert.is(perf_event_open(kernel.k, attr, 0, -2), -22);
    assert.is(perf_event_open(kernel.k, attr, -1, -1), -22, 'a CPU-wide event needs a CPU');
    assert.is(perf_event_open(kernel.k, { ...attr, type: 0, config: 10 }, -1, 0), -22, 'hardware config >= PERF_COUNT_HW_MAX');
    assert.is(perf_event_open(kernel.k, { ...attr, type: 9 }, -1, 0), -2, 'no PMU for the type');
    throwsCode(() => app.perfEventOpen({ cpu: 2, mmap: false }), 'EINVAL');
    app.perfEventOpen({ cpu: -1, pid: 0, mmap: false });
    app.perfEventOpen({ cpu: 1, mmap: false });
    assert.equal(
      live(kernel).map((e) => [e.cpu, e.oncpu]),
      [
        [-1, -1],
        [1, 1],
      ],
    );
  });

  test(`${v}: perf_event_open takes tracepoint, hw-cache, raw and breakpoint events of any config and records type and config`, () => {
    const { kernel, app } = kernelOf(v);
    const types = [PERF_TYPE_TRACEPOINT, PERF_TYPE_HW_CACHE, PERF_TYPE_RAW, PERF_TYPE_BREAKPOINT];
    types.forEach((type, i) => app.perfEventOpen({ cpu: 0, type, config: 1000 + i, mmap: false }));
    app.perfEventOpen({ cpu: 0, type: 'software', config: 'cpu_clock', mmap: false });
    app.perfEventOpen({ cpu: 0, type: 'hardware', config: 9, mmap: false });
    assert.equal(
      live(kernel).map((e) => [e.type, e.config]),
      [
        [2, 1000],
        [3, 1001],
        [4, 1002],
        [5, 1003],
        [1, 0],
        [0, 9],
      ],
    );
    const ids = live(kernel).map((e) => e.id);
    assert.ok(ids[0]! >= 1, `first id ${ids[0]}`);
    assert.equal(
      ids,
      [...ids].sort((a, b) => a - b),
      'ids increase',
    );
    assert.is(new Set(ids).size, ids.length);
  });

  test(`${v}: a disabled event runs nowhere until PERF_EVENT_IOC_ENABLE; DISABLE stops it; a per-task event stays off-CPU`, () => {
    const { kernel, app } = kernelOf(v);
    const m = perfArray(app, 2);
    const prog = app.bpf.progLoad({ maps: [m] });
    const fd = app.perfEventOpen({ cpu: 1, disabled: true, pages: 1 });
    const task = app.perfEventOpen({ cpu: -1, pid: 0, mmap: false });
    app.bpf.mapUpdateElem(m, 1, fd);
    const oncpu = () => live(kernel).map((e) => e.oncpu);
    assert.equal(oncpu(), [-1, -1]);
    assert.is(kernel.cpu(1).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8)), -95);
    app.ioctl(fd, 'PERF_EVENT_IOC_ENABLE');
    app.ioctl(task, 'PERF_EVENT_IOC_ENABLE');
    assert.equal(oncpu(), [1, -1]);
    assert.is(kernel.cpu(1).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8)), 0);
    app.ioctl(fd, 'PERF_EVENT_IOC_DISABLE');
    assert.equal(oncpu(), [-1, -1]);
  });

  test(`${v}: two mappers share one ring (same size only); each mapping holds the file; the last unmapping detaches the ring and frees it a grace period later`, () => {
    const { kernel, app } = kernelOf(v);
    const first = app.perfEventOpen({ cpu: 1, mmap: false }); // so the event of interest is not event 0
    const fd = app.perfEventOpen({ cpu: 0, pages: 2 });
    const ev = () => live(kernel)[1]!;
    assert.equal([ev().mmaps, ev().fileRefs, ev().ring!.pages], [1, 2, 2]);
    const child = app.fork('child'); // shares the file (one more reference), not the mapping
    throwsCode(() => child.mmap(fd, 4), 'EINVAL', 'another size');
    child.mmap(fd, 2);
    assert.equal([ev().mmaps, ev().fileRefs], [2, 4]);
    const freed: number[] = [];
    kernel.hooks = { ringFreed: ({ event }) => void freed.push(event) };
    app.munmap(fd);
    assert.equal([ev().mmaps, ev().fileRefs, ev().ring?.pages], [1, 3, 2], 'still mapped by the child');
    child.munmap(fd);
    assert.equal([ev().mmaps, ev().fileRefs, ev().ring], [0, 2, null], 'detached at the last unmapping');
    assert.equal(freed, []);
    assert.equal(
      kernel.inspect().rcu.pending.map((p) => p.kind),
      ['ring_free'],
    );
    kernel.rcuBarrier();
    assert.equal(freed, [eventIdOf(kernel, app, fd)], 'freed after a grace period, naming its event (its public id)');
    assert.equal(app.poll([fd]), [{ fd, revents: 0x10 }], 'no ring: POLLHUP');
    app.mmap(fd, 1);
    assert.equal([ev().mmaps, ev().ring!.pages], [1, 1], 'a new ring, of any size');
    app.close(first);
  });

  test(`${v}: when the ring page pool is exhausted mmap is ENOMEM; the pages come back a grace period after the unmapping`, () => {
    const { kernel, app } = kernelOf(v, 6);
    const a = app.perfEventOpen({ cpu: 0, pages: 2 }); // 3 pages with the control page
    const b = app.perfEventOpen({ cpu: 1, mmap: false });
    throwsCode(() => app.mmap(b, 4), 'ENOMEM');
    app.mmap(b, 2);
    const c = app.perfEventOpen({ cpu: 0, mmap: false });
    throwsCode(() => app.mmap(c, 1), 'ENOMEM');
    app.munmap(b); // the second ring's pages, not the first's
    throwsCode(() => app.mmap(c, 1), 'ENOMEM', 'not before the grace period');
    kernel.rcuBarrier();
    app.mmap(c, 2);
    assert.equal(
      live(kernel).map((e) => e.ring?.pages ?? null),
      [2, null, 2],
    );
    app.munmap(a);
    kernel.rcuBarrier();
    app.mmap(b, 2);
  });

  test(`${v}: the event table full is ENOMEM`, () => {
    const kernel = Kernel.create({ cpus: 1, version: v, limits: { ringPages: 16, maxEvents: 2 } });
    const app = kernel.process('app');
    app.perfEventOpen({ cpu: 0, mmap: false });
    app.perfEventOpen({ cpu: 0, mmap: false });
    throwsCode(() => app.perfEventOpen({ cpu: 0, mmap: false }), 'ENOMEM');
    assert.is(live(kernel).length, 2);
  });

  test(`${v}: releasing a never-mapped event frees no ring and leaves it without one`, () => {
    const { kernel, app } = kernelOf(v);
    const freed: number[] = [];
    kernel.hooks = { ringFreed: ({ event }) => void freed.push(event) };
    const fd = app.perfEventOpen({ cpu: 0, mmap: false });
    app.close(fd);
    assert.equal(
      kernel.inspect().perfEvents.map((e) => [e.alive, e.ring, e.oncpu]),
      [[false, null, -1]],
    );
    assert.equal(kernel.inspect().rcu.pending, []);
    kernel.rcuBarrier();
    assert.equal(freed, []);
  });

  test(`${v}: closing a mapped event's last fd keeps it alive through its mapping; exit unmaps and releases it`, () => {
    const { kernel, app } = kernelOf(v);
    const fd = app.perfEventOpen({ cpu: 0, pages: 1 });
    app.close(fd);
    assert.equal(
      live(kernel).map((e) => [e.fileRefs, e.mmaps]),
      [[1, 1]],
    );
    app.exit();
    assert.equal(live(kernel), []);
    kernel.rcuBarrier();
    assert.equal(kernel.inspect().rcu.pending, []);
  });
}

test('4.7: an event released under a CPU that still uses it (the immediate fput) runs nowhere: that output is EOPNOTSUPP', () => {
  const kernel = Kernel.create({ cpus: 2, version: '4.7', limits: { ringPages: 16 } });
  const app = kernel.process('app');
  const m = perfArray(app, 2);
  const prog = app.bpf.progLoad({ maps: [m] });
  const fd = app.perfEventOpen({ cpu: 1, mmap: false });
  app.bpf.mapUpdateElem(m, 1, fd);
  app.close(fd); // only the entry holds the event
  kernel.hooks = { outputLoaded: () => app.bpf.mapDeleteElem(m, 1) };
  assert.is(kernel.cpu(1).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8)), -95);
  kernel.hooks = {};
  assert.equal(
    kernel.inspect().perfEvents.map((e) => [e.alive, e.oncpu, e.ring]),
    [[false, -1, null]],
  );
  assert.equal(
    kernel.violations().map((x) => [x.kind, x.cpu]),
    [['use-after-free-event', 1]],
  );
});

test.run();
