/**
 * What a simulated CPU runs: a BPF program calling bpf_perf_event_output, described as data
 * (ProgramSpec) or written by the user as a module. Runs in a CPU worker (workers/cpu.ts), on
 * the shared arena, through the same helper code as kernel.cpu(c).perfEventOutput.
 */
import type { SharedMemory } from './arena/wasm_atomics.js';
import { pathToFileURL } from 'node:url';
import * as layout from './arena/layout.js';
import * as behaviours from './kernel/behaviour.js';
import { bpf_perf_event_output } from './kernel/bpf_trace.js';
import type { Kctx } from './kernel/context.js';
import * as errnos from './kernel/errno.js';
import { rcu_read_lock, rcu_read_unlock } from './kernel/rcu.js';
import { RECORD_MIN_BYTES, encodeRecord, sampleAlignedPayload } from './record.js';
import { Prng } from './stress/prng.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const { POOL_PAUSED, POOL_STARTED, POOL_STOP } = layout;
const { BPF_F_CURRENT_CPU } = behaviours;
const { ENOSPC, errnoName } = errnos;

export interface ProgramSpec {
  /** the output's index: 'current' (BPF_F_CURRENT_CPU, the default), a fixed index, or 'random' */
  index?: 'current' | 'random' | number;
  /** payload bytes per record (>= 16), or a [min, max] range drawn per record (default 64) */
  size?: number | [number, number];
  /** output attempts per CPU (default: until durationMs or stop) */
  records?: number;
  /** run time per CPU in ms (default: until records or stop) */
  durationMs?: number;
  /** attempts per second per CPU (default 0: as fast as it can) */
  rate?: number;
  /** for 'random' indices and size ranges */
  seed?: number;
  /** µs to sleep when an output finds the ring full (-ENOSPC, 5.10+), instead of retrying at once */
  backoffUs?: number;
  /** 'record' (default): provenance records (CPU, sequence, checksum); 'constant': the same
   *  bytes every time (to measure the output path alone) */
  payload?: 'record' | 'constant';
  /** a user program: path of an ES module whose default export is `(ctx: ProgramContext) => void | Promise<void>` */
  module?: string;
  /** passed to the user module as ctx.args */
  args?: unknown;
}

export interface CpuTask {
  sab: SharedArrayBuffer;
  /** kernel.memory: the arena's WebAssembly.Memory, for the worker's fast atomics */
  memory: SharedMemory | null;
  cpu: number;
  /** program index (the CPU's attachment holds a reference) */
  prog: number;
  mapRef: number;
  spec: ProgramSpec;
  /** the pool's control words (layout.ts, POOL_*) */
  ctl: SharedArrayBuffer;
}

export interface CpuResult {
  cpu: number;
  /** output attempts (= the next sequence number) */
  attempts: number;
  /** attempts that returned 0 */
  ok: number;
  /** attempts that returned -errno, by name */
  errors: Record<string, number>;
  elapsedMs: number;
}

/** What a user program gets. */
export interface ProgramContext {
  readonly cpu: number;
  readonly args: unknown;
  /** bpf_perf_event_output(ctx, map, flags, data, size) with the attached program's map */
  output(flags: number, data: Uint8Array): number;
  /** encodes a provenance record (cpu, next sequence number, len) and outputs it */
  outputRecord(flags: number, len: number): number;
  /** true once the run is being stopped */
  stopped(): boolean;
  /** true while CpuPool.pause() is in force (a module program may choose to wait: ctx.sleep) */
  paused(): boolean;
  sleep(ms: number): void;
}

export async function runProgram(k: Kctx, task: CpuTask): Promise<CpuResult> {
  const ctl = new Int32Array(task.ctl);
  Atomics.add(ctl, POOL_STARTED, 1);
  Atomics.notify(ctl, POOL_STARTED);
  const t0 = performance.now();
  const res: CpuResult = { cpu: task.cpu, attempts: 0, ok: 0, errors: {}, elapsedMs: 0 };
  const spec = task.spec;
  const maxLen = Math.max(RECORD_MIN_BYTES, Array.isArray(spec.size) ? spec.size[1] : (spec.size ?? 64));
  const { words, bytes } = sampleAlignedPayload(maxLen);
  const stopped = (): boolean => Atomics.load(ctl, POOL_STOP) !== 0;
  const tally = (ret: number): number => {
    res.attempts++;
    if (ret === 0) res.ok++;
    else countError(res, ret);
    return ret;
  };
  // each ctx.output is one run of the program: inside the CPU's read-side section (the helper takes none)
  const output = (flags: number, data: Uint8Array): number => {
    rcu_read_lock(k, task.cpu);
    try {
      return tally(bpf_perf_event_output(k, task.cpu, task.prog, task.mapRef, flags >>> 0, Math.floor(flags / 0x1_0000_0000), data, data.length));
    } finally {
      rcu_read_unlock(k, task.cpu);
    }
  };

  if (spec.module) {
    const mod = (await import(spec.module.startsWith('file:') ? spec.module : pathToFileURL(spec.module).href)) as {
      default?: (ctx: ProgramContext) => unknown;
    };
    if (typeof mod.default !== 'function') throw new Error(`program module ${spec.module} has no default export function`);
    const ctx: ProgramContext = {
      cpu: task.cpu,
      args: spec.args,
      output,
      outputRecord(flags, len) {
        encodeRecord(words, task.cpu, res.attempts, len);
        return output(flags, bytes.subarray(0, len));
      },
      stopped,
      paused: () => Atomics.load(ctl, POOL_PAUSED) !== 0,
      sleep: (ms) => void Atomics.wait(ctl, POOL_STOP, 0, ms),
    };
    await mod.default(ctx);
    res.elapsedMs = performance.now() - t0;
    return res;
  }

  res.elapsedMs = runSpec(k, task, ctl, res, words, bytes, t0);
  return res;
}

/**
 * The built-in program (a ProgramSpec): outputs until `records`, `durationMs` or a stop, counting
 * into `res`; returns the run time in ms, paused time excluded. Its state lives in locals, not in
 * closures or on `res` (written back at the end): this loop runs once per record on every CPU,
 * and a captured variable or an object field costs a load and a store each time.
 */
function runSpec(k: Kctx, task: CpuTask, ctl: Int32Array, res: CpuResult, words: Uint32Array, bytes: Uint8Array, t0: number): number {
  const spec = task.spec;
  const { cpu, prog, mapRef } = task;
  // CpuPool.pause(): wait (bounded steps, so a stop is seen) until resumed or stopped; the time
  // spent paused counts neither toward durationMs nor against the rate.
  let pausedMs = 0;
  const rng = new Prng(spec.seed ?? 1, cpu);
  const [lo, hi] = Array.isArray(spec.size) ? spec.size : [spec.size ?? 64, spec.size ?? 64];
  const span = hi - lo + 1;
  const records = spec.records ?? Infinity;
  const runMs = spec.durationMs ?? Infinity;
  const rate = spec.rate ?? 0;
  const nIndex = 1 << 16; // 'random' draws from [0, 65536): out-of-range indices get E2BIG
  const views: Uint8Array[] = []; // one view per length: no allocation per record
  const backoffMs = (spec.backoffUs ?? 0) / 1000;
  const constant = spec.payload === 'constant';
  const index = spec.index ?? 'current';
  const random = index === 'random';
  const fixedFlags = index === 'current' ? BPF_F_CURRENT_CPU : random ? 0 : index;
  let attempts = 0;
  let ok = 0;
  // The read-side section. Each run of the program needs one (the helper takes none: the
  // kernel's trace_call_bpf holds rcu_read_lock around bpf_prog_run). A CPU that runs programs
  // back to back passes no quiescent state between them: as in a kernel without preemption,
  // where a tracepoint's programs run with preemption off and the CPU reports a quiescent state
  // at its next context switch. So the loop holds one section over up to 64 outputs and leaves
  // it at every 64th attempt and before any sleep, so a grace period waits at most 64 outputs
  // for this CPU. The outputs then pay no atomic instruction for RCU; the per-output
  // use-after-free check is unchanged (it compares generations within one output).
  let inSection = false;
  try {
    while (attempts < records) {
      if ((attempts & 63) === 0) {
        inSection = quiesce(k, cpu, inSection);
        if (Atomics.load(ctl, POOL_PAUSED) !== 0) {
          const since = performance.now();
          while (Atomics.load(ctl, POOL_PAUSED) !== 0 && Atomics.load(ctl, POOL_STOP) === 0) Atomics.wait(ctl, POOL_PAUSED, 1, 50);
          pausedMs += performance.now() - since;
        }
        if (Atomics.load(ctl, POOL_STOP) !== 0 || performance.now() - pausedMs - t0 >= runMs) break;
      }
      if (rate > 0) {
        const due = t0 + pausedMs + (attempts * 1000) / rate;
        const ahead = due - performance.now();
        if (ahead > 1) {
          inSection = quiesce(k, cpu, inSection);
          Atomics.wait(ctl, POOL_STOP, 0, Math.min(ahead, 50));
          continue;
        }
      }
      const len = span === 1 ? lo : lo + (rng.next() % span);
      if (!constant) encodeRecord(words, cpu, attempts, len);
      const flags = random ? rng.next() % nIndex : fixedFlags;
      if (!inSection) {
        rcu_read_lock(k, cpu);
        inSection = true;
      }
      const ret = bpf_perf_event_output(k, cpu, prog, mapRef, flags, 0, (views[len] ??= bytes.subarray(0, len)), len);
      attempts++;
      if (ret === 0) ok++;
      else {
        countError(res, ret);
        if (ret === -ENOSPC && backoffMs > 0) {
          inSection = quiesce(k, cpu, inSection);
          Atomics.wait(ctl, POOL_STOP, 0, backoffMs);
        }
      }
    }
  } finally {
    quiesce(k, cpu, inSection);
    res.attempts = attempts;
    res.ok = ok;
  }
  return performance.now() - t0 - pausedMs;
}

/** a quiescent state: leaves the loop's read-side section if it holds one; returns the new "held" (false) */
function quiesce(k: Kctx, cpu: number, held: boolean): false {
  if (held) rcu_read_unlock(k, cpu);
  return false;
}

/** counts a failed output in `res.errors`, by errno name */
function countError(res: CpuResult, ret: number): void {
  const name = errnoName(ret);
  res.errors[name] = (res.errors[name] ?? 0) + 1;
}
