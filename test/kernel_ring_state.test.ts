/**
 * What Process.ringState reports for each kind of ring (kernel/events/ring_buffer.c's rb fields
 * and perfemu's counters): a forward writable ring, a write_backward one, an overwritable one,
 * one paused and resumed through PERF_EVENT_IOC_PAUSE_OUTPUT; and the bytes left to read of a
 * backward ring. Synchronous, per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, type KernelVersion, type PerfEventOpenOptions } from '../src/index.js';
import { file_obj } from '../src/kernel/file.js';
import { event_rb } from '../src/kernel/perf_event.js';
import { rb_readable } from '../src/kernel/ring_buffer.js';
import { OLD, VERSIONS, mk, payload, perfArray, throwsCode } from './fixtures/scenario.js';

function setup(v: KernelVersion, open: PerfEventOpenOptions) {
  const kernel = mk(v, 1);
  const app = kernel.process('app');
  const m = perfArray(app, 1);
  const prog = app.bpf.progLoad({ maps: [m] });
  const fd = app.perfEventOpen(open);
  app.bpf.mapUpdateElem(m, 0, fd);
  const out = (n = 16) => kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(n));
  return { kernel, app, fd, out };
}

for (const v of VERSIONS) {
  const noRoom = OLD.includes(v) ? 0 : -28;

  test(`${v}: a forward writable ring: head, tail, size, watermark, written and lost totals, never overwrite nor backward`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1 });
    for (let i = 0; i < 130; i++) out(); // 32-byte records: the 128th does not fit
    assert.equal(app.ringState(fd), {
      overwrite: false,
      backward: false,
      written: 127,
      lostTotal: 3,
      head: 127 * 32,
      tail: 0,
      size: 4096,
      lostPending: 3,
      paused: false,
      watermark: 2048,
    });
    app.readRing(fd);
    out();
    assert.equal([app.ringState(fd)!.written, app.ringState(fd)!.lostTotal, app.ringState(fd)!.lostPending], [128, 3, 0]);
  });

  test(`${v}: a write_backward ring on a read-only mapping is overwritable and backward; its totals count every output`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1, writeBackward: true, mmapWrite: false });
    for (let i = 0; i < 200; i++) assert.is(out(), 0);
    assert.equal(app.ringState(fd), {
      overwrite: true,
      backward: true,
      written: 200,
      lostTotal: 0,
      head: (-200 * 32) >>> 0,
      tail: 0,
      size: 4096,
      lostPending: 0,
      paused: false,
      watermark: 2048,
    });
  });

  test(`${v}: a write_backward writable ring: the bytes left to read are tail - head, and its space test loses what does not fit`, () => {
    const { kernel, app, fd, out } = setup(v, { cpu: 0, pages: 1, writeBackward: true });
    const rb = event_rb(kernel.k, file_obj(kernel.k, app.fileIndex(fd)));
    out();
    out(24);
    assert.is(rb_readable(kernel.k, rb), 32 + 40);
    assert.equal([app.ringState(fd)!.overwrite, app.ringState(fd)!.backward], [false, true]);
    for (let i = 0; i < 200; i++) out();
    assert.equal([app.ringState(fd)!.written, app.ringState(fd)!.lostTotal], [2 + 125, 200 - 125]);
    assert.is(rb_readable(kernel.k, rb), 32 + 40 + 125 * 32);
    app.readRing(fd);
    assert.is(rb_readable(kernel.k, rb), 0);
  });

  test(`${v}: PERF_EVENT_IOC_PAUSE_OUTPUT pauses with any non-zero argument and resumes with 0; pausing twice or resuming twice changes nothing`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1 });
    for (const [arg, paused] of [
      [7, true],
      [1, true],
      [0, false],
      [0, false],
      [1, true],
    ] as const) {
      app.ioctl(fd, 'PERF_EVENT_IOC_PAUSE_OUTPUT', arg);
      assert.is(app.ringState(fd)!.paused, paused, `after arg ${arg}`);
      assert.is(out(), paused ? noRoom : 0, `an output after arg ${arg}`);
    }
    assert.equal([app.ringState(fd)!.written, app.ringState(fd)!.lostTotal, app.ringState(fd)!.lostPending], [2, 3, 1]);
    assert.equal(
      app.readRing(fd).map((r) => (r.type === 'lost' ? `lost ${r.lost}` : 'sample')),
      ['lost 2', 'sample', 'sample'],
    );
  });

  test(`${v}: PERF_EVENT_IOC_PAUSE_OUTPUT once the last mapping is gone is EINVAL (no ring), and a later mapping starts unpaused`, () => {
    const { kernel, app, fd, out } = setup(v, { cpu: 0, pages: 1 });
    app.munmap(fd);
    throwsCode(() => app.ioctl(fd, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 1), 'EINVAL');
    kernel.rcuBarrier();
    app.mmap(fd, 1);
    assert.is(app.ringState(fd)!.paused, false);
    assert.is(out(), 0);
    assert.equal(
      app.readRing(fd).map((r) => r.type),
      ['sample'],
    );
  });
}

test.run();
