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
 * The SampleFn form on top of SampleAtFn: a view per record, made only for it (on the arena's
 * SharedArrayBuffer directly: a typed array's `.buffer` getter would cost as much again), or the
 * copy of a record that wrapped, which is exactly its bytes.
 */
export function sampleViews(k: Kctx, onSample: SampleFn): SampleAtFn {
  const a = k.a;
  return (buf, offset, size) => onSample(recordView(a, buf, offset, size), size);
}

/** a sample's bytes `buf[offset, offset + size)` as a view of their own: a view on the arena, or the wrapped record's copy itself */
function recordView(a: Kctx['a'], buf: Uint8Array, offset: number, size: number): Uint8Array {
  return buf === a.u8 ? new Uint8Array(a.sab, offset, size) : buf;
}

/**
 * One reader's pass over records of a ring, one record per next(): the record walk every reader
 * shares (libbpf's perf_event_read_simple loop, turned inside out). Each reader calls its own
 * callbacks from its own loop, so V8 sees one callback per call site there and inlines it; a
 * shared loop calling every reader's callbacks would see many and call them the slow way.
 *
 * A record that does not parse or does not end by `to` is corruption (CorruptRingError), except
 * in an overwrite window (`window`), where a writer may be overwriting the oldest record as it is
 * read: there the pass just ends. The records walked are counted in the ring's conservation
 * words by close(); a pass whose reader throws is not counted (nor, by perf_ring_end, consumed).
 */
export class RingCursor {
  /** after next(): PERF_RECORD_SAMPLE or PERF_RECORD_LOST */
  type = 0;
  /** a sample's raw bytes: bytes[offset, offset + size) (the arena's bytes, or a copy when the record wraps) */
  bytes: Uint8Array;
  offset = 0;
  size = 0;
  /** a LOST record's event id and count */
  lostId = 0;
  lost = 0;
  /** records walked so far, samples among them, and the LOST counts seen */
  n = 0;
  samples = 0;
  lostSeen = 0;
  /** the byte counter after the last record walked */
  pos: number;
  private readonly a_: Kctx['a'];
  private readonly i32_: Int32Array;
  private readonly rb_: number;
  private readonly base_: number;
  private readonly to_: number;
  private readonly dsize_: number;
  private readonly window_: boolean;
  private readonly arena_: Uint8Array;

  constructor(k: Kctx, rb: number, from: number, to: number, window: boolean) {
    this.a_ = k.a;
    this.i32_ = k.a.i32;
    this.rb_ = rb;
    this.base_ = dataByte(rb);
    this.to_ = to;
    this.dsize_ = k.a.i32[ringWord(rb, RB_DATA_SIZE)]!;
    this.window_ = window;
    this.arena_ = k.a.u8;
    this.bytes = this.arena_;
    this.pos = from;
  }

  /** steps to the next record; false at the end (or where an overwrite window's records stop) */
  next(): boolean {
    const pos = this.pos;
    const to = this.to_;
    if (pos === to) return false;
    const i32 = this.i32_;
    const rb = this.rb_;
    const dsize = this.dsize_;
    this.a_.ringRead(rb, pos);
    const w = dataWord(rb, dsize, pos);
    const type = i32[w]!;
    const size = i32[w + 1]! >>> 16;
    if (size < PERF_HEADER_SIZE || (to - pos) >>> 0 < size || (type !== PERF_RECORD_SAMPLE && type !== PERF_RECORD_LOST))
      return this.unparsable_(pos, type, size);
    this.pos = (pos + size) | 0;
    this.n++;
    this.type = type;
    if (type === PERF_RECORD_SAMPLE) {
      this.samples++;
      const raw = size > PERF_HEADER_SIZE ? i32[dataWord(rb, dsize, pos + 8)]! : 0;
      const off = (pos + 12) & (dsize - 1);
      this.size = raw;
      if (off + raw <= dsize) {
        if (this.bytes !== this.arena_) this.bytes = this.arena_; // a compare, not a pointer store, per record
        this.offset = this.base_ + off;
      } else {
        this.bytes = wrappedCopy(this.arena_, this.base_, dsize, off, raw);
        this.offset = 0;
      }
    } else {
      this.lostId = i32[dataWord(rb, dsize, pos + 8)]!;
      this.lost = i32[dataWord(rb, dsize, pos + 16)]!;
      this.lostSeen += this.lost;
    }
    return true;
  }

  /** a record that does not parse: the end of an overwrite window's records, else corruption (out of line: keeps next() small enough for V8 to inline) */
  private unparsable_(pos: number, type: number, size: number): false {
    if (this.window_) return false;
    if (size < PERF_HEADER_SIZE || (this.to_ - pos) >>> 0 < size)
      throw corrupt(`record of size ${size} at ${pos >>> 0} does not fit before ${this.to_ >>> 0}`, pos);
    throw corrupt(`unknown record type ${type} at ${pos >>> 0}`, pos);
  }

  /** the current sample's bytes as a view of their own (valid until the ring reuses them) */
  view(): Uint8Array {
    return recordView(this.a_, this.bytes, this.offset, this.size);
  }

  /** counts what was walked in the ring's conservation words; returns the position after it */
  close(): number {
    const i32 = this.i32_;
    const rb = this.rb_;
    i32[ringWord(rb, RB_READ_SAMPLES)] = i32[ringWord(rb, RB_READ_SAMPLES)]! + this.samples;
    i32[ringWord(rb, RB_READ_LOST)] = i32[ringWord(rb, RB_READ_LOST)]! + this.lostSeen;
    return this.pos;
  }
}

/**
 * Hands the cursor's records to the callbacks until the end, a callback's false (that record is
 * consumed) or `max` records. The loop of the generic readers (consumeRing, consumeRingRaw,
 * readRing, the overwrite read); PerfBuffer runs its own, with its callbacks at its call sites.
 */
export function ring_deliver(c: RingCursor, onSampleAt: SampleAtFn, onLost: LostFn, max: number): void {
  while (c.n < max && c.next()) {
    if (c.type === PERF_RECORD_SAMPLE) {
      if (onSampleAt(c.bytes, c.offset, c.size) === false) break;
    } else if (onLost(c.lostId, c.lost) === false) break;
  }
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

/** a pass of perf_ring_begin: the cursor, and what perf_ring_end stores as data_tail */
export interface RingPass {
  cursor: RingCursor;
  /** write_backward: the pass releases everything up to data_head, however far it walked */
  backward: boolean;
  head: number;
}

/**
 * The reader walk of libbpf's perf_event_read_simple, in two halves around the reader's own
 * loop over `pass.cursor`: load data_head (C) and start at data_tail; then perf_ring_end stores
 * data_tail once (D), also after an early stop: records already delivered are consumed. Null
 * for a ring without data pages.
 * A write_backward ring mapped writable runs the other way: its unread records lie from
 * data_head up to data_tail, newest first, and a read consumes them all (data_tail = data_head;
 * a `max` does not apply, since the space a reader frees must be the oldest).
 */
export function perf_ring_begin(k: Kctx, rb: number): RingPass | null {
  const i32 = k.a.i32;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  if (dsize === 0) return null;
  const head = k.a.load(ringWord(rb, RB_DATA_HEAD)); // (C): pairs with the producer's (B)
  const tail = i32[ringWord(rb, RB_DATA_TAIL)]!; // our own word
  // FAULT_READER_EARLY_TAIL: release the space before copying out of it (breaks (D), which pairs with the producer's (A))
  if (k.fault === FAULT_READER_EARLY_TAIL) {
    k.a.store(ringWord(rb, RB_DATA_TAIL), head);
    fault_reader_window(k, rb, tail, head, dsize);
  }
  if (i32[ringWord(rb, RB_BACKWARD)] !== 0) return { cursor: new RingCursor(k, rb, head, tail, false), backward: true, head }; // newest first
  return { cursor: new RingCursor(k, rb, tail, head, false), backward: false, head };
}

/** the second half of perf_ring_begin: counts the pass and stores data_tail (D); returns the records walked */
export function perf_ring_end(k: Kctx, rb: number, pass: RingPass): number {
  const end = pass.cursor.close();
  // (D): pairs with the producer's (A); it may now reuse the bytes
  k.a.store(ringWord(rb, RB_DATA_TAIL), pass.backward ? pass.head : end);
  return pass.cursor.n;
}

/** perf_event_read_simple with callbacks: perf_ring_begin, ring_deliver, perf_ring_end. Returns the records delivered. */
export function perf_ring_consume(k: Kctx, rb: number, onSampleAt: SampleAtFn, onLost: LostFn, max = Infinity): number {
  const pass = perf_ring_begin(k, rb);
  if (pass === null) return 0;
  // backward: newest first, so only the whole unread region can be released (a callback's
  // early stop drops the older records)
  ring_deliver(pass.cursor, onSampleAt, onLost, pass.backward ? Infinity : max);
  return perf_ring_end(k, rb, pass);
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
    const c = new RingCursor(k, rb, head, to, true);
    ring_deliver(c, sampleViews(k, onSample), onLost, max);
    const end = c.close();
    const gone = c.n < max ? Math.max(0, since - ((end - head) >>> 0)) : 0;
    return { head, records: c.n, overwrittenBytes: gone, overrun: false };
  }
  const since = (head - last) >>> 0;
  if (since > dsize) return { head, records: 0, overwrittenBytes: since, overrun: true };
  const c = new RingCursor(k, rb, last, head, false);
  ring_deliver(c, sampleViews(k, onSample), onLost, max);
  c.close();
  return { head, records: c.n, overwrittenBytes: 0, overrun: false };
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
