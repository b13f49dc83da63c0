/** The perf-buffer consumer (libbpf's perf_buffer__* roles), driven synchronously. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, PerfBuffer } from '../src/index.js';
import { mk, payload, perfArray } from './fixtures/scenario.js';

function setup(cpus = 4) {
  const kernel = mk('6.18', cpus);
  const app = kernel.process('app');
  const m = perfArray(app, cpus);
  const prog = app.bpf.progLoad({ maps: [m] });
  const out = (cpu: number, data = payload(16, cpu)) => kernel.cpu(cpu).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data);
  return { kernel, app, m, prog, out };
}

test('open installs one event per CPU at key = CPU through the given map fd (capped at max_entries)', () => {
  const { kernel, app, m } = setup(4);
  const pb = PerfBuffer.open(app, m, { pages: 1 });
  assert.is(pb.bufferCount, 4);
  const s = kernel.inspect();
  assert.equal(
    s.maps[0]!.slots.map((x) => x?.owner),
    [1, 1, 1, 1].map(() => app.fileOf(m)),
  );
  assert.equal(new Set(Array.from({ length: 4 }, (_, i) => pb.bufferFd(i))).size, 4);
  const small = perfArray(app, 2);
  assert.is(PerfBuffer.open(app, small).bufferCount, 2, 'libbpf caps the buffers at the map size');
});

test('the callbacks are read once, at open: changing the options object afterwards changes nothing, in either read path', () => {
  for (const overwritable of [false, true]) {
    const { app, m, out } = setup(1);
    const got: string[] = [];
    const opts = { pages: 1, overwritable, onSample: () => void got.push('given') };
    const pb = PerfBuffer.open(app, m, opts);
    opts.onSample = () => void got.push('changed');
    out(0);
    assert.is(pb.consume(), 1);
    assert.equal(got, ['given'], overwritable ? 'overwritable' : 'forward');
    pb.close();
  }
});

test('poll waits for a wakeup, drains the ready buffers and hands samples to the callback with their CPU', () => {
  const { app, m, out } = setup(4);
  const seen: [number, number][] = [];
  const pb = PerfBuffer.open(app, m, { pages: 1, onSample: (cpu, data) => seen.push([cpu, data[0]!]) });
  assert.is(pb.poll(0), 0);
  out(1);
  out(3);
  assert.is(pb.poll(100), 2);
  assert.equal(seen.sort(), [
    [1, payload(16, 1)[0]!],
    [3, payload(16, 3)[0]!],
  ]);
  assert.is(pb.poll(10), 0, 'nothing new');
  assert.equal([pb.stats.samples, pb.stats.wakeups], [2, 1]);
});

test('consumeBuffer drains one buffer; consume drains all, ready or not (perf_buffer.c selftest shape)', () => {
  const { app, m, out } = setup(4);
  const cpus: number[] = [];
  const pb = PerfBuffer.open(app, m, { pages: 1, wakeupEvents: 0, onSample: (cpu) => cpus.push(cpu) });
  for (let c = 0; c < 4; c++) out(c);
  assert.is(pb.poll(0), 0, 'wakeup_events 0 and a half-ring watermark: no wakeup yet');
  assert.is(pb.consumeBuffer(2), 1);
  assert.is(pb.consume(), 3);
  out(2);
  assert.is(pb.consumeBuffer(2), 1);
  assert.equal(cpus, [2, 0, 1, 3, 2]);
});

test('the lost callback gets the count a PERF_RECORD_LOST carries', () => {
  const { app, m, out } = setup(1);
  let lost = 0;
  const pb = PerfBuffer.open(app, m, { pages: 1, onLost: (_cpu, n) => (lost += n) });
  for (let i = 0; i < 130; i++) out(0); // 127 fit
  pb.consume();
  out(0);
  pb.consume();
  assert.equal([lost, pb.stats.lost, pb.stats.samples], [3, 3, 128]);
});

test('close unmaps and closes the events; the slots go when the map file is released (or at once with deleteOnClose)', () => {
  const { kernel, app, m } = setup(2);
  app.bpf.objPin(m, '/sys/fs/bpf/m');
  const g = app.bpf.objGet('/sys/fs/bpf/m');
  const pb = PerfBuffer.open(app, g, { pages: 1 });
  pb.close();
  assert.is(kernel.inspect().maps[0]!.slots.filter(Boolean).length, 2, 'entries outlive the buffer');
  app.close(g); // the frontend that added them
  assert.equal(kernel.inspect().maps[0]!.slots, [null, null]);
  const pb2 = PerfBuffer.open(app, m, { pages: 1, deleteOnClose: true });
  pb2.close();
  assert.equal(kernel.inspect().maps[0]!.slots, [null, null]);
  kernel.rcuBarrier();
  assert.equal(
    kernel.inspect().perfEvents.filter((e) => e.alive),
    [],
  );
  try {
    pb2.poll(0);
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, 'ERR_PERFEMU_CLOSED');
  }
});

test('a failure while opening undoes what was opened', () => {
  const { kernel, app, m } = setup(2);
  try {
    PerfBuffer.open(app, m, { pages: 3 });
    assert.unreachable();
  } catch (e) {
    assert.is((e as { code: string }).code, 'EINVAL');
  }
  assert.equal(
    kernel.inspect().perfEvents.filter((e) => e.alive),
    [],
  );
  assert.equal(
    kernel.inspect().files.filter((f) => f.kind === 'epoll'),
    [],
  );
});

test.run();

test('onSampleAt delivers the same bytes as onSample without a view per record, also for a record that wraps the ring end', () => {
  const { app, m, out } = setup(1);
  const viewed: number[][] = [];
  const raw: number[][] = [];
  const a = PerfBuffer.open(app, m, { pages: 1, wakeupEvents: 0, onSample: (_c, d) => viewed.push([...d]) });
  // 100-byte payloads make 112-byte records: 36 fill 4032 of the 4096-byte data area, and the
  // 37th (written after they are read) wraps around its end
  for (let i = 0; i < 36; i++) out(0, payload(100, i));
  a.consume();
  a.close();
  const b = PerfBuffer.open(app, m, { pages: 1, wakeupEvents: 0, onSampleAt: (_c, buf, off, size) => raw.push([...buf.subarray(off, off + size)]) });
  for (let i = 0; i < 36; i++) out(0, payload(100, i));
  b.consume();
  assert.equal(raw, viewed);
  assert.is(b.stats.samples, 36);
  assert.is(
    app.consumeRingRaw(b.bufferFd(0), () => undefined),
    0,
    'nothing left to read',
  );
  for (let i = 0; i < 3; i++) out(0, payload(100, 50 + i));
  b.consume();
  assert.equal(
    raw.slice(36).map((r) => r.slice(0, 100)),
    [0, 1, 2].map((i) => [...payload(100, 50 + i)]),
  );
});
