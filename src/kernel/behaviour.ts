/**
 * Kernel versions as data (docs/semantics.md, "Differences by version"). Every behaviour that changed
 * across kernels is a named field read here, never a version comparison inside an op.
 * Structural differences (whether a map type has `map_release`, which `map_free` it uses)
 * are ops tables chosen in kernel/bpf/arraymap.ts (ops_of) from these fields.
 */
import { EINVAL, ENODEV, ENOENT, ENOSPC, ENOTSUPP, EOPNOTSUPP } from './errno.js';

export type KernelVersion = '4.7' | '4.8' | '5.10' | '6.18';
export const KERNEL_VERSIONS: readonly KernelVersion[] = ['4.7', '4.8', '5.10', '6.18'];
export const kDefaultKernelVersion: KernelVersion = '6.18';

// map_flags bits (include/uapi/linux/bpf.h)
export const BPF_F_NUMA_NODE = 1 << 2;
export const BPF_F_RDONLY = 1 << 3;
export const BPF_F_WRONLY = 1 << 4;
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_WRONLY_PROG = 1 << 8;
export const BPF_F_MMAPABLE = 1 << 10;
export const BPF_F_PRESERVE_ELEMS = 1 << 11;
export const BPF_F_INNER_MAP = 1 << 12;
export const BPF_F_PATH_FD = 1 << 14;
export const BPF_F_LOCK = 4; // element flag of update/lookup
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
/** the all-ones index of bpf_perf_event_output's flags: "this CPU" */
export const BPF_F_CURRENT_CPU = 0xffffffff;
export const BPF_F_INDEX_MASK = 0xffffffff;

export interface KernelBehaviour {
  readonly version: KernelVersion;
  /** stored in the arena header */
  readonly code: number;
  /** map_release exists: a map file's last close purges the entries it added (3b1efb196eee) */
  readonly releasePurges: boolean;
  /** entry puts go through call_rcu (4.8+); 4.7 fputs the perf file at once */
  readonly putDeferred: boolean;
  /**
   * fd_array_map_free calls synchronize_rcu before asserting the slots are empty (4.7 and 4.8;
   * 4.7's perf_event_array_map_free clears the slots first, then calls it)
   */
  readonly mapFreeSynchronizeRcu: boolean;
  /** BPF_F_PRESERVE_ELEMS exists (5.10+) */
  readonly preserveElems: boolean;
  /** map_flags a perf event array accepts at creation */
  readonly createFlags: number;
  /** RDONLY/WRONLY frontends and frozen maps exist: update/delete/lookup check the file mode */
  readonly fileModes: boolean;
  /** BPF_MAP_FREEZE exists */
  readonly freeze: boolean;
  /** BPF_MAP_GET_FD_BY_ID exists (4.13+) */
  readonly mapGetFdById: boolean;
  /** a writable fd is required to freeze (6.18; 5.10 does not check) */
  readonly freezeNeedsWrite: boolean;
  /** errno of a user-space lookup on a perf event array (ENOENT, later ENOTSUPP) */
  readonly lookupErrno: number;
  /** lookup flags: bits other than BPF_F_LOCK are EINVAL before the map fd is resolved */
  readonly lookupFlagsChecked: boolean;
  /** update accepts only RAW, HARDWARE and SW/BPF_OUTPUT events, inherit -> EINVAL (4.7/4.8);
   *  otherwise any type, inherit -> EOPNOTSUPP */
  readonly updateChecksEventType: boolean;
  readonly updateInheritErrno: number;
  /** what the output helper returns when the ring is full, absent or paused: 0 (void
   *  perf_event_output, 4.x) or -ENOSPC */
  readonly outputNoRoomErrno: number;
  /** helper nesting limit per CPU (0: none); deeper calls get EBUSY */
  readonly nestLimit: number;
  /** PERF_COUNT_SW_MAX: 11 up to 5.10 (BPF_OUTPUT = 10), 12 from 5.13 (CGROUP_SWITCHES) */
  readonly swCountMax: number;
  /** bpf_perf_event_read resolves BPF_F_CURRENT_CPU (4.8+; 4.7 takes the index as given) */
  readonly readCurrentCpu: boolean;
  /** bpf_perf_event_read accepts only HARDWARE and RAW events bound to this CPU (4.x), rather
   *  than perf_event_read_local's rules (inherit EOPNOTSUPP, another CPU's event EINVAL) */
  readonly readChecksType: boolean;
  /** bpf_perf_event_read_value exists (4.15+) */
  readonly readValue: boolean;
  /** a zero-size output is allowed (the 4.x verifier rejects size 0: we return EINVAL) */
  readonly zeroSizeOutput: boolean;
  /** sample padding bytes are written as zeros (4.7) rather than skipped */
  readonly zeroPadding: boolean;
  /** get_next_key accepts a NULL key (treated as "start"); else EFAULT */
  readonly nextKeyNull: boolean;
  /** BPF_OBJ_GET file_flags accepted */
  readonly objGetFlags: number;
  /** BPF_OBJ_PIN file_flags accepted */
  readonly objPinFlags: number;
  /** the pin's map reference is dropped from an RCU callback on unlink (5.10 .free_inode) */
  readonly unlinkDeferred: boolean;
  /** the unprivileged_bpf_disabled sysctl applies to every bpf() command (else only create/load) */
  readonly unprivCheckAllCommands: boolean;
  /** errno of mmap on a perf event array's fd: ENODEV while bpf_map_fops has no .mmap (4.x),
   *  then ENOTSUPP from bpf_map_mmap (5.5+: the map type has no map_mmap op) */
  readonly mapMmapErrno: number;
}

const v47: KernelBehaviour = {
  version: '4.7',
  code: 47,
  releasePurges: false,
  putDeferred: false,
  mapFreeSynchronizeRcu: true,
  preserveElems: false,
  createFlags: 0,
  fileModes: false,
  freeze: false,
  mapGetFdById: false,
  freezeNeedsWrite: false,
  lookupErrno: ENOENT,
  lookupFlagsChecked: false,
  updateChecksEventType: true,
  updateInheritErrno: EINVAL,
  outputNoRoomErrno: 0,
  nestLimit: 0,
  swCountMax: 11,
  readCurrentCpu: false,
  readChecksType: true,
  readValue: false,
  zeroSizeOutput: false,
  zeroPadding: true,
  nextKeyNull: false,
  objGetFlags: 0,
  objPinFlags: 0,
  unlinkDeferred: false,
  unprivCheckAllCommands: true,
  mapMmapErrno: ENODEV,
};
const v48: KernelBehaviour = {
  ...v47,
  version: '4.8',
  code: 48,
  releasePurges: true,
  putDeferred: true,
  mapFreeSynchronizeRcu: true,
  zeroPadding: false,
  readCurrentCpu: true,
};
const v510: KernelBehaviour = {
  ...v48,
  version: '5.10',
  code: 510,
  mapFreeSynchronizeRcu: false,
  preserveElems: true,
  createFlags: BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_PRESERVE_ELEMS,
  fileModes: true,
  freeze: true,
  mapGetFdById: true,
  freezeNeedsWrite: false,
  lookupErrno: ENOTSUPP,
  lookupFlagsChecked: true,
  updateChecksEventType: false,
  updateInheritErrno: EOPNOTSUPP,
  outputNoRoomErrno: ENOSPC,
  nestLimit: 3,
  readChecksType: false,
  readValue: true,
  zeroSizeOutput: true,
  nextKeyNull: true,
  objGetFlags: BPF_F_RDONLY | BPF_F_WRONLY,
  objPinFlags: 0,
  unlinkDeferred: true,
  mapMmapErrno: ENOTSUPP,
};
const v618: KernelBehaviour = {
  ...v510,
  version: '6.18',
  code: 618,
  freezeNeedsWrite: true,
  objGetFlags: BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_PATH_FD,
  objPinFlags: BPF_F_PATH_FD,
  unlinkDeferred: false,
  unprivCheckAllCommands: false,
  swCountMax: 12,
};

export const BEHAVIOURS: Readonly<Record<KernelVersion, KernelBehaviour>> = {
  '4.7': v47,
  '4.8': v48,
  '5.10': v510,
  '6.18': v618,
};

export function behaviourByCode(code: number): KernelBehaviour {
  for (const b of Object.values(BEHAVIOURS)) if (b.code === code) return b;
  throw new Error(`unknown kernel behaviour code ${code} in arena header`);
}
