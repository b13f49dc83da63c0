/**
 * One accessor per record type of the arena (layout.ts): the word index of field `field` of
 * record `i`. This is the only place, beside layout.ts and the allocator (arena.ts), that
 * turns a table base, an index and a stride into an address; the kernel, inspect() and the
 * stress invariants all come through here, so a layout change is made once.
 *
 * Each accessor is a one-line function of plain numbers (and the layout object), so V8 inlines
 * it: the output hot path (kernel/bpf_trace.ts) uses them and compiles to the arithmetic it
 * had inline. Whether a word is then read with a plain load, Atomics.load or the arena's
 * acquire/release accessors stays the caller's choice (the role contract in layout.ts).
 */
import * as layout from './layout.js';
import { tableBase, tableCount, type Layout, type TableName } from './layout.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const {
  CPU_STRIDE,
  ENTRY_STRIDE,
  EPOLL_STRIDE,
  EP_WAKE,
  EVENT_STRIDE,
  FILE_STRIDE,
  HEADER_WORDS,
  M_MAX_ENTRIES,
  M_SLOT_BASE,
  M_STATE,
  MAP_STRIDE,
  PAGE_SIZE,
  PIN_STRIDE,
  PROG_STRIDE,
  RCU_CB_STRIDE,
  RCU_CPU_STRIDE,
  RCU_PER_CPU,
  S_FREE,
  TABLE_STRIDE,
  TABLES,
  VIOLATION_STRIDE,
} = layout;

/** struct file (F_*) */
export function fileWord(L: Layout, f: number, field: number): number {
  return L.fileBase + f * FILE_STRIDE + field;
}
/** struct perf_event (E_*) */
export function eventWord(L: Layout, e: number, field: number): number {
  return L.eventBase + e * EVENT_STRIDE + field;
}
/** struct bpf_map (M_*) */
export function mapWord(L: Layout, m: number, field: number): number {
  return L.mapBase + m * MAP_STRIDE + field;
}
/** a map slot (array->ptrs[index]): its map's M_SLOT_BASE word holds the first slot's index */
export function slotWord(slotBase: number, index: number): number {
  return slotBase + index;
}
/** unit `u` of the slot region (the slot allocator hands out units from L.slotBase) */
export function slotRegionWord(L: Layout, u: number): number {
  return L.slotBase + u;
}
/** the slot region unit at word `w` (the inverse of slotRegionWord, for the allocator) */
export function slotRegionOf(L: Layout, w: number): number {
  return w - L.slotBase;
}
/** struct bpf_event_entry (EE_*) */
export function entryWord(L: Layout, ee: number, field: number): number {
  return L.entryBase + ee * ENTRY_STRIDE + field;
}
/** struct bpf_prog (P_*) */
export function progWord(L: Layout, p: number, field: number): number {
  return L.progBase + p * PROG_STRIDE + field;
}
/** a bpffs inode (PN_*) */
export function pinWord(L: Layout, pin: number, field: number): number {
  return L.pinBase + pin * PIN_STRIDE + field;
}
/** the per-CPU block (C_*) */
export function cpuWord(L: Layout, cpu: number, field: number): number {
  return L.cpuBase + cpu * CPU_STRIDE + field;
}
/** an eventpoll instance (EP_*) */
export function epollWord(L: Layout, ep: number, field: number): number {
  return L.epollBase + ep * EPOLL_STRIDE + field;
}
/** word `field` of the epoll record whose EP_WAKE word is `wake` (E_EPOLL holds that word) */
export function epollWordOfWake(wake: number, field: number): number {
  return wake - EP_WAKE + field;
}
/** a ring's control words (RB_*): `rb` is the word index of the ring's control page (E_RB) */
export function ringWord(rb: number, field: number): number {
  return rb + field;
}
/** the first word of ring page `page` (pages are allocated from L.ringBase) */
export function ringPageWord(L: Layout, page: number): number {
  return L.ringBase + page * (PAGE_SIZE / 4);
}
/** the ring page whose first word is `w` (the inverse of ringPageWord) */
export function ringPageOf(L: Layout, w: number): number {
  return (w - L.ringBase) / (PAGE_SIZE / 4);
}
/** unit `u` of the ring page allocator's map (non-zero: the page is in use) */
export function ringExtentWord(L: Layout, u: number): number {
  return L.ringExtentBase + u;
}
/** the global RCU words (RCU_GP_SEQ, RCU_GP_REQ, ...) */
export function rcuWord(L: Layout, field: number): number {
  return L.rcuBase + field;
}
/** an RCU reader's words (RC_*): CPUs first, then task readers */
export function rcuReaderWord(L: Layout, reader: number, field: number): number {
  return L.rcuBase + RCU_PER_CPU + reader * RCU_CPU_STRIDE + field;
}
/** words of `n` call_rcu records, as a batch gathers them in the queue's layout */
export function rcuCallbackWords(n: number): number {
  return n * RCU_CB_STRIDE;
}
/** a call_rcu record (CB_*); `n` is a queue position, taken modulo the queue size */
export function rcuCallbackWord(L: Layout, n: number, field: number): number {
  return L.rcuQueueBase + (n % L.rcuQueue) * RCU_CB_STRIDE + field;
}
/** the violation log's header words (V_*) */
export function violationLogWord(L: Layout, field: number): number {
  return L.violationBase + field;
}
/** violation record `n` (VR_*) */
export function violationWord(L: Layout, n: number, field: number): number {
  return L.violationBase + 1 + n * VIOLATION_STRIDE + field;
}
/** field `field` of record `i` of any table (for walks over every table) */
export function recordWord(L: Layout, t: TableName, i: number, field: number): number {
  return tableBase(L, t) + i * TABLE_STRIDE[t] + field;
}

// ---------------------------------------------------------------------------------------
// The inverse: which record a word belongs to (for traces: the explorer names the words it
// schedules on).

/** where word `i` lies: a region, the record's index in it, and the field (word within it) */
export interface WordPlace {
  region: 'header' | TableName | 'slot' | 'rcu' | 'rcu reader' | 'rcu callback' | 'cpu' | 'violation' | 'ring page' | 'other';
  index: number;
  field: number;
}

export function wordPlace(L: Layout, i: number): WordPlace {
  const within = (region: WordPlace['region'], base: number, stride: number, count: number): WordPlace | null =>
    i >= base && i < base + stride * count ? { region, index: Math.floor((i - base) / stride), field: (i - base) % stride } : null;
  if (i < HEADER_WORDS) return { region: 'header', index: 0, field: i };
  for (const t of TABLES) {
    const p = within(t, tableBase(L, t), TABLE_STRIDE[t], tableCount(L, t));
    if (p) return p;
  }
  return (
    within('slot', L.slotBase, 1, L.maxSlots) ??
    within('rcu', L.rcuBase, RCU_PER_CPU, 1) ??
    within('rcu reader', L.rcuBase + RCU_PER_CPU, RCU_CPU_STRIDE, (L.rcuQueueBase - L.rcuBase - RCU_PER_CPU) / RCU_CPU_STRIDE) ??
    within('rcu callback', L.rcuQueueBase, RCU_CB_STRIDE, L.rcuQueue) ??
    within('cpu', L.cpuBase, CPU_STRIDE, L.cpus) ??
    within('violation', L.violationBase + 1, VIOLATION_STRIDE, L.violationLog) ??
    (i >= L.ringBase ? within('ring page', L.ringBase, PAGE_SIZE / 4, Infinity) : null) ?? { region: 'other', index: 0, field: i }
  );
}

/** the map whose slots include word `i`, and the slot's index, when the arena is at hand */
export function slotPlace(L: Layout, i32: Int32Array, i: number): { map: number; index: number } | null {
  for (let m = 0; m < L.maxMaps; m++) {
    const base = i32[mapWord(L, m, M_SLOT_BASE)]!;
    if (i32[mapWord(L, m, M_STATE)] !== S_FREE && i >= base && i < base + i32[mapWord(L, m, M_MAX_ENTRIES)]!) return { map: m, index: i - base };
  }
  return null;
}
