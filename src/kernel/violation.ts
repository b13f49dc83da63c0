/**
 * Violations detected inside the kernel (the places where the real kernel would BUG_ON, WARN
 * or corrupt memory), and the arena's violation log they go to. The testers' invariants and
 * the names of their kinds are src/invariants/; the kernel only logs its own.
 */
import { H_T0_HI, H_T0_LO, V_COUNT, VR_A, VR_B, VR_C, VR_CPU, VR_D, VR_KIND, VR_TIME } from '../arena/layout.js';
import { violationLogWord, violationWord } from '../arena/records.js';
import type { Kctx } from './context.js';

export const KERNEL_VIOLATION_KINDS = [
  'none',
  /** a CPU saw the entry it loaded recycled inside its read-side section */
  'use-after-free-entry',
  /** a CPU saw the perf event it was writing to freed inside its read-side section */
  'use-after-free-event',
  /** map free found an occupied slot (the kernel's BUG_ON in fd_array_map_free; 4.7 clears the slots first) */
  'map-free-not-empty',
  /** a reference count went below zero */
  'refcount-underflow',
  /** an entry was put twice */
  'double-put',
  /** the call_rcu queue is full (arena sized too small) */
  'rcu-queue-full',
] as const;
export type KernelViolationKind = (typeof KERNEL_VIOLATION_KINDS)[number];

/** a record of the log: `code` is an index into the kinds (the kernel's, then src/invariants/'s) */
export interface ViolationRecord {
  code: number;
  cpu: number;
  args: [number, number, number, number];
  /** ms since the kernel was created */
  timeMs: number;
}

/** what the kernel itself detects: logged, and the operation goes on as the kernel's would */
export function report_violation(k: Kctx, kind: KernelViolationKind, cpu: number, a = 0, b = 0, c = 0, d = 0): void {
  log_violation(k, KERNEL_VIOLATION_KINDS.indexOf(kind), cpu, a, b, c, d);
}

/**
 * Appends a record to the arena's violation log (any thread; the log is shared so every
 * thread, and the stress engine, sees every detection). Detectors outside the kernel (the
 * invariants) log their own codes through it.
 */
export function log_violation(k: Kctx, code: number, cpu: number, a = 0, b = 0, c = 0, d = 0): void {
  const n = k.a.add(violationLogWord(k.a.L, V_COUNT), 1);
  if (n >= k.a.L.violationLog) return;
  const r = violationWord(k.a.L, n, 0);
  const i32 = k.a.i32;
  i32[r + VR_CPU] = cpu;
  i32[r + VR_A] = a;
  i32[r + VR_B] = b;
  i32[r + VR_C] = c;
  i32[r + VR_D] = d;
  i32[r + VR_TIME] = arena_ms(k);
  Atomics.store(i32, r + VR_KIND, code);
}

/** ms since the arena was created (any thread: Date.now() is one clock) */
export function arena_ms(k: Kctx): number {
  const t0 = k.a.i32[H_T0_HI]! * 0x100_0000 + k.a.i32[H_T0_LO]!;
  return Date.now() - t0;
}

/** the log as written (codes, not names: src/invariants/ names them) */
export function read_violation_log(k: Kctx): ViolationRecord[] {
  const n = Math.min(k.a.load(violationLogWord(k.a.L, V_COUNT)), k.a.L.violationLog);
  const out: ViolationRecord[] = [];
  for (let i = 0; i < n; i++) {
    const r = violationWord(k.a.L, i, 0);
    const i32 = k.a.i32;
    out.push({
      code: k.a.load(r + VR_KIND),
      cpu: i32[r + VR_CPU]!,
      args: [i32[r + VR_A]!, i32[r + VR_B]!, i32[r + VR_C]!, i32[r + VR_D]!],
      timeMs: i32[r + VR_TIME]!,
    });
  }
  return out;
}
