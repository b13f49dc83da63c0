/**
 * What a conformance scenario may do: the user-space view of one kernel, the host's or
 * perfemu's. Every call returns what the syscall (or the helper) returned: an fd or value
 * >= 0, or -errno; no errno throws. A scenario is written once against this interface and
 * run on both; what it records with `note` is compared.
 */

/** the payload a program outputs: the first `size` bytes of this pattern (its stack buffer) */
export const PAYLOAD_MAX = 256;
export const PAYLOAD: Uint8Array = Uint8Array.from({ length: PAYLOAD_MAX }, (_, i) => (i * 37 + 11) & 0xff);

export interface PerfOpen {
  cpu: number;
  /** -1 (default): every task on `cpu` */
  pid?: number;
  /** PERF_TYPE_* (default PERF_TYPE_SOFTWARE) */
  type?: number;
  /** default PERF_COUNT_SW_BPF_OUTPUT */
  config?: number;
  /** PERF_SAMPLE_RAW in sample_type (default true) */
  sampleRaw?: boolean;
  disabled?: boolean;
  /** wakeup_events (default 1) */
  wakeupEvents?: number;
  /** attr.watermark with wakeup_watermark = this many bytes (instead of wakeup_events) */
  watermark?: number;
  inherit?: boolean;
}

export interface MapCreate {
  type?: number;
  keySize?: number;
  valueSize?: number;
  maxEntries?: number;
  flags?: number;
}

/** a process sharing some of the caller's files (fork), until it exits */
export interface Child {
  exit(): Promise<void>;
}

export interface Sys {
  /** 'host' or 'perfemu' */
  readonly side: string;
  readonly cpus: number;
  mapCreate(o: MapCreate): number;
  update(map: number, key: number, value: number, flags?: number): number;
  lookup(map: number, key: number): number;
  del(map: number, key: number): number;
  /** BPF_MAP_GET_NEXT_KEY: the next key, or -errno; `null` passes a NULL key */
  nextKey(map: number, key: number | null): number;
  freeze(map: number): number;
  /** the map's id (BPF_OBJ_GET_INFO_BY_FD), or -errno */
  mapId(map: number): number;
  /** BPF_MAP_GET_NEXT_ID */
  nextMapId(start: number): number;
  mapFdById(id: number, openFlags?: number): number;
  /** BPF_OBJ_PIN at `name` in the bpffs directory */
  pin(fd: number, name: string): number;
  objGet(name: string, flags?: number): number;
  unlink(name: string): number;
  perfOpen(o: PerfOpen): number;
  /** maps 1 + `pages` pages of a perf fd */
  mmap(fd: number, pages: number): number;
  munmap(fd: number): number;
  /** the records between data_tail and data_head, as text, then data_tail = data_head */
  ring(fd: number): string[];
  /** a program calling bpf_perf_event_output on `map` with flags and size from its context */
  progLoad(map: number): number;
  /** runs the program once on `cpu`: what the helper returned */
  output(cpu: number, prog: number, flags: bigint, size: number): number;
  /** PERF_EVENT_IOC_ENABLE / PERF_EVENT_IOC_DISABLE */
  ioctl(fd: number, request: 'enable' | 'disable'): number;
  /** poll(2) of one fd with timeout 0: the revents */
  poll(fd: number): number;
  close(fd: number): number;
  dup(fd: number): number;
  /** a child process holding `fds` (and only those, as far as scenarios care) */
  fork(fds: number[]): Promise<Child>;
  /** waits until deferred frees are done (perfemu: rcu_barrier; host: polls `mapGone` for a bound) */
  settle(mapId?: number): Promise<void>;
}

/** the observation of one step: a value, or the errno name */
export type Note = string;
