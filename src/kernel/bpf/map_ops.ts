/**
 * struct bpf_map_ops, as far as this emulator needs it, grouped by caller as in
 * include/linux/bpf.h. An absent member means "not supported"; callers check, as
 * bpf_map_release checks map_release.
 */
import type { Kctx } from '../context.js';

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
  /** refcnt reached 0 */
  readonly map_free: (k: Kctx, map: number) => void;
  // funcs called by prog_array and perf_event_array
  /** validates the file and builds an entry holding a reference on it; entry index or -errno */
  readonly map_fd_get_ptr: (k: Kctx, map: number, mapFile: number, perfFile: number) => number;
  /** drops an entry that left its slot (deferred by RCU from 4.8 on) */
  readonly map_fd_put_ptr: (k: Kctx, entry: number) => void;
}
