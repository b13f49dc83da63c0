/**
 * The record walk every reader shares (consumer/ring_reader.ts ring_walk): its common-record
 * loop hands everything else to a general step, so each rare case is checked here through the
 * public readers: records that do not add up (corruption, nothing consumed), a reader's early
 * stop on a LOST record and on a sample that wraps (that record consumed), and an overwrite
 * window's quiet end.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BPF_F_CURRENT_CPU, CorruptRingError } from '../src/index.js';
import { RB_DATA_HEAD, RB_READ_SAMPLES } from '../src/arena/layout.js';
import { RawSink, ring_walk } from '../src/consumer/ring_reader.js';
import { file_obj } from '../src/kernel/file.js';
import { event_rb } from '../src/kernel/perf_event.js';
import { mk, payload, perfArray } from './fixtures/scenario.js';

/** one CPU's one-page ring with a program writing into it */
function world() {
  const kernel = mk('6.18', 1);
  const app = kernel.process('app');
  const m = perfArray(app, 1);
  const prog = app.bpf.progLoad({ maps: [m] });
  const fd = app.perfEventOpen({ cpu: 0, pages: 1, wakeupEvents: 1 });
  app.bpf.mapUpdateElem(m, 0, fd);
  const out = (data: Uint8Array) => kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data);
  const rb = event_rb(kernel.k, file_obj(kernel.k, app.fileIndex(fd)));
  const i32 = kernel.arena.i32;
  const data = rb + 1024; // the data area's first word
  return { kernel, app, fd, out, rb, i32, data };
}

const corrupt = (re: RegExp) => (e: unknown) => e instanceof CorruptRingError && e.code === 'ERR_PERFEMU_CORRUPT_RING' && re.test(e.message);

test('records that do not add up are corruption: each reader throws, names the record, and consumes and counts nothing', () => {
  const { app, fd, out, rb, i32, data } = world();
  for (let i = 0; i < 3; i++) assert.is(out(payload(16, i)), 0); // 32-byte records at 0, 32, 64
  const tail = () => app.ringState(fd)!.tail;
  const counted = () => i32[rb + RB_READ_SAMPLES];
  const readers: [string, () => unknown][] = [
    ['readRing', () => app.readRing(fd)],
    ['consumeRing', () => app.consumeRing(fd, () => undefined)],
    ['consumeRingRaw', () => app.consumeRingRaw(fd, () => undefined)],
  ];
  const cases: [string, () => void, () => void, RegExp][] = [
    ['data_head inside a record', () => (i32[rb + RB_DATA_HEAD] = 72), () => (i32[rb + RB_DATA_HEAD] = 96), /record of size 32 at 64 does not fit before 72/],
    ['a header of size 0', () => (i32[data + 9] = 0), () => (i32[data + 9] = 32 << 16), /record of size 0 at 32 does not fit before 96/],
    ['an unknown record type', () => (i32[data + 8] = 1), () => (i32[data + 8] = 9), /unknown record type 1 at 32/],
    ['a record type of all ones', () => (i32[data + 8] = -1), () => (i32[data + 8] = 9), /unknown record type -1 at 32/],
    [
      'an unknown type in a header-only record',
      () => {
        i32[data + 8] = 1;
        i32[data + 9] = 8 << 16;
      },
      () => {
        i32[data + 8] = 9;
        i32[data + 9] = 32 << 16;
      },
      /unknown record type 1 at 32/,
    ],
  ];
  for (const [what, breakIt, mend, message] of cases) {
    breakIt();
    for (const [name, read] of readers) {
      assert.throws(read, corrupt(message), `${name}: ${what}`);
      assert.is(tail(), 0, `${name}: ${what}: nothing consumed`);
      assert.is(counted(), 0, `${name}: ${what}: nothing counted`);
    }
    mend();
  }
  assert.is(app.readRing(fd).length, 3, 'mended, the ring reads whole');
  assert.is(tail(), 96);
});

test('in an overwrite window a record that does not parse ends the walk quietly, after the records before it', () => {
  const { kernel, out, rb, i32, data } = world();
  for (let i = 0; i < 3; i++) assert.is(out(payload(16, i)), 0);
  i32[data + 16] = 0x77; // the third record's type: being overwritten as it is read
  const seen: number[] = [];
  const sink = new RawSink(
    (buf, off) => void seen.push(buf[off]!),
    () => undefined,
  );
  const w = ring_walk(kernel.k, rb, 0, 96, true, Infinity, sink);
  assert.equal([w.n, w.samples, w.pos], [2, 2, 64]);
  assert.equal(seen, [payload(16, 0)[0], payload(16, 1)[0]]);
  assert.throws(() => ring_walk(kernel.k, rb, 0, 96, false, Infinity, sink), corrupt(/unknown record type 119 at 64/), 'outside a window it is corruption');
});

test('a sample after a corrupt size that is not a multiple of 8 is read at its own bytes, not at the word before', () => {
  const { app, fd, out, i32, data } = world();
  assert.is(out(payload(4)), 0);
  assert.is(out(payload(32)), 0);
  i32[data + 1] = (i32[data + 1]! & 0xffff) | (17 << 16); // the first record claims 17 bytes
  i32[data + 4] = 9; // and a sample header at byte 17's word (byte 16): type, size 47, raw 8
  i32[data + 5] = 47 << 16;
  i32[data + 6] = 8;
  const offs: number[] = [];
  try {
    app.consumeRingRaw(fd, (_buf, off) => void offs.push(off - data * 4));
  } catch {
    // the walk meets garbage later; what matters is where the two samples were read
  }
  assert.equal(offs, [12, 29]);
});

test('the walk takes max as `n < max` does: a fraction rounds up, NaN delivers nothing', () => {
  const { kernel, out, rb } = world();
  for (let i = 0; i < 5; i++) assert.is(out(payload(16, i)), 0);
  const sink = new RawSink(
    () => undefined,
    () => undefined,
  );
  assert.is(ring_walk(kernel.k, rb, 0, 160, false, 2.5, sink).n, 3);
  assert.is(ring_walk(kernel.k, rb, 0, 160, false, Number.NaN, sink).n, 0);
  assert.is(ring_walk(kernel.k, rb, 0, 160, false, 0, sink).n, 0);
  assert.is(ring_walk(kernel.k, rb, 0, 160, false, Infinity, sink).n, 5);
});

test("a reader's false on a LOST record stops the walk there: the LOST record is consumed, the sample after it is not", () => {
  const { app, fd, out } = world();
  let n = 0;
  while (out(payload(16)) === 0) n++; // 32-byte records until the ring is full
  assert.is(n, 127);
  assert.is(app.readRing(fd).length, 127);
  assert.is(out(payload(16, 5)), 0); // a LOST record (for the one lost output), then this sample
  const got: string[] = [];
  const r = app.consumeRing(
    fd,
    () => void got.push('sample'),
    (_id, lost) => {
      got.push(`lost ${lost}`);
      return false;
    },
  );
  assert.equal([r, got], [1, ['lost 1']]);
  const rest = app.readRing(fd);
  assert.equal(
    rest.map((x) => x.type),
    ['sample'],
  );
});

test("a reader's false on a sample that wraps round the data area stops the walk there, and that sample is consumed", () => {
  const { app, fd, out } = world();
  // 56-byte records (44 bytes of payload): record 146 starts at 4080 (mod 4096), so its size
  // word is at 4088 and its bytes run from 4092 round to 40: the reader gets them as a copy
  let written = 0;
  while (written < 146) {
    assert.is(out(payload(44, written & 0xff)), 0);
    written++;
    if (written % 50 === 0) app.readRing(fd);
  }
  app.readRing(fd);
  assert.is(app.ringState(fd)!.tail, 146 * 56);
  assert.is(out(payload(44, 146)), 0);
  assert.is(out(payload(44, 147)), 0);
  const got: number[][] = [];
  const r = app.consumeRingRaw(fd, (buf, off, size) => {
    got.push([...buf.subarray(off, off + 44)]);
    assert.is(size, 44);
    assert.is(off, 0, 'a wrapped sample comes as a copy of its own');
    return false;
  });
  assert.equal([r, got], [1, [[...payload(44, 146)]]]);
  assert.is(app.ringState(fd)!.tail, 147 * 56, 'the wrapped sample is consumed');
  const rest = app.readRing(fd);
  assert.equal(
    rest.map((x) => (x.type === 'sample' ? [...x.data.subarray(0, 44)] : [])),
    [[...payload(44, 147)]],
  );
});

test.run();
