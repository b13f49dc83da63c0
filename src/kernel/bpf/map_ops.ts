/**
 * struct bpf_map_ops, as far as this emulator needs it, grouped by caller as in
 * include/linux/bpf.h. An absent member means "not supported"; callers check, as
 * bpf_map_release checks map_release.
 */
import type { Kctx } from '../context.js';
import type { SleepingWork } from '../rcu.js';

export interface BpfMapOps {
  readonly name: string;
  // funcs callable from userspace (via syscall)
  /** runs when the last reference to a map file goes (4.8+ perf arrays: purge own entries) */
  readonly map_release?: (k: Kctx, map: number, mapFile: number) => void;
  readonly map_get_next_key: (k: Kctx, map: number, key: number | null) => number;
  /** -errno: perf arrays never return a value to user space */
  readonly map_lookup_elem: (k: Kctx, map: number, key: number) => number;
  readonly map_delete_elem: (k: Kctx, map: number, key: number) => number;
  /** the fd-array update (bpf_fd_array_map_update_elem): the map file is the new owner */
  readonly map_update_elem: (k: Kctx, map: number, mapFile: number, key: number, perfFile: number, flags: number) => number;
  /** refcnt reached 0 (deferred work; each `yield` is a synchronize_rcu, see SleepingWork) */
  readonly map_free: (k: Kctx, map: number) => SleepingWork;
  // funcs called by prog_array and perf_event_array
  /** validates the file and builds an entry holding a reference on it; entry index or -errno */
  readonly map_fd_get_ptr: (k: Kctx, map: number, mapFile: number, perfFile: number) => number;
  /** drops an entry that left its slot (deferred by RCU from 4.8 on; `needDefer` as the
   *  kernel's, which only prog arrays act on) */
  readonly map_fd_put_ptr: (k: Kctx, entry: number, needDefer: boolean) => void;
}

export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4;

export interface MapCreateAttr {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  /** some attr field this kernel does not know, or must be 0, is non-zero (CHECK_ATTR) */
  attrTail: boolean;
}

/**
 * map_alloc's answer for a plain ARRAY whose attributes pass: checked, not modelled. Like
 * PROG_TOO_MANY_REFS (syscall.ts), a marker among the answers of a call that returns a file
 * index or -errno: below -4095 (no errno) and, sign flipped, above every file index
 * (limits.maxFiles is at most 2^24), so it can be mistaken for neither.
 */
export const MAP_TYPE_NOT_MODELLED = -(2 ** 25);

/**
 * The creation half of struct bpf_map_ops, one per map type (the kernel's bpf_types.h).
 * Kernels before map_alloc_check existed (4.7, 4.8) checked inside map_alloc; the checks are
 * the same code in the same order, so map_alloc_check holds them for every version.
 */
export interface BpfMapType {
  /** -errno, or 0 when the attributes are acceptable */
  readonly map_alloc_check: (k: Kctx, attr: MapCreateAttr) => number;
  /** the new map's index (refcnt and usercnt 1), or -errno */
  readonly map_alloc: (k: Kctx, attr: MapCreateAttr) => number;
}
