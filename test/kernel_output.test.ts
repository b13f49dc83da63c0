/**
 * bpf_perf_event_output's event check (kernel/trace/bpf_trace.c, __bpf_perf_event_output):
 * only a software event of config PERF_COUNT_SW_BPF_OUTPUT takes output. Both the type and the
 * config are checked: a software event of another config, or another type with config 10, is
 * EINVAL. And the per-event counters an output leaves behind. Per kernel version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BPF_F_CURRENT_CPU,
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_TYPE_HARDWARE,
  PERF_TYPE_SOFTWARE,
  PERF_TYPE_TRACEPOINT,
  PERF_TYPE_RAW,
  sampleAlignedPayload,
} from '../src/index.js';
import { OLD, VERSIONS, mk, payload, perfArray, throwsCode } from './fixtures/scenario.js';

for (const v of VERSIONS) {
  // 4.x's perf_event_fd_array_get_ptr takes only RAW, HARDWARE and SOFTWARE/BPF_OUTPUT events
  // (kernel/bpf/arraymap.c): the others never reach the helper there
  const cases: [string, number | string, number | string, boolean][] = [
    ['a software cpu-clock event', PERF_TYPE_SOFTWARE, 'cpu_clock', !OLD.includes(v)],
    ['a tracepoint of id 10', PERF_TYPE_TRACEPOINT, PERF_COUNT_SW_BPF_OUTPUT, !OLD.includes(v)],
    ['a raw event of config 10', PERF_TYPE_RAW, PERF_COUNT_SW_BPF_OUTPUT, true],
    ['a hardware event of config 0', PERF_TYPE_HARDWARE, 0, true],
  ];
  for (const [what, type, config, updatable] of cases) {
    test(`${v}: output to a slot holding ${what} is EINVAL and writes nothing${updatable ? '' : ' (4.x: the update is EINVAL already)'}`, () => {
      const kernel = mk(v, 2);
      const app = kernel.process('app');
      const m = perfArray(app, 2);
      const prog = app.bpf.progLoad({ maps: [m] });
      const fd = app.perfEventOpen({ cpu: 0, type, config, pages: 1 });
      if (!updatable) return throwsCode(() => app.bpf.mapUpdateElem(m, 0, fd), 'EINVAL');
      app.bpf.mapUpdateElem(m, 0, fd);
      assert.is(kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(8)), -22);
      assert.is(kernel.inspect().cpuCounters[0]!.outputs, 0);
      assert.equal(app.readRing(fd), []);
    });
  }

  test(`${v}: a bpf-output event counts its samples (the counter bpf_perf_event_read returns) and its lost ones separately`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const m = perfArray(app, 2);
    const prog = app.bpf.progLoad({ maps: [m] });
    const fd = app.perfEventOpen({ cpu: 0, pages: 1 });
    app.bpf.mapUpdateElem(m, 0, fd);
    for (let i = 0; i < 130; i++) kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(16));
    const e = kernel.inspect().perfEvents.find((x) => x.cpu === 0 && x.alive)!;
    assert.is(e.lostSamples, 3);
    const c = kernel.inspect().cpuCounters[0]!;
    assert.equal([c.outputs, c.lost], [127, 3]);
    if (OLD.includes(v)) return;
    // 5.10+: the counter of the event in the slot is read by bpf_perf_event_read_value
    assert.is(kernel.cpu(0).perfEventReadValue(prog, 0, BPF_F_CURRENT_CPU).counter, 127);
  });
}

test("sampleAlignedPayload: its bytes sit 4 past an 8-byte boundary, where a sample's raw data lands in the ring, and read back intact", () => {
  for (const n of [1, 16, 64, 100]) {
    const p = sampleAlignedPayload(n);
    assert.ok(p.bytes.length >= n && p.bytes.byteOffset % 8 === 4, `${n}: offset ${p.bytes.byteOffset}`);
    assert.is(p.words.buffer, p.bytes.buffer);
    assert.is(p.words.byteOffset, p.bytes.byteOffset);
  }
  const kernel = mk('6.18', 1);
  const app = kernel.process('app');
  const m = perfArray(app, 1);
  const prog = app.bpf.progLoad({ maps: [m] });
  const fd = app.perfEventOpen({ cpu: 0, pages: 1 });
  app.bpf.mapUpdateElem(m, 0, fd);
  const seen: [number, number[]][] = [];
  for (const len of [64, 13, 64, 200]) {
    const p = sampleAlignedPayload(len);
    for (let i = 0; i < len; i++) p.bytes[i] = (i * 7 + len) & 0xff;
    assert.is(kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, p.bytes.subarray(0, len)), 0);
    app.consumeRingRaw(fd, (buf, off, size) => {
      seen.push([(buf.byteOffset + off) % 8, Array.from(buf.subarray(off, off + len))]);
      assert.ok(size >= len);
    });
    assert.equal(seen.at(-1), [4, Array.from(p.bytes.subarray(0, len))], `${len} B`);
  }
});

test.run();
