/**
 * struct file: the reference-counted object behind every fd (fs/file_table.c). dup, fork and
 * SCM_RIGHTS share one file; its release hook (the kind's `release` file operation) runs once,
 * when the last reference is dropped, in the thread that dropped it.
 */
import * as layout from '../arena/layout.js';
import { fileWord } from '../arena/records.js';
import type { Kctx } from './context.js';
import { report_violation } from './violation.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const { F_COUNT, F_KIND, F_MODE, F_OBJ, F_SERIAL, F_STATE, H_NEXT_FILE_SERIAL, S_LIVE } = layout;

/** file_operations.release, per file kind; registered by the modules that own each kind */
const releaseOps: ((k: Kctx, obj: number, file: number) => void)[] = [];
export function register_file_release(kind: number, release: (k: Kctx, obj: number, file: number) => void): void {
  releaseOps[kind] = release;
}

/** Allocates a file with f_count 1 (alloc_file). Returns its index, or -1 when the table is full. */
export function alloc_file(k: Kctx, kind: number, obj: number, mode: number): number {
  const a = k.a;
  a.lock();
  try {
    const f = a.allocRecord('file', S_LIVE);
    if (f < 0) return -1;
    const i32 = a.i32;
    i32[fileWord(k.a.L, f, F_KIND)] = kind;
    i32[fileWord(k.a.L, f, F_OBJ)] = obj;
    i32[fileWord(k.a.L, f, F_MODE)] = mode;
    i32[fileWord(k.a.L, f, F_SERIAL)] = a.add(H_NEXT_FILE_SERIAL, 1) + 1;
    a.store(fileWord(k.a.L, f, F_COUNT), 1);
    return f;
  } finally {
    a.unlock();
  }
}

export function file_kind(k: Kctx, f: number): number {
  return k.a.i32[fileWord(k.a.L, f, F_KIND)]!;
}
export function file_obj(k: Kctx, f: number): number {
  return k.a.i32[fileWord(k.a.L, f, F_OBJ)]!;
}
export function file_serial(k: Kctx, f: number): number {
  return k.a.i32[fileWord(k.a.L, f, F_SERIAL)]!;
}
export function file_live(k: Kctx, f: number): boolean {
  return f >= 0 && f < k.a.L.maxFiles && k.a.load(fileWord(k.a.L, f, F_STATE)) === S_LIVE;
}

/** get_file: takes one more reference on a file the caller already holds one on */
export function get_file(k: Kctx, f: number): void {
  k.a.add(fileWord(k.a.L, f, F_COUNT), 1);
}

/** fput: drops a reference; the last one runs the kind's release, then frees the record. */
export function fput(k: Kctx, f: number): void {
  const before = k.a.add(fileWord(k.a.L, f, F_COUNT), -1);
  if (before > 1) return;
  if (before < 1) {
    report_violation(k, 'refcount-underflow', -1, 1 /* file */, f, before);
    return;
  }
  const kind = file_kind(k, f);
  releaseOps[kind]?.(k, file_obj(k, f), f);
  k.a.freeRecord('file', f);
}
