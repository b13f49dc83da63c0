/**
 * The user-space reader of a perf ring: libbpf's perf_event_read_simple (src/libbpf.c) and
 * perf tools' read of an overwritable ring (tools/perf/util/mmap.c). Not kernel code: it runs
 * in whatever thread owns the mapping, and touches only what user space may (data_head with an
 * acquire load, its own data_tail). The record format and the ring's addresses are the
 * kernel's (kernel/ring_buffer.ts dataByte/dataWord); the words it counts records in
 * (RB_READ_*) are the emulator's conservation counters.
 */
import { CorruptRingError } from '../errors.js';
import * as layout from '../arena/layout.js';
import { ringWord } from '../arena/records.js';
import type { Kctx } from '../kernel/context.js';
import * as faultIds from '../kernel/fault_ids.js';
import { fault_reader_window } from '../kernel/fault_windows.js';
import { dataByte, dataWord } from '../kernel/ring_buffer.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const { PERF_HEADER_SIZE, PERF_RECORD_LOST, PERF_RECORD_SAMPLE, RB_BACKWARD, RB_DATA_HEAD, RB_DATA_SIZE, RB_DATA_TAIL, RB_READ_LOST, RB_READ_SAMPLES } = layout;
const { FAULT_READER_EARLY_TAIL } = faultIds;

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
 * What ring_walk hands each record to. The walk calls `deliverSample` and `deliverLost` from one
 * place for every reader, and V8 records a call's targets per call site: with plain callbacks
 * there, two readers in one process would make the site megamorphic (a full call per record,
 * nothing inlined). A method call on a few sink classes stays polymorphic, and V8 inlines each
 * class's method. The callback call inside a class's method is shared by every reader of that
 * class: two PerfBuffers given different functions in one thread make it a real call per record
 * (the consumer bench's "beside a second reader" figures: about a third slower than one reader,
 * and as fast again when both are given one function).
 */
export interface RingSink {
  /** a sample's raw bytes, buf[offset, offset + size); false stops the walk (this record is consumed) */
  deliverSample(buf: Uint8Array, offset: number, size: number): boolean | void;
  /** a LOST record; false stops the walk */
  deliverLost(id: number, lost: number): boolean | void;
}

/** consumeRingRaw's callbacks: the raw bytes in place */
export class RawSink implements RingSink {
  constructor(
    private readonly onSampleAt: SampleAtFn,
    private readonly onLost: LostFn,
  ) {}
  deliverSample(buf: Uint8Array, offset: number, size: number): boolean | void {
    return this.onSampleAt(buf, offset, size);
  }
  deliverLost(id: number, lost: number): boolean | void {
    return this.onLost(id, lost);
  }
}

/**
 * consumeRing's callbacks: a view per sample, made only for it (on the arena's
 * SharedArrayBuffer directly: a typed array's `.buffer` getter would cost as much again), or the
 * copy of a record that wrapped, which is exactly its bytes.
 */
export class ViewSink implements RingSink {
  private readonly a: Kctx['a'];
  constructor(
    k: Kctx,
    private readonly onSample: SampleFn,
    private readonly onLost: LostFn,
  ) {
    this.a = k.a;
  }
  deliverSample(buf: Uint8Array, offset: number, size: number): boolean | void {
    return this.onSample(recordView(this.a, buf, offset, size), size);
  }
  deliverLost(id: number, lost: number): boolean | void {
    return this.onLost(id, lost);
  }
}

/** a sample's bytes `buf[offset, offset + size)` as a view of their own: a view on the arena, or the wrapped record's copy itself */
export function recordView(a: Kctx['a'], buf: Uint8Array, offset: number, size: number): Uint8Array {
  return buf === a.u8 ? new Uint8Array(a.sab, offset, size) : buf;
}

/** what one walk did: the byte counter after the last record walked, the records, the samples among them */
export interface RingWalk {
  pos: number;
  n: number;
  samples: number;
  /** the sum of the lost counts of the LOST records walked */
  lost: number;
}

/**
 * The record walk every reader shares (libbpf's perf_event_read_simple loop): from byte counter
 * `from` to `to`, at most `max` records, each sample and each LOST record to `sink`; a false
 * from the sink stops the walk (that record is consumed). The records walked are
 * counted in the ring's conservation words (RB_READ_*) at the end; a walk whose callback throws
 * is not counted (nor, by its caller, consumed).
 *
 * A record that does not parse or does not end by `to` is corruption (CorruptRingError), except
 * in an overwrite window (`window`), where a writer may be overwriting the oldest record as it is
 * read: there the walk just ends.
 *
 * One loop with locals, not a cursor object: V8 keeps its state in registers (a cursor's fields
 * cost a store and a load per record each: the zero-copy drain took 10.2-12.9 ns per record
 * with the cursor and 6.9-9.5 ns with this loop, in throwaway alternating runs).
 */
export function ring_walk(k: Kctx, rb: number, from: number, to: number, window: boolean, max: number, sink: RingSink): RingWalk {
  const a = k.a;
  const i32 = a.i32;
  const u8 = a.u8;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  const base = dataByte(rb);
  const end = dataWord(rb, dsize, 0) + (dsize >>> 2); // the word after the data area
  const endByte = base + dsize;
  let pos = from;
  // an int compare per record, not a float one (Infinity); as `n < max` would: NaN none, 2.5 three
  const limit = max >= 0x7fffffff ? 0x7fffffff : Math.ceil(max) | 0;
  let n = 0;
  let lostRecords = 0;
  let lostSeen = 0;
  let stopped = false; // a sink's false in the common-record loop
  for (;;) {
    // The common record, in a loop of its own: a sample that parses and does not wrap. Anything
    // else leaves this loop with its header read, for the general step below. (The split is
    // for V8: with the rare cases' calls and copies inside it, this loop reloaded what it read
    // of the arena on every record.)
    let type = 0;
    let size = 0;
    while (pos !== to && n < limit) {
      a.ringRead(rb, pos);
      const w = dataWord(rb, dsize, pos);
      type = i32[w]!;
      size = i32[w + 1]! >>> 16;
      // (a header in the area's last 8 bytes has its raw size word at the start: general step)
      if (type !== PERF_RECORD_SAMPLE || size <= PERF_HEADER_SIZE || (to - pos) >>> 0 < size || w + 2 >= end) break;
      const raw = i32[w + 2]!;
      const at = base + (pos & (dsize - 1)) + 12; // the raw bytes' arena address (from pos: a corrupt size may leave it unaligned)
      if (at + raw > endByte) break;
      pos = (pos + size) | 0;
      n++;
      if (sink.deliverSample(u8, at, raw) === false) {
        stopped = true;
        break;
      }
    }
    if (stopped || pos === to || n >= limit) break;
    // the general step, one record: what does not parse, LOST, a sample that wraps (delivered
    // as a copy) or one without raw bytes
    if (!parses(type, size, pos, to)) {
      if (window) break;
      throw unparsable(pos, to, type, size);
    }
    const at = pos;
    pos = (pos + size) | 0;
    n++;
    if (type === PERF_RECORD_SAMPLE) {
      const raw = size > PERF_HEADER_SIZE ? i32[dataWord(rb, dsize, at + 8)]! : 0;
      const off = (at + 12) & (dsize - 1);
      const r = off + raw > dsize ? sink.deliverSample(wrappedCopy(u8, base, dsize, off, raw), 0, raw) : sink.deliverSample(u8, base + off, raw);
      if (r === false) break;
    } else {
      const lost = i32[dataWord(rb, dsize, at + 16)]!;
      lostRecords++;
      lostSeen += lost;
      if (sink.deliverLost(i32[dataWord(rb, dsize, at + 8)]!, lost) === false) break;
    }
  }
  const samples = n - lostRecords;
  i32[ringWord(rb, RB_READ_SAMPLES)] = i32[ringWord(rb, RB_READ_SAMPLES)]! + samples;
  i32[ringWord(rb, RB_READ_LOST)] = i32[ringWord(rb, RB_READ_LOST)]! + lostSeen;
  return { pos, n, samples, lost: lostSeen };
}

/**
 * whether a record with header (type, size) at byte counter `pos` parses and ends by `to`: the
 * one record check of the readers and of the conservation audit (stress/invariants/ring_audit.ts)
 */
export function parses(type: number, size: number, pos: number, to: number): boolean {
  return size >= PERF_HEADER_SIZE && (to - pos) >>> 0 >= size && (type === PERF_RECORD_SAMPLE || type === PERF_RECORD_LOST);
}

/** a record that does not parse, as the error it is (out of line: keeps the walk small) */
function unparsable(pos: number, to: number, type: number, size: number): CorruptRingError {
  if (size < PERF_HEADER_SIZE || (to - pos) >>> 0 < size) return corrupt(`record of size ${size} at ${pos >>> 0} does not fit before ${to >>> 0}`, pos);
  return corrupt(`unknown record type ${type} at ${pos >>> 0}`, pos);
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
    if (!parses(i32[w]!, size, pos, limit)) break;
    pos = (pos + size) | 0;
  }
  return pos;
}

/** the walk of a ring without data pages */
export const NO_WALK: RingWalk = Object.freeze({ pos: 0, n: 0, samples: 0, lost: 0 });

/**
 * perf_event_read_simple: load data_head (C), walk from data_tail, then store data_tail once
 * (D), also after an early stop: records already delivered are consumed. Nothing for a ring
 * without data pages.
 * A write_backward ring mapped writable runs the other way: its unread records lie from
 * data_head up to data_tail, newest first, and a read consumes them all (data_tail = data_head;
 * a `max` does not apply, and a callback's early stop drops the older records, since the space
 * a reader frees must be the oldest).
 */
export function perf_ring_consume(k: Kctx, rb: number, sink: RingSink, max = Infinity): RingWalk {
  const i32 = k.a.i32;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  if (dsize === 0) return NO_WALK;
  const head = k.a.load(ringWord(rb, RB_DATA_HEAD)); // (C): pairs with the producer's (B)
  const tail = i32[ringWord(rb, RB_DATA_TAIL)]!; // our own word
  // FAULT_READER_EARLY_TAIL: release the space before copying out of it (breaks (D), which pairs with the producer's (A))
  if (k.fault === FAULT_READER_EARLY_TAIL) {
    k.a.store(ringWord(rb, RB_DATA_TAIL), head);
    fault_reader_window(k, rb, tail, head, dsize);
  }
  const backward = i32[ringWord(rb, RB_BACKWARD)] !== 0;
  const walk = backward ? ring_walk(k, rb, head, tail, false, Infinity, sink) : ring_walk(k, rb, tail, head, false, max, sink);
  // (D): pairs with the producer's (A); it may now reuse the bytes
  k.a.store(ringWord(rb, RB_DATA_TAIL), backward ? head : walk.pos);
  return walk;
}

/** what perf_ring_read_overwrite found */
export interface OverwriteRead {
  /** data_head as read: the reader passes it back as `last` next time */
  head: number;
  /** records delivered */
  records: number;
  /** samples among them, and the sum of the lost counts of the LOST records among them */
  samples: number;
  lost: number;
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
export function perf_ring_read_overwrite(k: Kctx, rb: number, last: number, sink: RingSink, max = Infinity): OverwriteRead {
  const i32 = k.a.i32;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  const head = k.a.load(ringWord(rb, RB_DATA_HEAD));
  const none = { head, records: 0, samples: 0, lost: 0, overwrittenBytes: 0, overrun: false };
  if (dsize === 0) return none;
  if (i32[ringWord(rb, RB_BACKWARD)] !== 0) {
    const since = (last - head) >>> 0;
    const to = backward_rb_find_range(k, rb, head, since > dsize ? (head + dsize) | 0 : last);
    const w = ring_walk(k, rb, head, to, true, max, sink);
    const gone = w.n < max ? Math.max(0, since - ((w.pos - head) >>> 0)) : 0;
    return { head, records: w.n, samples: w.samples, lost: w.lost, overwrittenBytes: gone, overrun: false };
  }
  const since = (head - last) >>> 0;
  if (since > dsize) return { ...none, overwrittenBytes: since, overrun: true };
  const w = ring_walk(k, rb, last, head, false, max, sink);
  return { head, records: w.n, samples: w.samples, lost: w.lost, overwrittenBytes: 0, overrun: false };
}

/** perf_ring_consume, collecting copies of the records (for scripts and tests) */
export function perf_ring_read(k: Kctx, rb: number, cpu: number, max = Infinity): RingRecord[] {
  const out: RingRecord[] = [];
  const sink = new RawSink(
    (buf, offset, size) => void out.push({ type: 'sample', cpu, size, data: buf.slice(offset, offset + size) }),
    (id, lost) => void out.push({ type: 'lost', cpu, id, lost }),
  );
  perf_ring_consume(k, rb, sink, max);
  return out;
}
