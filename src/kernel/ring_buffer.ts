/**
 * The perf ring buffer (kernel/events/ring_buffer.c): output begin/end on the producer side,
 * the record formats, and the reader walk of libbpf's perf_event_read_simple. The ordering
 * diagram and the word roles are in arena/layout.ts (steps A-D); the code cites them.
 *
 * Single producer (the CPU the event is bound to, possibly nested), single consumer.
 */
import {
  E_EPOLL, EVENT_STRIDE, PAGE_SIZE, PERF_HEADER_SIZE, PERF_LOST_RECORD_SIZE, PERF_RECORD_LOST, PERF_RECORD_MISC_KERNEL,
  PERF_RECORD_SAMPLE, POLL_IN, RB_DATA_HEAD, RB_DATA_OFFSET, RB_DATA_SIZE, RB_DATA_TAIL, RB_EVENT,
  RB_EVENTS, RB_HEAD, RB_LOST, RB_LOST_TOTAL, RB_NEST, RB_OUTPUTS, RB_PAUSED, RB_POLL,
  RB_READ_LOST, RB_READ_SAMPLES, RB_WAKEUP, RB_WATERMARK,
} from '../arena/layout.js';
import type { Kctx } from './context.js';
import { FAULT_PRODUCER_EARLY_HEAD, FAULT_READER_EARLY_TAIL } from './fault_ids.js';
import { fault_producer_window, fault_reader_window } from './fault_windows.js';

const PAGE_WORDS = PAGE_SIZE / 4;

/** ring_buffer_init: `rb` is the word index of the control page */
export function ring_buffer_init(k: Kctx, rb: number, pages: number, watermark: number, event: number): void {
  const i32 = k.a.i32;
  i32.fill(0, rb, rb + PAGE_WORDS);
  const size = pages * PAGE_SIZE;
  i32[rb + RB_DATA_OFFSET] = PAGE_SIZE;
  i32[rb + RB_DATA_SIZE] = size;
  // rb->watermark = min(max_size, watermark), or half the data area when unset
  i32[rb + RB_WATERMARK] = watermark > 0 ? Math.min(size, watermark) : size / 2;
  i32[rb + RB_PAUSED] = pages === 0 ? 1 : 0; // a ring with no data pages starts paused
  i32[rb + RB_EVENT] = event;
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
 */
export function perf_output_begin(k: Kctx, h: OutputHandle, rb: number, size: number, eventId: number): number {
  const i32 = k.a.i32;
  i32[rb + RB_NEST] = i32[rb + RB_NEST]! + 1;
  h.rb = rb;
  h.wakeup = i32[rb + RB_WAKEUP]!;
  if (i32[rb + RB_PAUSED]) {
    const counted = i32[rb + RB_DATA_SIZE]! > 0;
    if (counted) {
      i32[rb + RB_LOST] = i32[rb + RB_LOST]! + 1;
      i32[rb + RB_LOST_TOTAL] = i32[rb + RB_LOST_TOTAL]! + 1;
    }
    perf_output_put_handle(k, h);
    return counted ? OUTPUT_LOST : OUTPUT_NO_PAGES;
  }
  const haveLost = i32[rb + RB_LOST]! > 0;
  const total = haveLost ? size + PERF_LOST_RECORD_SIZE : size;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  const offset = i32[rb + RB_HEAD]!;
  const tail = k.a.load(rb + RB_DATA_TAIL); // (C): pairs with the reader's (D)
  // ring_buffer_has_space: CIRC_SPACE(head, tail, size) >= total, i.e. used + total < size;
  // the ring is never filled completely.
  if (((offset - tail) >>> 0) + total >= dsize) {
    i32[rb + RB_LOST] = i32[rb + RB_LOST]! + 1;
    i32[rb + RB_LOST_TOTAL] = i32[rb + RB_LOST_TOTAL]! + 1;
    perf_output_put_handle(k, h);
    return OUTPUT_LOST;
  }
  const head = (offset + total) | 0;
  i32[rb + RB_HEAD] = head;
  // FAULT_PRODUCER_EARLY_HEAD: publish before the bytes are written (breaks (A) of the diagram)
  if (k.fault === FAULT_PRODUCER_EARLY_HEAD && i32[rb + RB_NEST] === 1) {
    k.a.store(rb + RB_DATA_HEAD, head);
    fault_producer_window(k, rb, offset);
  }
  // byte trigger of the wakeup mark (always active)
  if (((head - i32[rb + RB_WAKEUP]!) >>> 0) > i32[rb + RB_WATERMARK]!) {
    i32[rb + RB_WAKEUP] = (i32[rb + RB_WAKEUP]! + i32[rb + RB_WATERMARK]!) | 0;
  }
  let at = offset;
  if (haveLost) {
    // the lost count is taken with an exchange and reset, as local_xchg(&rb->lost, 0)
    const lost = i32[rb + RB_LOST]!;
    i32[rb + RB_LOST] = 0;
    const w = ringWord(rb, dsize, at);
    i32[w] = PERF_RECORD_LOST;
    i32[w + 1] = PERF_LOST_RECORD_SIZE << 16; // misc 0
    i32[ringWord(rb, dsize, at + 8)] = eventId;
    i32[ringWord(rb, dsize, at + 12)] = 0;
    i32[ringWord(rb, dsize, at + 16)] = lost;
    i32[ringWord(rb, dsize, at + 20)] = 0;
    at += PERF_LOST_RECORD_SIZE;
  }
  h.head = at | 0;
  return OUTPUT_RESERVED;
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
  const i32 = k.a.i32;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  const padded = raw ? (len + 4 + 7) & ~7 : 0;
  k.a.ringWrite(rb, h.head);
  const w = ringWord(rb, dsize, h.head);
  i32[w] = PERF_RECORD_SAMPLE;
  i32[w + 1] = PERF_RECORD_MISC_KERNEL | ((PERF_HEADER_SIZE + padded) << 16);
  if (!raw) return;
  i32[ringWord(rb, dsize, h.head + 8)] = padded - 4;
  const off = (h.head + 12) & (dsize - 1);
  const base = dataByte(rb);
  const u8 = k.a.u8;
  const first = Math.min(len, dsize - off);
  u8.set(first === len ? (len === data.length ? data : data.subarray(0, len)) : data.subarray(0, first), base + off);
  if (first < len) u8.set(data.subarray(first, len), base);
  if (zeroPad) {
    for (let p = len; p < padded - 4; p++) u8[base + ((off + p) & (dsize - 1))] = 0;
  }
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
  k.a.store(rb + RB_DATA_HEAD, i32[rb + RB_HEAD]!); // (A): publishes every byte written before
  i32[rb + RB_NEST] = 0;
  if (h.wakeup !== i32[rb + RB_WAKEUP]) perf_output_wakeup(k, rb);
}

/** perf_output_wakeup: set the poll state, wake waiters on the ring and on any epoll watching it */
function perf_output_wakeup(k: Kctx, rb: number): void {
  const a = k.a;
  a.store(rb + RB_POLL, POLL_IN);
  Atomics.notify(a.i32, rb + RB_POLL);
  const ep = a.load(a.L.eventBase + a.i32[rb + RB_EVENT]! * EVENT_STRIDE + E_EPOLL);
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

/**
 * The reader walk of libbpf's perf_event_read_simple: load data_head, walk records from
 * data_tail, hand each to its callback, then store data_tail once (also on an early stop:
 * records already delivered are consumed). Returns the records delivered.
 */
export function perf_ring_consume(k: Kctx, rb: number, onSample: SampleFn, onLost: LostFn, max = Infinity): number {
  const i32 = k.a.i32;
  const u8 = k.a.u8;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  if (dsize === 0) return 0;
  const head = k.a.load(rb + RB_DATA_HEAD); // (B): pairs with the producer's (A)
  let tail = i32[rb + RB_DATA_TAIL]!; // our own word
  // FAULT_READER_EARLY_TAIL: release the space before copying out of it (breaks (D))
  if (k.fault === FAULT_READER_EARLY_TAIL) {
    k.a.store(rb + RB_DATA_TAIL, head);
    fault_reader_window(k, rb, tail, head, dsize);
  }
  const base = dataByte(rb);
  let n = 0;
  let samples = 0;
  let lostSeen = 0;
  let more = true;
  while (tail !== head && n < max && more) {
    k.a.ringRead(rb, tail);
    const w = ringWord(rb, dsize, tail);
    const type = i32[w]!;
    const size = i32[w + 1]! >>> 16;
    if (size === 0) throw new Error(`perf ring: zero-size record at tail ${tail >>> 0} (corrupt ring)`);
    if (type === PERF_RECORD_SAMPLE) {
      const rawSize = size > PERF_HEADER_SIZE ? i32[ringWord(rb, dsize, tail + 8)]! : 0;
      samples++;
      more = onSample(viewOrCopy(u8, base, dsize, tail + 12, rawSize), rawSize) !== false;
    } else if (type === PERF_RECORD_LOST) {
      const lost = i32[ringWord(rb, dsize, tail + 16)]!;
      lostSeen += lost;
      more = onLost(i32[ringWord(rb, dsize, tail + 8)]!, lost) !== false;
    } else {
      throw new Error(`perf ring: unknown record type ${type} at tail ${tail >>> 0} (corrupt ring)`);
    }
    tail = (tail + size) | 0;
    n++;
  }
  i32[rb + RB_READ_SAMPLES] = i32[rb + RB_READ_SAMPLES]! + samples;
  i32[rb + RB_READ_LOST] = i32[rb + RB_READ_LOST]! + lostSeen;
  k.a.store(rb + RB_DATA_TAIL, tail); // (D): the producer may now reuse the bytes
  return n;
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
}

/**
 * The conservation check of one ring, for a ring nobody writes or reads any more (detached and
 * a grace period passed): walks the unread region without consuming it.
 */
export function ring_audit(k: Kctx, rb: number): RingAudit {
  const i32 = k.a.i32;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  const head = i32[rb + RB_DATA_HEAD]!;
  let tail = i32[rb + RB_DATA_TAIL]!;
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
  return (k.a.load(rb + RB_DATA_HEAD) - k.a.i32[rb + RB_DATA_TAIL]!) >>> 0;
}

export function rb_state(k: Kctx, rb: number): { head: number; tail: number; size: number; lostPending: number; paused: boolean; watermark: number } {
  const i32 = k.a.i32;
  return {
    head: k.a.load(rb + RB_DATA_HEAD) >>> 0,
    tail: k.a.load(rb + RB_DATA_TAIL) >>> 0,
    size: i32[rb + RB_DATA_SIZE]!,
    lostPending: i32[rb + RB_LOST]!,
    paused: i32[rb + RB_PAUSED] === 1,
    watermark: i32[rb + RB_WATERMARK]!,
  };
}
