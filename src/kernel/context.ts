/**
 * The per-thread handle on the emulated kernel: the arena views, the behaviour of the
 * kernel version the arena was created for, and this thread's test hooks. Every kernel
 * function takes it first, as kernel code takes no globals but the arena.
 */
import type { Arena } from '../arena/arena.js';
import { H_FAULT, H_KERNEL_VERSION, H_NEXT_TASK_READER, H_STRICT, RCU_TASK_READERS } from '../arena/layout.js';
import { behaviourByCode, type KernelBehaviour } from './behaviour.js';

/**
 * Hook points where a test (or the explorer) can run code in the middle of a kernel
 * operation, to force an interleaving instead of hoping for it. They run on the thread that
 * performs the operation; a hook may perform syscalls or outputs itself.
 *
 * Set through `Kernel.hooks`, `map` is the map's id (as in inspect().maps[].id), `file` a file
 * id (as Process.fileOf(fd) returns and inspect().files[].id shows) and `event` a perf event's
 * id (inspect().perfEvents[].id). `entry`, `loaded`, `removed` and `rb` are opaque handles:
 * equal numbers are the same map entry or ring. (Inside the kernel, on Kctx.hooks, map, file
 * and event are table indices.)
 */
export interface KernelHooks {
  /** perf_event_fd_array_release has loaded slot `index` and found its own entry there; the
   *  exchange (or compare-exchange, strict) has not happened yet: the window in which an
   *  update by another file can be purged (kernel/bpf/arraymap.c, perf_event_fd_array_release). */
  purgeLoaded?: (info: { map: number; index: number; entry: number }) => void;
  /** bpf_perf_event_output on `cpu` has loaded slot `index` and the entry's event inside its
   *  RCU read-side section, and is about to check and use them (kernel/trace/bpf_trace.c,
   *  __bpf_perf_event_output). */
  outputLoaded?: (info: { cpu: number; index: number; entry: number }) => void;
  /** bpf_perf_event_output on `cpu` has reserved ring space and not yet published data_head;
   *  an output called from here nests, as an interrupt on that CPU would
   *  (kernel/events/ring_buffer.c, perf_output_begin / perf_output_put_handle). */
  outputReserved?: (info: { cpu: number; nest: number }) => void;
  /** the release purge of `file` exchanged slot `index`, got `removed` back and put it (its
   *  free waits for a grace period); it had loaded and checked `loaded` (different from
   *  `removed` only when a concurrent update got in). */
  purged?: (info: { map: number; index: number; loaded: number; removed: number; file: number }) => void;
  /** the map file `file` is being released: map_release (if the version has one) has returned
   *  and the file's map reference is not dropped yet (its entries should be gone, 4.8+) */
  released?: (info: { map: number; file: number }) => void;
  /** a detached ring is about to be freed (a grace period after its last unmap) */
  ringFreed?: (info: { event: number; rb: number }) => void;
  /** an injected ring fault (reader-early-tail, producer-early-head) published too early and
   *  waits for the other side to act in its window (kernel/fault_windows.ts); called on each
   *  pass of that wait instead of sleeping, so a hook in this thread can be the other side;
   *  returning true ends the wait (as its bound would) */
  faultWindow?: (info: { fault: 'reader-early-tail' | 'producer-early-head'; rb: number }) => boolean | void;
}

/** A reservation in progress (struct perf_output_handle, kernel/ring_buffer.ts); here because
 * Kctx keeps one per nesting depth. */
export interface OutputHandle {
  rb: number;
  /** byte counter where the reserved space starts (after any LOST record) */
  head: number;
  /** rb->wakeup as seen at begin */
  wakeup: number;
}

export interface Kctx {
  readonly a: Arena;
  readonly b: KernelBehaviour;
  readonly strict: boolean;
  /** this thread's RCU reader index for syscall-side read sections (the purge) */
  readonly task: number;
  /** the injected fault (kernel/faults.ts), 0 for the correct kernel */
  readonly fault: number;
  hooks: KernelHooks;
  /**
   * This thread's RCU read-side nesting per reader (CPUs, then task readers), and how many
   * sections it holds in all (synchronize_rcu from inside one would wait for itself). Thread
   * state, not arena state: a reader is driven by one thread at a time.
   */
  readonly rcuDepth: Int32Array;
  rcuHeld: number;
  /** output handles per nesting depth of the helper on this thread (the kernel's per-CPU sds[]) */
  readonly outHandles: OutputHandle[];
  outDepth: number;
  /**
   * call_rcu records gathered by an open call_rcu batch, laid out as the queue's records
   * (RCU_CB_STRIDE words: kind, arg, a grace period filled in when queued), so that queuing
   * them is one copy; kept between batches
   */
  rcuBatch: Int32Array;
  /** words of rcuBatch in use, or -1 when no batch is open */
  rcuBatchLen: number;
  /**
   * the map ops table of this kernel (version x strict x fault), chosen on first use. Read
   * only through ops_of (bpf/arraymap.ts), which gives it its type: left opaque here so this
   * file does not import the map ops' types, which take a Kctx (no type cycle).
   */
  ops: object | null;
  /**
   * producer-early-head's window budget (kernel/fault_windows.ts): the read-side section it was
   * spent in (a CPU and that CPU's RC_CTR) and the milliseconds spent so far. This thread's: one
   * thread drives a CPU at a time.
   */
  faultSection: { cpu: number; ctr: number; spentMs: number };
}

export function kctxOf(a: Arena, hooks: KernelHooks = {}): Kctx {
  return {
    a,
    b: behaviourByCode(a.i32[H_KERNEL_VERSION]!),
    strict: a.i32[H_STRICT] === 1,
    task: a.L.cpus + (a.add(H_NEXT_TASK_READER, 1) % RCU_TASK_READERS),
    fault: a.i32[H_FAULT]!,
    hooks,
    rcuDepth: new Int32Array(a.L.cpus + RCU_TASK_READERS),
    rcuHeld: 0,
    outHandles: [],
    outDepth: 0,
    rcuBatch: new Int32Array(0),
    rcuBatchLen: -1,
    ops: null,
    faultSection: { cpu: -1, ctr: 0, spentMs: 0 },
  };
}
