/**
 * Invariant violations detected inside the kernel (the places where the real kernel would
 * BUG_ON, WARN or corrupt memory). They are logged in the arena so that any thread, and the
 * stress engine's checks, see them; the operation goes on as the kernel's would.
 */
import { H_T0_HI, H_T0_LO, V_COUNT, VR_A, VR_B, VR_C, VR_CPU, VR_D, VR_KIND, VR_TIME } from '../arena/layout.js';
import { violationLogWord, violationWord } from '../arena/records.js';
import type { KernelBehaviour } from './behaviour.js';
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
  // Invariants checked by the stress engine (src/stress/invariants/)
  /** a reference count differs from the holders found (fds, mappings, entries, pins, programs) */
  'references',
  /** a release purged an entry of another map file that it had itself loaded and checked */
  'release-foreign',
  /** an entry outlived the map file that added it (4.8+, without BPF_F_PRESERVE_ELEMS) */
  'release-left',
  /** 4.7: an exited app's perf event is kept alive by a map entry (the leak 3b1efb196eee fixed) */
  'leaked-event',
  /** a ring's samples written != samples read + unread, or losses unaccounted */
  'conservation',
  /** a record failed its check (torn), came from another CPU, or arrived out of order */
  'provenance',
  /** an object was freed twice, or is still there after everything was closed */
  'lifetime',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  kind: ViolationKind;
  cpu: number;
  args: [number, number, number, number];
  /** ms since the kernel was created */
  timeMs: number;
}

export function report_violation(k: Kctx, kind: ViolationKind, cpu: number, a = 0, b = 0, c = 0, d = 0): void {
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
  Atomics.store(i32, r + VR_KIND, VIOLATION_KINDS.indexOf(kind));
}

/** ms since the arena was created (any thread: Date.now() is one clock) */
export function arena_ms(k: Kctx): number {
  const t0 = k.a.i32[H_T0_HI]! * 0x100_0000 + k.a.i32[H_T0_LO]!;
  return Date.now() - t0;
}


/**
 * A violation that is the emulated kernel's own behaviour, not a bug: before 4.8 a put was an
 * immediate fput, so a CPU may still use a perf event whose file was just released (SPEC A21).
 */
export function is_old_kernel_behaviour(b: KernelBehaviour, v: Violation): boolean {
  return !b.putDeferred && v.kind === 'use-after-free-event';
}

export function read_violations(k: Kctx): Violation[] {
  const n = Math.min(k.a.load(violationLogWord(k.a.L, V_COUNT)), k.a.L.violationLog);
  const out: Violation[] = [];
  for (let i = 0; i < n; i++) {
    const r = violationWord(k.a.L, i, 0);
    const kind = VIOLATION_KINDS[k.a.load(r + VR_KIND)] ?? 'none';
    const i32 = k.a.i32;
    out.push({ kind, cpu: i32[r + VR_CPU]!, args: [i32[r + VR_A]!, i32[r + VR_B]!, i32[r + VR_C]!, i32[r + VR_D]!], timeMs: i32[r + VR_TIME]! });
  }
  return out;
}
