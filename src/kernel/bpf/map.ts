/**
 * struct bpf_map and struct bpf_event_entry records in the arena (include/linux/bpf.h):
 * field access only. The operations are in arraymap.ts and syscall.ts.
 */
import * as layout from '../../arena/layout.js';
import { entryWord, mapWord } from '../../arena/records.js';
import type { Kctx } from '../context.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const { EE_EVENT, EE_GEN, EE_MAP_FILE, EE_MAP_FILE_SERIAL, EE_PERF_FILE, M_FLAGS, M_ID, M_MAX_ENTRIES, M_SLOT_BASE, M_STATE } = layout;

export function map_max_entries(k: Kctx, map: number): number {
  return k.a.i32[mapWord(k.a.L, map, M_MAX_ENTRIES)]! >>> 0;
}
/** the map's id (bpf_map->id), as BPF_OBJ_GET_INFO_BY_FD and inspect() show it */
export function map_id(k: Kctx, map: number): number {
  return k.a.i32[mapWord(k.a.L, map, M_ID)]!;
}
export function map_flags(k: Kctx, map: number): number {
  return k.a.i32[mapWord(k.a.L, map, M_FLAGS)]!;
}
/** word index of slot `index` of the map (array->ptrs[index]) */
export function slot_word(k: Kctx, map: number, index: number): number {
  return k.a.i32[mapWord(k.a.L, map, M_SLOT_BASE)]! + index;
}
export function map_state(k: Kctx, map: number): number {
  return k.a.load(mapWord(k.a.L, map, M_STATE));
}

export function entry_event(k: Kctx, entry: number): number {
  return k.a.i32[entryWord(k.a.L, entry, EE_EVENT)]!;
}
export function entry_perf_file(k: Kctx, entry: number): number {
  return k.a.i32[entryWord(k.a.L, entry, EE_PERF_FILE)]!;
}
export function entry_map_file(k: Kctx, entry: number): number {
  return k.a.i32[entryWord(k.a.L, entry, EE_MAP_FILE)]!;
}
/** the owner identity: serial of the map file that added the entry */
export function entry_owner(k: Kctx, entry: number): number {
  return k.a.i32[entryWord(k.a.L, entry, EE_MAP_FILE_SERIAL)]!;
}
export function entry_gen(k: Kctx, entry: number): number {
  return k.a.load(entryWord(k.a.L, entry, EE_GEN));
}
