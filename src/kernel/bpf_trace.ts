/**
 * kernel/trace/bpf_trace.c: the bpf_perf_event_output helper and its errno ladder, in the
 * kernel's order (kernel/trace/bpf_trace.c, bpf_perf_event_output): nesting (5.10+) -> flags -> index -> empty slot -> event type ->
 * event on another CPU -> ring. Runs "as CPU `cpu`": on a CPU worker, or synchronously in any
 * thread through kernel.cpu(c).
 *
 * The helpers take no RCU read-side section of their own: as in the kernel, the program's caller
 * holds one around the whole run (trace_call_bpf and bpf_overflow_handler call rcu_read_lock
 * around bpf_prog_run), here kernel.cpu(c), the CPU worker's loop (program.ts) and the lab. That
 * section spans the slot load and every use of the entry and event, so a delete, replace or
 * purge racing with the output cannot free them before it is done (perf_event_fd_array_put_ptr's
 * call_rcu). bpf_perf_event_output checks that the section is held, as RCU lockdep would.
 */
import * as layout from '../arena/layout.js';
import { cpuWord, entryWord, eventWord, mapWord, progWord } from '../arena/records.js';
import * as behaviours from './behaviour.js';
import type { Kctx } from './context.js';
import * as errnos from './errno.js';
import { entry_event, entry_gen, map_max_entries, slot_word } from './bpf/map.js';
import { prog_map } from './bpf/core.js';
import {
  OUT_LOST,
  OUT_OK,
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_TYPE_HARDWARE,
  PERF_TYPE_RAW,
  PERF_TYPE_SOFTWARE,
  event_attr_bits,
  event_field,
  event_gen,
  event_oncpu,
  perf_event_output,
} from './perf_event.js';
import type { OutputHandle } from './context.js';
import { report_violation } from './violation.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const {
  C_E2BIG,
  C_EBUSY,
  C_EINVAL,
  C_ENOENT,
  C_ENOSPC,
  C_EOPNOTSUPP,
  C_LOST,
  C_NEST,
  C_NORB,
  C_OUTPUTS,
  ATTR_INHERIT,
  E_CONFIG,
  E_COUNT,
  E_CPU,
  E_GEN,
  E_ONCPU,
  E_TYPE,
  EE_EVENT,
  EE_GEN,
  M_MAX_ENTRIES,
  M_SLOT_BASE,
  P_MAPS,
} = layout;
const { BPF_F_CURRENT_CPU } = behaviours;
const { E2BIG, EBUSY, EINVAL, ENOENT, ENOSPC, EOPNOTSUPP } = errnos;

/**
 * bpf_perf_event_output(ctx, map, flags, data, size) as called by program `prog` on `cpu`,
 * `mapRef` being the program's n-th map. `flagsLo` is flags' low 32 bits (the index, or
 * BPF_F_CURRENT_CPU), `flagsHi` the high 32 bits (which must be 0). Returns 0 or -errno.
 *
 * This is the hot path: it computes record addresses with arena/records.ts's one-line
 * accessors (inlined by V8 to the arithmetic they hold), and touches shared words through the arena's load/add (each one a
 * scheduling point for the explorer); single-writer words are plain loads and stores.
 */
export function bpf_perf_event_output(
  k: Kctx,
  cpu: number,
  prog: number,
  mapRef: number,
  flagsLo: number,
  flagsHi: number,
  data: Uint8Array,
  len: number,
): number {
  if (k.rcuDepth[cpu] === 0) not_in_section('bpf_perf_event_output', cpu);
  const i32 = k.a.i32;
  const nestW = cpuWord(k.a.L, cpu, C_NEST);
  const nest = i32[nestW]! + 1; // bpf_trace_nest_level, written only by this CPU
  i32[nestW] = nest;
  const depth = k.outDepth++;
  const h = k.outHandles[depth] ?? (k.outHandles[depth] = { rb: -1, head: 0, wakeup: 0 });
  try {
    if (k.b.nestLimit > 0 && nest > k.b.nestLimit) return count(k, cpu, C_EBUSY, -EBUSY);
    return __bpf_perf_event_output(k, cpu, i32[progWord(k.a.L, prog, P_MAPS + mapRef)]!, flagsLo, flagsHi, data, len, h);
  } finally {
    k.outDepth = depth;
    i32[nestW] = nest - 1;
  }
}

function __bpf_perf_event_output(k: Kctx, cpu: number, map: number, flagsLo: number, flagsHi: number, data: Uint8Array, len: number, h: OutputHandle): number {
  const a = k.a;
  const i32 = a.i32;
  const L = a.L;
  if (flagsHi !== 0) return count(k, cpu, C_EINVAL, -EINVAL);
  const index = flagsLo === BPF_F_CURRENT_CPU ? cpu : flagsLo >>> 0;
  const m = mapWord(L, map, 0);
  if (index >= i32[m + M_MAX_ENTRIES]! >>> 0) return count(k, cpu, C_E2BIG, -E2BIG);
  const slot = a.loadAcquire(i32[m + M_SLOT_BASE]! + index); // READ_ONCE(array->ptrs[index])
  if (slot === 0) return count(k, cpu, C_ENOENT, -ENOENT);
  const ee = slot - 1;
  const eeAt = entryWord(L, ee, 0);
  const eeGen = a.loadAcquire(eeAt + EE_GEN);
  const e = i32[eeAt + EE_EVENT]!; // ee->event
  const eAt = eventWord(L, e, 0);
  const eGen = a.loadAcquire(eAt + E_GEN);
  const loaded = k.hooks.outputLoaded;
  if (loaded) loaded({ cpu, index, entry: ee });
  let ret: number;
  if (i32[eAt + E_TYPE] !== PERF_TYPE_SOFTWARE || i32[eAt + E_CONFIG] !== PERF_COUNT_SW_BPF_OUTPUT) {
    ret = count(k, cpu, C_EINVAL, -EINVAL);
  } else if (a.loadAcquire(eAt + E_ONCPU) !== cpu) {
    ret = count(k, cpu, C_EOPNOTSUPP, -EOPNOTSUPP);
  } else {
    const r = perf_event_output(k, e, data, len, h);
    if (r === OUT_OK) ret = count(k, cpu, C_OUTPUTS, 0);
    else {
      count(k, cpu, r === OUT_LOST ? C_LOST : C_NORB, 0);
      // 4.x's perf_event_output was void: the helper returned 0 whatever happened
      ret = k.b.outputNoRoomErrno ? count(k, cpu, C_ENOSPC, -ENOSPC) : 0;
    }
  }
  // Use-after-free check: nothing we used may have been recycled inside our section.
  if (a.loadAcquire(eeAt + EE_GEN) !== eeGen || a.loadAcquire(eAt + E_GEN) !== eGen) use_after_free(k, cpu, index, ee, eeGen, e, eGen);
  return ret;
}

/** a helper called with no read-side section held: a bug in its caller, not in the program */
function not_in_section(helper: string, cpu: number): never {
  throw new Error(`${helper} on CPU ${cpu} outside an RCU read-side section: its caller must hold one (rcu_read_lock) around the program's run`);
}

/** reports what the output's section saw recycled under it (out of line: never on a good run) */
function use_after_free(k: Kctx, cpu: number, index: number, ee: number, eeGen: number, e: number, eGen: number): void {
  if (entry_gen(k, ee) !== eeGen) report_violation(k, 'use-after-free-entry', cpu, ee, eeGen, entry_gen(k, ee), index);
  if (event_gen(k, e) !== eGen) report_violation(k, 'use-after-free-event', cpu, e, eGen, event_gen(k, e), index);
}

/**
 * Per-CPU counters have one writer, the CPU (one thread at a time): a plain increment, no
 * locked instruction on the output path. Readers use Atomics.load; they may see a count a few
 * outputs old, never a torn one.
 */
function count(k: Kctx, cpu: number, counter: number, ret: number): number {
  const i32 = k.a.i32;
  const w = cpuWord(k.a.L, cpu, counter);
  i32[w] = i32[w]! + 1;
  return ret;
}

// ---------------------------------------------------------------------------------------
// bpf_perf_event_read / bpf_perf_event_read_value (kernel/trace/bpf_trace.c, get_map_perf_counter)

/** struct bpf_perf_event_value: counter, enabled, running (u64 each) */
export const BPF_PERF_EVENT_VALUE_SIZE = 24;

export interface PerfEventValue {
  counter: number;
  enabled: number;
  running: number;
}

/**
 * get_map_perf_counter (6.18) / bpf_perf_event_read (4.x): the counter of the event in the
 * slot, or -errno. perfemu has no PMU: an event's counter is the number of samples written
 * into it, and enabled/running are 0. Runs inside the program's read-side section (the caller's).
 */
function get_map_perf_counter(k: Kctx, cpu: number, map: number, flagsLo: number, flagsHi: number, out: PerfEventValue): number {
  if (k.rcuDepth[cpu] === 0) not_in_section('bpf_perf_event_read', cpu);
  if (flagsHi !== 0) return -EINVAL;
  const index = flagsLo === BPF_F_CURRENT_CPU && k.b.readCurrentCpu ? cpu : flagsLo >>> 0;
  if (index >= map_max_entries(k, map)) return -E2BIG;
  const slot = k.a.load(slot_word(k, map, index));
  if (slot === 0) return -ENOENT;
  const e = entry_event(k, slot - 1);
  const bound = event_field(k, e, E_CPU);
  if (k.b.readChecksType) {
    // 4.x: HARDWARE or RAW only, on this CPU, without a custom count method
    const type = event_field(k, e, E_TYPE);
    if (type !== PERF_TYPE_HARDWARE && type !== PERF_TYPE_RAW) return -EINVAL;
    if (event_oncpu(k, e) !== cpu) return -EINVAL;
  } else {
    // perf_event_read_local: inherited events cannot be read; a CPU-bound event only on its
    // CPU; a per-task event is the calling task's (the program runs in its context here)
    if (event_attr_bits(k, e) & ATTR_INHERIT) return -EOPNOTSUPP;
    if (bound >= 0 && bound !== cpu) return -EINVAL;
  }
  out.counter = event_field(k, e, E_COUNT);
  out.enabled = 0;
  out.running = 0;
  return 0;
}

/** bpf_perf_event_read: the counter, or -errno in the same return (the uapi's caveat) */
export function bpf_perf_event_read(k: Kctx, cpu: number, prog: number, mapRef: number, flagsLo: number, flagsHi: number): number {
  const v: PerfEventValue = { counter: 0, enabled: 0, running: 0 };
  const err = get_map_perf_counter(k, cpu, prog_map(k, prog, mapRef), flagsLo, flagsHi, v);
  return err < 0 ? err : v.counter;
}

/** bpf_perf_event_read_value (5.10+): 0 and the value, or -errno and a zeroed value */
export function bpf_perf_event_read_value(
  k: Kctx,
  cpu: number,
  prog: number,
  mapRef: number,
  flagsLo: number,
  flagsHi: number,
  size: number,
  out: PerfEventValue,
): number {
  let err = size !== BPF_PERF_EVENT_VALUE_SIZE ? -EINVAL : get_map_perf_counter(k, cpu, prog_map(k, prog, mapRef), flagsLo, flagsHi, out);
  if (err < 0) {
    out.counter = 0; // the kernel clears the buffer on any error
    out.enabled = 0;
    out.running = 0;
  } else err = 0;
  return err;
}
