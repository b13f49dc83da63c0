/**
 * Invariant violations detected inside the kernel (the places where the real kernel would
 * BUG_ON, WARN or corrupt memory). They are logged in the arena so that any thread, and the
 * stress engine's checks, see them; the operation goes on as the kernel's would.
 */
import {
  V_COUNT, VIOLATION_STRIDE, VR_A, VR_B, VR_C, VR_CPU, VR_D, VR_KIND,
} from '../arena/layout.js';
import type { Kctx } from './context.js';

export const VIOLATION_KINDS = [
  'none',
  /** a CPU saw the entry it loaded recycled inside its read-side section */
  'use-after-free-entry',
  /** a CPU saw the perf event it was writing to freed inside its read-side section */
  'use-after-free-event',
  /** 4.8+ map free found an occupied slot (the kernel's BUG_ON in fd_array_map_free) */
  'map-free-not-empty',
  /** a reference count went below zero */
  'refcount-underflow',
  /** an entry was put twice */
  'double-put',
  /** the call_rcu queue is full (arena sized too small) */
  'rcu-queue-full',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  kind: ViolationKind;
  cpu: number;
  args: [number, number, number, number];
}

export function report_violation(k: Kctx, kind: ViolationKind, cpu: number, a = 0, b = 0, c = 0, d = 0): void {
  const base = k.a.L.violationBase;
  const n = k.a.add(base + V_COUNT, 1);
  if (n >= k.a.L.violationLog) return;
  const r = base + 1 + n * VIOLATION_STRIDE;
  const i32 = k.a.i32;
  i32[r + VR_CPU] = cpu;
  i32[r + VR_A] = a;
  i32[r + VR_B] = b;
  i32[r + VR_C] = c;
  i32[r + VR_D] = d;
  Atomics.store(i32, r + VR_KIND, VIOLATION_KINDS.indexOf(kind));
}

export function violation_count(k: Kctx): number {
  return k.a.load(k.a.L.violationBase + V_COUNT);
}

export function read_violations(k: Kctx): Violation[] {
  const base = k.a.L.violationBase;
  const n = Math.min(k.a.load(base + V_COUNT), k.a.L.violationLog);
  const out: Violation[] = [];
  for (let i = 0; i < n; i++) {
    const r = base + 1 + i * VIOLATION_STRIDE;
    const kind = VIOLATION_KINDS[k.a.load(r + VR_KIND)] ?? 'none';
    const i32 = k.a.i32;
    out.push({ kind, cpu: i32[r + VR_CPU]!, args: [i32[r + VR_A]!, i32[r + VR_B]!, i32[r + VR_C]!, i32[r + VR_D]!] });
  }
  return out;
}
