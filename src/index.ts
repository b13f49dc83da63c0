/** perfemu's public API: re-exports only. */
export { Kernel, Cpu, MAX_OUTPUT_BYTES, type KernelOptions, type ProgRef } from './emulator.js';
export { widenInlining, applyInliningSetting, inliningState, WIDE_INLINING, type InliningState } from './v8_inlining.js';
export { Process, BpfSyscalls, POLLIN, POLLHUP, RLIMIT_NOFILE, type PerfEventOpenOptions, type MapCreateOptions, type RingTarget } from './process/process.js';
export type { MmapOptions, OverwriteRecords, RingState } from './process/process.js';
export { SystemCallError, PerfemuError, CorruptRingError, ERR, isSystemCallError, type PerfemuErrorCode } from './errors.js';
export { ArenaError } from './arena/arena.js';
export type { SharedMemory } from './arena/wasm_atomics.js';
export type { KernelSnapshot, MapSnapshot, PerfEventSnapshot, FileSnapshot, SlotSnapshot, CpuCounters } from './inspect.js';
export type { KernelHooks } from './kernel/context.js';
export type { RingRecord, SampleFn, SampleAtFn, LostFn } from './consumer/ring_reader.js';
export type { Violation, ViolationKind } from './invariants/registry.js';
export {
  KERNEL_VERSIONS,
  type KernelVersion,
  BPF_ANY,
  BPF_NOEXIST,
  BPF_EXIST,
  BPF_F_CURRENT_CPU,
  BPF_F_INDEX_MASK,
  BPF_F_PRESERVE_ELEMS,
  BPF_F_RDONLY,
  BPF_F_WRONLY,
  BPF_F_RDONLY_PROG,
  BPF_F_WRONLY_PROG,
  BPF_F_MMAPABLE,
  BPF_F_NUMA_NODE,
  BPF_F_LOCK,
  BPF_F_INNER_MAP,
  BPF_F_PATH_FD,
} from './kernel/behaviour.js';
export {
  PERF_TYPE_HARDWARE,
  PERF_TYPE_SOFTWARE,
  PERF_TYPE_TRACEPOINT,
  PERF_TYPE_HW_CACHE,
  PERF_TYPE_RAW,
  PERF_TYPE_BREAKPOINT,
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_COUNT_SW_CPU_CLOCK,
} from './kernel/perf_event.js';
export { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY } from './kernel/bpf/syscall.js';
export { BPFFS_ROOT } from './kernel/bpf/inode.js';
export { PAGE_SIZE, PERF_RECORD_LOST, PERF_RECORD_SAMPLE } from './arena/layout.js';
export * as errno from './kernel/errno.js';
export { PerfBuffer, type PerfBufferOptions, type PerfBufferStats } from './consumer/perf_buffer.js';
export type { PerfBufferCpuStats, PerfBufferDetailedStats, PerfBufferFlushHandle, PerfBufferPollOptions } from './consumer/perf_buffer.js';
export { CpuPool, CpuCrashError, type CpuRunOptions, type CpuResult, type ProgramSpec, type ProgramContext } from './cpus.js';
export { AppPool, AppCrashError, type AppSpec, type AppPoolOptions, type AppLive, type AppResult } from './apps.js';
export { encodeRecord, verifyRecord, sampleAlignedPayload, RECORD_HEADER_BYTES, type RecordCheck } from './record.js';
export { BPF_PERF_EVENT_VALUE_SIZE, type PerfEventValue } from './kernel/bpf_trace.js';
export { conform, detect, type ConformOptions, type ConformResult, type ConformRow, type DetectResult } from './conform/conform.js';
export { runCampaign, type CampaignRunOptions, type CampaignProgress } from './campaign/run.js';
export { mergeResults, sameCampaign, type CampaignSpec, type CampaignResult, type CampaignFinding, type MergedCampaign } from './campaign/result.js';
export { shardSlice, coverage, type Range as SeedRange, type Shard } from './campaign/shard.js';
export { lab, type LabOptions, type LabResult, type LabResolvedOptions, type LabRecommendation, type LabPoint, type LabTraceRow } from './lab/lab.js';
