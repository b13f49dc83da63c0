/**
 * kernel/bpf/arraymap.c, the fd-array part: generic `fd_array_*` code shared by every fd
 * array, the perf event array's hooks `perf_event_fd_array_*`, and the ops tables that make
 * the kernel versions (the 4.8 fix reads as a change to the table: `map_release` added,
 * `map_free` asserting empty instead of clearing).
 *
 * Slots hold (entry index + 1), 0 for NULL; see arena/layout.ts for who touches them and how.
 */
import {
  ATTR_INHERIT, E_CONFIG, E_TYPE, EE_EVENT, EE_GEN, EE_MAP, EE_MAP_FILE, EE_MAP_FILE_SERIAL,
  EE_PERF_FILE, EE_STATE, FILE_KIND_PERF, H_FOREIGN_PURGED, S_LIVE, S_RCU,
} from '../../arena/layout.js';
import { BPF_ANY, BPF_F_PRESERVE_ELEMS } from '../behaviour.js';
import type { Kctx } from '../context.js';
import { E2BIG, EBADF, EINVAL, ENOENT, ENOMEM } from '../errno.js';
import { file_kind, file_live, file_obj, file_serial, fput, get_file } from '../file.js';
import {
  PERF_COUNT_SW_BPF_OUTPUT, PERF_TYPE_HARDWARE, PERF_TYPE_RAW, PERF_TYPE_SOFTWARE, event_attr_bits,
  event_field,
} from '../perf_event.js';
import { RCU_CB, call_rcu, call_rcu_batched, rcu_read_lock, rcu_read_unlock, rcu_register, synchronize_rcu } from '../rcu.js';
import { report_violation } from '../violation.js';
import type { BpfMapOps } from './map_ops.js';
import { faulty_ops } from '../faults.js';
import {
  eew, entry_owner, entry_perf_file, map_flags, map_max_entries, slot_word,
} from './map.js';

// ---------------------------------------------------------------------------------------
// struct bpf_event_entry

/** bpf_event_entry_gen: entry index, or -1 when the entry table is full */
function bpf_event_entry_gen(k: Kctx, perfFile: number, mapFile: number, map: number): number {
  const a = k.a;
  const ee = a.allocRecordLocked('entry', S_LIVE, EE_GEN);
  if (ee < 0) return -1;
  const i32 = a.i32;
  // Plain stores: the slot exchange that publishes the entry orders them before any reader.
  i32[eew(k, ee, EE_EVENT)] = file_obj(k, perfFile);
  i32[eew(k, ee, EE_PERF_FILE)] = perfFile;
  i32[eew(k, ee, EE_MAP_FILE)] = mapFile;
  i32[eew(k, ee, EE_MAP_FILE_SERIAL)] = file_serial(k, mapFile);
  i32[eew(k, ee, EE_MAP)] = map;
  return ee;
}

/** __bpf_event_entry_free (the RCU callback): drop the perf file reference, free the entry */
rcu_register(RCU_CB.ENTRY_FREE, (k, ee) => {
  fput(k, entry_perf_file(k, ee));
  entry_recycle(k, ee);
});
/** 4.7 dropped the file at once; the record itself is still only recycled after a grace period */
rcu_register(RCU_CB.ENTRY_RECYCLE, (k, ee) => entry_recycle(k, ee));

export function entry_recycle(k: Kctx, ee: number): void {
  k.a.add(eew(k, ee, EE_GEN), 1); // a CPU still holding it would see the generation move
  k.a.freeRecord('entry', ee);
}

// ---------------------------------------------------------------------------------------
// perf_event_fd_array hooks

/**
 * perf_event_fd_array_get_ptr: `perfFile` is the file behind the fd user space passed (-1 if
 * that fd is not open). Takes a reference on it (perf_event_get), checks the event, builds the
 * entry that records `mapFile` as its owner.
 */
function perf_event_fd_array_get_ptr(k: Kctx, map: number, mapFile: number, perfFile: number): number {
  if (perfFile < 0 || !file_live(k, perfFile) || file_kind(k, perfFile) !== FILE_KIND_PERF) return -EBADF;
  get_file(k, perfFile);
  const e = file_obj(k, perfFile);
  const attr = event_attr_bits(k, e);
  let err = 0;
  if (k.b.updateChecksEventType) {
    // 4.7/4.8: only RAW, HARDWARE and SW/BPF_OUTPUT events, never inherited ones
    const type = event_field(k, e, E_TYPE);
    const ok =
      type === PERF_TYPE_RAW || type === PERF_TYPE_HARDWARE ||
      (type === PERF_TYPE_SOFTWARE && event_field(k, e, E_CONFIG) === PERF_COUNT_SW_BPF_OUTPUT);
    if (attr & ATTR_INHERIT || !ok) err = -EINVAL;
  } else if (attr & ATTR_INHERIT) {
    err = -k.b.updateInheritErrno; // perf_event_read_local refuses inherited events
  }
  if (err) {
    fput(k, perfFile);
    return err;
  }
  const ee = bpf_event_entry_gen(k, perfFile, mapFile, map);
  if (ee < 0) {
    fput(k, perfFile);
    return -ENOMEM;
  }
  return ee;
}

/** perf_event_fd_array_put_ptr: the entry's reference goes after a grace period (4.8+) */
function perf_event_fd_array_put_ptr(k: Kctx, ee: number): void {
  if (!entry_mark_put(k, ee)) return;
  call_rcu(k, RCU_CB.ENTRY_FREE, ee);
}

/** 4.7: the slot held the perf file itself, and a put was an immediate fput */
function perf_event_fd_array_put_ptr_v47(k: Kctx, ee: number): void {
  if (!entry_mark_put(k, ee)) return;
  fput(k, entry_perf_file(k, ee));
  call_rcu(k, RCU_CB.ENTRY_RECYCLE, ee);
}

/** Only the thread whose exchange got the entry back puts it; a second put is a bug. */
export function entry_mark_put(k: Kctx, ee: number): boolean {
  if (k.a.cmpxchg(eew(k, ee, EE_STATE), S_LIVE, S_RCU) !== S_LIVE) {
    report_violation(k, 'double-put', -1, ee, k.a.load(eew(k, ee, EE_STATE)));
    return false;
  }
  return true;
}

/**
 * perf_event_fd_array_release (4.8+): purge the entries this map file added. Kernel-faithful:
 * load the slot, compare the owner, then exchange the slot with NULL unconditionally. Another
 * frontend's update between the load and the exchange is removed too (docs/semantics.md, "The purge window"); we count it.
 * Syscall path; runs in the thread that dropped the file's last reference.
 */
function perf_event_fd_array_release(k: Kctx, map: number, mapFile: number): void {
  if (k.b.preserveElems && map_flags(k, map) & BPF_F_PRESERVE_ELEMS) return;
  purge_own_entries(k, map, mapFile, false);
}

/**
 * perfemu's strict purge (not kernel behaviour): compare-and-exchange the slot with the entry
 * it checked, so a purge never removes an entry it did not add.
 */
function perf_event_fd_array_release_strict(k: Kctx, map: number, mapFile: number): void {
  if (k.b.preserveElems && map_flags(k, map) & BPF_F_PRESERVE_ELEMS) return;
  purge_own_entries(k, map, mapFile, true);
}

/** the purge loop; `checkOwner` false is FAULT_PURGE_NO_OWNER_CHECK's broken version */
export function purge_own_entries(k: Kctx, map: number, mapFile: number, strict: boolean, checkOwner = true): void {
  call_rcu_batched(k, () => purge_loop(k, map, mapFile, strict, checkOwner));
}

function purge_loop(k: Kctx, map: number, mapFile: number, strict: boolean, checkOwner: boolean): void {
  const owner = file_serial(k, mapFile);
  const max = map_max_entries(k, map);
  const ops = ops_of(k);
  rcu_read_lock(k, k.task); // the entries we dereference stay valid until we unlock
  try {
    for (let i = 0; i < max; i++) {
      const w = slot_word(k, map, i);
      const h = k.a.loadAcquire(w); // READ_ONCE(array->ptrs[i])
      if (h === 0 || (checkOwner && entry_owner(k, h - 1) !== owner)) continue;
      k.hooks.purgeLoaded?.({ map, index: i, entry: h - 1 });
      if (strict) {
        if (k.a.cmpxchg(w, h, 0) === h) {
          k.hooks.purged?.({ map, index: i, loaded: h - 1, removed: h - 1, file: mapFile });
          ops.map_fd_put_ptr(k, h - 1);
        }
        continue;
      }
      // __fd_array_map_delete_elem: xchg whatever is there now, put what came back
      const old = k.a.xchg(w, 0);
      if (old === 0) continue; // deleted meanwhile: ENOENT, ignored
      if (old !== h || entry_owner(k, old - 1) !== owner) k.a.add(H_FOREIGN_PURGED, 1);
      k.hooks.purged?.({ map, index: i, loaded: h - 1, removed: old - 1, file: mapFile });
      ops.map_fd_put_ptr(k, old - 1);
    }
  } finally {
    rcu_read_unlock(k, k.task);
  }
}

// ---------------------------------------------------------------------------------------
// fd_array_* (shared by every fd array)

/**
 * The checks and the new entry of bpf_fd_array_map_update_elem, before the slot changes: the
 * new entry's index, or -errno. (The broken updates of faults.ts share it too.)
 */
export function fd_array_map_update_prepare(k: Kctx, map: number, mapFile: number, index: number, perfFile: number, flags: number): number {
  if (flags !== BPF_ANY) return -EINVAL;
  if (index >= map_max_entries(k, map)) return -E2BIG;
  return ops_of(k).map_fd_get_ptr(k, map, mapFile, perfFile);
}

/** bpf_fd_array_map_update_elem */
function bpf_fd_array_map_update_elem(k: Kctx, map: number, mapFile: number, index: number, perfFile: number, flags: number): number {
  const ee = fd_array_map_update_prepare(k, map, mapFile, index, perfFile, flags);
  if (ee < 0) return ee;
  const old = k.a.xchg(slot_word(k, map, index), ee + 1); // publishes the entry
  if (old !== 0) ops_of(k).map_fd_put_ptr(k, old - 1);
  return 0;
}

/** fd_array_map_delete_elem: any frontend may delete any owner's entry */
function fd_array_map_delete_elem(k: Kctx, map: number, index: number): number {
  if (index >= map_max_entries(k, map)) return -E2BIG;
  const old = k.a.xchg(slot_word(k, map, index), 0);
  if (old === 0) return -ENOENT;
  ops_of(k).map_fd_put_ptr(k, old - 1);
  return 0;
}

/** user-space lookup of an fd array: never returns the entry (ENOENT, later ENOTSUPP) */
function fd_array_map_lookup_elem(k: Kctx): number {
  return -k.b.lookupErrno;
}

/** array_map_get_next_key: index arithmetic only; a NULL key (5.10+) starts at 0 */
function array_map_get_next_key(k: Kctx, map: number, key: number | null): number {
  const max = map_max_entries(k, map);
  if (key === null || key >= max) return 0;
  if (key === max - 1) return -ENOENT;
  return key + 1;
}

/** bpf_fd_array_map_clear: delete every slot (each entry put as on delete) */
function bpf_fd_array_map_clear(k: Kctx, map: number): void {
  const max = map_max_entries(k, map);
  for (let i = 0; i < max; i++) fd_array_map_delete_elem(k, map, i);
}

/** fd_array_map_free (4.8+): every slot must already be empty (the kernel BUG_ONs) */
function fd_array_map_free(k: Kctx, map: number): void {
  if (k.b.mapFreeSynchronizeRcu) synchronize_rcu(k);
  const max = map_max_entries(k, map);
  for (let i = 0; i < max; i++) {
    const h = k.a.load(slot_word(k, map, i));
    if (h !== 0) report_violation(k, 'map-free-not-empty', -1, map, i, h - 1);
  }
}

/** perf_event_array_map_free of 4.7: clear every slot (immediate fputs), then free */
function perf_event_array_map_free_v47(k: Kctx, map: number): void {
  bpf_fd_array_map_clear(k, map);
}

/** perf_event_fd_array_map_free (5.10+): PRESERVE_ELEMS maps are cleared first */
function perf_event_fd_array_map_free(k: Kctx, map: number): void {
  if (map_flags(k, map) & BPF_F_PRESERVE_ELEMS) bpf_fd_array_map_clear(k, map);
  fd_array_map_free(k, map);
}

// ---------------------------------------------------------------------------------------
// The ops tables, one per structural variant. ops_of (below) picks one per kernel version.

const common = {
  map_get_next_key: array_map_get_next_key,
  map_lookup_elem: fd_array_map_lookup_elem,
  map_delete_elem: fd_array_map_delete_elem,
  map_update_elem: bpf_fd_array_map_update_elem,
  map_fd_get_ptr: perf_event_fd_array_get_ptr,
} as const;

/** 4.7, before the fix: no map_release (the leak); map_free clears; puts are immediate */
export const perf_event_array_map_ops_v47: BpfMapOps = {
  name: 'perf_event_array_map_ops (4.7)',
  ...common,
  map_free: perf_event_array_map_free_v47,
  map_fd_put_ptr: perf_event_fd_array_put_ptr_v47,
};
/** 4.8, commit 3b1efb196eee: map_release purges own entries; map_free asserts empty */
export const perf_event_array_map_ops_v48: BpfMapOps = {
  name: 'perf_event_array_map_ops (4.8)',
  ...common,
  map_release: perf_event_fd_array_release,
  map_free: fd_array_map_free,
  map_fd_put_ptr: perf_event_fd_array_put_ptr,
};
/** 5.10 and 6.18: as 4.8, with BPF_F_PRESERVE_ELEMS honoured by release and map_free */
export const perf_event_array_map_ops: BpfMapOps = {
  name: 'perf_event_array_map_ops (5.10+)',
  ...common,
  map_release: perf_event_fd_array_release,
  map_free: perf_event_fd_array_map_free,
  map_fd_put_ptr: perf_event_fd_array_put_ptr,
};
/** perfemu's strict purge over the 4.8 / 5.10+ tables (our extension, not kernel behaviour) */
export const perf_event_array_map_ops_v48_strict: BpfMapOps = {
  ...perf_event_array_map_ops_v48,
  name: 'perf_event_array_map_ops (4.8, strict purge)',
  map_release: perf_event_fd_array_release_strict,
};
export const perf_event_array_map_ops_strict: BpfMapOps = {
  ...perf_event_array_map_ops,
  name: 'perf_event_array_map_ops (5.10+, strict purge)',
  map_release: perf_event_fd_array_release_strict,
};

/** the table every perf event array of this arena uses (chosen once per kernel context) */
export function ops_of(k: Kctx): BpfMapOps {
  return (k.ops ??= choose_ops(k));
}
function choose_ops(k: Kctx): BpfMapOps {
  const base = !k.b.releasePurges ? perf_event_array_map_ops_v47
    : !k.b.preserveElems ? (k.strict ? perf_event_array_map_ops_v48_strict : perf_event_array_map_ops_v48)
    : k.strict ? perf_event_array_map_ops_strict : perf_event_array_map_ops;
  return k.fault === 0 ? base : faulty_ops(k, base);
}

