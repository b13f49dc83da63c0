/**
 * A process's rings: its mappings (which rings it mapped, how, and where its overwrite reads
 * stopped), the reads of those rings (through the user-space reader, consumer/ring_reader.ts),
 * poll(2) and its epoll instances. Process (process.ts) owns one and forwards its ring
 * methods here; the fd table stays in Process.
 */
import type { RingState } from '../kernel/ring_buffer.js';
import { ERR } from '../arena/perfemu_error.js';
import { ARENA_MAGIC, E_CPU, FILE_KIND_EPOLL, FILE_KIND_MAP, FILE_KIND_PERF, FILE_KIND_PROG, H_MAGIC } from '../arena/layout.js';
import { PerfemuError, SystemCallError, check, checkKeys, invalidArgType, optionKeys, validateInt } from '../errors.js';
import {
  NO_WALK,
  perf_ring_consume,
  perf_ring_read,
  perf_ring_read_overwrite,
  RawSink,
  ViewSink,
  type LostFn,
  type OverwriteRead,
  type RingRecord,
  type RingSink,
  type RingWalk,
  type SampleAtFn,
  type SampleFn,
} from '../consumer/ring_reader.js';
import type { Kctx } from '../kernel/context.js';
import { EBADF, EINVAL, ENODEV } from '../kernel/errno.js';
import {
  ep_alloc,
  ep_free,
  ep_hook,
  ep_sleep,
  epoll_create,
  epoll_eventfd_pending,
  epoll_eventfd_signal,
  epoll_eventfd_take,
  epoll_wake_word,
  epoll_watch,
} from '../kernel/eventpoll.js';
import { file_kind, file_obj, file_serial } from '../kernel/file.js';
import { event_field, event_rb, perf_mmap, perf_munmap } from '../kernel/perf_event.js';
import { rb_poll_and_clear, rb_state } from '../kernel/ring_buffer.js';
import type { Task } from './task.js';

export const POLLIN = 0x1;
export const POLLHUP = 0x10;

/** options of Process.mmap */
export interface MmapOptions {
  /** PROT_WRITE (default true); a read-only first mapping makes the ring overwritable */
  write?: boolean;
}
const MMAP_KEYS = optionKeys<MmapOptions>({ write: true });

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

/** a ring target: an open perf fd, or the file id of a mapping kept after its fd was closed */
export type RingTarget = number | { file: number };

/** the perf file behind `fd` in `p`'s table: EBADF if none, EINVAL if not a perf event */
export function perfFileOf(p: Task, k: Kctx, fd: number, syscall: string): number {
  const f = p.fileIndex(fd);
  if (f < 0) throw new SystemCallError(syscall, -EBADF, `fd ${fd}`);
  if (file_kind(k, f) !== FILE_KIND_PERF) throw new SystemCallError(syscall, -EINVAL, `fd ${fd}`, 'not a perf event fd');
  return f;
}

export type { RingState };

export class ProcessRings {
  readonly #p: Task;
  readonly #k: Kctx;
  /** perf file index -> event index, for each ring this process has mapped */
  #maps = new Map<number, number>();
  /** perf file index -> data_head at the previous overwrite read, for read-only mappings */
  #readOnly = new Map<number, number>();
  /** same, for writable mappings of overwrite rings read with readRingOverwrite */
  #lastHead = new Map<number, number>();
  /** epoll file index -> the perf fds it watches */
  #epolls = new Map<number, number[]>();

  constructor(p: Task, k: Kctx) {
    this.#p = p;
    this.#k = k;
  }

  #fd(fd: number, name = 'fd'): number | undefined {
    const f = this.#p.fileIndex(fd, name);
    return f < 0 ? undefined : f;
  }

  /** file indices of the perf events whose ring this process has mapped */
  mappedFiles(): number[] {
    return [...this.#maps.keys()];
  }

  /** the process closed its last fd of file `f` */
  forget(f: number): void {
    this.#epolls.delete(f);
  }

  /** exit: every mapping goes (before the fds are closed) */
  unmapAll(k: Kctx): void {
    for (const f of [...this.#maps.keys()]) {
      this.#maps.delete(f);
      this.#readOnly.delete(f);
      this.#lastHead.delete(f);
      perf_munmap(k, file_obj(k, f));
    }
  }

  /**
   * maps the event's ring: 1 control page + `pages` data pages (0 or a power of two).
   * `{ write: false }` maps it without PROT_WRITE: if this mapping creates the ring, the ring is
   * overwritable (rb->overwrite); this process cannot write data_tail through it (readRing
   * refuses; use readRingOverwrite).
   */
  mmap(fd: number, pages = 8, opts: MmapOptions = {}): void {
    const k = this.#p.live('mmap');
    validateInt('pages', pages, 0, 1 << 18);
    const mf = this.#fd(fd);
    if (mf !== undefined && file_kind(k, mf) === FILE_KIND_MAP) {
      throw new SystemCallError('mmap', -k.b.mapMmapErrno, `fd ${fd}`, 'a perf event array has no mmap');
    }
    if (mf !== undefined && (file_kind(k, mf) === FILE_KIND_PROG || file_kind(k, mf) === FILE_KIND_EPOLL)) {
      throw new SystemCallError('mmap', -ENODEV, `fd ${fd}`, 'the file has no mmap operation');
    }
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    checkKeys('options', opts, MMAP_KEYS);
    if (opts.write !== undefined && typeof opts.write !== 'boolean') throw invalidArgType('write', 'a boolean', opts.write);
    const write = opts.write ?? true;
    const f = perfFileOf(this.#p, this.#k, fd, 'mmap');
    if (this.#maps.has(f)) throw new SystemCallError('mmap', -EINVAL, `fd ${fd}`, 'this process has mapped that ring already');
    check(
      perf_mmap(k, file_obj(k, f), pages, write),
      'mmap',
      `fd ${fd}, ${1 + pages} pages${write ? '' : ', PROT_READ'}`,
      pages & (pages - 1) ? 'the data page count must be 0 or a power of two' : undefined,
    );
    this.#maps.set(f, file_obj(k, f));
    if (!write) this.#readOnly.set(f, 0);
  }

  /** unmaps a ring; the last mapping of a ring detaches it from its event */
  munmap(target: RingTarget): void {
    const k = this.#p.live('munmap');
    const f = this.#mappedFile(target, 'munmap');
    this.#maps.delete(f);
    this.#readOnly.delete(f);
    this.#lastHead.delete(f);
    perf_munmap(k, file_obj(k, f));
  }

  /** every record since the last read, advancing data_tail (perf_event_read_simple) */
  readRing(target: RingTarget, max?: number): RingRecord[] {
    const k = this.#p.live('readRing');
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
    const k = this.#p.live('consumeRing');
    if (typeof onSample !== 'function') throw invalidArgType('onSample', 'a function', onSample);
    checkLost(onLost);
    return this.#consume(k, 'consumeRing', target, new ViewSink(k, onSample, onLost), max).n;
  }

  /**
   * consumeRingRaw for PerfBuffer, whose callbacks are its own (trusted) and whose errors name
   * its operation `op`: what the walk did (records, samples).
   */
  ringConsume(target: RingTarget, op: string, sink: RingSink): RingWalk {
    return this.#consume(this.#p.live(op), op, target, sink, undefined);
  }

  consumeRingRaw(target: RingTarget, onSampleAt: SampleAtFn, onLost: LostFn = () => true, max?: number): number {
    const k = this.#p.live('consumeRingRaw');
    if (typeof onSampleAt !== 'function') throw invalidArgType('onSampleAt', 'a function', onSampleAt);
    checkLost(onLost);
    return this.#consume(k, 'consumeRingRaw', target, new RawSink(onSampleAt, onLost), max).n;
  }

  /** what consumeRing, consumeRingRaw and ringConsume share once their callbacks are checked */
  #consume(k: Kctx, op: string, target: RingTarget, sink: RingSink, max: number | undefined): RingWalk {
    const rb = this.#writableRing(k, target, op);
    if (rb < 0) return NO_WALK;
    return perf_ring_consume(k, rb, sink, max === undefined ? Infinity : validateInt('max', max, 1, 0x7fffffff));
  }

  /** the ring of a writable mapping of `target` (checked as `op`), or -1 when it has none */
  #writableRing(k: Kctx, target: RingTarget, op: string): number {
    return event_rb(k, file_obj(k, this.#writableMapping(target, op)));
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
    const sink = new RawSink(
      (buf, offset, size) => void records.push({ type: 'sample', cpu, size, data: buf.slice(offset, offset + size) }),
      (id, lost) => void records.push({ type: 'lost', cpu, id, lost }),
    );
    const r = this.#overwriteRead(this.#p.live('readRingOverwrite'), target, 'readRingOverwrite', (c) => (cpu = c), sink, max);
    return { records, overwrittenBytes: r.overwrittenBytes, overrun: r.overrun };
  }

  /** readRingOverwrite with callbacks and views (valid only during the call), no copies */
  consumeRingOverwrite(target: RingTarget, onSample: SampleFn, onLost: LostFn = () => true, max?: number): OverwriteRead {
    const k = this.#p.live('consumeRingOverwrite');
    return this.#overwriteRead(k, target, 'consumeRingOverwrite', () => {}, new ViewSink(k, onSample, onLost), max);
  }

  /** consumeRingOverwrite for PerfBuffer, to its own sink, errors named as `op` (as ringConsume) */
  ringReadOverwrite(target: RingTarget, op: string, sink: RingSink): OverwriteRead {
    return this.#overwriteRead(this.#p.live(op), target, op, () => {}, sink, undefined);
  }

  #overwriteRead(k: Kctx, target: RingTarget, syscall: string, setCpu: (cpu: number) => void, sink: RingSink, max?: number): OverwriteRead {
    const f = this.#mappedFile(target, syscall);
    const e = file_obj(k, f);
    const rb = event_rb(k, e);
    if (rb < 0) return { head: 0, records: 0, samples: 0, lost: 0, overwrittenBytes: 0, overrun: false };
    if (!rb_state(k, rb).overwrite) {
      throw new PerfemuError(ERR.NOT_OVERWRITE, `${syscall}: the ring was mapped writable first, so it is not overwritable; read it with readRing`);
    }
    setCpu(event_field(k, e, E_CPU));
    const seen = this.#readOnly.has(f) ? this.#readOnly : this.#lastHead;
    const r = perf_ring_read_overwrite(k, rb, seen.get(f) ?? 0, sink, max === undefined ? Infinity : validateInt('max', max, 1, 0x7fffffff));
    seen.set(f, r.head);
    return r;
  }

  /**
   * the emulator's view of a mapped ring: data_head/data_tail and the kernel's private words
   * (rb->lost, rb->paused, rb->overwrite) and counters, which a real process cannot read
   */
  ringState(target: RingTarget): RingState | null {
    const k = this.#p.live('ringState');
    const f = this.#mappedFile(target, 'ringState');
    const rb = event_rb(k, file_obj(k, f));
    return rb < 0 ? null : rb_state(k, rb);
  }

  /**
   * poll(2) on perf fds: POLLIN once per wakeup (the readiness is cleared by the report),
   * POLLHUP for an event without a ring. Waits up to `timeoutMs` (0: no wait) for any of them:
   * as the kernel's poll hangs one wait-queue entry on each file, this hangs a private eventpoll
   * (kernel/eventpoll.ts ep_alloc) on each event that no epoll instance watches yet and sleeps
   * on its one word, which any of those rings' wakeups bumps. An event an epoll instance
   * already watches wakes that instance's word instead (an event has one E_EPOLL word); while
   * such an event is in the set, the sleep is cut into 5 ms slices so it is still seen.
   */
  poll(fds: number[], timeoutMs = 0): { fd: number; revents: number }[] {
    const k = this.#p.live('poll');
    if (!Array.isArray(fds)) throw invalidArgType('fds', 'an array of fds', fds);
    validateInt('timeoutMs', timeoutMs, 0, 3_600_000);
    const files = fds.map((fd) => perfFileOf(this.#p, this.#k, fd, 'poll'));
    const scan = (): { fd: number; revents: number }[] => {
      const ready: { fd: number; revents: number }[] = [];
      files.forEach((f, i) => {
        const rb = event_rb(k, file_obj(k, f));
        if (rb < 0) ready.push({ fd: fds[i]!, revents: POLLHUP });
        else if (rb_poll_and_clear(k, rb)) ready.push({ fd: fds[i]!, revents: POLLIN });
      });
      return ready;
    };
    if (timeoutMs === 0) return scan();
    if (files.length === 0) {
      Atomics.wait(k.a.i32, H_MAGIC, ARENA_MAGIC, timeoutMs); // poll([], t) sleeps t
      return [];
    }
    const ep = ep_alloc(k);
    if (ep < 0) throw new SystemCallError('poll', ep, `${fds.length} fds`);
    const events = files.map((f) => file_obj(k, f));
    const shared = events.filter((e) => !ep_hook(k, ep, e)).length > 0;
    try {
      const word = epoll_wake_word(k, ep);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const seq = k.a.load(word); // before the scan: a wakeup after it changes the word
        const ready = scan();
        const left = deadline - Date.now();
        if (ready.length > 0 || left <= 0) return ready;
        ep_sleep(k, word, seq, shared ? Math.min(left, 5) : left);
      }
    } finally {
      ep_free(k, ep);
    }
  }

  /** epoll_create: an instance that waits on many perf fds at once */
  epollCreate(): number {
    const k = this.#p.live('epoll_create');
    const f = check(epoll_create(k), 'epoll_create', '');
    const fd = this.#p.install(f, 'epoll_create');
    this.#epolls.set(f, []);
    return fd;
  }

  /** epoll_ctl(EPOLL_CTL_ADD, perfFd, EPOLLIN) */
  epollCtlAdd(epfd: number, perfFd: number): void {
    const k = this.#p.live('epoll_ctl');
    if (typeof perfFd !== 'number') throw invalidArgType('perfFd', 'an integer fd', perfFd);
    const ef = this.#epollFile(epfd, 'epoll_ctl');
    const pf = perfFileOf(this.#p, this.#k, perfFd, 'epoll_ctl');
    epoll_watch(k, file_obj(k, ef), file_obj(k, pf));
    this.#epolls.get(ef)!.push(perfFd);
  }

  /**
   * epoll_wait: the watched perf fds that are readable (POLLIN, cleared by the report) or have
   * no ring (POLLHUP), waiting up to `timeoutMs` for one. Blocks the thread (Atomics.wait).
   */
  epollWait(epfd: number, timeoutMs: number): { fd: number; revents: number }[] {
    const k = this.#p.live('epoll_wait');
    validateInt('timeoutMs', timeoutMs, 0, 3_600_000);
    const ef = this.#epollFile(epfd, 'epoll_wait');
    const word = epoll_wake_word(k, file_obj(k, ef));
    const watched = this.#epolls.get(ef)!.filter((fd) => this.#p.fileIndex(fd) >= 0);
    const ep = file_obj(k, ef);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seq = k.a.load(word); // before the checks: a wakeup after them changes it
      const ready: { fd: number; revents: number }[] = [];
      for (const fd of watched) {
        const rb = event_rb(k, file_obj(k, this.#fd(fd)!));
        if (rb < 0) ready.push({ fd, revents: POLLHUP });
        else if (rb_poll_and_clear(k, rb)) ready.push({ fd, revents: POLLIN });
      }
      const left = deadline - Date.now();
      // a signalled eventfd (epollSignal) ends the wait too; the caller takes it
      if (ready.length > 0 || left <= 0 || epoll_eventfd_pending(k, ep)) return ready;
      ep_sleep(k, word, seq, left);
    }
  }

  /**
   * eventfd_write on the eventfd registered in an epoll instance: wakes a thread blocked in
   * epollWait on it (cilium/ebpf's Flush). Any thread can do it with epollSignalFrom.
   */
  epollSignal(epfd: number): void {
    const k = this.#p.live('write');
    epoll_eventfd_signal(k, file_obj(k, this.#epollFile(epfd, 'write')));
  }

  /** reads (and clears) that eventfd: true if it was signalled since the last take */
  epollTakeSignal(epfd: number): boolean {
    const k = this.#p.live('read');
    return epoll_eventfd_take(k, file_obj(k, this.#epollFile(epfd, 'read'))) !== 0;
  }

  /** @internal the epoll instance behind an epoll fd (for a signal from another thread) */
  epollIndex(epfd: number): number {
    const k = this.#p.live('epoll');
    return file_obj(k, this.#epollFile(epfd, 'epoll'));
  }

  #epollFile(epfd: number, syscall: string): number {
    const f = this.#fd(epfd, 'epfd');
    if (f === undefined) throw new SystemCallError(syscall, -EBADF, `fd ${epfd}`);
    if (!this.#epolls.has(f)) throw new SystemCallError(syscall, -EINVAL, `fd ${epfd}`, 'not an epoll fd');
    return f;
  }

  /** a mapping through which data_tail can be written (not a read-only one) */
  #writableMapping(target: RingTarget, syscall: string): number {
    const f = this.#mappedFile(target, syscall);
    if (this.#readOnly.has(f)) {
      throw new PerfemuError(
        ERR.READ_ONLY_MAPPING,
        `${syscall}: the ring is mapped without PROT_WRITE, so data_tail cannot be written (a real reader would fault); read it with readRingOverwrite`,
      );
    }
    return f;
  }

  #mappedFile(target: RingTarget, syscall: string): number {
    let f: number;
    if (typeof target === 'number') f = perfFileOf(this.#p, this.#k, target, syscall);
    else if (typeof target === 'object' && target !== null && typeof target.file === 'number') {
      const found = [...this.#maps.keys()].find((mf) => file_serial(this.#k, mf) === target.file);
      if (found === undefined) throw new PerfemuError(ERR.NOT_MAPPED, `${syscall}: file ${target.file} has no ring mapped in process ${this.#p.name}`);
      f = found;
    } else throw invalidArgType('target', 'an fd or { file: id }', target);
    if (!this.#maps.has(f)) throw new PerfemuError(ERR.NOT_MAPPED, `${syscall}: no ring of that event is mapped in process ${this.#p.name}; mmap() it first`);
    return f;
  }
}

function checkLost(onLost: unknown): void {
  if (typeof onLost !== 'function') throw invalidArgType('onLost', 'a function', onLost);
}
