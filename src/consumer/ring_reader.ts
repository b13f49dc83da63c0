/**
 * The user-space reader of a perf ring: libbpf's perf_event_read_simple (src/libbpf.c) and
 * perf tools' read of an overwritable ring (tools/perf/util/mmap.c). Not kernel code: it runs
 * in whatever thread owns the mapping, and touches only what user space may (data_head with an
 * acquire load, its own data_tail). The record format and the ring's addresses are the
 * kernel's (kernel/ring_buffer.ts dataByte/dataWord); the words it counts records in
 * (RB_READ_*) are the emulator's conservation counters.
 */
import { CorruptRingError } from '../errors.js';
import {
  PERF_HEADER_SIZE,
  PERF_RECORD_LOST,
  PERF_RECORD_SAMPLE,
  RB_BACKWARD,
  RB_DATA_HEAD,
  RB_DATA_SIZE,
  RB_DATA_TAIL,
  RB_READ_LOST,
  RB_READ_SAMPLES,
} from '../arena/layout.js';
import { ringWord } from '../arena/records.js';
import type { Kctx } from '../kernel/context.js';
import { FAULT_READER_EARLY_TAIL } from '../kernel/fault_ids.js';
import { fault_reader_window } from '../kernel/fault_windows.js';
import { dataByte, dataWord } from '../kernel/ring_buffer.js';

export type RingRecord = { type: 'sample'; cpu: number; size: number; data: Uint8Array } | { type: 'lost'; cpu: number; id: number; lost: number };

/**
 * Called for each sample with the raw bytes (`size` = the raw size field, the padded length).
 * `data` is a view into the ring, valid only during the call (copy it to keep it), or a scratch
 * copy when the record wraps around the end of the data area. Return false to stop early.
 */
export type SampleFn = (data: Uint8Array, size: number) => boolean | void;
export type LostFn = (id: number, lost: number) => boolean | void;
/**
 * The zero-copy form of SampleFn: the raw bytes are `buf[offset, offset + size)`, where `buf`
 * is the arena's bytes (or a scratch copy, offset 0, when the record wraps). No view is made
 * per record; valid only during the call.
 */
export type SampleAtFn = (buf: Uint8Array, offset: number, size: number) => boolean | void;

/**
 * records delivered by the last ring_walk: a second result, kept per thread (module scope) since
 * a walk runs to its end on one thread before the next starts; never shared between threads.
 */
let walked = 0;

/**
 * The SampleFn form on top of the walk's SampleAtFn: a view per record, made only for it (on the
 * arena's SharedArrayBuffer directly: a typed array's `.buffer` getter would cost as much again),
 * or the copy of a record that wrapped, which is exactly its bytes.
 */
export function sampleViews(k: Kctx, onSample: SampleFn): SampleAtFn {
  const arena = k.a.u8;
  const sab = k.a.sab;
  return (buf, offset, size) => onSample(buf === arena ? new Uint8Array(sab, offset, size) : buf, size);
}

/**
 * The record walk every reader shares: hands the records from byte counter `from` up to `to`
 * to their callbacks, counting them in the ring's conservation words; stops early on a
 * callback's false (that record is consumed) or after `max` records. Returns the counter after
 * the last record walked. A record that does not parse or does not end by `to` is corruption,
 * except in an overwrite window (`window`), where a writer may be overwriting the oldest record
 * as it is read: there the walk just stops.
 *
 * A sample's bytes go to `onSampleAt` in place (`buf` is the arena's bytes) unless the record
 * wraps around the end of the data area, when they go as a copy. This loop is the reader's hot
 * path: one callback kind (SampleFn readers go through sampleViews), rare cases out of line.
 */
function ring_walk(k: Kctx, rb: number, from: number, to: number, onSampleAt: SampleAtFn, onLost: LostFn, max: number, window: boolean): number {
  const a = k.a;
  const i32 = a.i32;
  const u8 = a.u8;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  const base = dataByte(rb);
  let pos = from;
  let n = 0;
  let samples = 0;
  let lostSeen = 0;
  while (pos !== to && n < max) {
    a.ringRead(rb, pos);
    const w = dataWord(rb, dsize, pos);
    const type = i32[w]!;
    const size = i32[w + 1]! >>> 16;
    if (size < PERF_HEADER_SIZE || (to - pos) >>> 0 < size) {
      if (window) break;
      throw corrupt(`record of size ${size} at ${pos >>> 0} does not fit before ${to >>> 0}`, pos);
    }
    if (type !== PERF_RECORD_SAMPLE && type !== PERF_RECORD_LOST) {
      if (window) break;
      throw corrupt(`unknown record type ${type} at ${pos >>> 0}`, pos);
    }
    const at = pos;
    pos = (pos + size) | 0;
    n++;
    if (type === PERF_RECORD_SAMPLE) {
      samples++;
      const rawSize = size > PERF_HEADER_SIZE ? i32[dataWord(rb, dsize, at + 8)]! : 0;
      const off = (at + 12) & (dsize - 1);
      const r = off + rawSize <= dsize ? onSampleAt(u8, base + off, rawSize) : onSampleAt(wrappedCopy(u8, base, dsize, off, rawSize), 0, rawSize);
      if (r === false) break;
    } else {
      const lost = i32[dataWord(rb, dsize, at + 16)]!;
      lostSeen += lost;
      if (onLost(i32[dataWord(rb, dsize, at + 8)]!, lost) === false) break;
    }
  }
  i32[ringWord(rb, RB_READ_SAMPLES)] = i32[ringWord(rb, RB_READ_SAMPLES)]! + samples;
  i32[ringWord(rb, RB_READ_LOST)] = i32[ringWord(rb, RB_READ_LOST)]! + lostSeen;
  walked = n;
  return pos;
}

function corrupt(what: string, pos: number): CorruptRingError {
  return new CorruptRingError(`perf ring: ${what} (corrupt ring)`, pos >>> 0);
}

/** the bytes of a record that wraps around the end of the data area, as one copy */
function wrappedCopy(u8: Uint8Array, base: number, dsize: number, off: number, len: number): Uint8Array {
  const first = dsize - off;
  const out = new Uint8Array(len);
  out.set(u8.subarray(base + off, base + dsize), 0);
  out.set(u8.subarray(base, base + len - first), first);
  return out;
}

/**
 * backward_rb_find_range (tools/perf/util/mmap.c): in a write_backward ring, the end of the
 * records that survive whole in [head, limit): walks the headers from the newest record and
 * stops before the first that is unparsable or does not end by `limit` (partly overwritten).
 */
function backward_rb_find_range(k: Kctx, rb: number, head: number, limit: number): number {
  const i32 = k.a.i32;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  let pos = head;
  while (pos !== limit) {
    k.a.ringRead(rb, pos);
    const w = dataWord(rb, dsize, pos);
    const size = i32[w + 1]! >>> 16;
    if ((i32[w] !== PERF_RECORD_SAMPLE && i32[w] !== PERF_RECORD_LOST) || size < PERF_HEADER_SIZE || (limit - pos) >>> 0 < size) break;
    pos = (pos + size) | 0;
  }
  return pos;
}

/**
 * The reader walk of libbpf's perf_event_read_simple: load data_head, walk records from
 * data_tail, hand each to its callback, then store data_tail once (also on an early stop:
 * records already delivered are consumed). Returns the records delivered.
 * A write_backward ring mapped writable runs the other way: its unread records lie from
 * data_head up to data_tail, newest first, and a read consumes them all (data_tail = data_head;
 * `max` does not apply, since the space a reader frees must be the oldest).
 */
export function perf_ring_consume(k: Kctx, rb: number, onSampleAt: SampleAtFn, onLost: LostFn, max = Infinity): number {
  const i32 = k.a.i32;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  if (dsize === 0) return 0;
  const head = k.a.load(ringWord(rb, RB_DATA_HEAD)); // (C): pairs with the producer's (B)
  const tail = i32[ringWord(rb, RB_DATA_TAIL)]!; // our own word
  // FAULT_READER_EARLY_TAIL: release the space before copying out of it (breaks (D), which pairs with the producer's (A))
  if (k.fault === FAULT_READER_EARLY_TAIL) {
    k.a.store(ringWord(rb, RB_DATA_TAIL), head);
    fault_reader_window(k, rb, tail, head, dsize);
  }
  if (i32[ringWord(rb, RB_BACKWARD)] !== 0) {
    // write_backward
    // newest first, so only the whole unread region can be released: `max` does not apply
    // (a callback's early stop drops the older records)
    ring_walk(k, rb, head, tail, onSampleAt, onLost, Infinity, false);
    const n = walked; // before the store: the explorer may run another reader at any access
    k.a.store(ringWord(rb, RB_DATA_TAIL), head); // (D)
    return n;
  }
  const end = ring_walk(k, rb, tail, head, onSampleAt, onLost, max, false);
  const n = walked;
  k.a.store(ringWord(rb, RB_DATA_TAIL), end); // (D): pairs with the producer's (A); it may now reuse the bytes
  return n;
}

/** what perf_ring_read_overwrite found */
export interface OverwriteRead {
  /** data_head as read: the reader passes it back as `last` next time */
  head: number;
  /** records delivered */
  records: number;
  /** bytes written since `last` that are gone (overwritten, or the cut oldest record) */
  overwrittenBytes: number;
  /** forward ring: more than the data area was written since `last`; nothing delivered */
  overrun: boolean;
}

/**
 * The read of an overwritable ring (rb->overwrite: mapped without PROT_WRITE, so user space
 * cannot write data_tail and the producer never looks at it), done as perf tools do it
 * (tools/perf/util/mmap.c: pause with PERF_EVENT_IOC_PAUSE_OUTPUT, then
 * backward_rb_find_range, then resume; the pause is the caller's). `last` is the data_head
 * this reader saw at its previous read (0 the first time: the counters start at 0).
 *
 * write_backward: the records written since `last` run from data_head up to `last`, newest
 * first. If more than the data area was written since, only [head, head + size) survives, and
 * where the oldest survivor starts is known by walking from the newest record: the walk stops
 * at the first record that does not end inside the window (it was partly overwritten).
 *
 * Forward (no write_backward): records run from `last` to data_head, oldest first; once more
 * than the data area was written since, nothing says where the oldest surviving record starts
 * (the problem write_backward solves): `overrun` and nothing delivered.
 */
export function perf_ring_read_overwrite(k: Kctx, rb: number, last: number, onSample: SampleFn, onLost: LostFn, max = Infinity): OverwriteRead {
  const i32 = k.a.i32;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  const head = k.a.load(ringWord(rb, RB_DATA_HEAD));
  if (dsize === 0) return { head, records: 0, overwrittenBytes: 0, overrun: false };
  if (i32[ringWord(rb, RB_BACKWARD)] !== 0) {
    const since = (last - head) >>> 0;
    const to = backward_rb_find_range(k, rb, head, since > dsize ? (head + dsize) | 0 : last);
    const end = ring_walk(k, rb, head, to, sampleViews(k, onSample), onLost, max, true);
    const gone = walked < max ? Math.max(0, since - ((end - head) >>> 0)) : 0;
    return { head, records: walked, overwrittenBytes: gone, overrun: false };
  }
  const since = (head - last) >>> 0;
  if (since > dsize) return { head, records: 0, overwrittenBytes: since, overrun: true };
  ring_walk(k, rb, last, head, sampleViews(k, onSample), onLost, max, false);
  return { head, records: walked, overwrittenBytes: 0, overrun: false };
}

/** perf_ring_consume, collecting copies of the records (for scripts and tests) */
export function perf_ring_read(k: Kctx, rb: number, cpu: number, max = Infinity): RingRecord[] {
  const out: RingRecord[] = [];
  perf_ring_consume(
    k,
    rb,
    (buf, offset, size) => void out.push({ type: 'sample', cpu, size, data: buf.slice(offset, offset + size) }),
    (id, lost) => void out.push({ type: 'lost', cpu, id, lost }),
    max,
  );
  return out;
}
