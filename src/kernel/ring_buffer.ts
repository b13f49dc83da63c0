/**
 * The perf ring buffer (kernel/events/ring_buffer.c): output begin/end on the producer side,
 * the record formats, and the reader walk of libbpf's perf_event_read_simple. The ordering
 * diagram and the word roles are in arena/layout.ts (steps A-D); the code cites them.
 *
 * Single producer (the CPU the event is bound to, possibly nested), single consumer.
 */
import * as layout from '../arena/layout.js';
import { epollWordOfWake, eventWord } from '../arena/records.js';
import type { Kctx, OutputHandle } from './context.js';
import * as faultIds from './fault_ids.js';
import { fault_producer_window } from './fault_windows.js';
import { wait_on_word, wake_up_word } from './wait.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const {
  E_EPOLL,
  EP_SLEEPERS,
  PAGE_SIZE,
  PERF_HEADER_SIZE,
  PERF_LOST_RECORD_SIZE,
  PERF_RECORD_LOST,
  PERF_RECORD_MISC_KERNEL,
  PERF_RECORD_SAMPLE,
  POLL_IN,
  RB_DATA_HEAD,
  RB_DATA_OFFSET,
  RB_DATA_SIZE,
  RB_DATA_TAIL,
  RB_EVENT,
  RB_BACKWARD,
  RB_EVENTS,
  RB_HEAD,
  RB_LOST,
  RB_LOST_TOTAL,
  RB_NEST,
  RB_OUTPUTS,
  RB_OVERWRITE,
  RB_PAUSED,
  RB_POLL,
  RB_SLEEPERS,
  RB_WAKEUP,
  RB_WATERMARK,
} = layout;
const { FAULT_PRODUCER_EARLY_HEAD } = faultIds;

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
 * The payload's copy calls TypedArray.prototype.set through this constant, not as `a.u8.set`.
 * V8 found the method of `a.u8` (a field, its map unknown to the compiler) only through the
 * load's feedback, which that site never recorded: the optimized output path made a generic
 * property lookup (the LoadIC builtin) before every copy, about 3 ns of 55 in a one-thread loop
 * of the helper (a `--print-opt-code` reading and a throwaway A/B). A known function is called
 * directly, as the floor's `u8.set` on a module constant is.
 */
const u8Set = Uint8Array.prototype.set;

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
export function dataByte(rb: number): number {
  return rb * 4 + PAGE_SIZE;
}

export type { OutputHandle } from './context.js';

export const OUTPUT_RESERVED = 1;
/** no room, or paused with pages: nothing written, the loss counted */
export const OUTPUT_LOST = 0;
/** paused with no data pages: nothing written, no loss counted */
export const OUTPUT_NO_PAGES = -1;

/**
 * __perf_output_begin: reserve `size` bytes, writing a pending PERF_RECORD_LOST first.
 * Returns OUTPUT_RESERVED, OUTPUT_LOST or OUTPUT_NO_PAGES. Runs on the producer CPU only.
 *
 * Why the rare cases of the output path live in functions of their own (here, in
 * perf_output_sample_raw, perf_output_put_handle and perf_event_output): V8's optimizing
 * compiler inlines a call only while the optimized function's budget lasts (920 bytes of
 * bytecode in all, 460 for one function, with a 1.2 margin; functions of up to 27 bytes go in
 * regardless), and each call it does not inline costs the output a few nanoseconds and the
 * loads it could have shared with its caller. Moved out, they take none of that budget. The
 * common case is still about 2,300 bytes from the helper down, so with V8's budget the output
 * stays several calls (in a CPU worker's `--trace-turbo-inlining`: __bpf_perf_event_output,
 * perf_event_output, this function and perf_output_sample_raw; which ones depends on the order
 * the JIT compiled them). With PERFEMU_V8_INLINING=wide it is one unit (src/v8_inlining.ts).
 * `backward` is is_write_backward(event) (perf_output_begin passes it, 4.7+): the reservation
 * moves rb->head down and the record goes at the new, lower head.
 */
export function perf_output_begin(k: Kctx, h: OutputHandle, rb: number, size: number, eventId: number, backward: boolean): number {
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
    const tail = k.a.loadAcquire(rb + RB_DATA_TAIL); // (A): pairs with the reader's (D)
    if (((backward ? tail - offset : offset - tail) >>> 0) + total >= dsize) return output_no_room(k, h, rb);
  }
  const head = (backward ? offset - total : offset + total) | 0;
  i32[rb + RB_HEAD] = head;
  if (k.fault !== 0) fault_early_head(k, rb, head, offset);
  // byte trigger of the wakeup mark (always active). Backward, the kernel sets offset = head
  // and head = -head after the cmpxchg: the record starts at the new head, and the mark counts
  // the bytes written (-head).
  const wakeup = i32[rb + RB_WAKEUP]!;
  const watermark = i32[rb + RB_WATERMARK]!;
  if (((backward ? -head | 0 : head) - wakeup) >>> 0 > watermark) i32[rb + RB_WAKEUP] = (wakeup + watermark) | 0;
  const at = backward ? head : offset;
  h.head = lost > 0 ? output_lost_record(k, rb, dsize, at, eventId) : at;
  return OUTPUT_RESERVED;
}

/** FAULT_PRODUCER_EARLY_HEAD: publish before the bytes are written (breaks (B) of the diagram) */
function fault_early_head(k: Kctx, rb: number, head: number, offset: number): void {
  if (k.fault === FAULT_PRODUCER_EARLY_HEAD && k.a.i32[rb + RB_NEST] === 1) {
    k.a.storeRelease(rb + RB_DATA_HEAD, head);
    fault_producer_window(k, rb, offset);
  }
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
  const w = dataWord(rb, dsize, at);
  i32[w] = PERF_RECORD_LOST;
  i32[w + 1] = PERF_LOST_RECORD_SIZE << 16; // misc 0
  i32[dataWord(rb, dsize, at + 8)] = eventId;
  i32[dataWord(rb, dsize, at + 12)] = 0;
  i32[dataWord(rb, dsize, at + 16)] = lost;
  i32[dataWord(rb, dsize, at + 20)] = 0;
  return (at + PERF_LOST_RECORD_SIZE) | 0;
}

export function rb_nest(k: Kctx, rb: number): number {
  return k.a.i32[rb + RB_NEST]!;
}

/** word index of byte counter `pos` (a multiple of 4) in the data area */
export function dataWord(rb: number, dsize: number, pos: number): number {
  return rb + PAGE_WORDS + ((pos & (dsize - 1)) >>> 2);
}

/**
 * perf_output_sample for a PERF_SAMPLE_RAW-only sample: header, u32 size, raw bytes, padding.
 * `size` is the record's size as perf_prepare_sample computed it (the header's 8 bytes, then for
 * PERF_SAMPLE_RAW the u32 and the raw bytes padded to 8): the u32 holds the padded length
 * minus 4, not `data.length`. Padding is zeroed in 4.7 and skipped (stale bytes) from 4.8 on.
 */
export function perf_output_sample_raw(k: Kctx, h: OutputHandle, data: Uint8Array, len: number, size: number, zeroPad: boolean): void {
  const rb = h.rb;
  const a = k.a;
  const i32 = a.i32;
  const dsize = i32[rb + RB_DATA_SIZE]!;
  const head = h.head;
  a.ringWrite(rb, head);
  const base = rb + PAGE_WORDS; // the data area's first word
  // a record starts 8-byte aligned and the data area is a power of two: the 12 bytes of header
  // and size never wrap; the payload may
  const w = base + ((head & (dsize - 1)) >>> 2);
  i32[w] = PERF_RECORD_SAMPLE;
  i32[w + 1] = PERF_RECORD_MISC_KERNEL | (size << 16);
  if (size === PERF_HEADER_SIZE) return; // no PERF_SAMPLE_RAW: the header alone
  const off = (head + 12) & (dsize - 1);
  i32[base + ((off - 4) >>> 2)] = size - 12;
  // the payload in one copy, unless it wraps, is a prefix of `data`, or 4.7 zeroes the padding
  if (off + len <= dsize && len === data.length && !zeroPad) u8Set.call(a.u8, data, base * 4 + off);
  else copy_payload(a.u8, base * 4, dsize, off, data, len, zeroPad ? size - 12 - len : 0);
}

/**
 * The payload's general copy (out of line: see perf_output_begin): the first `len` bytes of
 * `data` at byte counter `off` of the data area at byte `base`, wrapping around its end, then
 * `zeroes` zero bytes of padding (4.7; 4.8+ leave the padding stale).
 */
function copy_payload(u8: Uint8Array, base: number, dsize: number, off: number, data: Uint8Array, len: number, zeroes: number): void {
  const first = Math.min(len, dsize - off);
  u8.set(data.subarray(0, first), base + off);
  if (first < len) u8.set(data.subarray(first, len), base);
  for (let p = 0; p < zeroes; p++) u8[base + ((off + len + p) & (dsize - 1))] = 0;
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
    put_handle_nested(k, h, rb, nest);
    return;
  }
  k.a.storeRelease(rb + RB_DATA_HEAD, i32[rb + RB_HEAD]!); // after (B): publishes every byte written before; pairs with the reader's (C)
  i32[rb + RB_NEST] = 0;
  if (h.wakeup !== i32[rb + RB_WAKEUP]) perf_output_wakeup(k, rb);
}

/** a nested writer's end: it leaves the publication and the wakeup to the outer one */
function put_handle_nested(k: Kctx, h: OutputHandle, rb: number, nest: number): void {
  const i32 = k.a.i32;
  i32[rb + RB_NEST] = nest - 1;
  h.wakeup = i32[rb + RB_WAKEUP]!;
}

/** perf_output_wakeup: set the poll state, wake waiters on the ring and on any epoll watching it */
function perf_output_wakeup(k: Kctx, rb: number): void {
  const a = k.a;
  a.store(rb + RB_POLL, POLL_IN);
  wake_up_word(a, rb + RB_POLL, rb + RB_SLEEPERS);
  const ep = a.load(eventWord(a.L, a.i32[rb + RB_EVENT]!, E_EPOLL));
  if (ep !== 0) {
    a.add(ep, 1);
    wake_up_word(a, ep, epollWordOfWake(ep, EP_SLEEPERS));
  }
}

/** perf_poll's readiness: returns it and clears it (one report per wakeup). */
export function rb_poll_and_clear(k: Kctx, rb: number): number {
  return k.a.xchg(rb + RB_POLL, 0);
}

/** Blocks until the ring is woken or `timeoutMs` passes. Returns true if woken. */
export function rb_wait(k: Kctx, rb: number, timeoutMs: number): boolean {
  if (k.a.load(rb + RB_POLL) !== 0) return true;
  wait_on_word(k.a, rb + RB_POLL, 0, rb + RB_SLEEPERS, timeoutMs);
  return k.a.load(rb + RB_POLL) !== 0;
}

/** bytes waiting to be read */
export function rb_readable(k: Kctx, rb: number): number {
  const d = (k.a.load(rb + RB_DATA_HEAD) - k.a.i32[rb + RB_DATA_TAIL]!) >>> 0;
  return k.a.i32[rb + RB_BACKWARD] !== 0 ? -d >>> 0 : d; // backward: tail - head
}

/**
 * rb_toggle_paused (kernel/events/internal.h), for PERF_EVENT_IOC_PAUSE_OUTPUT: a ring without
 * data pages stays paused. While paused, __perf_output_begin counts each output lost.
 */
export function rb_toggle_paused(k: Kctx, rb: number, pause: boolean): void {
  k.a.store(rb + RB_PAUSED, !pause && k.a.i32[rb + RB_DATA_SIZE]! > 0 ? 0 : 1);
}

/** a ring's words as user space and the checkers see them (Process.ringState, inspect) */
export interface RingState {
  /** data_head, data_tail (byte counters, low 32 bits) */
  head: number;
  tail: number;
  /** data_size in bytes */
  size: number;
  /** kernel-private: rb->lost, losses not yet reported by a PERF_RECORD_LOST */
  lostPending: number;
  /** kernel-private: rb->paused */
  paused: boolean;
  watermark: number;
  /** kernel-private: rb->overwrite */
  overwrite: boolean;
  backward: boolean;
  /** instrumentation: samples written into the ring, and outputs lost, since it was made */
  written: number;
  lostTotal: number;
}

export function rb_state(k: Kctx, rb: number): RingState {
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

// The reader side (libbpf's perf_event_read_simple and perf tools' overwrite read) lives in
// src/consumer/ring_reader.ts, the conservation audit in src/stress/invariants/ring_audit.ts:
// user space and testers, not kernel code. Both read the ring through dataByte/dataWord above.
