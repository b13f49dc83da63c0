/**
 * A user-space process: its fd table (fd -> file index) and its ring mappings, kept as plain
 * objects in the thread that runs it. The files themselves live in the arena, so dup, fork and
 * the "last reference" rule are the kernel's. Every method is one syscall, validated here once
 * and then trusted by the kernel code; a negative errno becomes a SystemCallError.
 */
import { FILE_KIND_EPOLL, FILE_KIND_MAP, FILE_KIND_PERF, FILE_KIND_PROG, FILE_KIND_REGULAR, FMODE_READ, FMODE_WRITE } from '../arena/layout.js';
import {
  PerfemuError, SystemCallError, check, checkKeys, invalidArgType, optionKeys, invalidArgValue, validateInt, validateU32,
} from '../errors.js';
import type { Kctx } from '../kernel/context.js';
import { EBADF, EINVAL, EMFILE, ENODEV, ENOTTY, ESRCH } from '../kernel/errno.js';
import { alloc_file, file_kind, file_obj, file_serial, fput, get_file } from '../kernel/file.js';
import {
  epoll_create, epoll_eventfd_pending, epoll_eventfd_signal, epoll_eventfd_take, epoll_wake_word, epoll_watch,
} from '../kernel/eventpoll.js';
import { bpf_obj_get, bpf_obj_pin, bpf_unlink } from '../kernel/bpf/inode.js';
import {
  BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY, MAP_TYPE_NOT_MODELLED, map_create, map_delete_elem,
  map_freeze, map_get_fd_by_id, map_get_next_id, map_get_next_key, map_lookup_elem, map_update_elem, prog_load,
} from '../kernel/bpf/syscall.js';
import {
  PERF_COUNT_SW_BPF_OUTPUT, PERF_COUNT_SW_CPU_CLOCK, PERF_TYPE_BREAKPOINT, PERF_TYPE_HARDWARE,
  PERF_TYPE_HW_CACHE, PERF_TYPE_RAW, PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT, cpu_online, event_field,
  event_rb, perf_event_enable, perf_event_open, perf_event_pause_output, perf_mmap, perf_munmap,
} from '../kernel/perf_event.js';
import { ARENA_MAGIC, E_CPU, H_MAGIC } from '../arena/layout.js';
import {
  perf_ring_consume, perf_ring_read, perf_ring_read_overwrite, rb_poll_and_clear, rb_state, rb_wait, type LostFn,
  type OverwriteRead, type RingRecord, type SampleAtFn, type SampleFn,
} from '../kernel/ring_buffer.js';

export const RLIMIT_NOFILE = 1024;
export const POLLIN = 0x1;
export const POLLHUP = 0x10;

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

/** options of Process.mmap */
export interface MmapOptions {
  /** PROT_WRITE (default true); a read-only first mapping makes the ring overwritable */
  write?: boolean;
}

/** what readRingOverwrite returns */
export interface OverwriteRecords {
  /** newest first for a write_backward ring, oldest first for a forward one */
  records: RingRecord[];
  /** bytes written since the previous read that were overwritten before this one */
  overwrittenBytes: number;
  /** forward ring only: more than the data area was written since; nothing could be read */
  overrun: boolean;
}

/** the emulator's view of a ring (what user space cannot see is marked) */
export interface RingState {
  /** data_head, data_tail (byte counters, low 32 bits) */
  head: number;
  tail: number;
  /** data_size in bytes */
  size: number;
  /** kernel-private: rb->lost, losses not yet reported by a PERF_RECORD_LOST */
  lostPending: number;
  /** kernel-private: rb->paused */
  paused: boolean;
  watermark: number;
  /** kernel-private: rb->overwrite */
  overwrite: boolean;
  backward: boolean;
  /** instrumentation: samples written into the ring, and outputs lost, since it was made */
  written: number;
  lostTotal: number;
}

export interface MapCreateOptions {
  type: 'perf_event_array' | 'array' | number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** map_flags, e.g. BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY */
  flags?: number;
  /** stands for any attr field this kernel does not know or requires to be 0 (CHECK_ATTR) */
  mapExtra?: number;
}

const PERF_EVENT_OPEN_KEYS = optionKeys<PerfEventOpenOptions>({
  cpu: true, pid: true, type: true, config: true, inherit: true, sampleRaw: true, disabled: true, mmap: true, pages: true, wakeupEvents: true, watermark: true,
  mmapWrite: true, writeBackward: true,
});
const MAP_CREATE_KEYS = optionKeys<MapCreateOptions>({ type: true, keySize: true, valueSize: true, maxEntries: true, flags: true, mapExtra: true });

/** what a process needs of the kernel facade that made it */
export interface ProcessHost {
  readonly k: Kctx;
  readonly consoleFile: number;
  nextPid(): number;
  register(p: Process): void;
  unregister(p: Process): void;
}

/** a ring target: an open perf fd, or the file id of a mapping kept after its fd was closed */
export type RingTarget = number | { file: number };

const TYPE_NAMES: Record<string, number> = {
  hardware: PERF_TYPE_HARDWARE, software: PERF_TYPE_SOFTWARE, tracepoint: PERF_TYPE_TRACEPOINT,
  hw_cache: PERF_TYPE_HW_CACHE, raw: PERF_TYPE_RAW, breakpoint: PERF_TYPE_BREAKPOINT,
};
const CONFIG_NAMES: Record<string, number> = { bpf_output: PERF_COUNT_SW_BPF_OUTPUT, cpu_clock: PERF_COUNT_SW_CPU_CLOCK };
const MAP_TYPE_NAMES: Record<string, number> = { perf_event_array: BPF_MAP_TYPE_PERF_EVENT_ARRAY, array: BPF_MAP_TYPE_ARRAY };
/** types the kernel knows that perfemu does not model (their numbers up to BPF_MAP_TYPE_ARENA) */
const KNOWN_MAP_TYPE_MAX = 33;

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

const noSample: SampleFn = () => true;

export class Process {
  readonly name: string;
  readonly pid: number;
  readonly privileged: boolean;
  /** bpf(2), one method per command */
  readonly bpf: BpfSyscalls;
  #host: ProcessHost;
  #fds = new Map<number, number>();
  /** perf file index -> event index, for each ring this process has mapped */
  #maps = new Map<number, number>();
  /** perf file index -> data_head at the previous overwrite read, for read-only mappings */
  #readOnly = new Map<number, number>();
  /** same, for writable mappings of overwrite rings read with readRingOverwrite */
  #lastHead = new Map<number, number>();
  #alive = true;
  /** epoll file index -> the perf fds it watches */
  #epolls = new Map<number, number[]>();

  constructor(host: ProcessHost, name: string, privileged: boolean, inherit?: Process) {
    this.#host = host;
    this.name = name;
    this.pid = host.nextPid();
    this.privileged = privileged;
    this.bpf = new BpfSyscalls(this, host.k);
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
    return [...this.#maps.keys()];
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
      type, config, wakeupEvents, watermark,
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
    const k = this.live('mmap');
    validateInt('pages', pages, 0, 1 << 18);
    const mf = this.#fds.get(fd);
    if (mf !== undefined && file_kind(k, mf) === FILE_KIND_MAP) {
      throw new SystemCallError('mmap', -k.b.mapMmapErrno, `fd ${fd}`, 'a perf event array has no mmap');
    }
    if (mf !== undefined && (file_kind(k, mf) === FILE_KIND_PROG || file_kind(k, mf) === FILE_KIND_EPOLL)) {
      throw new SystemCallError('mmap', -ENODEV, `fd ${fd}`, 'the file has no mmap operation');
    }
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    if (opts.write !== undefined && typeof opts.write !== 'boolean') throw invalidArgType('write', 'a boolean', opts.write);
    const write = opts.write ?? true;
    const f = this.#perfFile(fd, 'mmap');
    if (this.#maps.has(f)) throw new SystemCallError('mmap', -EINVAL, `fd ${fd}`, 'this process has mapped that ring already');
    check(perf_mmap(k, file_obj(k, f), pages, write), 'mmap', `fd ${fd}, ${1 + pages} pages${write ? '' : ', PROT_READ'}`, pages & (pages - 1) ? 'the data page count must be 0 or a power of two' : undefined);
    this.#maps.set(f, file_obj(k, f));
    if (!write) this.#readOnly.set(f, 0);
  }

  /** unmaps a ring; the last mapping of a ring detaches it from its event */
  munmap(target: RingTarget): void {
    const k = this.live('munmap');
    const f = this.#mappedFile(target, 'munmap');
    this.#maps.delete(f);
    this.#readOnly.delete(f);
    this.#lastHead.delete(f);
    perf_munmap(k, file_obj(k, f));
  }

  /** every record since the last read, advancing data_tail (perf_event_read_simple) */
  readRing(target: RingTarget, max?: number): RingRecord[] {
    const k = this.live('readRing');
    const f = this.#writableMapping(target, 'readRing');
    const e = file_obj(k, f);
    const rb = event_rb(k, e);
    if (rb < 0) return [];
    return perf_ring_read(k, rb, event_field(k, e, E_CPU), max === undefined ? Infinity : validateInt('max', max, 1, 0x7fffffff));
  }

  /**
   * Like readRing without copies: `onSample(data, size)` gets a view into the ring that is
   * valid only during the call. Returns the records delivered.
   */
  consumeRing(target: RingTarget, onSample: SampleFn, onLost: LostFn = () => true, max?: number): number {
    const k = this.live('consumeRing');
    if (typeof onSample !== 'function') throw invalidArgType('onSample', 'a function', onSample);
    if (typeof onLost !== 'function') throw invalidArgType('onLost', 'a function', onLost);
    const f = this.#writableMapping(target, 'consumeRing');
    const rb = event_rb(k, file_obj(k, f));
    if (rb < 0) return 0;
    return perf_ring_consume(k, rb, onSample, onLost, max === undefined ? Infinity : validateInt('max', max, 1, 0x7fffffff));
  }

  /**
   * consumeRing without a view per record: `onSampleAt(buf, offset, size)` gets the raw bytes
   * at buf[offset, offset + size) (the arena's bytes, or a scratch copy when a record wraps),
   * valid only during the call. The same walk, for readers that parse in place.
   */
  consumeRingRaw(target: RingTarget, onSampleAt: SampleAtFn, onLost: LostFn = () => true, max?: number): number {
    const k = this.live('consumeRingRaw');
    if (typeof onSampleAt !== 'function') throw invalidArgType('onSampleAt', 'a function', onSampleAt);
    const f = this.#writableMapping(target, 'consumeRingRaw');
    const rb = event_rb(k, file_obj(k, f));
    if (rb < 0) return 0;
    return perf_ring_consume(k, rb, noSample, onLost, max === undefined ? Infinity : validateInt('max', max, 1, 0x7fffffff), onSampleAt);
  }

  /**
   * Reads an overwritable ring (made by a read-only mapping) without writing data_tail: the
   * records written since this process's previous overwrite read of it that survive. A
   * write_backward ring gives them newest first, the oldest partly overwritten one left out;
   * a forward ring gives them oldest first, or nothing (`overrun`) once more than the data area
   * was written since, because then the start of the oldest surviving record is unknown.
   * Pause the output around it (ioctl PERF_EVENT_IOC_PAUSE_OUTPUT) as perf tools do, or a
   * writer may overwrite the oldest records while they are read. With `max`, the newest `max`
   * records (backward) are delivered and the older ones skipped: the next read starts at the
   * data_head this one saw.
   */
  readRingOverwrite(target: RingTarget, max?: number): OverwriteRecords {
    const records: RingRecord[] = [];
    let cpu = -1;
    const r = this.#overwriteRead(target, 'readRingOverwrite', (c) => (cpu = c),
      (data, size) => void records.push({ type: 'sample', cpu, size, data: data.slice() }),
      (id, lost) => void records.push({ type: 'lost', cpu, id, lost }), max);
    return { records, overwrittenBytes: r.overwrittenBytes, overrun: r.overrun };
  }

  /** readRingOverwrite with callbacks and views (valid only during the call), no copies */
  consumeRingOverwrite(target: RingTarget, onSample: SampleFn, onLost: LostFn = () => true, max?: number): OverwriteRead {
    return this.#overwriteRead(target, 'consumeRingOverwrite', () => {}, onSample, onLost, max);
  }

  #overwriteRead(target: RingTarget, syscall: string, setCpu: (cpu: number) => void, onSample: SampleFn, onLost: LostFn, max?: number): OverwriteRead {
    const k = this.live(syscall);
    const f = this.#mappedFile(target, syscall);
    const e = file_obj(k, f);
    const rb = event_rb(k, e);
    if (rb < 0) return { head: 0, records: 0, overwrittenBytes: 0, overrun: false };
    if (!rb_state(k, rb).overwrite) {
      throw new PerfemuError('ERR_PERFEMU_NOT_OVERWRITE', `${syscall}: the ring was mapped writable first, so it is not overwritable; read it with readRing`);
    }
    setCpu(event_field(k, e, E_CPU));
    const seen = this.#readOnly.has(f) ? this.#readOnly : this.#lastHead;
    const r = perf_ring_read_overwrite(k, rb, seen.get(f) ?? 0, onSample, onLost, max === undefined ? Infinity : validateInt('max', max, 1, 0x7fffffff));
    seen.set(f, r.head);
    return r;
  }

  /**
   * the emulator's view of a mapped ring: data_head/data_tail and the kernel's private words
   * (rb->lost, rb->paused, rb->overwrite) and counters, which a real process cannot read
   */
  ringState(target: RingTarget): RingState | null {
    const k = this.live('ringState');
    const f = this.#mappedFile(target, 'ringState');
    const rb = event_rb(k, file_obj(k, f));
    return rb < 0 ? null : rb_state(k, rb);
  }

  /** the CPU a perf fd's event is bound to (-1: per-task) */
  cpuOf(fd: number): number {
    const k = this.live('cpuOf');
    return event_field(k, file_obj(k, this.#perfFile(fd, 'cpuOf')), E_CPU);
  }

  /**
   * poll(2) on perf fds: POLLIN once per wakeup (the readiness is cleared by the report),
   * POLLHUP for an event without a ring. Waits up to `timeoutMs` (0: no wait).
   */
  poll(fds: number[], timeoutMs = 0): { fd: number; revents: number }[] {
    const k = this.live('poll');
    if (!Array.isArray(fds)) throw invalidArgType('fds', 'an array of fds', fds);
    validateInt('timeoutMs', timeoutMs, 0, 3_600_000);
    const files = fds.map((fd) => this.#perfFile(fd, 'poll'));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ready: { fd: number; revents: number }[] = [];
      files.forEach((f, i) => {
        const rb = event_rb(k, file_obj(k, f));
        if (rb < 0) ready.push({ fd: fds[i]!, revents: POLLHUP });
        else if (rb_poll_and_clear(k, rb)) ready.push({ fd: fds[i]!, revents: POLLIN });
      });
      const left = deadline - Date.now();
      if (ready.length > 0 || left <= 0) return ready;
      if (files.length === 0) Atomics.wait(k.a.i32, H_MAGIC, ARENA_MAGIC, left); // poll([], t) sleeps t
      else rb_wait(k, event_rb(k, file_obj(k, files[0]!)), Math.min(left, 5));
    }
  }

  /** epoll_create: an instance that waits on many perf fds at once */
  epollCreate(): number {
    const k = this.live('epoll_create');
    const f = check(epoll_create(k), 'epoll_create', '');
    const fd = this.install(f, 'epoll_create');
    this.#epolls.set(f, []);
    return fd;
  }

  /** epoll_ctl(EPOLL_CTL_ADD, perfFd, EPOLLIN) */
  epollCtlAdd(epfd: number, perfFd: number): void {
    const k = this.live('epoll_ctl');
    if (typeof perfFd !== 'number') throw invalidArgType('perfFd', 'an integer fd', perfFd);
    const ef = this.#epollFile(epfd, 'epoll_ctl');
    const pf = this.#perfFile(perfFd, 'epoll_ctl');
    epoll_watch(k, file_obj(k, ef), file_obj(k, pf));
    this.#epolls.get(ef)!.push(perfFd);
  }

  /**
   * epoll_wait: the watched perf fds that are readable (POLLIN, cleared by the report) or have
   * no ring (POLLHUP), waiting up to `timeoutMs` for one. Blocks the thread (Atomics.wait).
   */
  epollWait(epfd: number, timeoutMs: number): { fd: number; revents: number }[] {
    const k = this.live('epoll_wait');
    validateInt('timeoutMs', timeoutMs, 0, 3_600_000);
    const ef = this.#epollFile(epfd, 'epoll_wait');
    const word = epoll_wake_word(k, file_obj(k, ef));
    const watched = this.#epolls.get(ef)!.filter((fd) => this.#fds.has(fd));
    const ep = file_obj(k, ef);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seq = k.a.load(word); // before the checks: a wakeup after them changes it
      const ready: { fd: number; revents: number }[] = [];
      for (const fd of watched) {
        const rb = event_rb(k, file_obj(k, this.#fds.get(fd)!));
        if (rb < 0) ready.push({ fd, revents: POLLHUP });
        else if (rb_poll_and_clear(k, rb)) ready.push({ fd, revents: POLLIN });
      }
      const left = deadline - Date.now();
      // a signalled eventfd (epollSignal) ends the wait too; the caller takes it
      if (ready.length > 0 || left <= 0 || epoll_eventfd_pending(k, ep)) return ready;
      Atomics.wait(k.a.i32, word, seq, left);
    }
  }

  /**
   * eventfd_write on the eventfd registered in an epoll instance: wakes a thread blocked in
   * epollWait on it (cilium/ebpf's Flush). Any thread can do it with epollSignalFrom.
   */
  epollSignal(epfd: number): void {
    const k = this.live('write');
    epoll_eventfd_signal(k, file_obj(k, this.#epollFile(epfd, 'write')));
  }

  /** reads (and clears) that eventfd: true if it was signalled since the last take */
  epollTakeSignal(epfd: number): boolean {
    const k = this.live('read');
    return epoll_eventfd_take(k, file_obj(k, this.#epollFile(epfd, 'read'))) !== 0;
  }

  /** @internal the epoll instance behind an epoll fd (for a signal from another thread) */
  epollIndex(epfd: number): number {
    const k = this.live('epoll');
    return file_obj(k, this.#epollFile(epfd, 'epoll'));
  }

  #epollFile(epfd: number, syscall: string): number {
    const f = this.#fdFile(epfd, 'epfd');
    if (f === undefined) throw new SystemCallError(syscall, -EBADF, `fd ${epfd}`);
    if (!this.#epolls.has(f)) throw new SystemCallError(syscall, -EINVAL, `fd ${epfd}`, 'not an epoll fd');
    return f;
  }

  /**
   * ioctl on a perf fd: PERF_EVENT_IOC_ENABLE / DISABLE, or PERF_EVENT_IOC_PAUSE_OUTPUT with
   * `arg` 1 (pause: every output is counted lost until resumed) or 0 (resume); EINVAL when
   * the event has no ring with data pages.
   */
  ioctl(fd: number, request: 'PERF_EVENT_IOC_ENABLE' | 'PERF_EVENT_IOC_DISABLE' | 'PERF_EVENT_IOC_PAUSE_OUTPUT', arg = 0): void {
    const k = this.live('ioctl');
    if (typeof request !== 'string') throw invalidArgType('request', "'PERF_EVENT_IOC_ENABLE', 'PERF_EVENT_IOC_DISABLE' or 'PERF_EVENT_IOC_PAUSE_OUTPUT'", request);
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
    if (![...this.#fds.values()].includes(f)) this.#epolls.delete(f);
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
    for (const f of [...this.#maps.keys()]) {
      this.#maps.delete(f);
      this.#readOnly.delete(f);
      this.#lastHead.delete(f);
      perf_munmap(k, file_obj(k, f));
    }
    for (const fd of [...this.#fds.keys()].sort((x, y) => x - y)) {
      const f = this.#fds.get(fd)!;
      fdTableChanged();
      this.#fds.delete(fd);
      fput(k, f);
    }
    this.#alive = false;
    this.#host.unregister(this);
  }

  #perfFile(fd: number, syscall: string): number {
    const f = this.#fdFile(fd);
    if (f === undefined) throw new SystemCallError(syscall, -EBADF, `fd ${fd}`);
    if (file_kind(this.#host.k, f) !== FILE_KIND_PERF) throw new SystemCallError(syscall, -EINVAL, `fd ${fd}`, 'not a perf event fd');
    return f;
  }

  /** a mapping through which data_tail can be written (not a read-only one) */
  #writableMapping(target: RingTarget, syscall: string): number {
    const f = this.#mappedFile(target, syscall);
    if (this.#readOnly.has(f)) {
      throw new PerfemuError('ERR_PERFEMU_READ_ONLY_MAPPING', `${syscall}: the ring is mapped without PROT_WRITE, so data_tail cannot be written (a real reader would fault); read it with readRingOverwrite`);
    }
    return f;
  }

  #mappedFile(target: RingTarget, syscall: string): number {
    let f: number;
    if (typeof target === 'number') f = this.#perfFile(target, syscall);
    else if (typeof target === 'object' && target !== null && typeof target.file === 'number') {
      const found = [...this.#maps.keys()].find((mf) => file_serial(this.#host.k, mf) === target.file);
      if (found === undefined) throw new PerfemuError('ERR_PERFEMU_NOT_MAPPED', `${syscall}: file ${target.file} has no ring mapped in process ${this.name}`);
      f = found;
    } else throw invalidArgType('target', 'an fd or { file: id }', target);
    if (!this.#maps.has(f)) throw new PerfemuError('ERR_PERFEMU_NOT_MAPPED', `${syscall}: no ring of that event is mapped in process ${this.name}; mmap() it first`);
    return f;
  }
}

function named(name: string, v: unknown, names: Record<string, number>): number {
  if (typeof v === 'string') {
    const n = names[v];
    if (n === undefined) throw invalidArgValue(name, `must be a number or one of ${Object.keys(names).map((x) => `'${x}'`).join(', ')}`, v);
    return n;
  }
  return validateInt(name, v, 0, 0x7fffffff);
}

/** bpf(2) for one process */
export class BpfSyscalls {
  #p: Process;
  #k: Kctx;
  constructor(p: Process, k: Kctx) {
    this.#p = p;
    this.#k = k;
  }

  mapCreate(opts: MapCreateOptions): number {
    const k = this.#p.live('bpf');
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    checkKeys('options', opts, MAP_CREATE_KEYS);
    let mapType: number;
    if (typeof opts.type === 'string') {
      const t = MAP_TYPE_NAMES[opts.type];
      if (t === undefined) throw invalidArgValue('type', "must be 'perf_event_array', 'array' or a BPF_MAP_TYPE_* number", opts.type);
      mapType = t;
    } else mapType = validateU32('type', opts.type);
    if (mapType !== BPF_MAP_TYPE_PERF_EVENT_ARRAY && mapType !== BPF_MAP_TYPE_ARRAY && mapType > 0 && mapType <= KNOWN_MAP_TYPE_MAX) {
      throw new PerfemuError('ERR_PERFEMU_UNSUPPORTED', `map type ${mapType} is a kernel map type perfemu does not model (perf_event_array only)`);
    }
    const attr = {
      mapType,
      keySize: validateU32('keySize', opts.keySize),
      valueSize: validateU32('valueSize', opts.valueSize),
      maxEntries: validateU32('maxEntries', opts.maxEntries),
      mapFlags: validateU32('flags', opts.flags ?? 0),
      attrTail: validateU32('mapExtra', opts.mapExtra ?? 0) !== 0,
    };
    const info = `BPF_MAP_CREATE, type ${mapType}, key ${attr.keySize}, value ${attr.valueSize}, max_entries ${attr.maxEntries}, flags 0x${attr.mapFlags.toString(16)}`;
    const f = map_create(k, attr, this.#p);
    if (f === MAP_TYPE_NOT_MODELLED) {
      throw new PerfemuError('ERR_PERFEMU_UNSUPPORTED', `${info}: the kernel would create this map; perfemu models only perf event arrays`);
    }
    return this.#p.install(check(f, 'bpf', info), 'bpf');
  }

  /** BPF_MAP_UPDATE_ELEM: puts the perf event behind fd `value` at index `key` */
  mapUpdateElem(fd: number, key: number, value: number, flags = 0): void {
    const k = this.#p.live('bpf');
    validateU32('key', key);
    validateU32('value', value);
    validateU32('flags', flags);
    check(map_update_elem(k, this.#p.fileIndex(fd), key, this.#p.fileIndex(value, 'value'), flags, this.#p), 'bpf', `BPF_MAP_UPDATE_ELEM, fd ${fd}, key ${key}, value ${value}, flags ${flags}`);
  }

  /** BPF_MAP_LOOKUP_ELEM: a perf event array never returns its entries (always throws) */
  mapLookupElem(fd: number, key: number, flags = 0): number {
    const k = this.#p.live('bpf');
    validateU32('key', key);
    validateU32('flags', flags);
    return check(map_lookup_elem(k, this.#p.fileIndex(fd), key, flags, this.#p), 'bpf', `BPF_MAP_LOOKUP_ELEM, fd ${fd}, key ${key}`);
  }

  mapDeleteElem(fd: number, key: number): void {
    const k = this.#p.live('bpf');
    validateU32('key', key);
    check(map_delete_elem(k, this.#p.fileIndex(fd), key, this.#p), 'bpf', `BPF_MAP_DELETE_ELEM, fd ${fd}, key ${key}`);
  }

  /** BPF_MAP_GET_NEXT_KEY; `key` null passes a NULL key (start of iteration, 5.10+) */
  mapGetNextKey(fd: number, key: number | null): number {
    const k = this.#p.live('bpf');
    if (key !== null) validateU32('key', key);
    return check(map_get_next_key(k, this.#p.fileIndex(fd), key, this.#p), 'bpf', `BPF_MAP_GET_NEXT_KEY, fd ${fd}, key ${key}`);
  }

  /** BPF_MAP_FREEZE (5.10+; an unknown command, EINVAL, before) */
  mapFreeze(fd: number): void {
    const k = this.#p.live('bpf');
    const info = `BPF_MAP_FREEZE, fd ${fd}`;
    if (!k.b.freeze) throw new SystemCallError('bpf', -EINVAL, info, `kernel ${k.b.version} has no BPF_MAP_FREEZE`);
    check(map_freeze(k, this.#p.fileIndex(fd), this.#p), 'bpf', info);
  }

  /** BPF_MAP_GET_FD_BY_ID (4.13+): a new fd (a new map file: a new owner) for map `id` */
  mapGetFdById(id: number, openFlags = 0): number {
    const k = this.#p.live('bpf');
    validateU32('id', id);
    validateU32('openFlags', openFlags);
    const info = `BPF_MAP_GET_FD_BY_ID, id ${id}, open_flags ${openFlags}`;
    if (!k.b.mapGetFdById) throw new SystemCallError('bpf', -EINVAL, info, `kernel ${k.b.version} has no BPF_MAP_GET_FD_BY_ID`);
    return this.#p.install(check(map_get_fd_by_id(k, id, openFlags, this.#p), 'bpf', info), 'bpf');
  }

  /**
   * BPF_MAP_GET_NEXT_ID (4.13+; EINVAL, an unknown command, on 4.7/4.8): the smallest map id
   * above `startId` in the kernel's map idr, or ENOENT. A map leaves the idr when its last
   * reference goes (bpf_map_put -> bpf_map_free_id), before its deferred free runs.
   */
  mapGetNextId(startId: number): number {
    const k = this.#p.live('bpf');
    validateU32('startId', startId);
    const info = `BPF_MAP_GET_NEXT_ID, start_id ${startId}`;
    if (!k.b.mapGetFdById) throw new SystemCallError('bpf', -EINVAL, info, `kernel ${k.b.version} has no BPF_MAP_GET_NEXT_ID`);
    return check(map_get_next_id(k, startId, this.#p), 'bpf', info);
  }

  objPin(fd: number, path: string, flags = 0): void {
    const k = this.#p.live('bpf');
    if (typeof path !== 'string') throw invalidArgType('path', 'a string', path);
    validateU32('flags', flags);
    check(bpf_obj_pin(k, this.#p.fileIndex(fd), path, flags, this.#p), 'bpf', `BPF_OBJ_PIN, fd ${fd}, ${path}`);
  }

  /** BPF_OBJ_GET: a new fd (a new map file: a new owner) for the pinned object */
  objGet(path: string, flags = 0): number {
    const k = this.#p.live('bpf');
    if (typeof path !== 'string') throw invalidArgType('path', 'a string', path);
    validateU32('flags', flags);
    const f = check(bpf_obj_get(k, path, flags, this.#p), 'bpf', `BPF_OBJ_GET, ${path}, flags ${flags}`);
    return this.#p.install(f, 'bpf');
  }

  /** BPF_PROG_LOAD of a program that uses the maps behind `maps` (it holds a reference on each) */
  progLoad(opts: { maps: number[] }): number {
    const k = this.#p.live('bpf');
    if (typeof opts !== 'object' || opts === null || !Array.isArray(opts.maps)) throw invalidArgType('maps', 'an array of map fds', opts?.maps);
    checkKeys('options', opts, ['maps']);
    const files = opts.maps.map((fd, i) => this.#p.fileIndex(validateInt(`maps[${i}]`, fd, 0, 0x7fffffff)));
    const f = check(prog_load(k, files, this.#p), 'bpf', `BPF_PROG_LOAD, maps [${opts.maps.join(', ')}]`);
    return this.#p.install(f, 'bpf');
  }

  /** @internal the program behind a prog fd, or -1 */
  progIndex(fd: number): number {
    const f = this.#p.fileIndex(fd);
    if (f < 0 || file_kind(this.#k, f) !== FILE_KIND_PROG) return -1;
    return file_obj(this.#k, f);
  }
}
