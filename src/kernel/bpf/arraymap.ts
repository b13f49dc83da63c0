/**
 * kernel/bpf/arraymap.c, the fd-array part: generic `fd_array_*` code shared by every fd
 * array, the perf event array's hooks `perf_event_fd_array_*`, and the ops tables that make
 * the kernel versions (the 4.8 fix reads as a change to the table: `map_release` added,
 * `map_free` asserting empty instead of clearing).
 *
 * Slots hold (entry index + 1), 0 for NULL; see arena/layout.ts for who touches them and how.
 */
import * as layout from '../../arena/layout.js';
import { entryWord, mapWord, slotRegionWord } from '../../arena/records.js';
import * as behaviours from '../behaviour.js';
import type { Kctx } from '../context.js';
import * as errnos from '../errno.js';
import { file_kind, file_live, file_obj, file_serial, fput, get_file } from '../file.js';
import { PERF_COUNT_SW_BPF_OUTPUT, PERF_TYPE_HARDWARE, PERF_TYPE_RAW, PERF_TYPE_SOFTWARE, event_attr_bits, event_field } from '../perf_event.js';
import { RCU_CB, call_rcu, call_rcu_batch_begin, call_rcu_batch_end, rcu_read_lock, rcu_read_unlock, rcu_register, type SleepingWork } from '../rcu.js';
import { report_violation } from '../violation.js';
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY, MAP_TYPE_NOT_MODELLED, type BpfMapOps, type BpfMapType, type MapCreateAttr } from './map_ops.js';
import { entry_owner, entry_perf_file, map_flags, map_max_entries, slot_word } from './map.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const {
  ATTR_INHERIT,
  E_CONFIG,
  E_TYPE,
  EE_EVENT,
  EE_GEN,
  EE_MAP,
  EE_MAP_FILE,
  EE_MAP_FILE_SERIAL,
  EE_PERF_FILE,
  EE_STATE,
  FILE_KIND_PERF,
  H_FOREIGN_PURGED,
  H_NEXT_MAP_ID,
  M_FLAGS,
  M_ID,
  M_KEY_SIZE,
  M_MAX_ENTRIES,
  M_REFCNT,
  M_SLOT_BASE,
  M_STATE,
  M_TYPE,
  M_USERCNT,
  M_VALUE_SIZE,
  PAGE_SIZE,
  S_LIVE,
  S_RCU,
} = layout;
const { BPF_ANY, BPF_F_INNER_MAP, BPF_F_MMAPABLE, BPF_F_NUMA_NODE, BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY, BPF_F_WRONLY_PROG } =
  behaviours;
const { E2BIG, EBADF, EINVAL, ENOENT, ENOMEM } = errnos;

// ---------------------------------------------------------------------------------------
// struct bpf_event_entry

/** bpf_event_entry_gen: entry index, or -1 when the entry table is full */
function bpf_event_entry_gen(k: Kctx, perfFile: number, mapFile: number, map: number): number {
  const a = k.a;
  const ee = a.allocRecordLocked('entry', S_LIVE, EE_GEN);
  if (ee < 0) return -1;
  const i32 = a.i32;
  // Plain stores: the slot exchange that publishes the entry orders them before any reader.
  i32[entryWord(k.a.L, ee, EE_EVENT)] = file_obj(k, perfFile);
  i32[entryWord(k.a.L, ee, EE_PERF_FILE)] = perfFile;
  i32[entryWord(k.a.L, ee, EE_MAP_FILE)] = mapFile;
  i32[entryWord(k.a.L, ee, EE_MAP_FILE_SERIAL)] = file_serial(k, mapFile);
  i32[entryWord(k.a.L, ee, EE_MAP)] = map;
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
  k.a.add(entryWord(k.a.L, ee, EE_GEN), 1); // a CPU still holding it would see the generation move
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
      type === PERF_TYPE_RAW || type === PERF_TYPE_HARDWARE || (type === PERF_TYPE_SOFTWARE && event_field(k, e, E_CONFIG) === PERF_COUNT_SW_BPF_OUTPUT);
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

/**
 * perf_event_fd_array_put_ptr: the entry's reference goes after a grace period (4.8+). The
 * kernel's `need_defer` matters to prog arrays only; a perf event entry is always deferred.
 */
function perf_event_fd_array_put_ptr(k: Kctx, ee: number, _needDefer: boolean): void {
  if (!entry_mark_put(k, ee)) return;
  call_rcu(k, RCU_CB.ENTRY_FREE, ee);
}

/** 4.7: the slot held the perf file itself, and a put was an immediate fput */
function perf_event_fd_array_put_ptr_v47(k: Kctx, ee: number, _needDefer: boolean): void {
  if (!entry_mark_put(k, ee)) return;
  fput(k, entry_perf_file(k, ee));
  call_rcu(k, RCU_CB.ENTRY_RECYCLE, ee);
}

/**
 * Only the thread whose exchange got the entry back puts it; a second put is a bug.
 *
 * In the correct kernel (no fault injected) every put follows an exchange of a slot, which hands
 * the entry to exactly one thread: that thread is the only writer of the state word until the
 * grace period's free, so LIVE -> RCU is an acquire load and a release store (a scheduling point
 * each for the explorer), and a second put, which can then only come after the first, still
 * finds RCU. An injected fault (update-load-store) can hand one entry to two threads at once;
 * there the step is a compare-exchange, so that only one of two racing puts passes. (The
 * compare-exchange cost a 4096-slot purge about a fifth of its time.)
 */
export function entry_mark_put(k: Kctx, ee: number): boolean {
  const a = k.a;
  const w = entryWord(a.L, ee, EE_STATE);
  if (k.fault === 0) {
    if (a.loadAcquire(w) === S_LIVE) {
      a.storeRelease(w, S_RCU);
      return true;
    }
  } else if (a.cmpxchg(w, S_LIVE, S_RCU) === S_LIVE) return true;
  return double_put(k, ee);
}
/** out of line: keeps entry_mark_put small enough for V8 to inline into the purge's loop */
function double_put(k: Kctx, ee: number): false {
  report_violation(k, 'double-put', -1, ee, k.a.load(entryWord(k.a.L, ee, EE_STATE)));
  return false;
}

// ---------------------------------------------------------------------------------------
// map_release: the purge of 3b1efb196eee. The walk is the kernel's loop; what it does with a
// slot it loaded is the release variant (one small function each).

/**
 * what a release variant does with slot `index`, loaded as `h` (entry + 1, never 0); `word` is
 * the slot's word (array->ptrs + index), which the walk has at hand
 */
export type ReleaseSlot = (k: Kctx, map: number, mapFile: number, owner: number, index: number, h: number, word: number) => void;

/**
 * The loop of perf_event_fd_array_release: under rcu_read_lock (the entries it dereferences
 * stay valid until it unlocks), READ_ONCE each slot and hand the non-empty ones to `slot`.
 * Syscall path; runs in the thread that dropped the map file's last reference. Its call_rcu
 * records are queued in one batch.
 */
export function fd_array_release_walk(k: Kctx, map: number, mapFile: number, slot: ReleaseSlot): void {
  const opened = call_rcu_batch_begin(k);
  try {
    const owner = file_serial(k, mapFile);
    const max = map_max_entries(k, map);
    const a = k.a;
    // array->ptrs, read once: the slot's word is handed down, not recomputed from the map record
    // after each exchange (a tenth of a 4096-slot purge in alternating runs)
    const ptrs = slot_word(k, map, 0);
    rcu_read_lock(k, k.task);
    try {
      for (let i = 0; i < max; i++) {
        const h = a.loadAcquire(ptrs + i); // READ_ONCE(array->ptrs[i])
        if (h !== 0) slot(k, map, mapFile, owner, i, h, ptrs + i);
      }
    } finally {
      rcu_read_unlock(k, k.task);
    }
  } finally {
    if (opened) call_rcu_batch_end(k);
  }
}

/**
 * perf_event_fd_array_release's slot (4.8+): `ee->map_file == map_file`, then
 * __fd_array_map_delete_elem, which exchanges the slot with NULL unconditionally: another
 * frontend's update between the load and the exchange is removed too (we count it).
 */
function release_own_slot(k: Kctx, map: number, mapFile: number, owner: number, index: number, h: number, word: number): void {
  if (entry_owner(k, h - 1) !== owner) return;
  const loaded = k.hooks.purgeLoaded;
  if (loaded) loaded({ map, index, entry: h - 1 });
  purge_delete_slot(k, map, mapFile, index, h, word, false);
}

/**
 * perfemu's strict purge (not kernel behaviour): compare-and-exchange the slot with the entry
 * it checked, so a purge never removes an entry it did not add.
 */
function release_own_slot_strict(k: Kctx, map: number, mapFile: number, owner: number, index: number, h: number, word: number): void {
  if (entry_owner(k, h - 1) !== owner) return;
  k.hooks.purgeLoaded?.({ map, index, entry: h - 1 });
  if (k.a.cmpxchg(word, h, 0) !== h) return;
  ops_of(k).map_fd_put_ptr(k, h - 1, true);
  k.hooks.purged?.({ map, index, loaded: h - 1, removed: h - 1, file: mapFile }); // after the put, as purge_delete_slot tells it
}

/** perf_event_fd_array_release (4.8+): PRESERVE_ELEMS maps (5.10+) keep their entries */
function perf_event_fd_array_release(k: Kctx, map: number, mapFile: number): void {
  if (k.b.preserveElems && map_flags(k, map) & BPF_F_PRESERVE_ELEMS) return;
  fd_array_release_walk(k, map, mapFile, release_own_slot);
}

/** the same release with perfemu's strict slot */
function perf_event_fd_array_release_strict(k: Kctx, map: number, mapFile: number): void {
  if (k.b.preserveElems && map_flags(k, map) & BPF_F_PRESERVE_ELEMS) return;
  fd_array_release_walk(k, map, mapFile, release_own_slot_strict);
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
  if (old !== 0) ops_of(k).map_fd_put_ptr(k, old - 1, true);
  return 0;
}

/**
 * __fd_array_map_delete_elem: exchange the slot with NULL and put what came back (deferred
 * when `needDefer`). Returns what it removed (entry + 1), or 0 when the slot was already empty
 * (the kernel returns -ENOENT there; fd_array_map_delete_elem does). `word` is the slot's word,
 * array->ptrs + index, which the purge's walk has at hand.
 */
export function __fd_array_map_delete_elem(k: Kctx, map: number, index: number, needDefer: boolean, word = slot_word(k, map, index)): number {
  const old = k.a.xchg(word, 0);
  if (old !== 0) ops_of(k).map_fd_put_ptr(k, old - 1, needDefer);
  return old;
}

/**
 * The release purge's delete of slot `index` (its word `word`), which it loaded as `loaded`:
 * __fd_array_map_delete_elem, then what perfemu records of it, which changes nothing in the
 * slot: an entry removed that is not the one checked (a concurrent update got in: the purge
 * window) or not the purging file's own (`foreign`, which only a broken purge deletes) is
 * counted in H_FOREIGN_PURGED, and the `purged` hook is told.
 */
export function purge_delete_slot(k: Kctx, map: number, mapFile: number, index: number, loaded: number, word: number, foreign: boolean): void {
  const old = __fd_array_map_delete_elem(k, map, index, true, word);
  if (old === 0) return;
  if (old !== loaded || foreign) k.a.add(H_FOREIGN_PURGED, 1);
  const purged = k.hooks.purged;
  if (purged) purged({ map, index, loaded: loaded - 1, removed: old - 1, file: mapFile });
}

/** fd_array_map_delete_elem: any frontend may delete any owner's entry */
function fd_array_map_delete_elem(k: Kctx, map: number, index: number): number {
  if (index >= map_max_entries(k, map)) return -E2BIG;
  return __fd_array_map_delete_elem(k, map, index, true) === 0 ? -ENOENT : 0;
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

/**
 * fd_array_map_free: every slot must already be empty (the kernel BUG_ONs; 4.7 cleared them just
 * before). 4.7 and 4.8 first wait for a grace period: the `yield` is that synchronize_rcu (rcu.ts, SleepingWork).
 */
function* fd_array_map_free(k: Kctx, map: number): SleepingWork {
  if (k.b.mapFreeSynchronizeRcu) yield; // synchronize_rcu()
  const max = map_max_entries(k, map);
  for (let i = 0; i < max; i++) {
    const h = k.a.load(slot_word(k, map, i));
    if (h !== 0) report_violation(k, 'map-free-not-empty', -1, map, i, h - 1);
  }
}

/** perf_event_array_map_free of 4.7: clear every slot (immediate fputs), then the generic fd_array_map_free */
function* perf_event_array_map_free_v47(k: Kctx, map: number): SleepingWork {
  bpf_fd_array_map_clear(k, map);
  yield* fd_array_map_free(k, map); // 4.7's fd_array_map_free: synchronize_rcu, then every slot must be empty
}

/** perf_event_fd_array_map_free (5.10+): PRESERVE_ELEMS maps are cleared first */
function* perf_event_fd_array_map_free(k: Kctx, map: number): SleepingWork {
  if (map_flags(k, map) & BPF_F_PRESERVE_ELEMS) bpf_fd_array_map_clear(k, map);
  yield* fd_array_map_free(k, map);
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
  return (k.ops ??= choose_ops(k)) as BpfMapOps;
}
/** the correct kernel's table for this version and purge */
export function base_ops(k: Kctx): BpfMapOps {
  return !k.b.releasePurges
    ? perf_event_array_map_ops_v47
    : !k.b.preserveElems
      ? k.strict
        ? perf_event_array_map_ops_v48_strict
        : perf_event_array_map_ops_v48
      : k.strict
        ? perf_event_array_map_ops_strict
        : perf_event_array_map_ops;
}
function choose_ops(k: Kctx): BpfMapOps {
  const base = base_ops(k);
  if (k.fault === 0) return base;
  if (!composeFaultOps) throw new Error('a fault is injected but kernel/faults.ts is not loaded');
  return composeFaultOps(k, base);
}

/**
 * How an injected fault changes the table. The broken variants live in kernel/faults.ts,
 * which registers here when it loads: arraymap.ts knows nothing of them. Set once per
 * thread at module load; every kernel of the thread reads the same function, so it is not
 * per-kernel state.
 */
let composeFaultOps: ((k: Kctx, base: BpfMapOps) => BpfMapOps) | null = null;
export function register_fault_ops(compose: (k: Kctx, base: BpfMapOps) => BpfMapOps): void {
  composeFaultOps = compose;
}

// ---------------------------------------------------------------------------------------
// Creation: map_alloc_check and map_alloc per map type (array_map_ops, perf_event_array_map_ops)

const ARRAY_CREATE_FLAG_MASK =
  BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;

/** array_map_alloc_check (5.10+); 4.7/4.8's array_map_alloc refused any map_flags bit */
function array_map_alloc_check(k: Kctx, attr: MapCreateAttr): number {
  const f = attr.mapFlags;
  if (!k.b.preserveElems) {
    return attr.maxEntries === 0 || attr.keySize !== 4 || attr.valueSize === 0 || f ? -EINVAL : 0;
  }
  if (attr.maxEntries === 0 || attr.keySize !== 4 || attr.valueSize === 0 || f & ~ARRAY_CREATE_FLAG_MASK || (f & BPF_F_RDONLY_PROG && f & BPF_F_WRONLY_PROG))
    return -EINVAL;
  if (attr.mapType !== BPF_MAP_TYPE_ARRAY && f & (BPF_F_MMAPABLE | BPF_F_INNER_MAP)) return -EINVAL;
  if (attr.mapType !== BPF_MAP_TYPE_PERF_EVENT_ARRAY && f & BPF_F_PRESERVE_ELEMS) return -EINVAL;
  return 0;
}

/** fd_array_map_alloc_check: a 4-byte fd as the value (5.10+: no program access flags), then the array's */
function fd_array_map_alloc_check(k: Kctx, attr: MapCreateAttr): number {
  if (attr.valueSize !== 4) return -EINVAL;
  if (k.b.preserveElems && attr.mapFlags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) return -EINVAL;
  return array_map_alloc_check(k, attr);
}

/** array_map_alloc's size limit: the array (8 bytes an element) must stay below 4 GiB - PAGE_SIZE */
function array_map_alloc_size(attr: MapCreateAttr): number {
  return attr.maxEntries * 8 + 64 >= 0x1_0000_0000 - PAGE_SIZE ? -ENOMEM : 0;
}

/** array_map_alloc of a plain ARRAY: its errno is right, the map itself is not modelled */
function array_map_alloc(_k: Kctx, attr: MapCreateAttr): number {
  return array_map_alloc_size(attr) || MAP_TYPE_NOT_MODELLED;
}

/** fd_array_map_alloc -> array_map_alloc: the map record and its slots, all NULL */
function fd_array_map_alloc(k: Kctx, attr: MapCreateAttr): number {
  const err = array_map_alloc_size(attr);
  if (err) return err;
  const a = k.a;
  let map: number;
  let slots: number;
  a.lock();
  try {
    map = a.allocRecord('map', S_LIVE);
    if (map < 0) return -ENOMEM;
    slots = a.allocExtent(a.L.slotExtentBase, a.L.maxSlots, attr.maxEntries);
    if (slots < 0) {
      a.store(mapWord(k.a.L, map, M_STATE), 0);
      return -ENOMEM;
    }
  } finally {
    a.unlock();
  }
  const i32 = a.i32;
  const base = slotRegionWord(a.L, slots);
  for (let i = 0; i < attr.maxEntries; i++) a.store(base + i, 0);
  i32[mapWord(k.a.L, map, M_ID)] = a.add(H_NEXT_MAP_ID, 1) + 1;
  i32[mapWord(k.a.L, map, M_TYPE)] = attr.mapType;
  i32[mapWord(k.a.L, map, M_KEY_SIZE)] = attr.keySize;
  i32[mapWord(k.a.L, map, M_VALUE_SIZE)] = attr.valueSize;
  i32[mapWord(k.a.L, map, M_MAX_ENTRIES)] = attr.maxEntries;
  // bpf_map_flags_retain_permanent: the access bits belong to the fd, not the map
  i32[mapWord(k.a.L, map, M_FLAGS)] = attr.mapFlags & ~(BPF_F_RDONLY | BPF_F_WRONLY);
  i32[mapWord(k.a.L, map, M_SLOT_BASE)] = base;
  a.store(mapWord(k.a.L, map, M_REFCNT), 1);
  a.store(mapWord(k.a.L, map, M_USERCNT), 1);
  return map;
}

/** the map types map_create knows (include/linux/bpf_types.h, the two this emulator checks) */
export const BPF_MAP_TYPES: Readonly<Record<number, BpfMapType>> = {
  [BPF_MAP_TYPE_ARRAY]: { map_alloc_check: array_map_alloc_check, map_alloc: array_map_alloc },
  [BPF_MAP_TYPE_PERF_EVENT_ARRAY]: { map_alloc_check: fd_array_map_alloc_check, map_alloc: fd_array_map_alloc },
};
