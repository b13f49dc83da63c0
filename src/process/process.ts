/**
 * A user-space process: its fd table (fd -> file index) and its lifecycle (open, dup, fork,
 * close, exit), kept as plain objects in the thread that runs it. Its bpf(2) commands are
 * bpf_syscalls.ts, its ring mappings, ring reads, poll and epoll rings.ts; the methods here
 * forward to them, so the Process API is one object. The files themselves live in the arena, so dup, fork and
 * the "last reference" rule are the kernel's. Every method is one syscall, validated here once
 * and then trusted by the kernel code; a negative errno becomes a SystemCallError.
 */
import { FILE_KIND_PERF, FILE_KIND_REGULAR, FMODE_READ, FMODE_WRITE } from '../arena/layout.js';
import { SystemCallError, check, checkKeys, invalidArgType, invalidArgValue, optionKeys, validateInt, validateU32 } from '../errors.js';
import type { Kctx } from '../kernel/context.js';
import { EBADF, EMFILE, ENOTTY, ESRCH } from '../kernel/errno.js';
import { alloc_file, file_kind, file_obj, file_serial, fput, get_file } from '../kernel/file.js';
import { bpf_unlink } from '../kernel/bpf/inode.js';
import {
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_COUNT_SW_CPU_CLOCK,
  PERF_TYPE_BREAKPOINT,
  PERF_TYPE_HARDWARE,
  PERF_TYPE_HW_CACHE,
  PERF_TYPE_RAW,
  PERF_TYPE_SOFTWARE,
  PERF_TYPE_TRACEPOINT,
  cpu_online,
  event_field,
  perf_event_enable,
  perf_event_open,
  perf_event_pause_output,
} from '../kernel/perf_event.js';
import { E_CPU } from '../arena/layout.js';
import type { LostFn, OverwriteRead, RingRecord, RingSink, RingWalk, SampleAtFn, SampleFn } from '../consumer/ring_reader.js';
import { BpfSyscalls } from './bpf_syscalls.js';
import { POLLHUP, POLLIN, ProcessRings, perfFileOf, type MmapOptions, type OverwriteRecords, type RingState, type RingTarget } from './rings.js';
import type { Task } from './task.js';

export { POLLHUP, POLLIN };
export type { MmapOptions, OverwriteRecords, RingState, RingTarget } from './rings.js';

export { BpfSyscalls, type MapCreateOptions } from './bpf_syscalls.js';

export const RLIMIT_NOFILE = 1024;

export interface PerfEventOpenOptions {
  /** CPU the event is bound to; -1 with `pid: 0` for a per-task event */
  cpu: number;
  /** -1 (default): any task on that CPU; 0: the calling task */
  pid?: number;
  /** PERF_TYPE_* number or 'software' (default), 'hardware', 'tracepoint', 'hw_cache', 'raw', 'breakpoint' */
  type?: number | string;
  /** event config: a number, or 'bpf_output' (default for software events), 'cpu_clock' */
  config?: number | string;
  inherit?: boolean;
  /** sample_type includes PERF_SAMPLE_RAW (default true) */
  sampleRaw?: boolean;
  /** open disabled (PERF_EVENT_IOC_ENABLE enables it); default false */
  disabled?: boolean;
  /** map the ring right away (default true) */
  mmap?: boolean;
  /** data pages of the ring: 0 or a power of two (default 8) */
  pages?: number;
  /** wakeup_events: wake the reader every N samples (default 1, as libbpf) */
  wakeupEvents?: number;
  /** wakeup_watermark in bytes; > 0 sets attr.watermark and disables wakeupEvents */
  watermark?: number;
  /** attr.write_backward (4.7+): records are written from the end of the ring backwards */
  writeBackward?: boolean;
  /**
   * map the ring with PROT_WRITE (default true). false maps it read-only: data_tail cannot be
   * written, and the ring is overwritable (rb->overwrite): the producer never checks data_tail.
   */
  mmapWrite?: boolean;
}

/** what a process needs of the kernel facade that made it */
export interface ProcessHost {
  readonly k: Kctx;
  readonly consoleFile: number;
  nextPid(): number;
  register(p: Process): void;
  unregister(p: Process): void;
}

const TYPE_NAMES: Record<string, number> = {
  hardware: PERF_TYPE_HARDWARE,
  software: PERF_TYPE_SOFTWARE,
  tracepoint: PERF_TYPE_TRACEPOINT,
  hw_cache: PERF_TYPE_HW_CACHE,
  raw: PERF_TYPE_RAW,
  breakpoint: PERF_TYPE_BREAKPOINT,
};
const CONFIG_NAMES: Record<string, number> = { bpf_output: PERF_COUNT_SW_BPF_OUTPUT, cpu_clock: PERF_COUNT_SW_CPU_CLOCK };

const PERF_EVENT_OPEN_KEYS = optionKeys<PerfEventOpenOptions>({
  cpu: true,
  pid: true,
  type: true,
  config: true,
  inherit: true,
  sampleRaw: true,
  disabled: true,
  mmap: true,
  pages: true,
  wakeupEvents: true,
  watermark: true,
  mmapWrite: true,
  writeBackward: true,
});

/**
 * Bumped whenever any fd table of this thread changes: Kernel.progIndex caches the program
 * behind a numeric prog fd until then. Per-thread by nature (fd tables are plain objects of the
 * thread that owns the processes), so a module variable is the right scope.
 */
let fdEpoch = 0;
function fdTableChanged(): void {
  fdEpoch++;
}
export function fdTableEpoch(): number {
  return fdEpoch;
}

export class Process {
  readonly name: string;
  readonly pid: number;
  readonly privileged: boolean;
  /** bpf(2), one method per command */
  readonly bpf: BpfSyscalls;
  #host: ProcessHost;
  #fds = new Map<number, number>();
  /** its mappings, ring reads, poll and epoll instances (process/rings.ts) */
  readonly #rings: ProcessRings;
  #alive = true;

  constructor(host: ProcessHost, name: string, privileged: boolean, inherit?: Process) {
    this.#host = host;
    this.name = name;
    this.pid = host.nextPid();
    this.privileged = privileged;
    this.bpf = new BpfSyscalls(this, host.k);
    this.#rings = new ProcessRings(this, host.k);
    if (inherit) {
      for (const [fd, f] of inherit.#fds) {
        get_file(host.k, f);
        fdTableChanged();
        this.#fds.set(fd, f);
      }
    } else {
      for (let fd = 0; fd < 3; fd++) {
        get_file(host.k, host.consoleFile);
        fdTableChanged();
        this.#fds.set(fd, host.consoleFile);
      }
    }
    host.register(this);
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** the number of CPUs (sysconf(_SC_NPROCESSORS_CONF)): the possible ones */
  get nrCpus(): number {
    return this.#host.k.a.L.cpus;
  }

  /** the online CPUs, ascending (/sys/devices/system/cpu/online) */
  get onlineCpus(): number[] {
    const k = this.#host.k;
    return Array.from({ length: k.a.L.cpus }, (_, c) => c).filter((c) => cpu_online(k, c));
  }

  /** @internal the file behind an fd, or -1 */
  fileIndex(fd: number, name = 'fd'): number {
    return this.#fdFile(fd, name) ?? -1;
  }

  /** the file behind `fd`; an fd that is not a number is the caller's type error, not EBADF */
  #fdFile(fd: number, name = 'fd'): number | undefined {
    if (typeof fd !== 'number') throw invalidArgType(name, 'an integer fd', fd);
    return this.#fds.get(fd);
  }

  /** @internal */
  live(syscall: string): Kctx {
    if (!this.#alive) throw new SystemCallError(syscall, -ESRCH, this.name, `process ${this.name} (pid ${this.pid}) has exited`);
    return this.#host.k;
  }

  /** @internal installs a file at the lowest free fd (the caller's reference moves to the fd) */
  install(f: number, syscall: string): number {
    for (let fd = 0; fd < RLIMIT_NOFILE; fd++) {
      if (!this.#fds.has(fd)) {
        fdTableChanged();
        this.#fds.set(fd, f);
        return fd;
      }
    }
    fput(this.#host.k, f);
    throw new SystemCallError(syscall, -EMFILE, this.name, `RLIMIT_NOFILE is ${RLIMIT_NOFILE}`);
  }

  /** the id of the file behind `fd` (map files' ids are the owners shown by inspect()) */
  fileOf(fd: number): number {
    const k = this.live('fileOf');
    const f = this.#fdFile(fd);
    if (f === undefined) throw new SystemCallError('fcntl', -EBADF, `fd ${fd}`);
    return file_serial(k, f);
  }

  /** @internal every fd with its file index and kind (FILE_KIND_*) */
  fdTable(): { fd: number; file: number; kind: number }[] {
    const k = this.#host.k;
    return [...this.#fds].map(([fd, f]) => ({ fd, file: f, kind: file_kind(k, f) }));
  }

  /** @internal file indices of the perf events whose ring this process has mapped */
  mappedFiles(): number[] {
    return this.#rings.mappedFiles();
  }

  /** open fds and the ids of their files */
  fds(): { fd: number; file: number }[] {
    const k = this.#host.k;
    return [...this.#fds].sort((x, y) => x[0] - y[0]).map(([fd, f]) => ({ fd, file: file_serial(k, f) }));
  }

  perfEventOpen(opts: PerfEventOpenOptions): number {
    const k = this.live('perf_event_open');
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    checkKeys('options', opts, PERF_EVENT_OPEN_KEYS);
    const cpu = validateInt('cpu', opts.cpu, -1, 0x7fffffff);
    const pid = validateInt('pid', opts.pid ?? -1, -1, 0x7fffffff);
    const type = named('type', opts.type ?? PERF_TYPE_SOFTWARE, TYPE_NAMES);
    const config = named('config', opts.config ?? (type === PERF_TYPE_SOFTWARE ? PERF_COUNT_SW_BPF_OUTPUT : 0), CONFIG_NAMES);
    const pages = validateInt('pages', opts.pages ?? 8, 0, 1 << 18);
    const wakeupEvents = validateInt('wakeupEvents', opts.wakeupEvents ?? 1, 0, 0x7fffffff);
    const watermark = validateInt('watermark', opts.watermark ?? 0, 0, 0x7fffffff);
    const flag = (n: string, v: unknown, d: boolean): boolean => {
      if (v === undefined) return d;
      if (typeof v !== 'boolean') throw invalidArgType(n, 'a boolean', v);
      return v;
    };
    const attr = {
      type,
      config,
      wakeupEvents,
      watermark,
      inherit: flag('inherit', opts.inherit, false),
      sampleRaw: flag('sampleRaw', opts.sampleRaw, true),
      disabled: flag('disabled', opts.disabled, false),
      writeBackward: flag('writeBackward', opts.writeBackward, false),
    };
    const doMmap = flag('mmap', opts.mmap, true);
    const mmapWrite = flag('mmapWrite', opts.mmapWrite, true);
    const f = check(perf_event_open(k, attr, pid, cpu), 'perf_event_open', `type ${type}, config ${config}, pid ${pid}, cpu ${cpu}`);
    const fd = this.install(f, 'perf_event_open');
    if (doMmap) {
      try {
        this.mmap(fd, pages, { write: mmapWrite });
      } catch (err) {
        this.close(fd);
        throw err;
      }
    }
    return fd;
  }

  /**
   * maps the event's ring: 1 control page + `pages` data pages (0 or a power of two).
   * `{ write: false }` maps it without PROT_WRITE: if this mapping creates the ring, the ring is
   * overwritable (rb->overwrite); this process cannot write data_tail through it (readRing
   * refuses; use readRingOverwrite).
   */
  mmap(fd: number, pages = 8, opts: MmapOptions = {}): void {
    this.#rings.mmap(fd, pages, opts);
  }

  /** unmaps a ring; the last mapping of a ring detaches it from its event */
  munmap(target: RingTarget): void {
    this.#rings.munmap(target);
  }

  /** every record since the last read, advancing data_tail (perf_event_read_simple) */
  readRing(target: RingTarget, max?: number): RingRecord[] {
    return this.#rings.readRing(target, max);
  }

  /**
   * Like readRing without copies: `onSample(data, size)` gets a view into the ring that is
   * valid only during the call. Returns the records delivered.
   */
  consumeRing(target: RingTarget, onSample: SampleFn, onLost: LostFn = () => true, max?: number): number {
    return this.#rings.consumeRing(target, onSample, onLost, max);
  }
  /**
   * consumeRing without a view per record: `onSampleAt(buf, offset, size)` gets the raw bytes
   * at buf[offset, offset + size) (the arena's bytes, or a scratch copy when a record wraps),
   * valid only during the call. The same walk, for readers that parse in place.
   */
  consumeRingRaw(target: RingTarget, onSampleAt: SampleAtFn, onLost: LostFn = () => true, max?: number): number {
    return this.#rings.consumeRingRaw(target, onSampleAt, onLost, max);
  }
  /** @internal consumeRingRaw for PerfBuffer (its own sink; errors named `op`): what the walk did */
  ringConsume(target: RingTarget, op: string, sink: RingSink): RingWalk {
    return this.#rings.ringConsume(target, op, sink);
  }

  /** @internal consumeRingOverwrite for PerfBuffer, to its own sink (as ringConsume) */
  ringReadOverwrite(target: RingTarget, op: string, sink: RingSink): OverwriteRead {
    return this.#rings.ringReadOverwrite(target, op, sink);
  }

  /**
   * Reads an overwritable ring (made by a read-only mapping) without writing data_tail: the
   * records written since this process's previous overwrite read of it that survive
   * (process/rings.ts says how).
   */
  readRingOverwrite(target: RingTarget, max?: number): OverwriteRecords {
    return this.#rings.readRingOverwrite(target, max);
  }

  /** readRingOverwrite with callbacks and views (valid only during the call), no copies */
  consumeRingOverwrite(target: RingTarget, onSample: SampleFn, onLost: LostFn = () => true, max?: number): OverwriteRead {
    return this.#rings.consumeRingOverwrite(target, onSample, onLost, max);
  }

  /**
   * the emulator's view of a mapped ring: data_head/data_tail and the kernel's private words
   * (rb->lost, rb->paused, rb->overwrite) and counters, which a real process cannot read
   */
  ringState(target: RingTarget): RingState | null {
    return this.#rings.ringState(target);
  }

  /** the CPU a perf fd's event is bound to (-1: per-task) */
  cpuOf(fd: number): number {
    const k = this.live('cpuOf');
    return event_field(k, file_obj(k, perfFileOf(this, k, fd, 'cpuOf')), E_CPU);
  }

  /**
   * poll(2) on perf fds: POLLIN once per wakeup (the readiness is cleared by the report),
   * POLLHUP for an event without a ring. Waits up to `timeoutMs` (0: no wait) for any of them.
   */
  poll(fds: number[], timeoutMs = 0): { fd: number; revents: number }[] {
    return this.#rings.poll(fds, timeoutMs);
  }

  /** epoll_create: an instance that waits on many perf fds at once */
  epollCreate(): number {
    return this.#rings.epollCreate();
  }

  /** epoll_ctl(EPOLL_CTL_ADD, perfFd, EPOLLIN) */
  epollCtlAdd(epfd: number, perfFd: number): void {
    this.#rings.epollCtlAdd(epfd, perfFd);
  }

  /**
   * epoll_wait: the watched perf fds that are readable (POLLIN, cleared by the report) or have
   * no ring (POLLHUP), waiting up to `timeoutMs` for one. Blocks the thread (Atomics.wait).
   */
  epollWait(epfd: number, timeoutMs: number): { fd: number; revents: number }[] {
    return this.#rings.epollWait(epfd, timeoutMs);
  }

  /**
   * eventfd_write on the eventfd registered in an epoll instance: wakes a thread blocked in
   * epollWait on it (cilium/ebpf's Flush). Any thread can do it with epollSignalFrom.
   */
  epollSignal(epfd: number): void {
    this.#rings.epollSignal(epfd);
  }

  /** reads (and clears) that eventfd: true if it was signalled since the last take */
  epollTakeSignal(epfd: number): boolean {
    return this.#rings.epollTakeSignal(epfd);
  }

  /** @internal the epoll instance behind an epoll fd (for a signal from another thread) */
  epollIndex(epfd: number): number {
    return this.#rings.epollIndex(epfd);
  }

  /**
   * ioctl on a perf fd: PERF_EVENT_IOC_ENABLE / DISABLE, or PERF_EVENT_IOC_PAUSE_OUTPUT with
   * `arg` 1 (pause: every output is counted lost until resumed) or 0 (resume); EINVAL when
   * the event has no ring with data pages.
   */
  ioctl(fd: number, request: 'PERF_EVENT_IOC_ENABLE' | 'PERF_EVENT_IOC_DISABLE' | 'PERF_EVENT_IOC_PAUSE_OUTPUT', arg = 0): void {
    const k = this.live('ioctl');
    if (typeof request !== 'string')
      throw invalidArgType('request', "'PERF_EVENT_IOC_ENABLE', 'PERF_EVENT_IOC_DISABLE' or 'PERF_EVENT_IOC_PAUSE_OUTPUT'", request);
    if (request !== 'PERF_EVENT_IOC_ENABLE' && request !== 'PERF_EVENT_IOC_DISABLE' && request !== 'PERF_EVENT_IOC_PAUSE_OUTPUT') {
      throw invalidArgValue('request', "must be 'PERF_EVENT_IOC_ENABLE', 'PERF_EVENT_IOC_DISABLE' or 'PERF_EVENT_IOC_PAUSE_OUTPUT'", request);
    }
    validateU32('arg', arg);
    const f = this.#fdFile(fd);
    if (f === undefined) throw new SystemCallError('ioctl', -EBADF, `fd ${fd}, ${request}`);
    if (file_kind(k, f) !== FILE_KIND_PERF) throw new SystemCallError('ioctl', -ENOTTY, `fd ${fd}, ${request}`);
    if (request === 'PERF_EVENT_IOC_PAUSE_OUTPUT') {
      check(perf_event_pause_output(k, file_obj(k, f), arg), 'ioctl', `fd ${fd}, ${request}, ${arg}`, 'the event has no ring with data pages');
      return;
    }
    perf_event_enable(k, file_obj(k, f), request === 'PERF_EVENT_IOC_ENABLE');
  }

  /** opens a regular (non-bpf, non-perf) file: a stand-in for any other fd */
  openFile(path: string): number {
    const k = this.live('open');
    if (typeof path !== 'string') throw invalidArgType('path', 'a string', path);
    const f = alloc_file(k, FILE_KIND_REGULAR, 0, FMODE_READ | FMODE_WRITE);
    if (f < 0) throw new SystemCallError('open', -EMFILE, path, 'file table full');
    return this.install(f, 'open');
  }

  close(fd: number): void {
    const k = this.live('close');
    const f = this.#fdFile(fd);
    if (f === undefined) throw new SystemCallError('close', -EBADF, `fd ${fd}`);
    fdTableChanged();
    this.#fds.delete(fd);
    if (![...this.#fds.values()].includes(f)) this.#rings.forget(f);
    fput(k, f);
  }

  dup(fd: number): number {
    const k = this.live('dup');
    const f = this.#fdFile(fd);
    if (f === undefined) throw new SystemCallError('dup', -EBADF, `fd ${fd}`);
    get_file(k, f);
    return this.install(f, 'dup');
  }

  /** fork: the child shares every file (not the ring mappings: VM_DONTCOPY) */
  fork(name: string): Process {
    this.live('fork');
    if (typeof name !== 'string') throw invalidArgType('name', 'a string', name);
    return new Process(this.#host, name, this.privileged, this);
  }

  unlink(path: string): void {
    const k = this.live('unlink');
    if (typeof path !== 'string') throw invalidArgType('path', 'a string', path);
    check(bpf_unlink(k, path), 'unlink', path);
  }

  /** exit: the mappings go first, then every fd is closed, lowest first */
  exit(): void {
    const k = this.live('exit');
    this.#rings.unmapAll(k);
    for (const fd of [...this.#fds.keys()].sort((x, y) => x - y)) {
      const f = this.#fds.get(fd)!;
      fdTableChanged();
      this.#fds.delete(fd);
      fput(k, f);
    }
    this.#alive = false;
    this.#host.unregister(this);
  }
}

function named(name: string, v: unknown, names: Record<string, number>): number {
  if (typeof v === 'string') {
    const n = names[v];
    if (n === undefined)
      throw invalidArgValue(
        name,
        `must be a number or one of ${Object.keys(names)
          .map((x) => `'${x}'`)
          .join(', ')}`,
        v,
      );
    return n;
  }
  return validateInt(name, v, 0, 0x7fffffff);
}

// A Process is the Task the syscall layer takes (bpf_syscalls.ts, rings.ts). Checked here, not
// with `implements Task`: Task's members are @internal, so the published declarations leave
// them out of Process, and a user's compiler would then report that Process does not implement
// Task (with skipLibCheck off, tsc's default).
const _processIsTask: (p: Process) => Task = (p) => p;
void _processIsTask;
