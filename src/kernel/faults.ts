/**
 * Deliberately broken kernels: each fault swaps in one realistic bug, so the stress engine
 * can prove its invariants catch it. The ops-level faults are alternative functions placed in
 * the map's ops table (as a bad patch would change the table); the ring and RCU faults are one
 * guarded step inside the function they break (ring_buffer.ts, rcu.ts), marked FAULT there.
 *
 * The fault of an arena is fixed at Kernel.create({ inject }); the correct kernel has none.
 */
import { BEHAVIOURS, KERNEL_VERSIONS, type KernelBehaviour, type KernelVersion } from './behaviour.js';
import {
  FAULT_DOUBLE_DROP,
  FAULT_FREE_WITHOUT_GP,
  FAULT_GP_NO_WAIT,
  FAULT_LEAK_47,
  FAULT_PRODUCER_EARLY_HEAD,
  FAULT_PURGE_NO_OWNER_CHECK,
  FAULT_READER_EARLY_TAIL,
  FAULT_REPLACE_LEAK,
  FAULT_UPDATE_LOAD_STORE,
} from './fault_ids.js';
import type { Kctx } from './context.js';
import { fput } from './file.js';
import { RCU_CB, call_rcu, rcu_register } from './rcu.js';
import type { BpfMapOps } from './bpf/map_ops.js';
import {
  entry_mark_put,
  entry_recycle,
  fd_array_map_update_prepare,
  fd_array_release_walk,
  ops_of,
  purge_delete_slot,
  register_fault_ops,
} from './bpf/arraymap.js';
import { entry_owner, entry_perf_file, slot_word } from './bpf/map.js';

export interface FaultInfo {
  id: number;
  name: string;
  summary: string;
  /**
   * the name of the invariant that should catch it, as src/invariants/registry.ts names them
   * (the kernel does not import its testers; a test holds the two lists together)
   */
  invariant: string;
  /** the kernel the fault is about, when it is a kernel version rather than a patch */
  kernel?: KernelVersion;
  /**
   * the kernel feature the broken code is part of, when not every version has it (a fault in the
   * release purge cannot show on 4.7, which has none), and why
   */
  needs?: { feature: KernelFeature; why: string };
}

/** the features a kernel version has or lacks (the boolean fields of KernelBehaviour) */
type KernelFeature = { [K in keyof KernelBehaviour]: KernelBehaviour[K] extends boolean ? K : never }[keyof KernelBehaviour];

/** the versions whose kernel has the code fault `f` breaks */
export function fault_kernels(f: FaultInfo): readonly KernelVersion[] {
  return KERNEL_VERSIONS.filter((v) => fault_exists_on(f, v));
}

/**
 * The kernel a run with fault `f` (if any) uses, given the version asked for: the fault's own
 * when it is a kernel version itself (leak-4.7), else the one asked for. Or why there is none:
 * `own` (the fault is kernel `want[0]` itself and another was asked for explicitly) or `absent`
 * (the version lacks the code the fault breaks; it shows on `want`). The one rule for every
 * entry point (stress, explore, campaign, replay files); each words it in its own terms.
 */
export function fault_run_kernel(
  f: FaultInfo | undefined,
  kernel: KernelVersion,
  kernelGiven: boolean,
): { kernel: KernelVersion } | { problem: 'own' | 'absent'; want: readonly KernelVersion[] } {
  if (f?.kernel !== undefined) return kernelGiven && kernel !== f.kernel ? { problem: 'own', want: [f.kernel] } : { kernel: f.kernel };
  if (f && !fault_exists_on(f, kernel)) return { problem: 'absent', want: fault_kernels(f) };
  return { kernel };
}

/** whether `kernel` has the code fault `f` breaks (so that injecting it there can show) */
export function fault_exists_on(f: FaultInfo, kernel: KernelVersion): boolean {
  return !f.needs || BEHAVIOURS[kernel][f.needs.feature];
}

export const FAULTS: readonly FaultInfo[] = [
  {
    id: FAULT_FREE_WITHOUT_GP,
    name: 'free-without-gp',
    invariant: 'use-after-free',
    summary: 'an entry put frees the entry and drops its perf file at once, without waiting for a grace period',
  },
  {
    id: FAULT_PURGE_NO_OWNER_CHECK,
    name: 'purge-no-owner-check',
    invariant: 'release',
    summary: "map_release purges every entry, not only the releasing map file's",
    needs: { feature: 'releasePurges', why: 'it breaks the release purge, which 4.7 does not have' },
  },
  {
    id: FAULT_REPLACE_LEAK,
    name: 'replace-leak',
    invariant: 'references',
    summary: 'an update that replaces a slot forgets to put the old entry (its perf file reference leaks)',
  },
  { id: FAULT_DOUBLE_DROP, name: 'double-drop', invariant: 'references', summary: "the entry's RCU callback drops the perf file reference twice" },
  {
    id: FAULT_UPDATE_LOAD_STORE,
    name: 'update-load-store',
    invariant: 'references',
    summary: 'an update loads the slot, then stores the new entry (no exchange): a racing update or delete is lost or put twice',
  },
  {
    id: FAULT_READER_EARLY_TAIL,
    name: 'reader-early-tail',
    invariant: 'provenance',
    summary: 'the ring reader publishes data_tail before copying the records out',
  },
  {
    id: FAULT_PRODUCER_EARLY_HEAD,
    name: 'producer-early-head',
    invariant: 'provenance',
    summary: 'the producer publishes data_head before writing the record',
  },
  { id: FAULT_GP_NO_WAIT, name: 'gp-no-wait', invariant: 'use-after-free', summary: 'a grace period ends without waiting for the CPUs in a read-side section' },
  {
    id: FAULT_LEAK_47,
    name: 'leak-4.7',
    invariant: 'leaked-events',
    kernel: '4.7',
    summary: "kernel 4.7, before 3b1efb196eee: an exited app's perf events stay held by the pinned map",
  },
];

export function faultByName(name: string): FaultInfo | undefined {
  return FAULTS.find((f) => f.name === name);
}

// ---------------------------------------------------------------------------------------
// The broken ops

/** FAULT_FREE_WITHOUT_GP: free the entry and its reference now, while CPUs may hold it */
function put_ptr_without_gp(k: Kctx, ee: number, _needDefer: boolean): void {
  if (!entry_mark_put(k, ee)) return;
  fput(k, entry_perf_file(k, ee));
  entry_recycle(k, ee);
}

/** FAULT_DOUBLE_DROP: the RCU callback drops the reference twice */
function put_ptr_double_drop(k: Kctx, ee: number, _needDefer: boolean): void {
  if (!entry_mark_put(k, ee)) return;
  call_rcu(k, RCU_CB.ENTRY_FREE_TWICE, ee);
}
rcu_register(RCU_CB.ENTRY_FREE_TWICE, (k, ee) => {
  fput(k, entry_perf_file(k, ee));
  fput(k, entry_perf_file(k, ee));
  entry_recycle(k, ee);
});

/** FAULT_REPLACE_LEAK: bpf_fd_array_map_update_elem without the put of the old entry */
function update_replace_leak(k: Kctx, map: number, mapFile: number, index: number, perfFile: number, flags: number): number {
  const ee = fd_array_map_update_prepare(k, map, mapFile, index, perfFile, flags);
  if (ee < 0) return ee;
  k.a.xchg(slot_word(k, map, index), ee + 1); // the old entry is dropped on the floor
  return 0;
}

/** FAULT_UPDATE_LOAD_STORE: load, (be preempted), store: not one atomic exchange */
function update_load_store(k: Kctx, map: number, mapFile: number, index: number, perfFile: number, flags: number): number {
  const ee = fd_array_map_update_prepare(k, map, mapFile, index, perfFile, flags);
  if (ee < 0) return ee;
  const w = slot_word(k, map, index);
  const old = k.a.load(w);
  Atomics.wait(k.a.i32, w, old, 0.05); // preempted between the load and the store
  k.a.store(w, ee + 1);
  if (old !== 0) ops_of(k).map_fd_put_ptr(k, old - 1, true);
  return 0;
}

/** FAULT_PURGE_NO_OWNER_CHECK's slot: every loaded entry is deleted, whoever added it */
function release_any_slot(k: Kctx, map: number, mapFile: number, owner: number, index: number, h: number, word: number): void {
  k.hooks.purgeLoaded?.({ map, index, entry: h - 1 });
  purge_delete_slot(k, map, mapFile, index, h, word, entry_owner(k, h - 1) !== owner);
}
function release_no_owner_check(k: Kctx, map: number, mapFile: number): void {
  fd_array_release_walk(k, map, mapFile, release_any_slot);
}

const tables = new Map<string, BpfMapOps>();
/**
 * `base` (the correct kernel's table, arraymap.ts) with this arena's fault swapped in; `base`
 * itself for faults that are not in the table. Registered with arraymap.ts at load.
 */
export function faulty_ops(k: Kctx, base: BpfMapOps): BpfMapOps {
  const key = `${base.name}#${k.fault}`;
  let t = tables.get(key);
  if (t) return t;
  switch (k.fault) {
    case FAULT_FREE_WITHOUT_GP:
      t = { ...base, map_fd_put_ptr: put_ptr_without_gp };
      break;
    case FAULT_DOUBLE_DROP:
      t = { ...base, map_fd_put_ptr: put_ptr_double_drop };
      break;
    case FAULT_REPLACE_LEAK:
      t = { ...base, map_update_elem: update_replace_leak };
      break;
    case FAULT_UPDATE_LOAD_STORE:
      t = { ...base, map_update_elem: update_load_store };
      break;
    case FAULT_PURGE_NO_OWNER_CHECK:
      t = base.map_release ? { ...base, map_release: release_no_owner_check } : base;
      break;
    default:
      t = base;
  }
  if (t !== base) t = { ...t, name: `${base.name} + fault ${FAULTS.find((f) => f.id === k.fault)?.name}` };
  tables.set(key, t);
  return t;
}
register_fault_ops(faulty_ops);
