/**
 * kernel/bpf/syscall.c: the bpf(2) commands for maps and programs. This layer checks
 * arguments in the kernel's order and dispatches to the map's ops table; it never switches on
 * the map type (the ops' update hook receives the map file).
 *
 * Fds are resolved by the calling process (fdget): functions take the file index behind the
 * fd, or -1 when the fd is not open.
 */
import {
  F_MODE,
  FILE_KIND_MAP,
  FILE_KIND_PROG,
  FMODE_READ,
  FMODE_WRITE,
  H_UNPRIV_BPF_DISABLED,
  M_FROZEN,
  M_ID,
  M_REFCNT,
  M_SLOT_BASE,
  M_STATE,
  M_USERCNT,
  MAX_USED_MAPS,
  PROG_MAX_REFS,
  S_DEAD,
  S_LIVE,
} from '../../arena/layout.js';
import { fileWord, mapWord, slotRegionOf } from '../../arena/records.js';
import { BPF_F_LOCK, BPF_F_RDONLY, BPF_F_WRONLY } from '../behaviour.js';
import type { Kctx } from '../context.js';
import { E2BIG, EBADF, EBUSY, EFAULT, EINVAL, EMFILE, ENOENT, ENOMEM, EPERM } from '../errno.js';
import { alloc_file, file_kind, file_live, file_obj, register_file_release } from '../file.js';
import { RCU_CB, queue_work, rcu_register } from '../rcu.js';
import { report_violation } from '../violation.js';
import { BPF_MAP_TYPES, ops_of } from './arraymap.js';
import { bpf_prog_alloc, bpf_prog_free, bpf_prog_free_refused, bpf_prog_loaded, bpf_prog_put } from './core.js';

import type { MapCreateAttr } from './map_ops.js';
export { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY, MAP_TYPE_NOT_MODELLED, type MapCreateAttr } from './map_ops.js';

/** who calls: CAP_SYS_ADMIN / CAP_BPF or not (the kernel.unprivileged_bpf_disabled sysctl) */
export interface Caller {
  privileged: boolean;
}

/** bpf() entry: the sysctl refuses unprivileged callers (every command up to 5.10) */
export function bpf_entry_check(k: Kctx, caller: Caller): number {
  if (k.b.unprivCheckAllCommands && !caller.privileged && k.a.load(H_UNPRIV_BPF_DISABLED) !== 0) return -EPERM;
  return 0;
}

function unpriv_create_check(k: Kctx, caller: Caller): number {
  if (!k.b.unprivCheckAllCommands && !caller.privileged && k.a.load(H_UNPRIV_BPF_DISABLED) !== 0) return -EPERM;
  return 0;
}

/** bpf_get_file_flag: the access mode of a new map file */
function bpf_get_file_flag(flags: number): number {
  if (flags & BPF_F_RDONLY && flags & BPF_F_WRONLY) return -EINVAL;
  if (flags & BPF_F_RDONLY) return FMODE_READ;
  if (flags & BPF_F_WRONLY) return FMODE_WRITE;
  return FMODE_READ | FMODE_WRITE;
}

/** __bpf_map_get: the map behind a file; EBADF for no file, EINVAL for a file of another kind */
export function bpf_map_get(k: Kctx, f: number): number {
  if (f < 0 || !file_live(k, f)) return -EBADF;
  if (file_kind(k, f) !== FILE_KIND_MAP) return -EINVAL;
  return file_obj(k, f);
}

/** map_get_sys_perms: the file's mode, without write access once the map is frozen */
function map_get_sys_perms(k: Kctx, map: number, f: number): number {
  let mode = k.a.i32[fileWord(k.a.L, f, F_MODE)]!;
  if (k.a.load(mapWord(k.a.L, map, M_FROZEN))) mode &= ~FMODE_WRITE;
  return mode;
}

// ---------------------------------------------------------------------------------------
// BPF_MAP_CREATE

/**
 * map_create -> find_and_alloc_map -> the type's map_alloc_check / map_alloc, in the order of
 * the version's code (kernel/bpf/syscall.c). Returns the new map file's index, or -errno.
 * The checks are the map type's (arraymap.ts); this layer never branches on the type.
 */
export function map_create(k: Kctx, attr: MapCreateAttr, caller: Caller): number {
  let err = bpf_entry_check(k, caller);
  if (err) return err;
  if (attr.attrTail) return -EINVAL; // CHECK_ATTR(BPF_MAP_CREATE)
  let mode = FMODE_READ | FMODE_WRITE;
  if (k.b.fileModes) {
    mode = bpf_get_file_flag(attr.mapFlags);
    if (mode < 0) return mode;
  }
  const type = BPF_MAP_TYPES[attr.mapType];
  if (!type) return -EINVAL; // find_and_alloc_map: unknown type
  err = type.map_alloc_check(k, attr);
  if (err) return err;
  err = unpriv_create_check(k, caller);
  if (err) return err;
  const map = type.map_alloc(k, attr);
  if (map < 0) return map;
  const f = alloc_file(k, FILE_KIND_MAP, map, mode); // bpf_map_new_fd
  if (f < 0) {
    bpf_map_put_with_uref(k, map);
    return -EMFILE;
  }
  return f;
}

// ---------------------------------------------------------------------------------------
// Reference counting (bpf_map_inc, bpf_map_put, bpf_map_put_with_uref) and release

export function bpf_map_inc(k: Kctx, map: number, uref: boolean): void {
  k.a.add(mapWord(k.a.L, map, M_REFCNT), 1);
  if (uref) k.a.add(mapWord(k.a.L, map, M_USERCNT), 1);
}

/**
 * bpf_map_put: the last reference schedules the free as work (INIT_WORK + schedule_work of
 * bpf_map_free_deferred, kernel/bpf/syscall.c): it runs later, from the RCU driver, not in the
 * thread that dropped the reference. Until then the map is still there with refcnt 0, and
 * BPF_MAP_GET_FD_BY_ID cannot find it (bpf_map_inc_not_zero).
 */
export function bpf_map_put(k: Kctx, map: number): void {
  const before = k.a.add(mapWord(k.a.L, map, M_REFCNT), -1);
  if (before > 1) return;
  if (before < 1) {
    report_violation(k, 'refcount-underflow', -1, 2 /* map */, map, before);
    return;
  }
  queue_work(k, RCU_CB.MAP_FREE_WORK, map);
}

/** bpf_map_free_deferred: map->ops->map_free (4.7 clears the slots here), then the memory */
rcu_register(RCU_CB.MAP_FREE_WORK, function* (k, map) {
  yield* ops_of(k).map_free(k, map);
  const a = k.a;
  a.lock();
  try {
    a.freeExtent(a.L.slotExtentBase, slotRegionOf(a.L, a.i32[mapWord(k.a.L, map, M_SLOT_BASE)]!));
  } finally {
    a.unlock();
  }
  a.store(mapWord(k.a.L, map, M_STATE), S_DEAD);
});

export function bpf_map_put_with_uref(k: Kctx, map: number): void {
  // usercnt reaching 0 would run map_release_uref; perf event arrays have none (kernel/bpf/arraymap.c, perf_event_array_map_ops)
  k.a.add(mapWord(k.a.L, map, M_USERCNT), -1);
  bpf_map_put(k, map);
}

/** bpf_map_new_fd: a new map file (a new frontend, a new owner identity) */
export function bpf_map_new_file(k: Kctx, map: number, mode: number): number {
  return alloc_file(k, FILE_KIND_MAP, map, mode);
}

/** bpf_map_release: the map file's last reference is gone: map_release first, then the puts */
register_file_release(FILE_KIND_MAP, (k, map, file) => {
  ops_of(k).map_release?.(k, map, file);
  k.hooks.released?.({ map, file });
  bpf_map_put_with_uref(k, map);
});

// ---------------------------------------------------------------------------------------
// Element commands

/** BPF_MAP_UPDATE_ELEM: key = index, value = the file behind the perf event fd */
export function map_update_elem(k: Kctx, f: number, key: number, perfFile: number, flags: number, caller: Caller): number {
  const err = bpf_entry_check(k, caller);
  if (err) return err;
  const map = bpf_map_get(k, f);
  if (map < 0) return map;
  if (k.b.fileModes) {
    if (!(map_get_sys_perms(k, map, f) & FMODE_WRITE)) return -EPERM;
    if (flags & BPF_F_LOCK) return -EINVAL; // no bpf_spin_lock in a perf event array
  }
  return ops_of(k).map_update_elem(k, map, f, key, perfFile, flags);
}

/** BPF_MAP_LOOKUP_ELEM from user space: never succeeds on a perf event array */
export function map_lookup_elem(k: Kctx, f: number, key: number, flags: number, caller: Caller): number {
  const err = bpf_entry_check(k, caller);
  if (err) return err;
  if (k.b.lookupFlagsChecked && flags & ~BPF_F_LOCK) return -EINVAL; // before the fd is resolved
  const map = bpf_map_get(k, f);
  if (map < 0) return map;
  if (k.b.fileModes) {
    if (!(map_get_sys_perms(k, map, f) & FMODE_READ)) return -EPERM;
    if (flags & BPF_F_LOCK) return -EINVAL;
  }
  return ops_of(k).map_lookup_elem(k, map, key);
}

export function map_delete_elem(k: Kctx, f: number, key: number, caller: Caller): number {
  const err = bpf_entry_check(k, caller);
  if (err) return err;
  const map = bpf_map_get(k, f);
  if (map < 0) return map;
  if (k.b.fileModes && !(map_get_sys_perms(k, map, f) & FMODE_WRITE)) return -EPERM;
  return ops_of(k).map_delete_elem(k, map, key);
}

/** BPF_MAP_GET_NEXT_KEY: the next key (>= 0), or -errno. `key` null is a NULL pointer. */
export function map_get_next_key(k: Kctx, f: number, key: number | null, caller: Caller): number {
  const err = bpf_entry_check(k, caller);
  if (err) return err;
  const map = bpf_map_get(k, f);
  if (map < 0) return map;
  if (k.b.fileModes && !(map_get_sys_perms(k, map, f) & FMODE_READ)) return -EPERM;
  if (key === null && !k.b.nextKeyNull) return -EFAULT;
  return ops_of(k).map_get_next_key(k, map, key);
}

/** BPF_MAP_FREEZE (5.10+; the facade reports EINVAL, an unknown command, before) */
export function map_freeze(k: Kctx, f: number, caller: Caller): number {
  const err = bpf_entry_check(k, caller);
  if (err) return err;
  const map = bpf_map_get(k, f);
  if (map < 0) return map;
  if (k.b.freezeNeedsWrite && !(map_get_sys_perms(k, map, f) & FMODE_WRITE)) return -EPERM;
  if (k.a.cmpxchg(mapWord(k.a.L, map, M_FROZEN), 0, 1) !== 0) return -EBUSY;
  return 0;
}

/**
 * BPF_MAP_GET_FD_BY_ID (4.13+; the facade reports EINVAL, an unknown command, on 4.7/4.8):
 * a new map file for the map with that id: a new frontend, a new owner identity.
 */
/**
 * BPF_MAP_GET_NEXT_ID (bpf_obj_get_next_id over map_idr): the smallest id above `startId` of a
 * map still in the idr (refcnt > 0), or -ENOENT; CAP_SYS_ADMIN only.
 */
export function map_get_next_id(k: Kctx, startId: number, caller: Caller): number {
  const err = bpf_entry_check(k, caller);
  if (err) return err;
  if (!caller.privileged) return -EPERM;
  let next = -1;
  k.a.forEachInUse('map', (m) => {
    if (k.a.load(mapWord(k.a.L, m, M_STATE)) !== S_LIVE || k.a.load(mapWord(k.a.L, m, M_REFCNT)) <= 0) return;
    const id = k.a.i32[mapWord(k.a.L, m, M_ID)]! >>> 0;
    if (id > startId && (next < 0 || id < next)) next = id;
  });
  return next < 0 ? -ENOENT : next;
}

export function map_get_fd_by_id(k: Kctx, id: number, openFlags: number, caller: Caller): number {
  const err = bpf_entry_check(k, caller);
  if (err) return err;
  if (openFlags & ~(BPF_F_RDONLY | BPF_F_WRONLY)) return -EINVAL;
  if (!caller.privileged) return -EPERM; // CAP_SYS_ADMIN
  const mode = bpf_get_file_flag(openFlags);
  if (mode < 0) return mode;
  const a = k.a;
  let map = -1;
  a.lock();
  try {
    for (let m = 0; m < a.L.maxMaps; m++) {
      // bpf_map_inc_not_zero: a map on its way to being freed is not found
      if (a.load(mapWord(k.a.L, m, M_STATE)) === S_LIVE && a.i32[mapWord(k.a.L, m, M_ID)] === id && a.load(mapWord(k.a.L, m, M_REFCNT)) > 0) {
        map = m;
        bpf_map_inc(k, m, true);
        break;
      }
    }
  } finally {
    a.unlock();
  }
  if (map < 0) return -ENOENT;
  const f = bpf_map_new_file(k, map, mode);
  if (f < 0) {
    bpf_map_put_with_uref(k, map);
    return -EMFILE;
  }
  return f;
}

// ---------------------------------------------------------------------------------------
// BPF_PROG_LOAD (only the map references matter here)

/**
 * Loads a program whose n-th map reference (an ld_imm64 of a map fd) is the map behind
 * `mapFiles[n]`; returns the program file or -errno. The references are resolved as the
 * verifier does (kernel/bpf/verifier.c: replace_map_fd_with_map_ptr in 4.7/4.8,
 * resolve_pseudo_ldimm64 from 5.10, its map check in __add_used_map in recent kernels): in
 * order, the first bad fd failing (EBADF, or EINVAL for an fd that is not a map); a map already
 * used is skipped; a new distinct map past MAX_USED_MAPS is E2BIG; each new distinct map takes
 * one reference, and a failure puts them all back (release_maps). Duplicates stay separate
 * references to the same map. The program itself is allocated first (bpf_prog_load calls
 * bpf_prog_alloc before bpf_check, kernel/bpf/syscall.c): a full program table is ENOMEM
 * whatever the fds; its id comes only once the verifier passed it (bpf_prog_alloc_id).
 */
export function prog_load(k: Kctx, mapFiles: number[], caller: Caller): number {
  let err = bpf_entry_check(k, caller);
  if (err) return err;
  err = unpriv_create_check(k, caller);
  if (err) return err;
  const prog = bpf_prog_alloc(k); // before the verifier, as bpf_prog_load does
  if (prog < 0) return -ENOMEM;
  const maps: number[] = []; // one per reference
  const used: number[] = []; // env->used_maps: the distinct maps, each referenced once
  const refuse = (ret: number): number => {
    release_maps(k, used);
    bpf_prog_free_refused(k, prog);
    return ret;
  };
  for (const f of mapFiles) {
    const m = bpf_map_get(k, f);
    if (m < 0) return refuse(m);
    maps.push(m);
    if (used.includes(m)) continue; // recorded already
    if (used.length >= MAX_USED_MAPS) return refuse(-E2BIG);
    bpf_map_inc(k, m, false);
    used.push(m);
  }
  if (maps.length > PROG_MAX_REFS) return refuse(PROG_TOO_MANY_REFS);
  bpf_prog_loaded(k, prog, maps);
  const pf = alloc_file(k, FILE_KIND_PROG, prog, FMODE_READ | FMODE_WRITE);
  if (pf < 0) {
    bpf_prog_put(k, prog);
    return -EMFILE;
  }
  return pf;
}

/**
 * prog_load's answer for a program the kernel would load but whose map references are more than
 * perfemu's record keeps (PROG_MAX_REFS); the facade turns it into ERR_PERFEMU_UNSUPPORTED.
 * A marker as MAP_TYPE_NOT_MODELLED is (map_ops.ts): neither an errno nor a file index.
 */
export const PROG_TOO_MANY_REFS = -(2 ** 25) - 1;

/** release_maps: a refused program puts the reference it took on each distinct map */
function release_maps(k: Kctx, used: number[]): void {
  for (const m of used) bpf_map_put(k, m);
}

register_file_release(FILE_KIND_PROG, (k, prog) => bpf_prog_put(k, prog));

/** __bpf_prog_put_rcu -> bpf_prog_free -> free_used_maps: one put per distinct map */
rcu_register(RCU_CB.PROG_FREE, (k, prog) => {
  for (const m of bpf_prog_free(k, prog)) bpf_map_put(k, m);
});
