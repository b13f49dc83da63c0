/**
 * Kernel side of issue 16, per version, synchronously: attr.write_backward and read-only
 * (overwrite) ring mappings (kernel/events/ring_buffer.c __perf_output_begin,
 * ring_buffer_has_space, ring_buffer_init's rb->overwrite; core.c perf_mmap's
 * RING_BUFFER_WRITABLE), PERF_EVENT_IOC_PAUSE_OUTPUT (core.c _perf_ioctl, internal.h
 * rb_toggle_paused), and possible vs online CPUs (perf_event_open's online test). The CPU pool's
 * side of online CPUs runs threads and lives in the cpus suite.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, Kernel, PerfBuffer, type KernelVersion, type RingRecord } from '../src/index.js';
import { MODERN, VERSIONS, mk, payload, perfArray, throwsCode } from './fixtures/scenario.js';

type Sample = Extract<RingRecord, { type: 'sample' }>;
const samples = (r: RingRecord[]) => r.filter((x): x is Sample => x.type === 'sample');
/** a payload carrying a sequence number in its first 4 bytes */
const seqPayload = (seq: number, n = 16) => {
  const b = payload(n, seq);
  new DataView(b.buffer).setUint32(0, seq, true);
  return b;
};
const seqOf = (s: Sample) => new DataView(s.data.buffer, s.data.byteOffset).getUint32(0, true);

function setup(v: KernelVersion, open: Parameters<import('../src/index.js').Process['perfEventOpen']>[0]) {
  const kernel = mk(v, 2);
  const app = kernel.process('app');
  const m = perfArray(app, 2);
  const prog = app.bpf.progLoad({ maps: [m] });
  const fd = app.perfEventOpen(open);
  app.bpf.mapUpdateElem(m, 0, fd);
  const out = (data: Uint8Array) => kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data);
  return { kernel, app, m, prog, fd, out };
}

for (const v of VERSIONS) {
  test(`${v}: write_backward (__perf_output_begin backward): rb->head moves down, each record starts at the new head, a read walks from data_head up to data_tail newest first`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1, writeBackward: true });
    assert.is(out(seqPayload(1)), 0);
    assert.is(app.ringState(fd)!.head, -32 >>> 0, 'a 32-byte record: data_head = -32');
    out(seqPayload(2));
    out(seqPayload(3));
    assert.is(app.ringState(fd)!.head, -96 >>> 0);
    const r = samples(app.readRing(fd));
    assert.equal(r.map(seqOf), [3, 2, 1], 'newest first');
    assert.is(app.ringState(fd)!.tail, -96 >>> 0, 'consumed: data_tail = data_head');
    assert.equal(app.readRing(fd), []);
  });

  test(`${v}: write_backward with a writable mapping: ring_buffer_has_space's backward test (CIRC_SPACE(tail, head)) loses the 128th 32-byte record of a page, as forward`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1, writeBackward: true });
    for (let i = 0; i < 128; i++) out(seqPayload(i));
    const st = app.ringState(fd)!;
    assert.equal([st.written, st.lostTotal, st.lostPending], [127, 1, 1]);
    assert.is(samples(app.readRing(fd)).length, 127);
    out(seqPayload(500));
    const r = app.readRing(fd);
    assert.equal(
      r.map((x) => x.type),
      ['lost', 'sample'],
      'the LOST record goes first in the reservation, at the new head',
    );
  });

  test(`${v}: write_backward: the wakeup mark counts bytes written (-head): with wakeup_events 0 the reader wakes once more than half the page is written`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1, writeBackward: true, wakeupEvents: 0 });
    for (let i = 0; i < 64; i++) out(seqPayload(i)); // 2048 bytes: not more than the watermark
    assert.equal(app.poll([fd], 0), []);
    out(seqPayload(64));
    assert.is(app.poll([fd], 0).length, 1);
  });

  test(`${v}: a read-only mapping makes the ring overwritable (perf_mmap without VM_WRITE: rb->overwrite): nothing is ever lost, data_tail is never read`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1, mmapWrite: false });
    for (let i = 0; i < 300; i++) assert.is(out(seqPayload(i)), 0);
    const st = app.ringState(fd)!;
    assert.equal([st.overwrite, st.written, st.lostTotal, st.tail], [true, 300, 0, 0]);
    throwsCode(() => app.readRing(fd), 'ERR_PERFEMU_READ_ONLY_MAPPING', 'data_tail cannot be written through it');
  });

  test(`${v}: a forward overwrite ring: readable oldest first until it wraps; after that the oldest record's start is unknown (overrun), which write_backward solves`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1, mmapWrite: false });
    for (let i = 0; i < 10; i++) out(seqPayload(i));
    const a = app.readRingOverwrite(fd);
    assert.equal([samples(a.records).map(seqOf), a.overrun], [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], false]);
    for (let i = 10; i < 300; i++) out(seqPayload(i, 20)); // 40-byte records: no boundary at head - size
    const b = app.readRingOverwrite(fd);
    assert.equal([b.records.length, b.overrun], [0, true]);
    out(seqPayload(300));
    assert.equal(samples(app.readRingOverwrite(fd).records).map(seqOf), [300], 'resynchronised at the head it saw');
  });

  test(`${v}: write_backward + read-only mapping (the flight recorder): the read keeps the newest records, newest first, and leaves out the partly overwritten oldest one`, () => {
    const { app, fd, out } = setup(v, { cpu: 0, pages: 1, writeBackward: true, mmapWrite: false });
    for (let i = 0; i < 300; i++) out(seqPayload(i, 28)); // 40-byte records: 102.4 per page
    const r = app.readRingOverwrite(fd);
    const seqs = samples(r.records).map(seqOf);
    assert.is(seqs.length, 102, 'every record that ends inside [head, head + size)');
    assert.equal(
      seqs,
      Array.from({ length: 102 }, (_, i) => 299 - i),
    );
    assert.is(r.overwrittenBytes, 300 * 40 - 102 * 40);
    for (let i = 300; i < 305; i++) out(seqPayload(i, 28));
    const r2 = app.readRingOverwrite(fd);
    assert.equal([samples(r2.records).map(seqOf), r2.overwrittenBytes], [[304, 303, 302, 301, 300], 0], 'only what was written since');
    assert.equal(app.readRingOverwrite(fd).records, []);
  });

  test(`${v}: a second mapping shares the ring as the first made it; readRingOverwrite of a ring mapped writable first is refused`, () => {
    const kernel = mk(v, 2);
    const app = kernel.process('app');
    const ro = app.perfEventOpen({ cpu: 0, pages: 1, mmapWrite: false });
    const other = kernel.process('other');
    app.bpf.objPin(app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 1 }), '/sys/fs/bpf/x');
    const child = app.fork('child');
    child.mmap(ro, 1); // writable mapping of the overwrite ring: still overwritable
    assert.is(child.ringState(ro)!.overwrite, true);
    const rw = other.perfEventOpen({ cpu: 0, pages: 1 });
    throwsCode(() => other.readRingOverwrite(rw), 'ERR_PERFEMU_NOT_OVERWRITE');
  });

  test(`${v}: PERF_EVENT_IOC_PAUSE_OUTPUT (_perf_ioctl): EINVAL without a ring or with no data pages; while paused every output is counted lost (rb->lost) and a LOST record reports them after resume`, () => {
    const { kernel, app, fd, out } = setup(v, { cpu: 0, pages: 1 });
    const noRing = app.perfEventOpen({ cpu: 1, mmap: false });
    throwsCode(() => app.ioctl(noRing, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 1), 'EINVAL');
    const noPages = app.perfEventOpen({ cpu: 1, pages: 0 });
    throwsCode(() => app.ioctl(noPages, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 1), 'EINVAL');
    throwsCode(() => app.ioctl(0, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 1), 'ENOTTY');
    app.ioctl(fd, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 1);
    assert.is(app.ringState(fd)!.paused, true);
    // 4.x's perf_event_output was void (the helper returns 0); 5.10+ returns -ENOSPC
    const expected = MODERN.includes(v) ? -28 : 0;
    assert.equal([out(seqPayload(1)), out(seqPayload(2)), out(seqPayload(3))], [expected, expected, expected]);
    assert.equal([app.ringState(fd)!.lostPending, app.ringState(fd)!.written], [3, 0]);
    assert.is(kernel.inspect().cpuCounters[0]!.lost, 3);
    app.ioctl(fd, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 0);
    assert.is(out(seqPayload(4)), 0);
    const r = app.readRing(fd);
    assert.equal(
      r.map((x) => (x.type === 'lost' ? `lost ${x.lost}` : `sample ${seqOf(x)}`)),
      ['lost 3', 'sample 4'],
    );
  });

  test(`${v}: online CPUs: perf_event_open of a CPU-wide event on an offline CPU fails with ENODEV (after perf_init_event's checks; 4.x find_get_context's cpu_online(), 5.10+ perf_event_open's cpuctx->online); a per-task event is fine; kernel.cpu() of it is an error`, () => {
    const kernel = Kernel.create({ cpus: 4, version: v, online: [0, 2, 3] });
    assert.equal(kernel.online, [0, 2, 3]);
    const app = kernel.process('app');
    assert.equal([app.nrCpus, app.onlineCpus], [4, [0, 2, 3]]);
    throwsCode(() => app.perfEventOpen({ cpu: 1 }), 'ENODEV');
    throwsCode(() => app.perfEventOpen({ cpu: 1, type: 99 }), 'ENOENT', 'the PMU lookup fails first');
    throwsCode(() => app.perfEventOpen({ cpu: 4 }), 'EINVAL', 'beyond the possible CPUs');
    app.perfEventOpen({ cpu: -1, pid: 0, mmap: false });
    app.perfEventOpen({ cpu: 1, pid: 0, mmap: false }); // per-task, on the offline CPU: the online test is for CPU-wide events only
    app.perfEventOpen({ cpu: 2 });
    throwsCode(() => kernel.cpu(1), 'ERR_PERFEMU_CPU_OFFLINE');
    assert.is(kernel.cpu(3).id, 3);
  });

  test(`${v}: cilium/ebpf #2100: with online CPUs 0,2,3, keying the rings by position loses CPU 2's and 3's events (__bpf_perf_event_output: event->oncpu != cpu, then an empty slot); PerfBuffer keys them by CPU id and loses none`, () => {
    const kernel = Kernel.create({ cpus: 4, version: v, online: [0, 2, 3], limits: { ringPages: 64 } });
    const app = kernel.process('app');
    const m = perfArray(app, 4);
    const prog = app.bpf.progLoad({ maps: [m] });
    const writeAll = () => kernel.online.map((c) => Array.from({ length: 5 }, () => kernel.cpu(c).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, payload(16, c))));
    // naive: ring i of the online list at key i
    const fds = kernel.online.map((cpu, i) => {
      const fd = app.perfEventOpen({ cpu, pages: 1 });
      app.bpf.mapUpdateElem(m, i, fd);
      return fd;
    });
    const rets = writeAll();
    const got = fds.map((fd) => app.readRing(fd).length);
    assert.equal(got, [5, 0, 0], "CPU 2's outputs hit CPU 3's event (key 2), CPU 3's an empty slot (key 3)");
    assert.equal(
      rets.map((r) => r[0]),
      [0, -95, -2],
      'EOPNOTSUPP (event on another CPU), ENOENT (empty slot)',
    );
    for (const fd of fds) app.close(fd);
    for (let i = 0; i < 3; i++) app.bpf.mapDeleteElem(m, i);
    const seen: number[] = [];
    const pb = PerfBuffer.open(app, m, { pages: 1, onSample: (cpu) => seen.push(cpu) });
    assert.equal(
      Array.from({ length: pb.bufferCount }, (_, i) => pb.bufferCpu(i)),
      [0, 2, 3],
      'online CPUs only',
    );
    assert.ok(
      writeAll()
        .flat()
        .every((r) => r === 0),
    );
    pb.consume();
    assert.equal(seen, [0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
  });
}

test('Kernel.create({ online }) is validated: a non-empty array of distinct possible CPUs', () => {
  throwsCode(() => Kernel.create({ cpus: 2, online: [] }), 'ERR_INVALID_ARG_TYPE');
  throwsCode(() => Kernel.create({ cpus: 2, online: [2] }), 'ERR_OUT_OF_RANGE');
  throwsCode(() => Kernel.create({ cpus: 2, online: [1, 1] }), 'ERR_INVALID_ARG_VALUE');
});

test.run();
