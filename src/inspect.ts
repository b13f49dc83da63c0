/**
 * kernel.inspect(): a plain-data snapshot of the arena. Each word is read atomically, but the
 * snapshot as a whole is not: with CPUs or other threads running, it may be stale by the time
 * it is printed (a slot shown occupied may already be purged), as any /proc read would be.
 */
import {
  C_E2BIG,
  C_EBUSY,
  C_EINVAL,
  C_ENOENT,
  C_ENOSPC,
  C_EOPNOTSUPP,
  C_LOST,
  C_NORB,
  C_OUTPUTS,
  E_CONFIG,
  E_CPU,
  E_FILE,
  E_ID,
  E_LOST_SAMPLES,
  E_MMAPS,
  E_ONCPU,
  E_RB,
  E_STATE,
  E_TYPE,
  F_COUNT,
  F_KIND,
  F_MODE,
  F_OBJ,
  F_SERIAL,
  F_STATE,
  FILE_KIND_EPOLL,
  FILE_KIND_MAP,
  FILE_KIND_PERF,
  FILE_KIND_PROG,
  FMODE_READ,
  FMODE_WRITE,
  H_FOREIGN_PURGED,
  M_FLAGS,
  M_FROZEN,
  M_ID,
  M_MAX_ENTRIES,
  M_REFCNT,
  M_STATE,
  M_USERCNT,
  P_STATE,
  S_DEAD,
  S_LIVE,
  S_RCU,
  EE_STATE,
  PAGE_SIZE,
} from './arena/layout.js';
import { cpuWord, entryWord, eventWord, fileWord, mapWord, progWord } from './arena/records.js';
import type { Kctx } from './kernel/context.js';
import { entry_event, entry_owner, slot_word } from './kernel/bpf/map.js';
import { list_pins } from './kernel/bpf/inode.js';
import { prog_id, prog_maps, prog_refcnt } from './kernel/bpf/core.js';
import { rcu_gp_seq, rcu_pending } from './kernel/rcu.js';
import { rb_state } from './kernel/ring_buffer.js';
import { readViolations, type Violation } from './invariants/registry.js';

export interface SlotSnapshot {
  /** perf event id */
  event: number;
  /** id of the map file that added the entry (its owner) */
  owner: number;
}
export interface MapSnapshot {
  id: number;
  alive: boolean;
  maxEntries: number;
  flags: number;
  refcnt: number;
  usercnt: number;
  frozen: boolean;
  slots: (SlotSnapshot | null)[];
}
export interface PerfEventSnapshot {
  id: number;
  cpu: number;
  oncpu: number;
  type: number;
  config: number;
  alive: boolean;
  /** f_count of its file (fds, slots' entries, mappings); 0 once freed */
  fileRefs: number;
  /** id of its file */
  file: number;
  mmaps: number;
  lostSamples: number;
  ring: { pages: number; head: number; tail: number; lostPending: number } | null;
}
export interface FileSnapshot {
  id: number;
  kind: 'map' | 'perf_event' | 'prog' | 'epoll' | 'regular';
  /** id of the map, perf event or program */
  object: number;
  refs: number;
  mode: 'rw' | 'r' | 'w' | '-';
}
export interface KernelSnapshot {
  version: string;
  strict: boolean;
  cpus: number;
  maps: MapSnapshot[];
  perfEvents: PerfEventSnapshot[];
  files: FileSnapshot[];
  pins: { path: string; kind: 'map' | 'prog'; object: number }[];
  progs: { id: number; alive: boolean; refcnt: number; maps: number[] }[];
  /** entries put and waiting for their grace period */
  entriesPendingFree: number;
  /** RCU callbacks waiting for a grace period (entry and ring frees, program frees, ...) */
  rcu: { gpSeq: number; pending: { kind: string; arg: number; gp: number }[] };
  /**
   * Work queued and not yet run: `bpf_map_free_deferred` for a map whose last reference is
   * gone (`object` is the map id). It runs from rcuTick / rcuBarrier / the CPU pool's ticker.
   */
  work: { kind: string; object: number }[];
  cpuCounters: CpuCounters[];
  /** purges that removed an entry another frontend had just put in the slot (docs/semantics.md, "The purge window") */
  foreignEntriesPurged: number;
  violations: Violation[];
}
export interface CpuCounters {
  cpu: number;
  outputs: number;
  lost: number;
  noRing: number;
  EINVAL: number;
  E2BIG: number;
  ENOENT: number;
  EOPNOTSUPP: number;
  ENOSPC: number;
  EBUSY: number;
}

const KIND_NAMES = { [FILE_KIND_MAP]: 'map', [FILE_KIND_PERF]: 'perf_event', [FILE_KIND_PROG]: 'prog', [FILE_KIND_EPOLL]: 'epoll' } as const;

export function inspect(k: Kctx): KernelSnapshot {
  const a = k.a;
  const L = a.L;
  const i32 = a.i32;
  const fileId = (f: number): number => i32[fileWord(L, f, F_SERIAL)]!;
  const mapId = (m: number): number => i32[mapWord(L, m, M_ID)]!;
  const eventId = (e: number): number => i32[eventWord(L, e, E_ID)]!;

  // Each table is visited through its in-use bitmap: the cost is the records in use, not the
  // table size (a script may call inspect() after every step).
  const maps: MapSnapshot[] = [];
  a.forEachInUse('map', (m) => {
    const at = mapWord(L, m, 0);
    const st = a.load(at + M_STATE);
    if (st !== S_LIVE && st !== S_DEAD) return;
    const max = i32[at + M_MAX_ENTRIES]!;
    const slots: (SlotSnapshot | null)[] = [];
    if (st === S_LIVE) {
      for (let i = 0; i < max; i++) {
        const h = a.load(slot_word(k, m, i));
        slots.push(h === 0 ? null : { event: eventId(entry_event(k, h - 1)), owner: entry_owner(k, h - 1) });
      }
    }
    maps.push({
      id: i32[at + M_ID]!,
      alive: st === S_LIVE,
      maxEntries: max,
      flags: i32[at + M_FLAGS]!,
      refcnt: a.load(at + M_REFCNT),
      usercnt: a.load(at + M_USERCNT),
      frozen: a.load(at + M_FROZEN) === 1,
      slots,
    });
  });

  const perfEvents: PerfEventSnapshot[] = [];
  a.forEachInUse('event', (e) => {
    const at = eventWord(L, e, 0);
    const st = a.load(at + E_STATE);
    if (st !== S_LIVE && st !== S_DEAD) return;
    const f = i32[at + E_FILE]!;
    const rb = a.load(at + E_RB);
    const rs = rb >= 0 ? rb_state(k, rb) : null;
    perfEvents.push({
      id: i32[at + E_ID]!,
      cpu: i32[at + E_CPU]!,
      oncpu: a.load(at + E_ONCPU),
      type: i32[at + E_TYPE]!,
      config: i32[at + E_CONFIG]!,
      alive: st === S_LIVE,
      fileRefs: st === S_LIVE ? a.load(fileWord(L, f, F_COUNT)) : 0,
      file: fileId(f),
      mmaps: a.load(at + E_MMAPS),
      lostSamples: a.load(at + E_LOST_SAMPLES),
      ring: rs ? { pages: rs.size / PAGE_SIZE, head: rs.head, tail: rs.tail, lostPending: rs.lostPending } : null,
    });
  });

  const files: FileSnapshot[] = [];
  a.forEachInUse('file', (f) => {
    const at = fileWord(L, f, 0);
    if (a.load(at + F_STATE) !== S_LIVE) return;
    const kind = i32[at + F_KIND]!;
    const obj = i32[at + F_OBJ]!;
    const mode = i32[at + F_MODE]!;
    files.push({
      id: i32[at + F_SERIAL]!,
      kind: (KIND_NAMES as Record<number, FileSnapshot['kind']>)[kind] ?? 'regular',
      object: kind === FILE_KIND_MAP ? mapId(obj) : kind === FILE_KIND_PERF ? eventId(obj) : kind === FILE_KIND_PROG ? prog_id(k, obj) : 0,
      refs: a.load(at + F_COUNT),
      mode: mode === (FMODE_READ | FMODE_WRITE) ? 'rw' : mode === FMODE_READ ? 'r' : mode === FMODE_WRITE ? 'w' : '-',
    });
  });

  const progs: KernelSnapshot['progs'] = [];
  a.forEachInUse('prog', (p) => {
    const st = a.load(progWord(L, p, P_STATE));
    if (st !== S_LIVE && st !== S_DEAD) return;
    progs.push({ id: prog_id(k, p), alive: st === S_LIVE, refcnt: prog_refcnt(k, p), maps: prog_maps(k, p).map(mapId) });
  });

  let entriesPendingFree = 0;
  a.forEachInUse('entry', (ee) => {
    if (a.load(entryWord(L, ee, EE_STATE)) === S_RCU) entriesPendingFree++;
  });

  const cpuCounters: CpuCounters[] = [];
  for (let c = 0; c < L.cpus; c++) {
    const at = cpuWord(L, c, 0);
    cpuCounters.push({
      cpu: c,
      outputs: a.load(at + C_OUTPUTS),
      lost: a.load(at + C_LOST),
      noRing: a.load(at + C_NORB),
      EINVAL: a.load(at + C_EINVAL),
      E2BIG: a.load(at + C_E2BIG),
      ENOENT: a.load(at + C_ENOENT),
      EOPNOTSUPP: a.load(at + C_EOPNOTSUPP),
      ENOSPC: a.load(at + C_ENOSPC),
      EBUSY: a.load(at + C_EBUSY),
    });
  }

  const queued = rcu_pending(k);
  return {
    version: k.b.version,
    strict: k.strict,
    cpus: L.cpus,
    maps,
    perfEvents,
    files,
    pins: list_pins(k).map((p) => ({
      path: p.path,
      kind: p.kind === FILE_KIND_MAP ? 'map' : 'prog',
      object: p.kind === FILE_KIND_MAP ? mapId(p.obj) : prog_id(k, p.obj),
    })),
    progs,
    entriesPendingFree,
    rcu: { gpSeq: rcu_gp_seq(k), pending: queued.filter((q) => !q.work).map(({ kind, arg, gp }) => ({ kind, arg, gp })) },
    work: queued.filter((q) => q.work).map((q) => ({ kind: q.kind, object: mapId(q.arg) })),
    cpuCounters,
    foreignEntriesPurged: a.load(H_FOREIGN_PURGED),
    violations: readViolations(k),
  };
}
