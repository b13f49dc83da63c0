/**
 * perf events (kernel/events/core.c): perf_event_open's checks, the event table, the ring
 * mapping (perf_mmap / perf_mmap_close), enable/disable, poll, release, and perf_event_output.
 */
import * as layout from '../arena/layout.js';
import { cpuWord, eventWord, ringPageOf, ringPageWord, ringWord } from '../arena/records.js';
import type { Kctx, KernelHooks } from './context.js';
import * as errnos from './errno.js';
import { alloc_file, fput, get_file, register_file_release } from './file.js';
import { RCU_CB, call_rcu, rcu_register } from './rcu.js';
import {
  OUTPUT_LOST,
  OUTPUT_RESERVED,
  perf_output_begin,
  perf_output_end,
  perf_output_sample_raw,
  rb_nest,
  rb_toggle_paused,
  ring_buffer_init,
  type OutputHandle,
} from './ring_buffer.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const {
  ATTR_DISABLED,
  ATTR_INHERIT,
  ATTR_SAMPLE_RAW,
  ATTR_WATERMARK,
  ATTR_WRITE_BACKWARD,
  C_OFFLINE,
  E_ATTR,
  E_CONFIG,
  E_CPU,
  E_FILE,
  E_GEN,
  E_COUNT,
  E_ID,
  E_LOST_SAMPLES,
  E_MMAPS,
  E_ONCPU,
  E_RB,
  E_RB_PAGES,
  E_STATE,
  E_TYPE,
  E_WAKEUP_EVENTS,
  E_WATERMARK,
  FILE_KIND_PERF,
  FMODE_READ,
  FMODE_WRITE,
  H_NEXT_EVENT_ID,
  RB_EVENT,
  S_DEAD,
  S_LIVE,
} = layout;
const { EINVAL, EMFILE, ENODEV, ENOENT, ENOMEM, ESRCH } = errnos;

// include/uapi/linux/perf_event.h
export const PERF_TYPE_HARDWARE = 0;
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_TYPE_TRACEPOINT = 2;
export const PERF_TYPE_HW_CACHE = 3;
export const PERF_TYPE_RAW = 4;
export const PERF_TYPE_BREAKPOINT = 5;
export const PERF_COUNT_HW_MAX = 10;
export const PERF_COUNT_SW_CPU_CLOCK = 0;
export const PERF_COUNT_SW_BPF_OUTPUT = 10;

export interface PerfEventAttr {
  type: number;
  config: number;
  inherit: boolean;
  sampleRaw: boolean;
  disabled: boolean;
  /** wakeup_events (used when `watermark` is 0) */
  wakeupEvents: number;
  /** wakeup_watermark in bytes; > 0 sets attr.watermark */
  watermark: number;
  /** attr.write_backward (4.7+, every version modelled) */
  writeBackward?: boolean;
}

/** cpu_online(cpu): a possible CPU that is online (Kernel.create's `online`) */
export function cpu_online(k: Kctx, cpu: number): boolean {
  return k.a.i32[cpuWord(k.a.L, cpu, C_OFFLINE)] === 0;
}

export function event_field(k: Kctx, e: number, field: number): number {
  return k.a.i32[eventWord(k.a.L, e, field)]!;
}

/**
 * perf_event_open(attr, pid, cpu, group_fd -1, flags 0). Returns the new perf file's index, or
 * a negative errno. `pid` is -1 (any task: a CPU-wide event) or 0 (the calling task).
 */
export function perf_event_open(k: Kctx, attr: PerfEventAttr, pid: number, cpu: number): number {
  if (pid === -1 && cpu === -1) return -EINVAL;
  if (pid !== -1 && pid !== 0) return -ESRCH; // no other tasks are modelled
  if (cpu < -1 || cpu >= k.a.L.cpus) return -EINVAL;
  // perf_init_event: find a PMU for the type, then its event_init
  switch (attr.type) {
    case PERF_TYPE_SOFTWARE:
      if (attr.config >= k.b.swCountMax) return -ENOENT;
      break;
    case PERF_TYPE_HARDWARE:
      if (attr.config >= PERF_COUNT_HW_MAX) return -EINVAL; // x86_setup_perfctr
      break;
    case PERF_TYPE_TRACEPOINT:
    case PERF_TYPE_HW_CACHE:
    case PERF_TYPE_RAW:
    case PERF_TYPE_BREAKPOINT:
      break;
    default:
      return -ENOENT;
  }
  // A CPU-wide event on a possible but offline CPU: -ENODEV, after the PMU's checks (4.7/4.8:
  // find_get_context's cpu_online() test; 5.10, 6.18: perf_event_open's !cpuctx->online test).
  if (pid === -1 && !cpu_online(k, cpu)) return -ENODEV;
  const a = k.a;
  const e = a.allocRecordLocked('event', S_LIVE, E_GEN);
  if (e < 0) return -ENOMEM;
  const i32 = a.i32;
  i32[eventWord(k.a.L, e, E_ID)] = a.add(H_NEXT_EVENT_ID, 1) + 1;
  i32[eventWord(k.a.L, e, E_CPU)] = cpu;
  i32[eventWord(k.a.L, e, E_TYPE)] = attr.type;
  i32[eventWord(k.a.L, e, E_CONFIG)] = attr.config;
  i32[eventWord(k.a.L, e, E_ATTR)] =
    (attr.inherit ? ATTR_INHERIT : 0) |
    (attr.sampleRaw ? ATTR_SAMPLE_RAW : 0) |
    (attr.watermark > 0 ? ATTR_WATERMARK : 0) |
    (attr.disabled ? ATTR_DISABLED : 0) |
    (attr.writeBackward ? ATTR_WRITE_BACKWARD : 0);
  i32[eventWord(k.a.L, e, E_WAKEUP_EVENTS)] = attr.wakeupEvents;
  i32[eventWord(k.a.L, e, E_WATERMARK)] = attr.watermark;
  i32[eventWord(k.a.L, e, E_RB)] = -1;
  a.store(eventWord(k.a.L, e, E_ONCPU), attr.disabled || cpu < 0 ? -1 : cpu);
  const f = alloc_file(k, FILE_KIND_PERF, e, FMODE_READ | FMODE_WRITE);
  if (f < 0) {
    a.store(eventWord(k.a.L, e, E_STATE), S_DEAD);
    return -EMFILE;
  }
  i32[eventWord(k.a.L, e, E_FILE)] = f;
  return f;
}

export function event_gen(k: Kctx, e: number): number {
  return k.a.load(eventWord(k.a.L, e, E_GEN));
}
export function event_attr_bits(k: Kctx, e: number): number {
  return k.a.i32[eventWord(k.a.L, e, E_ATTR)]!;
}
export function event_oncpu(k: Kctx, e: number): number {
  return k.a.load(eventWord(k.a.L, e, E_ONCPU));
}
export function event_rb(k: Kctx, e: number): number {
  return k.a.load(eventWord(k.a.L, e, E_RB));
}

/**
 * perf_mmap: maps (1 + pages) pages; the first mapping creates the ring, a later one must ask
 * for the same size. The mapping holds a reference on the perf file, as a vma does.
 * `pages` must be 0 or a power of two (EINVAL), as the kernel requires. `writable`: the vma has
 * VM_WRITE; the mapping that creates the ring decides rb->overwrite (RING_BUFFER_WRITABLE only
 * for a writable one); a later mapping of either kind shares that ring as it is.
 */
export function perf_mmap(k: Kctx, e: number, pages: number, writable = true): number {
  if (pages !== 0 && (pages & (pages - 1)) !== 0) return -EINVAL;
  const a = k.a;
  const rbNow = event_rb(k, e);
  if (rbNow >= 0) {
    if (a.i32[eventWord(k.a.L, e, E_RB_PAGES)] !== pages) return -EINVAL;
  } else {
    a.lock();
    let first: number;
    try {
      first = a.allocExtent(a.L.ringExtentBase, a.L.ringPages, 1 + pages);
    } finally {
      a.unlock();
    }
    if (first < 0) return -ENOMEM;
    const rb = ringPageWord(a.L, first);
    const attr = a.i32[eventWord(k.a.L, e, E_ATTR)]!;
    ring_buffer_init(k, rb, pages, a.i32[eventWord(k.a.L, e, E_WATERMARK)]!, e, !writable, (attr & ATTR_WRITE_BACKWARD) !== 0);
    a.i32[eventWord(k.a.L, e, E_RB_PAGES)] = pages;
    a.store(eventWord(k.a.L, e, E_RB), rb); // publishes the initialised control page to the CPUs
  }
  a.add(eventWord(k.a.L, e, E_MMAPS), 1);
  get_file(k, a.i32[eventWord(k.a.L, e, E_FILE)]!);
  return 0;
}

/**
 * perf_mmap_close: the last unmapping detaches the ring from the event (later outputs find no
 * ring); its pages are freed after a grace period, since a CPU may be writing into it.
 */
export function perf_munmap(k: Kctx, e: number): void {
  const a = k.a;
  if (a.add(eventWord(k.a.L, e, E_MMAPS), -1) === 1) {
    const rb = a.xchg(eventWord(k.a.L, e, E_RB), -1);
    if (rb >= 0) call_rcu(k, RCU_CB.RING_FREE, rb);
  }
  fput(k, a.i32[eventWord(k.a.L, e, E_FILE)]!);
}

rcu_register(RCU_CB.RING_FREE, (k, rb) => {
  const a = k.a;
  k.hooks.ringFreed?.({ event: a.i32[ringWord(rb, RB_EVENT)]!, rb });
  a.lock();
  try {
    a.freeExtent(a.L.ringExtentBase, ringPageOf(a.L, rb));
  } finally {
    a.unlock();
  }
});

/** PERF_EVENT_IOC_ENABLE / DISABLE: a CPU-bound event runs on its CPU while enabled */
export function perf_event_enable(k: Kctx, e: number, on: boolean): void {
  const cpu = k.a.i32[eventWord(k.a.L, e, E_CPU)]!;
  k.a.store(eventWord(k.a.L, e, E_ONCPU), on && cpu >= 0 ? cpu : -1);
}

/**
 * PERF_EVENT_IOC_PAUSE_OUTPUT (_perf_ioctl, 4.7+): -EINVAL without a ring or with no data
 * pages, else rb_toggle_paused(rb, !!arg).
 */
export function perf_event_pause_output(k: Kctx, e: number, arg: number): number {
  const rb = event_rb(k, e);
  if (rb < 0 || k.a.i32[eventWord(k.a.L, e, E_RB_PAGES)] === 0) return -EINVAL;
  rb_toggle_paused(k, rb, arg !== 0);
  return 0;
}

/** perf_release: the last reference to the perf file is gone; the event dies. */
register_file_release(FILE_KIND_PERF, (k, e) => {
  const a = k.a;
  a.store(eventWord(k.a.L, e, E_ONCPU), -1);
  const rb = a.xchg(eventWord(k.a.L, e, E_RB), -1);
  if (rb >= 0) call_rcu(k, RCU_CB.RING_FREE, rb); // only when opened but never unmapped
  a.add(eventWord(k.a.L, e, E_GEN), 1); // a CPU still holding the event sees it change
  a.store(eventWord(k.a.L, e, E_STATE), S_DEAD);
});

/** what perf_event_output did (the kernel returns 0 or -ENOSPC; the helper wants the detail) */
export const OUT_OK = 0;
/** the ring had no room, or is paused with pages: the loss is counted */
export const OUT_LOST = 1;
/** no ring attached (never mapped, or unmapped), or paused with no pages: no loss counted */
export const OUT_NORB = 2;

// The rare branches of perf_event_output live out of line: V8 inlines a function into its
// caller only while the caller's inlining budget lasts (bytecode bytes), and the output path's
// common case needs all of it (see ring_buffer.ts, perf_output_begin).

/** a reservation that failed: the sample lost (counted on the event), or no ring to write to */
function output_failed(k: Kctx, at: number, got: number): number {
  if (got !== OUTPUT_LOST) return OUT_NORB;
  k.a.add(at + E_LOST_SAMPLES, 1);
  return OUT_LOST;
}

/** calls the outputReserved hook: the ring's space is reserved and nothing is written yet */
function output_reserved(k: Kctx, hook: NonNullable<KernelHooks['outputReserved']>, at: number, rb: number): void {
  hook({ cpu: k.a.i32[at + E_CPU]!, nest: rb_nest(k, rb) });
}

/**
 * perf_event_output for a BPF output sample. Runs on the CPU the event is bound to, inside an
 * RCU read-side section (which keeps the ring's pages alive even if it is being detached).
 */
export function perf_event_output(k: Kctx, e: number, data: Uint8Array, len: number, h: OutputHandle): number {
  const a = k.a;
  const i32 = a.i32;
  const at = eventWord(a.L, e, 0);
  const rb = a.loadAcquire(at + E_RB); // published by perf_mmap after ring_buffer_init
  if (rb < 0) return OUT_NORB;
  const attr = i32[at + E_ATTR]!;
  const raw = (attr & ATTR_SAMPLE_RAW) !== 0;
  const size = 8 + (raw ? (len + 4 + 7) & ~7 : 0);
  // perf_output_begin passes is_write_backward(event)
  const got = perf_output_begin(k, h, rb, size, i32[at + E_ID]!, (attr & ATTR_WRITE_BACKWARD) !== 0);
  if (got !== OUTPUT_RESERVED) return output_failed(k, at, got);
  const reserved = k.hooks.outputReserved;
  if (reserved) output_reserved(k, reserved, at, rb);
  perf_output_sample_raw(k, h, data, len, size, k.b.zeroPadding);
  perf_output_end(k, h, i32[at + E_WAKEUP_EVENTS]!, (attr & ATTR_WATERMARK) !== 0);
  i32[at + E_COUNT] = i32[at + E_COUNT]! + 1; // only the CPU the event is bound to writes it
  return OUT_OK;
}
