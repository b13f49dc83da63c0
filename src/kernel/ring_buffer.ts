/**
 * The perf ring buffer (kernel/events/ring_buffer.c): output begin/end on the producer side,
 * the record formats, and the reader walk of libbpf's perf_event_read_simple. The ordering
 * diagram and the word roles are in arena/layout.ts (steps A-D); the code cites them.
 *
 * Single producer (the CPU the event is bound to, possibly nested), single consumer.
 */
import {
  E_EPOLL, PAGE_SIZE, PERF_HEADER_SIZE, PERF_LOST_RECORD_SIZE, PERF_RECORD_LOST, PERF_RECORD_MISC_KERNEL,
  PERF_RECORD_SAMPLE, POLL_IN, RB_DATA_HEAD, RB_DATA_OFFSET, RB_DATA_SIZE, RB_DATA_TAIL, RB_EVENT, RB_BACKWARD,
  RB_EVENTS, RB_HEAD, RB_LOST, RB_LOST_TOTAL, RB_NEST, RB_OUTPUTS, RB_OVERWRITE, RB_PAUSED, RB_POLL, RB_READ_LOST,
  RB_READ_SAMPLES, RB_WAKEUP, RB_WATERMARK,
} from '../arena/layout.js';
import { eventWord } from '../arena/records.js';
import type { Kctx } from './context.js';
import { FAULT_PRODUCER_EARLY_HEAD, FAULT_READER_EARLY_TAIL } from './fault_ids.js';

/**
 * The ring's words are addressed here as `rb + RB_*` (control page) and `rb + PAGE_WORDS + ...`
 * (data pages), where `rb` is the event's E_RB word. arena/records.ts's ringWord(rb, field) is
 * the same sum; this file keeps the sums written out because perf_output_* is the output hot
 * path, tuned with them inline, and the data-page offsets are byte arithmetic on the wrapped
 * position that an accessor would only hide. This file and records.ts are the two places that
 * know where a ring's words are.
 */
const PAGE_WORDS = PAGE_SIZE / 4;

/**
 * rb_alloc + ring_buffer_init: `rb` is the word index of the control page. The pages come
 * zeroed, as the kernel's do (rb_alloc / perf_mmap_alloc_page allocate with __GFP_ZERO, or
 * vmalloc_user): a sample's padding, which 4.8+ skips instead of writing, then reads 0, never a
 * freed ring's old bytes. `overwrite`: the first mapping had no PROT_WRITE (perf_mmap passes
 * RING_BUFFER_WRITABLE only for a VM_WRITE mapping), so rb->overwrite = 1. `backward`: the
 * event's attr.write_backward (instrumentation, RB_BACKWARD).
 */
export function ring_buffer_init(k: Kctx, rb: number, pages: number, watermark: number, event: number, overwrite = false, backward = false): void {
  const i32 = k.a.i32;
  i32.fill(0, rb, rb + (1 + pages) * PAGE_WORDS);
  const size = pages * PAGE_SIZE;
  i32[rb + RB_DATA_OFFSET] = PAGE_SIZE;
  i32[rb + RB_DATA_SIZE] = size;
  // rb->watermark = min(max_size, watermark), or half the data area when unset
  i32[rb + RB_WATERMARK] = watermark > 0 ? Math.min(size, watermark) : size / 2;
  i32[rb + RB_PAUSED] = pages === 0 ? 1 : 0; // a ring with no data pages starts paused
  i32[rb + RB_EVENT] = event;
  i32[rb + RB_OVERWRITE] = overwrite ? 1 : 0;
  i32[rb + RB_BACKWARD] = backward ? 1 : 0;
}


/** byte offset in the arena of the ring's data area */
function dataByte(rb: number): number {
  return rb * 4 + PAGE_SIZE;
}

/** A reservation in progress (struct perf_output_handle). */
export interface OutputHandle {
  rb: number;
  /** byte counter where the reserved space starts (after any LOST record) */
  head: number;
  /** rb->wakeup as seen at begin */
  wakeup: number;
}

export const OUTPUT_RESERVED = 1;
/** no room, or paused with pages: nothing written, the loss counted */
export const OUTPUT_LOST = 0;
/** paused with no data pages: nothing written, no loss counted */
export const OUTPUT_NO_PAGES = -1;

/**
 * __perf_output_begin: reserve `size` bytes, writing a pending PERF_RECORD_LOST first.
 * Returns OUTPUT_RESERVED, OUTPUT_LOST or OUTPUT_NO_PAGES. Runs on the producer CPU only.
 * The common case stays short (rare cases are out of line) so that V8 inlines it.
 * `backward` is is_write_backward(event) (perf_output_begin passes it, 4.7+): the reservation
 * moves rb->head down and the record goes at the new, lower head.
 */
export function perf_output_begin(k: Kctx, h: OutputHandle, rb: number, size: number, eventId: number, backward = false): number {
  const i32 = k.a.i32;
  i32[rb + RB_NEST] = i32[rb + RB_NEST]! + 1;
  h.rb = rb;
  h.wakeup = i32[rb + RB_WAKEUP]!;
  if (i32[rb + RB_PAUSED] !== 0) return output_paused(k, h, rb);
  const lost = i32[rb + RB_LOST]!;
  const total = lost > 0 ? size + PERF_LOST_RECORD_SIZE : size;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  const offset = i32[rb + RB_HEAD]!;
  // ring_buffer_has_space: CIRC_SPACE(head, tail, size) >= total, i.e. used + total < size;
  // the ring is never filled completely. Backward it is CIRC_SPACE(tail, head): used is
  // tail - head. An overwrite ring (rb->overwrite) skips the test: data_tail is never read.
  if (i32[rb + RB_OVERWRITE] === 0) {
    const tail = k.a.loadAcquire(rb + RB_DATA_TAIL); // (C): pairs with the reader's (D)
    if ((((backward ? tail - offset : offset - tail) >>> 0) + total) >= dsize) return output_no_room(k, h, rb);
  }
  const head = (backward ? offset - total : offset + total) | 0;
  i32[rb + RB_HEAD] = head;
  // FAULT_PRODUCER_EARLY_HEAD: publish before the bytes are written (breaks (A) of the diagram)
  if (k.fault === FAULT_PRODUCER_EARLY_HEAD && i32[rb + RB_NEST] === 1) k.a.storeRelease(rb + RB_DATA_HEAD, head);
  // byte trigger of the wakeup mark (always active). Backward, the kernel sets offset = head
  // and head = -head after the cmpxchg: the record starts at the new head, and the mark counts
  // the bytes written (-head).
  const written = backward ? -head | 0 : head;
  if (((written - i32[rb + RB_WAKEUP]!) >>> 0) > i32[rb + RB_WATERMARK]!) {
    i32[rb + RB_WAKEUP] = (i32[rb + RB_WAKEUP]! + i32[rb + RB_WATERMARK]!) | 0;
  }
  const at = backward ? head : offset;
  h.head = lost > 0 ? output_lost_record(k, rb, dsize, at, eventId) : at;
  return OUTPUT_RESERVED;
}

/** a paused ring: nothing written; the loss counted only when it has data pages */
function output_paused(k: Kctx, h: OutputHandle, rb: number): number {
  const i32 = k.a.i32;
  const counted = i32[rb + RB_DATA_SIZE]! > 0;
  if (counted) {
    i32[rb + RB_LOST] = i32[rb + RB_LOST]! + 1;
    i32[rb + RB_LOST_TOTAL] = i32[rb + RB_LOST_TOTAL]! + 1;
  }
  perf_output_put_handle(k, h);
  return counted ? OUTPUT_LOST : OUTPUT_NO_PAGES;
}

/** no room: local_inc(&rb->lost), nothing written */
function output_no_room(k: Kctx, h: OutputHandle, rb: number): number {
  const i32 = k.a.i32;
  i32[rb + RB_LOST] = i32[rb + RB_LOST]! + 1;
  i32[rb + RB_LOST_TOTAL] = i32[rb + RB_LOST_TOTAL]! + 1;
  perf_output_put_handle(k, h);
  return OUTPUT_LOST;
}

/**
 * Writes the pending PERF_RECORD_LOST at byte counter `at`; returns where the sample goes.
 * The lost count is taken and reset at once, as local_xchg(&rb->lost, 0).
 */
function output_lost_record(k: Kctx, rb: number, dsize: number, at: number, eventId: number): number {
  const i32 = k.a.i32;
  const lost = i32[rb + RB_LOST]!;
  i32[rb + RB_LOST] = 0;
  const w = ringWord(rb, dsize, at);
  i32[w] = PERF_RECORD_LOST;
  i32[w + 1] = PERF_LOST_RECORD_SIZE << 16; // misc 0
  i32[ringWord(rb, dsize, at + 8)] = eventId;
  i32[ringWord(rb, dsize, at + 12)] = 0;
  i32[ringWord(rb, dsize, at + 16)] = lost;
  i32[ringWord(rb, dsize, at + 20)] = 0;
  return (at + PERF_LOST_RECORD_SIZE) | 0;
}

export function rb_nest(k: Kctx, rb: number): number {
  return k.a.i32[rb + RB_NEST]!;
}

/** word index of byte counter `pos` (a multiple of 4) in the data area */
function ringWord(rb: number, dsize: number, pos: number): number {
  return rb + PAGE_WORDS + ((pos & (dsize - 1)) >>> 2);
}

/**
 * perf_output_sample for a PERF_SAMPLE_RAW-only sample: header, u32 size, raw bytes, padding.
 * The size field holds the padded length minus 4 (perf_prepare_sample), not `data.length`.
 * Padding is zeroed in 4.7 and skipped (stale bytes) from 4.8 on.
 */
export function perf_output_sample_raw(k: Kctx, h: OutputHandle, data: Uint8Array, len: number, raw: boolean, zeroPad: boolean): void {
  const rb = h.rb;
  const a = k.a;
  const i32 = a.i32;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  const padded = raw ? (len + 4 + 7) & ~7 : 0;
  const head = h.head;
  a.ringWrite(rb, head);
  // a record starts 8-byte aligned and the data area is a power of two: the 12 bytes of header
  // and size never wrap; the payload may
  const w = rb + PAGE_WORDS + ((head & (dsize - 1)) >>> 2);
  i32[w] = PERF_RECORD_SAMPLE;
  i32[w + 1] = PERF_RECORD_MISC_KERNEL | ((PERF_HEADER_SIZE + padded) << 16);
  if (!raw) return;
  const off = (head + 12) & (dsize - 1);
  i32[rb + PAGE_WORDS + ((off - 4) >>> 2)] = padded - 4;
  const at = (rb + PAGE_WORDS) * 4 + off;
  if (off + len <= dsize && len === data.length) a.u8.set(data, at);
  else copy_wrapped(a.u8, (rb + PAGE_WORDS) * 4, dsize, off, data, len);
  if (zeroPad) {
    for (let p = len; p < padded - 4; p++) a.u8[(rb + PAGE_WORDS) * 4 + ((off + p) & (dsize - 1))] = 0;
  }
}

/** the payload copy when it wraps around the end of the data area (or is a prefix of `data`) */
function copy_wrapped(u8: Uint8Array, base: number, dsize: number, off: number, data: Uint8Array, len: number): void {
  const first = Math.min(len, dsize - off);
  u8.set(data.subarray(0, first), base + off);
  if (first < len) u8.set(data.subarray(first, len), base);
}

/**
 * End of a sample: the wakeup_events trigger (end of perf_output_sample), then
 * perf_output_end -> perf_output_put_handle.
 */
export function perf_output_end(k: Kctx, h: OutputHandle, wakeupEvents: number, watermarkAttr: boolean): void {
  const i32 = k.a.i32;
  const rb = h.rb;
  i32[rb + RB_OUTPUTS] = i32[rb + RB_OUTPUTS]! + 1;
  if (!watermarkAttr && wakeupEvents > 0) {
    const events = i32[rb + RB_EVENTS]! + 1;
    i32[rb + RB_EVENTS] = events;
    if (events >= wakeupEvents) {
      i32[rb + RB_EVENTS] = events - wakeupEvents;
      i32[rb + RB_WAKEUP] = (i32[rb + RB_WAKEUP]! + 1) | 0;
    }
  }
  perf_output_put_handle(k, h);
}

/** Only the outermost writer publishes data_head; then it wakes the reader if the mark moved. */
function perf_output_put_handle(k: Kctx, h: OutputHandle): void {
  const i32 = k.a.i32;
  const rb = h.rb;
  const nest = i32[rb + RB_NEST]!;
  if (nest > 1) {
    i32[rb + RB_NEST] = nest - 1;
    h.wakeup = i32[rb + RB_WAKEUP]!; // a nested writer leaves the wakeup to the outer one
    return;
  }
  k.a.storeRelease(rb + RB_DATA_HEAD, i32[rb + RB_HEAD]!); // (A): publishes every byte written before
  i32[rb + RB_NEST] = 0;
  if (h.wakeup !== i32[rb + RB_WAKEUP]) perf_output_wakeup(k, rb);
}

/** perf_output_wakeup: set the poll state, wake waiters on the ring and on any epoll watching it */
function perf_output_wakeup(k: Kctx, rb: number): void {
  const a = k.a;
  a.store(rb + RB_POLL, POLL_IN);
  Atomics.notify(a.i32, rb + RB_POLL);
  const ep = a.load(eventWord(a.L, a.i32[rb + RB_EVENT]!, E_EPOLL));
  if (ep !== 0) {
    a.add(ep, 1);
    Atomics.notify(a.i32, ep);
  }
}

/** perf_poll's readiness: returns it and clears it (one report per wakeup). */
export function rb_poll_and_clear(k: Kctx, rb: number): number {
  return k.a.xchg(rb + RB_POLL, 0);
}

/** Blocks until the ring is woken or `timeoutMs` passes. Returns true if woken. */
export function rb_wait(k: Kctx, rb: number, timeoutMs: number): boolean {
  if (k.a.load(rb + RB_POLL) !== 0) return true;
  Atomics.wait(k.a.i32, rb + RB_POLL, 0, timeoutMs);
  return k.a.load(rb + RB_POLL) !== 0;
}


// ---------------------------------------------------------------------------------------
// Reader (libbpf perf_event_read_simple; consumer side, any thread that owns the mapping)

export type RingRecord =
  | { type: 'sample'; cpu: number; size: number; data: Uint8Array }
  | { type: 'lost'; cpu: number; id: number; lost: number };

/**
 * Called for each sample with the raw bytes (`size` = the raw size field, the padded length).
 * `data` is a view into the ring, valid only during the call (copy it to keep it), or a scratch
 * copy when the record wraps around the end of the data area. Return false to stop early.
 */
export type SampleFn = (data: Uint8Array, size: number) => boolean | void;
export type LostFn = (id: number, lost: number) => boolean | void;

/** records delivered by the last ring_walk */
let walked = 0;

/**
 * The record walk every reader shares: hands the records from byte counter `from` up to `to`
 * to their callbacks, counting them in the ring's conservation words; stops early on a
 * callback's false or after `max` records. Returns the counter after the last record walked.
 * A record that does not parse or does not end by `to` is corruption, except in an overwrite
 * window (`window`), where a writer may be overwriting the oldest record as it is read: there
 * the walk just stops.
 */
function ring_walk(k: Kctx, rb: number, from: number, to: number, onSample: SampleFn, onLost: LostFn, max: number, window: boolean): number {
  const i32 = k.a.i32;
  const u8 = k.a.u8;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  const base = dataByte(rb);
  let pos = from;
  let n = 0;
  let samples = 0;
  let lostSeen = 0;
  let more = true;
  while (pos !== to && n < max && more) {
    k.a.ringRead(rb, pos);
    const w = ringWord(rb, dsize, pos);
    const type = i32[w]!;
    const size = i32[w + 1]! >>> 16;
    if (size < PERF_HEADER_SIZE || ((to - pos) >>> 0) < size) {
      if (window) break;
      throw new Error(`perf ring: record of size ${size} at ${pos >>> 0} does not fit before ${to >>> 0} (corrupt ring)`);
    }
    if (type === PERF_RECORD_SAMPLE) {
      const rawSize = size > PERF_HEADER_SIZE ? i32[ringWord(rb, dsize, pos + 8)]! : 0;
      samples++;
      more = onSample(viewOrCopy(u8, base, dsize, pos + 12, rawSize), rawSize) !== false;
    } else if (type === PERF_RECORD_LOST) {
      const lost = i32[ringWord(rb, dsize, pos + 16)]!;
      lostSeen += lost;
      more = onLost(i32[ringWord(rb, dsize, pos + 8)]!, lost) !== false;
    } else if (window) break;
    else throw new Error(`perf ring: unknown record type ${type} at ${pos >>> 0} (corrupt ring)`);
    pos = (pos + size) | 0;
    n++;
  }
  i32[rb + RB_READ_SAMPLES] = i32[rb + RB_READ_SAMPLES]! + samples;
  i32[rb + RB_READ_LOST] = i32[rb + RB_READ_LOST]! + lostSeen;
  walked = n;
  return pos;
}

/**
 * backward_rb_find_range (tools/perf/util/mmap.c): in a write_backward ring, the end of the
 * records that survive whole in [head, limit): walks the headers from the newest record and
 * stops before the first that is unparsable or does not end by `limit` (partly overwritten).
 */
function backward_rb_find_range(k: Kctx, rb: number, head: number, limit: number): number {
  const i32 = k.a.i32;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  let pos = head;
  while (pos !== limit) {
    k.a.ringRead(rb, pos);
    const w = ringWord(rb, dsize, pos);
    const size = i32[w + 1]! >>> 16;
    if ((i32[w] !== PERF_RECORD_SAMPLE && i32[w] !== PERF_RECORD_LOST) || size < PERF_HEADER_SIZE || ((limit - pos) >>> 0) < size) break;
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
export function perf_ring_consume(k: Kctx, rb: number, onSample: SampleFn, onLost: LostFn, max = Infinity): number {
  const i32 = k.a.i32;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  if (dsize === 0) return 0;
  const head = k.a.load(rb + RB_DATA_HEAD); // (B): pairs with the producer's (A)
  const tail = i32[rb + RB_DATA_TAIL]!; // our own word
  // FAULT_READER_EARLY_TAIL: release the space before copying out of it (breaks (D))
  if (k.fault === FAULT_READER_EARLY_TAIL) k.a.store(rb + RB_DATA_TAIL, head);
  if (i32[rb + RB_BACKWARD] !== 0) { // [consumer branch: write_backward]
    // newest first, so only the whole unread region can be released: `max` does not apply
    // (a callback's early stop drops the older records)
    ring_walk(k, rb, head, tail, onSample, onLost, Infinity, false);
    const n = walked; // before the store: the explorer may run another reader at any access
    k.a.store(rb + RB_DATA_TAIL, head); // (D)
    return n;
  }
  const end = ring_walk(k, rb, tail, head, onSample, onLost, max, false);
  const n = walked;
  k.a.store(rb + RB_DATA_TAIL, end); // (D): the producer may now reuse the bytes
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
  const dsize = i32[rb + RB_DATA_SIZE]!;
  const head = k.a.load(rb + RB_DATA_HEAD);
  if (dsize === 0) return { head, records: 0, overwrittenBytes: 0, overrun: false };
  if (i32[rb + RB_BACKWARD] !== 0) {
    const since = (last - head) >>> 0;
    const to = backward_rb_find_range(k, rb, head, since > dsize ? (head + dsize) | 0 : last);
    const end = ring_walk(k, rb, head, to, onSample, onLost, max, true);
    const gone = walked < max ? Math.max(0, since - ((end - head) >>> 0)) : 0;
    return { head, records: walked, overwrittenBytes: gone, overrun: false };
  }
  const since = (head - last) >>> 0;
  if (since > dsize) return { head, records: 0, overwrittenBytes: since, overrun: true };
  ring_walk(k, rb, last, head, onSample, onLost, max, false);
  return { head, records: walked, overwrittenBytes: 0, overrun: false };
}

export interface RingAudit {
  outputs: number;
  lostTotal: number;
  readSamples: number;
  readLost: number;
  unreadSamples: number;
  unreadLost: number;
  pendingLost: number;
  /** a record that cannot be parsed in the unread region */
  corrupt: boolean;
  /** samples written = read + unread, and losses = reported (read or unread) + pending */
  ok: boolean;
  /** an overwrite ring: records are overwritten unread, so conservation does not apply */
  overwrite?: boolean;
}

/**
 * The conservation check of one ring, for a ring nobody writes or reads any more (detached and
 * a grace period passed): walks the unread region without consuming it.
 */
export function ring_audit(k: Kctx, rb: number): RingAudit {
  const i32 = k.a.i32;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  // a write_backward ring's unread records run from data_head up to data_tail
  const backward = i32[rb + RB_BACKWARD] !== 0;
  const head = backward ? i32[rb + RB_DATA_TAIL]! : i32[rb + RB_DATA_HEAD]!;
  let tail = backward ? i32[rb + RB_DATA_HEAD]! : i32[rb + RB_DATA_TAIL]!;
  if (i32[rb + RB_OVERWRITE] !== 0) tail = head; // nothing is "unread" in an overwrite ring
  let unreadSamples = 0;
  let unreadLost = 0;
  let corrupt = false;
  for (let guard = 0; dsize > 0 && tail !== head; guard++) {
    const w = ringWord(rb, dsize, tail);
    const size = i32[w + 1]! >>> 16;
    if (size === 0 || guard > dsize / 8) {
      corrupt = true;
      break;
    }
    if (i32[w] === PERF_RECORD_SAMPLE) unreadSamples++;
    else if (i32[w] === PERF_RECORD_LOST) unreadLost += i32[ringWord(rb, dsize, tail + 16)]!;
    else {
      corrupt = true;
      break;
    }
    tail = (tail + size) | 0;
  }
  const a = {
    outputs: i32[rb + RB_OUTPUTS]!, lostTotal: i32[rb + RB_LOST_TOTAL]!, readSamples: i32[rb + RB_READ_SAMPLES]!,
    readLost: i32[rb + RB_READ_LOST]!, unreadSamples, unreadLost, pendingLost: i32[rb + RB_LOST]!, corrupt,
  };
  if (i32[rb + RB_OVERWRITE] !== 0) return { ...a, ok: true, overwrite: true };
  return {
    ...a,
    ok: !corrupt && a.outputs === a.readSamples + unreadSamples && a.lostTotal === a.readLost + unreadLost + a.pendingLost,
  };
}

/** perf_ring_consume, collecting copies of the records (for scripts and tests) */
export function perf_ring_read(k: Kctx, rb: number, cpu: number, max = Infinity): RingRecord[] {
  const out: RingRecord[] = [];
  perf_ring_consume(
    k, rb,
    (data, size) => void out.push({ type: 'sample', cpu, size, data: data.slice() }),
    (id, lost) => void out.push({ type: 'lost', cpu, id, lost }),
    max,
  );
  return out;
}

function viewOrCopy(u8: Uint8Array, base: number, dsize: number, pos: number, len: number): Uint8Array {
  const off = pos & (dsize - 1);
  const first = Math.min(len, dsize - off);
  if (first === len) return u8.subarray(base + off, base + off + len);
  const out = new Uint8Array(len);
  out.set(u8.subarray(base + off, base + dsize), 0);
  out.set(u8.subarray(base, base + len - first), first);
  return out;
}

/** bytes waiting to be read */
export function rb_readable(k: Kctx, rb: number): number {
  const d = (k.a.load(rb + RB_DATA_HEAD) - k.a.i32[rb + RB_DATA_TAIL]!) >>> 0;
  return k.a.i32[rb + RB_BACKWARD] !== 0 ? (-d) >>> 0 : d; // backward: tail - head
}

/**
 * rb_toggle_paused (kernel/events/internal.h), for PERF_EVENT_IOC_PAUSE_OUTPUT: a ring without
 * data pages stays paused. While paused, __perf_output_begin counts each output lost.
 */
export function rb_toggle_paused(k: Kctx, rb: number, pause: boolean): void {
  k.a.store(rb + RB_PAUSED, !pause && k.a.i32[rb + RB_DATA_SIZE]! > 0 ? 0 : 1);
}

export function rb_state(k: Kctx, rb: number): {
  head: number; tail: number; size: number; lostPending: number; paused: boolean; watermark: number;
  overwrite: boolean; backward: boolean; written: number; lostTotal: number;
} {
  const i32 = k.a.i32;
  return {
    overwrite: i32[rb + RB_OVERWRITE] === 1,
    backward: i32[rb + RB_BACKWARD] === 1,
    written: Atomics.load(i32, rb + RB_OUTPUTS),
    lostTotal: Atomics.load(i32, rb + RB_LOST_TOTAL),
    head: k.a.load(rb + RB_DATA_HEAD) >>> 0,
    tail: k.a.load(rb + RB_DATA_TAIL) >>> 0,
    size: i32[rb + RB_DATA_SIZE]!,
    lostPending: i32[rb + RB_LOST]!,
    paused: i32[rb + RB_PAUSED] === 1,
    watermark: i32[rb + RB_WATERMARK]!,
  };
}
