/**
 * The perf ring buffer (docs/semantics.md, "The ring buffer"): record format, wrap-around, loss accounting and
 * LOST records, wakeups, and the per-CPU demux of BPF_F_CURRENT_CPU, run synchronously.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, MAX_OUTPUT_BYTES, POLLHUP, POLLIN, type RingRecord } from '../src/index.js';
import { file_obj } from '../src/kernel/file.js';
import { event_rb } from '../src/kernel/perf_event.js';
import { OLD, VERSIONS, event, eventIdOf, mk, payload, perfArray } from './fixtures/scenario.js';

function setup(v: import('../src/index.js').KernelVersion, opts: { pages?: number; wakeupEvents?: number; watermark?: number } = {}) {
  const kernel = mk(v, 2);
  const app = kernel.process('app');
  const m = perfArray(app, 2);
  const prog = app.bpf.progLoad({ maps: [m] });
  const fd = app.perfEventOpen({ cpu: 0, pages: opts.pages ?? 1, wakeupEvents: opts.wakeupEvents ?? 1, watermark: opts.watermark ?? 0 });
  app.bpf.mapUpdateElem(m, 0, fd);
  const out = (data: Uint8Array) => kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data);
  const id = eventIdOf(kernel, app, fd);
  const ring = () => event(kernel, id).ring!;
  return { kernel, app, m, prog, fd, out, id, ring };
}

const samples = (r: RingRecord[]) => r.filter((x): x is Extract<RingRecord, { type: 'sample' }> => x.type === 'sample');

for (const v of VERSIONS) {
  test(`${v}: a 16-byte output is one PERF_RECORD_SAMPLE of 32 bytes with raw size 20; 4 and 1 bytes give 16-byte records with size 4`, () => {
    const { app, fd, out, ring } = setup(v);
    assert.is(out(payload(16, 3)), 0);
    assert.is(ring().head, 32);
    const [r] = app.readRing(fd);
    assert.ok(r && r.type === 'sample');
    if (r?.type !== 'sample') return;
    assert.equal([r.cpu, r.size, r.data.length], [0, 20, 20]);
    assert.equal([...r.data.subarray(0, 16)], [...payload(16, 3)]);
    out(payload(4));
    assert.is(ring().head, 48);
    out(payload(1));
    assert.is(ring().head, 64);
    assert.equal(
      samples(app.readRing(fd)).map((s) => s.size),
      [4, 4],
    );
    assert.is(ring().tail, 64, 'the reader stored data_tail after the batch');
  });
  test(`${v}: padding bytes are ${v === '4.7' ? 'zeroed' : 'skipped (stale bytes stay)'}`, () => {
    const { app, fd, out } = setup(v);
    for (let i = 0; i < 127; i++) out(new Uint8Array(16).fill(0xff));
    app.readRing(fd);
    out(payload(1)); // at 4064
    out(payload(1)); // at 4080
    out(Uint8Array.of(0x5a)); // wraps to 0, over the first record's 0xff payload
    const last = samples(app.readRing(fd)).at(-1)!;
    assert.is(last.data[0], 0x5a);
    assert.equal([...last.data.subarray(1, 4)], v === '4.7' ? [0, 0, 0] : [0xff, 0xff, 0xff]);
  });
  test(`${v}: a new ring's pages come zeroed (rb_alloc / perf_mmap_alloc_page with __GFP_ZERO): padding never shows a freed ring's bytes`, () => {
    const { kernel, app, m, fd, out } = setup(v);
    for (let i = 0; i < 127; i++) assert.is(out(new Uint8Array(16).fill(0xab)), 0);
    app.bpf.mapDeleteElem(m, 0);
    app.munmap(fd);
    app.close(fd);
    kernel.rcuBarrier(); // the ring's pages go back to the allocator a grace period after the unmap
    const fd2 = app.perfEventOpen({ cpu: 0, pages: 1, wakeupEvents: 1 });
    app.bpf.mapUpdateElem(m, 0, fd2);
    assert.is(out(Uint8Array.of(1, 2, 3, 4, 5)), 0);
    const [r] = samples(app.readRing(fd2));
    assert.equal([...r!.data], [1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0]);
  });
  test(`${v}: one page, 32-byte records, no reader: 127 fit, the 128th is lost (${OLD.includes(v) ? 'returns 0' : '-ENOSPC'}); after a drain a LOST record precedes the next sample`, () => {
    const { app, fd, out, id, kernel, ring } = setup(v);
    for (let i = 0; i < 127; i++) assert.is(out(payload(16, i)), 0, `record ${i}`);
    for (let i = 0; i < 5; i++) assert.is(out(payload(16)), OLD.includes(v) ? 0 : -28);
    assert.is(ring().lostPending, 5);
    assert.is(kernel.inspect().cpuCounters[0]!.lost, 5);
    const first = app.readRing(fd);
    assert.is(samples(first).length, 127);
    assert.equal(
      samples(first).map((s) => s.data[0]),
      Array.from({ length: 127 }, (_, i) => payload(16, i)[0]),
      'in order, whole',
    );
    assert.is(out(payload(16)), 0);
    const next = app.readRing(fd);
    assert.equal(
      next.map((r) => r.type),
      ['lost', 'sample'],
    );
    assert.equal(next[0], { type: 'lost', cpu: 0, id, lost: 5 });
    assert.is(ring().lostPending, 0, 'the counter is reset by the LOST record');
    // conservation: samples read + lost reported + pending = outputs that reached the ring
    assert.is(127 + 1 + 5 + ring().lostPending, 133);
  });
  test(`${v}: a pending LOST record can make a sample that would fit alone fail`, () => {
    const { app, fd, out, ring } = setup(v);
    for (let i = 0; i < 255; i++) assert.is(out(payload(4)), 0); // 255 * 16 = 4080 used, 15 free
    out(payload(4)); // lost
    assert.is(app.readRing(fd, 2).length, 2); // 47 free: a 32-byte sample alone would fit...
    assert.is(out(payload(16)), OLD.includes(v) ? 0 : -28, '...but not with the 24-byte LOST record before it');
    assert.is(ring().lostPending, 2);
    assert.is(out(payload(4)), 0, 'LOST (24) + a 16-byte sample = 40 fits');
    assert.equal(
      app
        .readRing(fd)
        .slice(-2)
        .map((r) => r.type),
      ['lost', 'sample'],
    );
  });
  test(`${v}: a record that straddles the end of the data area is read back whole, and tail moves by header.size`, () => {
    const { app, fd, out, ring } = setup(v);
    const got: Uint8Array[] = [];
    for (let i = 0; i < 150; i++) {
      assert.is(out(payload(44, i)), 0); // 8 + 48 = 56-byte records: 4096 is not a multiple
      if (i % 10 === 9) for (const s of samples(app.readRing(fd))) got.push(s.data.subarray(0, 44));
    }
    for (const s of samples(app.readRing(fd))) got.push(s.data.subarray(0, 44));
    assert.is(got.length, 150);
    got.forEach((d, i) => assert.equal([...d], [...payload(44, i)], `record ${i}`));
    assert.is(ring().tail, 150 * 56);
  });
  test(`${v}: a sample whose header fills the data area's last 8 bytes has its size word and bytes at the start; every reader delivers them`, () => {
    const readers: [string, (app: ReturnType<typeof setup>['app'], fd: number) => number[][]][] = [
      ['readRing', (app, fd) => samples(app.readRing(fd)).map((s) => [...s.data.subarray(0, 8)])],
      [
        'consumeRing',
        (app, fd) => {
          const got: number[][] = [];
          app.consumeRing(fd, (d) => void got.push([...d.subarray(0, 8)]));
          return got;
        },
      ],
      [
        'consumeRingRaw',
        (app, fd) => {
          const got: number[][] = [];
          app.consumeRingRaw(fd, (buf, off) => void got.push([...buf.subarray(off, off + 8)]));
          return got;
        },
      ],
    ];
    for (const [name, read] of readers) {
      const { kernel, app, fd, out, ring } = setup(v);
      assert.is(out(payload(12, 1)), 0); // a 24-byte record
      for (let i = 0; i < 254; i++) assert.is(out(payload(4, 2)), 0); // 16-byte records: up to 4088
      assert.is(read(app, fd).length, 255, name);
      assert.is(ring().tail, 4088);
      assert.is(out(payload(8, 7)), 0); // header 4088..4096, size word 0..4, bytes 4..12
      assert.is(out(payload(8, 9)), 0);
      // the word after the data area is not this ring's: whatever it holds, it is not read as the size
      const after = event_rb(kernel.k, file_obj(kernel.k, app.fileIndex(fd))) + 2 * 1024;
      const i32 = kernel.arena.i32;
      const saved = i32[after]!;
      i32[after] = -8;
      try {
        assert.equal(read(app, fd), [[...payload(8, 7)], [...payload(8, 9)]], name);
      } finally {
        i32[after] = saved;
      }
      assert.is(ring().tail, 4088 + 48, name);
    }
  });
  test(`${v}: wakeup_events 1: every sample makes the fd readable; one poll report clears it even with data left`, () => {
    const { app, fd, out } = setup(v);
    assert.equal(app.poll([fd]), []);
    out(payload(8));
    out(payload(8));
    assert.equal(app.poll([fd]), [{ fd, revents: POLLIN }]);
    assert.equal(app.poll([fd]), [], 'cleared by the report; 2 records still unread');
    out(payload(8));
    assert.equal(app.poll([fd], 10), [{ fd, revents: POLLIN }]);
    assert.is(app.readRing(fd).length, 3);
  });
  test(`${v}: wakeup_events 0, no watermark: readable only once head is more than half the data area past the mark; a lost write does not wake`, () => {
    const { app, fd, out } = setup(v, { wakeupEvents: 0 });
    for (let i = 0; i < 64; i++) out(payload(16)); // 64 * 32 = 2048 = half, not more
    assert.equal(app.poll([fd]), []);
    out(payload(16));
    assert.equal(app.poll([fd]), [{ fd, revents: POLLIN }]);
    for (let i = 0; i < 62; i++) out(payload(16)); // 127 records: full
    app.poll([fd]);
    out(payload(16)); // lost
    assert.equal(app.poll([fd]), [], 'no wakeup from a lost write');
  });
  test(`${v}: an explicit watermark wakes every N bytes, ignoring wakeup_events`, () => {
    const { app, fd, out } = setup(v, { pages: 2, watermark: 256, wakeupEvents: 1 });
    for (let i = 0; i < 8; i++) out(payload(16)); // 256 bytes: not more than the watermark
    assert.equal(app.poll([fd]), []);
    out(payload(16));
    assert.equal(app.poll([fd]), [{ fd, revents: POLLIN }]);
  });
  test(`${v}: poll of an event with no ring reports POLLHUP`, () => {
    const kernel = mk(v);
    const p = kernel.process('app');
    const fd = p.perfEventOpen({ cpu: 0, mmap: false });
    assert.equal(p.poll([fd], 0), [{ fd, revents: POLLHUP }]);
  });
  test(`${v}: per-CPU demux: each CPU's CURRENT_CPU output lands only in its own CPU's buffer; drain one, trigger again, only that buffer gets it`, () => {
    const kernel = mk(v, 4);
    const app = kernel.process('app');
    const m = perfArray(app, 4);
    const prog = app.bpf.progLoad({ maps: [m] });
    const fds = [0, 1, 2, 3].map((cpu) => {
      const fd = app.perfEventOpen({ cpu });
      app.bpf.mapUpdateElem(m, cpu, fd);
      return fd;
    });
    const emit = (cpu: number) => kernel.cpu(cpu).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, Uint32Array.of(cpu));
    for (let cpu = 0; cpu < 4; cpu++) assert.is(emit(cpu), 0);
    const seen = new Set<number>();
    fds.forEach((fd, cpu) => {
      for (const s of samples(app.readRing(fd))) {
        const from = new DataView(s.data.buffer, s.data.byteOffset).getUint32(0, true);
        assert.is(from, cpu, `buffer ${cpu} holds only CPU ${cpu}'s payload`);
        assert.is(s.cpu, cpu);
        seen.add(from);
      }
    });
    assert.is(seen.size, 4, 'every CPU seen');
    assert.is(emit(2), 0);
    assert.equal(
      fds.map((fd) => app.readRing(fd).length),
      [0, 0, 1, 0],
    );
  });
  test(`${v}: a ring of 0 data pages is paused: outputs ${OLD.includes(v) ? 'return 0' : 'fail with -ENOSPC'} and count no loss`, () => {
    const { kernel, out, app } = setup(v, { pages: 0 });
    void app;
    assert.is(out(payload(8)), OLD.includes(v) ? 0 : -28);
    assert.equal([kernel.inspect().cpuCounters[0]!.lost, kernel.inspect().perfEvents[0]!.lostSamples], [0, 0]);
  });
}
test('the largest output fits the u16 header.size exactly; one byte more is refused before the kernel', () => {
  const { app, fd, out, ring } = setup('6.18', { pages: 32 });
  assert.is(MAX_OUTPUT_BYTES, 65516);
  assert.is(out(new Uint8Array(MAX_OUTPUT_BYTES)), 0);
  assert.is(ring().head, 65528, 'header 8 + round_up(65516 + 4, 8) = 65528 <= 65535');
  const [r] = app.readRing(fd);
  assert.is(r?.type === 'sample' && r.size, 65516, 'raw size field = padded length (65520) - 4');
  try {
    out(new Uint8Array(MAX_OUTPUT_BYTES + 1));
    assert.unreachable('a record of 65536 bytes cannot be described by header.size');
  } catch (e) {
    assert.is((e as { code: string }).code, 'ERR_OUT_OF_RANGE');
  }
});

test('6.18: a zero-size output is allowed (a 16-byte record, size 4); 4.8 rejects it at program load', () => {
  const { app, fd, out } = setup('6.18');
  assert.is(out(new Uint8Array(0)), 0);
  assert.equal(
    samples(app.readRing(fd)).map((s) => s.size),
    [4],
  );
  const old = setup('4.8');
  try {
    old.out(new Uint8Array(0));
    assert.unreachable('4.8 must refuse');
  } catch (e) {
    assert.is((e as { code: string }).code, 'EINVAL');
  }
});

test.run();
