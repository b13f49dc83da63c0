/**
 * RCU across threads (the kernel's kernel/rcu/, reduced to what this map needs).
 *
 * Read side: see "Read side" below (one shared word per reader, touched only by the outermost
 * lock and unlock). Grace periods: RCU_GP_SEQ is even when idle and odd while one is in
 * progress. Starting one snapshots the counter of every reader inside a section; the grace
 * period ends once each of those counters has moved. Any thread may drive the state machine
 * (under the try-lock H_RCU_LOCK); `call_rcu` callbacks run in the thread that calls
 * `rcu_tick` / `rcu_barrier` once the grace period they wait for has ended.
 */
import { ERR } from '../arena/perfemu_error.js';
import { ArenaError } from '../arena/arena.js';
import * as layout from '../arena/layout.js';
import { rcuCallbackWord, rcuCallbackWords, rcuReaderWord, rcuWord } from '../arena/records.js';
import type { Kctx } from './context.js';
import * as faultIds from './fault_ids.js';
import { report_violation } from './violation.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const {
  CB_ARG,
  CB_GP,
  CB_KIND,
  H_RCU_LOCK,
  RC_CTR,
  RC_NESTING,
  RC_SNAP,
  RCU_CB_STRIDE,
  RCU_GP_REQ,
  RCU_GP_SEQ,
  RCU_Q_HEAD,
  RCU_Q_TAIL,
  RCU_TASK_READERS,
  RCU_WAKE,
} = layout;
const { FAULT_GP_NO_WAIT } = faultIds;

/** Kinds of deferred work. Modules register their callback at load time. */
export const RCU_CB = {
  /** __bpf_event_entry_free: fput the perf file, free the entry (kernel/bpf/arraymap.c) */
  ENTRY_FREE: 1,
  /** entry record recycling of 4.7, whose put was an immediate fput */
  ENTRY_RECYCLE: 2,
  /** __bpf_prog_put_rcu: drop the program's map references, free it (kernel/bpf/syscall.c) */
  PROG_FREE: 3,
  /** bpffs .free_inode of 5.10: drop the pinned object's reference */
  PIN_PUT_MAP: 4,
  PIN_PUT_PROG: 5,
  /** rb_free_rcu: release a detached ring's pages (kernel/events/core.c) */
  RING_FREE: 6,
  /** the double-drop fault's callback (kernel/faults.ts): fputs the perf file twice */
  ENTRY_FREE_TWICE: 7,
  /**
   * bpf_map_free_deferred: work, not an RCU callback. bpf_map_put schedules it on a workqueue
   * (kernel/bpf/syscall.c) and it runs without waiting for a grace period (queue_work below).
   */
  MAP_FREE_WORK: 8,
} as const;
export const RCU_CB_NAMES: Record<number, string> = {
  1: 'entry_free',
  2: 'entry_recycle',
  3: 'prog_free',
  4: 'pin_put_map',
  5: 'pin_put_prog',
  6: 'ring_free',
  7: 'entry_free_twice (fault)',
  8: 'bpf_map_free_deferred',
};
/** kinds that are workqueue items rather than RCU callbacks (inspect() lists them apart) */
export const WORK_KINDS: ReadonlySet<number> = new Set([RCU_CB.MAP_FREE_WORK]);

/**
 * Work that sleeps in synchronize_rcu (4.7 and 4.8's map free), written as a generator: each
 * `yield` is one synchronize_rcu. The works of one batch run as on separate kworkers: each runs
 * to its first sleep, one grace period serves every sleeper, then each goes on (a grace period
 * that starts after they all slept is one that each of them could have waited for).
 */
export type SleepingWork = Generator<void, void, void>;
type RcuCallback = (k: Kctx, arg: number) => void | SleepingWork;
const callbacks: (RcuCallback | undefined)[] = [];
export function rcu_register(kind: number, fn: RcuCallback): void {
  callbacks[kind] = fn;
}

function cpuWord(k: Kctx, cpu: number, field: number): number {
  return rcuReaderWord(k.a.L, cpu, field);
}

// ---------------------------------------------------------------------------------------
// Read side.
//
// A CPU reader (index < cpus) has one shared word, RC_CTR, odd while it is inside a section:
// the outermost lock and unlock each add 1 (one atomic each on the output path). A task reader
// (syscall threads) may be shared by several threads, so it counts the threads inside in
// RC_NESTING and bumps RC_CTR when the last one leaves.
//
// Why a grace period cannot miss a reader (SC Atomics): a writer exchanges a slot, then a later
// grace-period start loads each reader's words. A reader makes its entry visible (RC_CTR odd,
// or RC_NESTING > 0) before it loads the slot. If the snapshot saw it outside, its entry comes
// later in the single total order than the exchange, so its slot load sees the new value; if it
// saw it inside, the grace period waits for RC_CTR to move, which happens only at its exit.

// This thread's nesting per reader lives in the Kctx (k.rcuDepth, k.rcuHeld): a CPU or task
// context is driven by one thread at a time, and only the outermost lock and unlock touch
// shared memory.

export function rcu_read_lock(k: Kctx, reader: number): void {
  k.rcuHeld++;
  const d = k.rcuDepth[reader]!;
  k.rcuDepth[reader] = d + 1;
  if (d > 0) return;
  if (reader < k.a.L.cpus) k.a.add(cpuWord(k, reader, RC_CTR), 1);
  else k.a.add(cpuWord(k, reader, RC_NESTING), 1);
}

export function rcu_read_unlock(k: Kctx, reader: number): void {
  k.rcuHeld--;
  const d = k.rcuDepth[reader]! - 1;
  k.rcuDepth[reader] = d;
  if (d > 0) return;
  if (reader < k.a.L.cpus) {
    // The CPU is RC_CTR's only writer, and leaving needs only release order (the section's
    // loads before the store that ends it), not the full barrier the entry needs.
    const w = cpuWord(k, reader, RC_CTR);
    k.a.storeRelease(w, (k.a.i32[w]! + 1) | 0);
  } else if (k.a.add(cpuWord(k, reader, RC_NESTING), -1) === 1) k.a.add(cpuWord(k, reader, RC_CTR), 1);
}

// ---------------------------------------------------------------------------------------
// Grace periods

/** the RCU_GP_SEQ value at which a grace period starting after now has ended (rcu_seq_snap) */
function rcu_seq_snap(seq: number): number {
  return (seq + 3) & ~1;
}

function request_gp(k: Kctx, target: number): void {
  const w = rcuWord(k.a.L, RCU_GP_REQ);
  for (;;) {
    const cur = k.a.load(w);
    if (cur >= target || k.a.cmpxchg(w, cur, target) === cur) return;
  }
}

/**
 * One step of the grace-period state machine: end the current grace period if every CPU it
 * waits for has passed a quiescent state, or start one if somebody needs it. Non-blocking.
 * Returns true if it changed RCU_GP_SEQ.
 */
export function rcu_gp_advance(k: Kctx): boolean {
  const a = k.a;
  if (a.cmpxchg(H_RCU_LOCK, 0, 1) !== 0) return false;
  try {
    let seq = a.load(rcuWord(a.L, RCU_GP_SEQ));
    let changed = false;
    if ((seq & 1) === 0) {
      if (a.load(rcuWord(a.L, RCU_GP_REQ)) <= seq) return false;
      // Start: snapshot every reader; a task reader's counter is read before its nesting.
      for (let c = 0; c < a.L.cpus + RCU_TASK_READERS; c++) {
        const ctr = a.load(cpuWord(k, c, RC_CTR));
        const inside = c < a.L.cpus ? (ctr & 1) === 1 : a.load(cpuWord(k, c, RC_NESTING)) > 0;
        a.store(cpuWord(k, c, RC_SNAP), inside ? ctr : -1);
      }
      seq += 1;
      a.store(rcuWord(a.L, RCU_GP_SEQ), seq);
      changed = true;
    }
    // FAULT_GP_NO_WAIT: the grace period ends without looking at the readers
    if (k.fault !== FAULT_GP_NO_WAIT) {
      for (let c = 0; c < a.L.cpus + RCU_TASK_READERS; c++) {
        const snap = a.load(cpuWord(k, c, RC_SNAP));
        if (snap !== -1 && a.load(cpuWord(k, c, RC_CTR)) === snap) return changed;
      }
    }
    a.store(rcuWord(a.L, RCU_GP_SEQ), seq + 1);
    a.add(rcuWord(a.L, RCU_WAKE), 1);
    Atomics.notify(a.i32, rcuWord(a.L, RCU_WAKE));
    return true;
  } finally {
    a.store(H_RCU_LOCK, 0);
  }
}

export function rcu_gp_seq(k: Kctx): number {
  return k.a.load(rcuWord(k.a.L, RCU_GP_SEQ));
}

function assertNotInSection(k: Kctx, what: string): void {
  if (k.rcuHeld > 0) {
    const cpus = [...k.rcuDepth].flatMap((d, r) => (d > 0 ? [r] : [])).join(', ');
    throw new ArenaError(
      `${what} inside an RCU read-side section (CPU ${cpus}, this thread) would wait for itself forever; ` +
        'run it after the section ends (e.g. after the output hook returns)',
      ERR.RCU_DEADLOCK,
    );
  }
}

/** readers as a stall report names them: `CPU c`, or `task reader r` (a syscall thread's section, such as a purge) */
function rcu_reader_names(k: Kctx, readers: number[]): string {
  return readers.map((r) => (r < k.a.L.cpus ? `CPU ${r}` : `task reader ${r - k.a.L.cpus}`)).join(', ');
}

/** readers (CPUs, then task readers) that hold up the current grace period (for stall reports) */
export function rcu_stalled_cpus(k: Kctx): number[] {
  const out: number[] = [];
  if ((rcu_gp_seq(k) & 1) === 0) return out;
  for (let c = 0; c < k.a.L.cpus + RCU_TASK_READERS; c++) {
    const snap = k.a.load(cpuWord(k, c, RC_SNAP));
    if (snap !== -1 && k.a.load(cpuWord(k, c, RC_CTR)) === snap) out.push(c);
  }
  return out;
}

/**
 * Waits for a full grace period: every read-side section in progress now has ended.
 * Bounded: after `timeoutMs` it throws an RCU stall error naming the CPUs.
 */
export function synchronize_rcu(k: Kctx, timeoutMs = 10_000): void {
  assertNotInSection(k, 'synchronize_rcu');
  const target = rcu_seq_snap(rcu_gp_seq(k));
  request_gp(k, target);
  wait_gp(k, target, timeoutMs);
}

function wait_gp(k: Kctx, target: number, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  const wake = rcuWord(k.a.L, RCU_WAKE);
  for (let spins = 0; ; spins++) {
    rcu_gp_advance(k);
    if (rcu_gp_seq(k) >= target) return;
    if (Date.now() > deadline) {
      throw new ArenaError(
        `RCU stall: grace period not done after ${timeoutMs} ms; still in a read-side section: ` +
          `${rcu_reader_names(k, rcu_stalled_cpus(k)) || 'none (another thread holds the grace-period lock?)'}`,
        ERR.RCU_STALL,
      );
    }
    // CPUs do not notify when they leave a section (that would cost on the output path), so
    // poll: short sleeps first, longer ones for long sections.
    Atomics.wait(k.a.i32, wake, k.a.load(wake), spins < 50 ? 0.02 : 1);
  }
}

// ---------------------------------------------------------------------------------------
// Callbacks

/** Queues `kind(arg)` to run after a grace period (call_rcu). Any thread. */
export function call_rcu(k: Kctx, kind: number, arg: number): void {
  const n = k.rcuBatchLen;
  if (n >= 0) {
    let b = k.rcuBatch;
    if (n + RCU_CB_STRIDE > b.length) b = grow_batch(k);
    b[n + CB_KIND] = kind;
    b[n + CB_ARG] = arg;
    k.rcuBatchLen = n + RCU_CB_STRIDE;
    return;
  }
  request_gp(k, enqueue(k, kind, arg, false));
}

/** out of line: keeps call_rcu small enough to inline into the purge's loop */
function grow_batch(k: Kctx): Int32Array {
  const b = new Int32Array(Math.max(rcuCallbackWords(64), k.rcuBatch.length * 2));
  b.set(k.rcuBatch);
  k.rcuBatch = b;
  return b;
}

/**
 * Gathers this thread's call_rcu calls until the matching call_rcu_batch_end, which queues
 * them all under one lock and requests one grace period: each is still its own callback
 * record (what inspect() and the checkers see), queued at the end rather than one by one.
 * Waiting for a later grace period than each call would have is always safe. Used by the
 * release purge, which may put thousands of entries. Returns false when a batch is already
 * open (the inner pair then does nothing: the outer end queues everything).
 */
export function call_rcu_batch_begin(k: Kctx): boolean {
  if (k.rcuBatchLen >= 0) return false;
  k.rcuBatchLen = 0;
  return true;
}

/** closes the batch `call_rcu_batch_begin` opened (when it returned true) and queues it */
export function call_rcu_batch_end(k: Kctx): void {
  const len = k.rcuBatchLen;
  k.rcuBatchLen = -1;
  if (len > 0) request_gp(k, enqueue_many(k, k.rcuBatch, len));
}

/**
 * Queues work `kind(arg)` (schedule_work on the system workqueue): it waits for no grace
 * period and runs from the same driver as RCU callbacks (rcu_tick, rcu_barrier, the CPU pool's
 * ticker). It keeps its place in the one queue, so it runs after the callbacks queued before it.
 */
export function queue_work(k: Kctx, kind: number, arg: number): void {
  enqueue(k, kind, arg, true);
}

/**
 * appends the `len` words of gathered records (queue layout) to the queue under one lock, with
 * their grace period filled in: a copy or two (the queue is a ring); returns that grace period
 */
function enqueue_many(k: Kctx, recs: Int32Array, len: number): number {
  const a = k.a;
  const n = len / RCU_CB_STRIDE;
  a.lock();
  try {
    const head = a.load(rcuWord(a.L, RCU_Q_HEAD));
    const tail = a.load(rcuWord(a.L, RCU_Q_TAIL));
    if (tail - head + n > a.L.rcuQueue) {
      report_violation(k, 'rcu-queue-full', -1, recs[CB_KIND]!, recs[CB_ARG]!);
      throw new ArenaError(`call_rcu queue full (${a.L.rcuQueue} records): size the arena larger (limits.rcuQueue)`, 'ENOMEM');
    }
    const target = rcu_seq_snap(rcu_gp_seq(k));
    for (let j = CB_GP; j < len; j += RCU_CB_STRIDE) recs[j] = target;
    // records [tail, tail + n) of the ring: up to its end, then from its start
    const first = rcuCallbackWords(Math.min(n, a.L.rcuQueue - (tail % a.L.rcuQueue)));
    a.i32.set(recs.subarray(0, first), rcuCallbackWord(a.L, tail, 0));
    if (first < len) a.i32.set(recs.subarray(first, len), rcuCallbackWord(a.L, 0, 0));
    a.store(rcuWord(a.L, RCU_Q_TAIL), tail + n);
    return target;
  } finally {
    a.unlock();
  }
}

/** appends a record to the callback queue; returns the grace-period sequence it waits for */
function enqueue(k: Kctx, kind: number, arg: number, work: boolean): number {
  const a = k.a;
  a.lock();
  let target: number;
  try {
    const head = a.load(rcuWord(a.L, RCU_Q_HEAD));
    const tail = a.load(rcuWord(a.L, RCU_Q_TAIL));
    if (tail - head >= a.L.rcuQueue) {
      report_violation(k, 'rcu-queue-full', -1, kind, arg);
      throw new ArenaError(`call_rcu queue full (${a.L.rcuQueue} records): size the arena larger (limits.rcuQueue)`, 'ENOMEM');
    }
    // Targets never decrease along the queue (rcu_do_batch relies on it): work waits for no
    // grace period of its own, only for the records ahead of it.
    const prev = tail > head ? a.i32[rcuCallbackWord(a.L, tail - 1, CB_GP)]! : 0;
    target = work ? Math.max(rcu_gp_seq(k), prev) : rcu_seq_snap(rcu_gp_seq(k));
    const r = rcuCallbackWord(a.L, tail, 0);
    a.i32[r + CB_KIND] = kind;
    a.i32[r + CB_ARG] = arg;
    a.i32[r + CB_GP] = target;
    a.store(rcuWord(a.L, RCU_Q_TAIL), tail + 1);
  } finally {
    a.unlock();
  }
  return target;
}

/** Runs the callbacks whose grace period has ended; returns how many ran. Non-blocking. */
function rcu_do_batch(k: Kctx, end: number): number {
  const a = k.a;
  const ready: [number, number][] = [];
  a.lock();
  try {
    const seq = rcu_gp_seq(k);
    let head = a.load(rcuWord(a.L, RCU_Q_HEAD));
    const tail = Math.min(a.load(rcuWord(a.L, RCU_Q_TAIL)), end);
    // Targets never decrease along the queue, so the ready ones are a prefix.
    while (head < tail) {
      const r = rcuCallbackWord(a.L, head, 0);
      if (a.i32[r + CB_GP]! > seq) break;
      ready.push([a.i32[r + CB_KIND]!, a.i32[r + CB_ARG]!]);
      head++;
    }
    a.store(rcuWord(a.L, RCU_Q_HEAD), head);
  } finally {
    a.unlock();
  }
  // The records are off the queue now: each one runs even if another throws (the first error
  // is thrown once all have run), so that no work is left half done, asleep in a list nobody
  // resumes. Only a stalled grace period (synchronize_rcu's error) leaves the sleepers asleep,
  // as it would leave kworkers stuck.
  let sleeping: SleepingWork[] = [];
  let error: { e: unknown } | null = null;
  const step = (work: SleepingWork): void => {
    try {
      if (!work.next().done) sleeping.push(work);
    } catch (e) {
      error ??= { e };
    }
  };
  for (const [kind, arg] of ready) {
    const fn = callbacks[kind];
    try {
      if (!fn) throw new ArenaError(`no RCU callback registered for kind ${kind}`, ERR.INTERNAL);
      const work = fn(k, arg);
      if (work) step(work);
    } catch (e) {
      error ??= { e };
    }
  }
  while (sleeping.length > 0) {
    synchronize_rcu(k); // one grace period for every work asleep in synchronize_rcu
    const woken = sleeping;
    sleeping = [];
    for (const work of woken) step(work);
  }
  if (error) throw error.e;
  return ready.length;
}

/**
 * Advances grace periods and runs ready callbacks. Returns callbacks run. It waits only inside
 * work that sleeps in synchronize_rcu (4.7 and 4.8's map free). Bounded: it runs only records
 * queued before it began, and goes on advancing grace periods for at most three rounds that
 * run nothing. Work it runs may queue more (a map free's puts), and other threads may queue or
 * ask for grace periods as fast as it runs; all that waits for the next tick, so that the
 * thread driving ticks (the CPU pool's ticker on the main thread) gets back to its event loop.
 */
export function rcu_tick(k: Kctx): number {
  const end = k.a.load(rcuWord(k.a.L, RCU_Q_TAIL));
  let ran = 0;
  for (let idle = 0; idle < 3; ) {
    const advanced = rcu_gp_advance(k);
    const n = rcu_do_batch(k, end);
    ran += n;
    if (!advanced && n === 0) break;
    idle = n > 0 ? 0 : idle + 1;
  }
  return ran;
}

/** the queued callbacks and work, oldest first; `work` marks workqueue items (WORK_KINDS) */
export function rcu_pending(k: Kctx): { kind: string; arg: number; gp: number; work: boolean }[] {
  const a = k.a;
  a.lock();
  try {
    const out: { kind: string; arg: number; gp: number; work: boolean }[] = [];
    for (let i = a.load(rcuWord(a.L, RCU_Q_HEAD)); i < a.load(rcuWord(a.L, RCU_Q_TAIL)); i++) {
      const r = rcuCallbackWord(a.L, i, 0);
      const kind = a.i32[r + CB_KIND]!;
      out.push({ kind: RCU_CB_NAMES[kind] ?? '?', arg: a.i32[r + CB_ARG]!, gp: a.i32[r + CB_GP]!, work: WORK_KINDS.has(kind) });
    }
    return out;
  } finally {
    a.unlock();
  }
}

/**
 * Waits until every callback queued so far (and any they queue) has run (rcu_barrier).
 * Bounded like synchronize_rcu.
 */
export function rcu_barrier(k: Kctx, timeoutMs = 10_000): void {
  assertNotInSection(k, 'rcu_barrier');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ran = rcu_tick(k);
    if (k.a.load(rcuWord(k.a.L, RCU_Q_HEAD)) === k.a.load(rcuWord(k.a.L, RCU_Q_TAIL))) return;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new ArenaError(
        `rcu_barrier: callbacks still pending after ${timeoutMs} ms; holding the grace period: ${rcu_reader_names(k, rcu_stalled_cpus(k)) || 'none'}`,
        ERR.RCU_STALL,
      );
    }
    // what the tick ran may have queued more (a prog free's map put queues the map free): the
    // next tick runs it, and a grace period may not even be needed for it
    if (ran === 0) wait_gp(k, rcu_gp_seq(k) + 1, Math.max(1, left));
  }
}
