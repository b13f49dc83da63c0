/**
 * A consumer in the spirit of libbpf's perf buffer (tools/lib/bpf/libbpf.c perf_buffer__*):
 * one BPF output event per online CPU, each mapped and put in the map at key = CPU id through
 * this process's map fd, all watched by one epoll instance; poll() blocks until a ring wakes
 * and drains every ready ring; sample and lost callbacks get the buffer's CPU.
 *
 * Beyond libbpf, the features of cilium/ebpf's perf.Reader (perf/reader.go): overwritable
 * rings read newest-first (a flight recorder), Pause/Resume by deleting and restoring this
 * reader's map entries, Flush through an eventfd in the epoll set, deadlines, WakeupEvents xor
 * Watermark, its own dup of the map fd; and PERF_EVENT_IOC_PAUSE_OUTPUT to compare with.
 *
 * Ownership: the entries are added through `mapFd`, so they belong to that map file. Closing
 * the buffer unmaps and closes its events; the slots are purged when that map file's last
 * reference goes (4.8+), or deleted here with `deleteOnClose` (what libbpf's free does).
 */
import { ERR } from '../arena/perfemu_error.js';
import { PerfemuError, SystemCallError, checkKeys, invalidArgType, invalidArgValue, optionKeys, validateInt } from '../errors.js';
import type { Kernel } from '../emulator.js';
import { EINVAL } from '../kernel/errno.js';
import { epoll_eventfd_signal, epoll_live } from '../kernel/eventpoll.js';
import type { Process } from '../process/process.js';
import { POLLHUP } from '../process/process.js';
import type { Kctx } from '../kernel/context.js';
import { type RingSink, recordView } from './ring_reader.js';

export interface PerfBufferOptions {
  /**
   * CPUs to open a buffer for (default: the online CPUs below the map's size, as libbpf does;
   * each buffer goes at key = its CPU id, never its position in this list)
   */
  cpus?: number[];
  /** data pages per ring, a power of two (default 8); or per CPU id: `{ 0: 16, 3: 2 }` (others 8) */
  pages?: number | Record<number, number>;
  /** wake the poller every N samples (default 1); an error together with `watermark` */
  wakeupEvents?: number;
  /** wake the poller every N bytes instead (attr.watermark); an error together with `wakeupEvents` */
  watermark?: number;
  /**
   * overwritable rings (cilium/ebpf's Overwritable): write_backward events mapped read-only, so
   * the kernel overwrites the oldest records instead of losing new ones. Every read pauses the
   * ring's output, reads newest-first, and resumes.
   */
  overwritable?: boolean;
  /** keep a dup of `mapFd`, so closing the caller's fd does not release the map file (default false) */
  ownMap?: boolean;
  /** called per sample with a view valid only during the call */
  onSample?: (cpu: number, data: Uint8Array, size: number) => void;
  /**
   * instead of onSample, zero-copy: the raw bytes are buf[offset, offset + size) (the arena's
   * bytes, or a scratch copy when a record wraps), valid only during the call; no view per record
   */
  onSampleAt?: (cpu: number, buf: Uint8Array, offset: number, size: number) => void;
  onLost?: (cpu: number, lost: number) => void;
  /** delete the slots on close, as libbpf's perf_buffer__free does (default false) */
  deleteOnClose?: boolean;
}

/** data pages per ring when `pages` does not say (bcc's open_perf_buffer default) */
const DEFAULT_PAGES = 8;
const POLL_KEYS = optionKeys<PerfBufferPollOptions>({ timeoutMs: true, deadline: true });
const FLUSH_HANDLE_KEYS = optionKeys<PerfBufferFlushHandle>({ epoll: true });
const PERF_BUFFER_KEYS = optionKeys<PerfBufferOptions>({
  cpus: true,
  pages: true,
  wakeupEvents: true,
  watermark: true,
  overwritable: true,
  ownMap: true,
  onSample: true,
  onSampleAt: true,
  onLost: true,
  deleteOnClose: true,
});

export interface PerfBufferStats {
  samples: number;
  /** lost records reported through PERF_RECORD_LOST */
  lost: number;
  /** poll() calls that returned at least one ready buffer (or drained every one after a flush) */
  wakeups: number;
}

/** one buffer's counts: this reader's, beside the kernel's (which a real reader cannot see) */
export interface PerfBufferCpuStats {
  cpu: number;
  /** samples this reader delivered */
  samples: number;
  /** losses reported to this reader by PERF_RECORD_LOST records */
  lost: number;
  /** kernel: losses not yet reported (rb->lost; a LOST record carries them with the next sample) */
  lostPending: number;
  /** kernel: samples written into the ring */
  written: number;
  /** kernel: outputs lost (no room, or output paused) */
  lostTotal: number;
  /** bytes in the ring not yet read (0 for an overwritable ring) */
  unreadBytes: number;
  /** overwritable: bytes written that were overwritten before a read reached them */
  overwrittenBytes: number;
}

export interface PerfBufferDetailedStats {
  cpus: PerfBufferCpuStats[];
  total: Omit<PerfBufferCpuStats, 'cpu'>;
}

/** what another thread needs to flush this buffer (PerfBuffer.flushFrom) */
export interface PerfBufferFlushHandle {
  epoll: number;
}

export interface PerfBufferPollOptions {
  /** wait at most this long (ms) */
  timeoutMs?: number;
  /** wait until this time (Date.now() ms, or a Date); a past deadline never blocks */
  deadline?: number | Date;
}

/**
 * One CPU's buffer: its event, this reader's counts, and the sink the ring walk delivers its
 * records to (one class for every PerfBuffer: see RingSink). The counts are taken from what a
 * walk returns (#drain), not per record: a walk whose callback throws is not consumed, and its
 * records come again with the next one.
 */
class Buf implements RingSink {
  samples = 0;
  lost = 0;
  overwritten = 0;
  private readonly onSample: PerfBufferOptions['onSample'];
  private readonly onSampleAt: PerfBufferOptions['onSampleAt'];
  private readonly onLost: PerfBufferOptions['onLost'];
  private readonly a: Kctx['a'];
  constructor(
    k: Kctx,
    opts: PerfBufferOptions,
    private readonly st: PerfBufferStats,
    readonly cpu: number,
    readonly fd: number,
  ) {
    this.onSample = opts.onSample;
    this.onSampleAt = opts.onSampleAt;
    this.onLost = opts.onLost;
    this.a = k.a;
  }
  deliverSample(buf: Uint8Array, offset: number, size: number): void {
    if (this.onSampleAt !== undefined) this.onSampleAt(this.cpu, buf, offset, size);
    else if (this.onSample !== undefined) this.onSample(this.cpu, recordView(this.a, buf, offset, size), size);
  }
  deliverLost(_id: number, n: number): void {
    this.onLost?.(this.cpu, n);
  }
  /** counts what a walk delivered */
  count(samples: number, lost: number): void {
    this.st.samples += samples;
    this.samples += samples;
    this.st.lost += lost;
    this.lost += lost;
  }
}

export class PerfBuffer {
  readonly process: Process;
  /** the map fd the entries go through (a dup of the caller's with `ownMap`) */
  readonly mapFd: number;
  readonly stats: PerfBufferStats = { samples: 0, lost: 0, wakeups: 0 };
  #bufs: Buf[] = [];
  #byFd = new Map<number, Buf>();
  #epfd: number;
  #opts: PerfBufferOptions;
  #closed = false;
  #ownMap: boolean;
  #paused = false;
  #deadline: number | null = null;

  private constructor(process: Process, mapFd: number, epfd: number, opts: PerfBufferOptions, ownMap: boolean) {
    this.process = process;
    this.mapFd = mapFd;
    this.#epfd = epfd;
    this.#opts = { ...opts }; // the callbacks as given at open: a later change to the caller's object does nothing
    this.#ownMap = ownMap;
  }

  /** perf_buffer__new: opens, maps and installs one event per CPU; undone on any error */
  static open(process: Process, mapFd: number, opts: PerfBufferOptions = {}): PerfBuffer {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    if (typeof process !== 'object' || process === null || typeof process.epollCreate !== 'function') throw invalidArgType('process', 'a Process', process);
    if (typeof mapFd !== 'number') throw invalidArgType('mapFd', 'an integer fd', mapFd);
    checkKeys('options', opts, PERF_BUFFER_KEYS);
    for (const cb of ['onSample', 'onSampleAt', 'onLost'] as const)
      if (opts[cb] !== undefined && typeof opts[cb] !== 'function') throw invalidArgType(cb, 'a function', opts[cb]);
    const bool = (n: string, v: unknown): boolean => {
      if (v !== undefined && typeof v !== 'boolean') throw invalidArgType(n, 'a boolean', v);
      return v === true;
    };
    if (opts.onSample !== undefined && opts.onSampleAt !== undefined)
      throw invalidArgValue('onSampleAt', 'cannot be given together with onSample (each record goes to one of them)', opts.onSampleAt);
    const overwritable = bool('overwritable', opts.overwritable);
    const ownMap = bool('ownMap', opts.ownMap);
    // cilium/ebpf's ReaderOptions: WakeupEvents and Watermark are mutually exclusive
    if ((opts.wakeupEvents ?? 0) > 0 && (opts.watermark ?? 0) > 0) {
      throw invalidArgValue('watermark', 'cannot be set together with wakeupEvents (one wakes by bytes, the other by samples)', opts.watermark);
    }
    const cpus = opts.cpus ?? defaultCpus(process, mapFd);
    if (!Array.isArray(cpus) || cpus.length === 0) throw invalidArgType('cpus', 'a non-empty array of CPU numbers', cpus);
    if (new Set(cpus).size !== cpus.length) throw invalidArgValue('cpus', 'must not repeat a CPU (one buffer per CPU, at key = its id)', cpus);
    const pagesOf = pagesFor(opts.pages, cpus);
    const fd = ownMap ? process.dup(mapFd) : mapFd;
    let epfd: number;
    try {
      epfd = process.epollCreate();
    } catch (err) {
      if (ownMap) process.close(fd);
      throw err;
    }
    const pb = new PerfBuffer(process, fd, epfd, opts, ownMap);
    const installed: number[] = []; // the keys this open has put an event at
    try {
      const k = process.live('PerfBuffer.open');
      for (const cpu of cpus) {
        const pfd = process.perfEventOpen({
          cpu,
          pages: pagesOf(cpu),
          wakeupEvents: opts.wakeupEvents ?? 1,
          watermark: opts.watermark ?? 0,
          writeBackward: overwritable,
          mmapWrite: !overwritable,
        });
        const b = new Buf(k, pb.#opts, pb.stats, cpu, pfd);
        pb.#bufs.push(b);
        pb.#byFd.set(pfd, b);
        process.bpf.mapUpdateElem(fd, cpu, pfd); // key = CPU id (cilium/ebpf #2100: never the position)
        installed.push(cpu);
        process.epollCtlAdd(epfd, pfd);
      }
    } catch (err) {
      // as libbpf's perf_buffer__free on a failed perf_buffer__new: the entries go too, so no
      // slot is left holding an event nobody reads (it would keep the event alive, and outputs
      // to it would count as lost instead of failing with ENOENT)
      try {
        for (const cpu of installed) pb.#deleteSlot(cpu);
      } finally {
        pb.close(); // and the error that made the open fail is the one reported
      }
      throw err;
    }
    return pb;
  }

  /**
   * Flushes a buffer from any thread (`kernel` is that thread's Kernel.attach of the same
   * arena): a poll blocked on it wakes and drains every ring.
   */
  static flushFrom(kernel: Kernel, handle: PerfBufferFlushHandle): void {
    if (typeof handle !== 'object' || handle === null) throw invalidArgType('handle', 'a PerfBufferFlushHandle', handle);
    checkKeys('handle', handle, FLUSH_HANDLE_KEYS);
    const ep = validateInt('handle.epoll', handle.epoll, 0, kernel.arena.L.maxEpoll - 1);
    // a handle that names no live epoll instance (its buffer closed, or never a handle) would
    // wake nobody, silently. (A closed buffer's handle whose slot a later buffer reuses names
    // that buffer: a handle carries no generation, as an eventfd number carries none.)
    if (!epoll_live(kernel.k, ep))
      throw new PerfemuError(
        ERR.CLOSED,
        `PerfBuffer.flushFrom: handle.epoll ${ep} names no open PerfBuffer's epoll instance (closed, or not a handle from flushHandle())`,
      );
    epoll_eventfd_signal(kernel.k, ep);
  }

  get bufferCount(): number {
    return this.#bufs.length;
  }
  /** the perf fd of buffer `i` (perf_buffer__buffer_fd) */
  bufferFd(i: number): number {
    return this.#buf(i).fd;
  }
  bufferCpu(i: number): number {
    return this.#buf(i).cpu;
  }
  get overwritable(): boolean {
    return this.#opts.overwritable === true;
  }
  /** whether pause() removed this reader's entries */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * perf_buffer__poll: waits for a wakeup, then drains every ready buffer; after a flush()
   * it drains every buffer, including records below the wakeup threshold. Waits `timeoutMs`,
   * or until `{ deadline }`, or (no argument) until the deadline set with setDeadline(); a past
   * deadline does not block. Returns the number of ready buffers (every buffer after a flush).
   * Blocks the calling thread
   * (use it in a worker, or with short timeouts on the main thread).
   */
  poll(timeout?: number | PerfBufferPollOptions): number {
    this.#open('poll');
    let timeoutMs: number;
    if (typeof timeout === 'number') timeoutMs = validateInt('timeoutMs', timeout, 0, 3_600_000);
    else if (timeout === undefined && this.#deadline === null) throw invalidArgType('timeoutMs', 'a number of ms (or set a deadline first)', timeout);
    else {
      if (timeout !== undefined && (typeof timeout !== 'object' || timeout === null))
        throw invalidArgType('timeout', 'a number of ms or { timeoutMs, deadline }', timeout);
      const o = timeout ?? {};
      checkKeys('timeout', o, POLL_KEYS);
      if (o.timeoutMs === undefined && o.deadline === undefined && this.#deadline === null)
        throw invalidArgValue('timeout', 'must give timeoutMs or deadline (or set a deadline first)', o);
      if (o.timeoutMs !== undefined && o.deadline !== undefined) throw invalidArgValue('deadline', 'cannot be given together with timeoutMs', o.deadline);
      if (o.timeoutMs !== undefined) timeoutMs = validateInt('timeoutMs', o.timeoutMs, 0, 3_600_000);
      else {
        const d = o.deadline !== undefined ? deadlineMs(o.deadline) : this.#deadline!;
        timeoutMs = Math.min(3_600_000, Math.max(0, d - Date.now()));
      }
    }
    const p = this.process;
    const ready = p.epollWait(this.#epfd, timeoutMs);
    const flushed = p.epollTakeSignal(this.#epfd);
    try {
      if (flushed) for (const b of this.#bufs) this.#drain(b);
      else {
        for (const r of ready) {
          const b = this.#byFd.get(r.fd);
          if (b && r.revents !== POLLHUP) this.#drain(b);
        }
      }
    } catch (err) {
      // A callback threw. The wait took the readiness of every ready ring, and the rings after
      // this one were not drained: signal the eventfd, so the next poll drains every ring
      // (unless the callback closed the buffer).
      if (!this.#closed) p.epollSignal(this.#epfd);
      throw err;
    }
    if (ready.length > 0 || flushed) this.stats.wakeups++;
    return flushed ? this.#bufs.length : ready.length;
  }

  /**
   * cilium/ebpf's SetDeadline: the deadline poll() waits until when called without a timeout
   * (Date.now() ms, or a Date); null clears it.
   */
  setDeadline(deadline: number | Date | null): void {
    this.#open('setDeadline');
    this.#deadline = deadline === null ? null : deadlineMs(deadline);
  }

  /**
   * cilium/ebpf's Flush: signals the eventfd in this buffer's epoll set, so a poll blocked on
   * it (or the next poll) returns at once and drains every ring, records below the wakeup
   * threshold included. From another thread use flushHandle() and PerfBuffer.flushFrom.
   */
  flush(): void {
    this.#open('flush');
    this.process.epollSignal(this.#epfd);
  }

  /** what PerfBuffer.flushFrom needs; plain data, so it can be posted to another thread */
  flushHandle(): PerfBufferFlushHandle {
    this.#open('flushHandle');
    return { epoll: this.process.epollIndex(this.#epfd) };
  }

  /** perf_buffer__consume: drains every buffer, ready or not; returns records delivered */
  consume(): number {
    this.#open('consume');
    let n = 0;
    for (const b of this.#bufs) n += this.#drain(b);
    return n;
  }

  /** perf_buffer__consume_buffer */
  consumeBuffer(i: number): number {
    this.#open('consumeBuffer');
    return this.#drain(this.#buf(i));
  }

  /**
   * cilium/ebpf's Pause: deletes this reader's entries from the map, so the program's outputs
   * find an empty slot (ENOENT) and nothing is counted lost in the rings. Idempotent.
   */
  pause(): void {
    this.#open('pause');
    if (this.#paused) return;
    for (const b of this.#bufs) this.#deleteSlot(b.cpu);
    this.#paused = true;
  }

  /** cilium/ebpf's Resume: puts this reader's events back at their CPU ids. Idempotent. */
  resume(): void {
    this.#open('resume');
    if (!this.#paused) return;
    for (const b of this.#bufs) this.process.bpf.mapUpdateElem(this.mapFd, b.cpu, b.fd);
    this.#paused = false;
  }

  /**
   * PERF_EVENT_IOC_PAUSE_OUTPUT 1 on every ring: the entries stay, and each output while paused
   * is counted lost (reported by a PERF_RECORD_LOST after resumeOutput; 5.10+ programs get
   * -ENOSPC, 4.x programs 0). What cilium/ebpf #29 moved away from; here to compare.
   */
  pauseOutput(): void {
    this.#open('pauseOutput');
    for (const b of this.#bufs) this.process.ioctl(b.fd, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 1);
  }

  /** PERF_EVENT_IOC_PAUSE_OUTPUT 0 on every ring */
  resumeOutput(): void {
    this.#open('resumeOutput');
    for (const b of this.#bufs) this.process.ioctl(b.fd, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 0);
  }

  /**
   * Per CPU: what this reader got (samples, losses reported) beside the kernel's own counts
   * (losses still pending in rb->lost, samples written, outputs lost), and the totals. Once
   * every ring is drained, samples = written and lost + lostPending = lostTotal, per CPU
   * (for an overwritable ring, samples + the overwritten ones = written).
   */
  statsByCpu(): PerfBufferDetailedStats {
    this.#open('statsByCpu');
    const cpus = this.#bufs.map((b): PerfBufferCpuStats => {
      const r = this.process.ringState(b.fd);
      const unread = r === null || r.overwrite ? 0 : r.backward ? (r.tail - r.head) >>> 0 : (r.head - r.tail) >>> 0;
      return {
        cpu: b.cpu,
        samples: b.samples,
        lost: b.lost,
        lostPending: r?.lostPending ?? 0,
        written: r?.written ?? 0,
        lostTotal: r?.lostTotal ?? 0,
        unreadBytes: unread,
        overwrittenBytes: b.overwritten,
      };
    });
    const total = { samples: 0, lost: 0, lostPending: 0, written: 0, lostTotal: 0, unreadBytes: 0, overwrittenBytes: 0 };
    for (const c of cpus) for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += c[key];
    return { cpus, total };
  }

  /** unmaps and closes every event (and deletes the slots with `deleteOnClose`); idempotent */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const p = this.process;
    if (!p.alive) return;
    for (const b of this.#bufs) {
      if (this.#opts.deleteOnClose && !this.#paused) this.#deleteSlot(b.cpu);
      p.munmap(b.fd);
      p.close(b.fd);
    }
    p.close(this.#epfd);
    if (this.#ownMap) p.close(this.mapFd);
  }

  #drain(b: Buf): number {
    if (!this.#opts.overwritable) {
      const w = this.process.ringConsume(b.fd, 'consume', b);
      b.count(w.samples, w.lost);
      return w.n;
    }
    // as perf tools read an overwrite ring: pause the output, walk back from the newest
    // record, resume (outputs in between are counted lost, reported with the next sample)
    const p = this.process;
    p.ioctl(b.fd, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 1);
    try {
      const r = p.ringReadOverwrite(b.fd, 'consume', b);
      b.count(r.samples, r.lost);
      b.overwritten += r.overwrittenBytes;
      return r.records;
    } finally {
      p.ioctl(b.fd, 'PERF_EVENT_IOC_PAUSE_OUTPUT', 0);
    }
  }

  /** deletes this reader's slot `cpu` through its map fd (already empty: nothing to do) */
  #deleteSlot(cpu: number): void {
    try {
      this.process.bpf.mapDeleteElem(this.mapFd, cpu);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
    }
  }

  #buf(i: number): Buf {
    const b = this.#bufs[validateInt('i', i, 0, this.#bufs.length - 1)];
    return b!;
  }

  #open(op: string): void {
    if (this.#closed) throw new PerfemuError(ERR.CLOSED, `PerfBuffer.${op}: the buffer is closed`);
  }
}

function deadlineMs(d: unknown): number {
  if (d instanceof Date) return d.getTime();
  if (typeof d !== 'number' || !Number.isFinite(d)) throw invalidArgType('deadline', 'a Date or a Date.now() number', d);
  return d;
}

/**
 * Data pages per CPU. libbpf's perf_buffer__new refuses a count that is 0 or not a power of two
 * with EINVAL before it opens anything; so does this, naming the option.
 */
function pagesFor(pages: PerfBufferOptions['pages'], cpus: number[]): (cpu: number) => number {
  const check = (name: string, n: unknown): number => {
    const v = validateInt(name, n, 0, 1 << 18);
    if (v === 0 || (v & (v - 1)) !== 0) throw new SystemCallError('perf_buffer__new', -EINVAL, `${name} = ${v}`, 'the page count must be a power of two');
    return v;
  };
  if (pages === undefined) return () => DEFAULT_PAGES;
  if (typeof pages === 'number') {
    check('pages', pages);
    return () => pages;
  }
  if (typeof pages !== 'object' || pages === null) throw invalidArgType('pages', 'a number or { [cpu]: pages }', pages);
  for (const [cpu, n] of Object.entries(pages)) {
    if (!/^\d+$/.test(cpu)) throw invalidArgValue('pages', `keys must be CPU ids (got '${cpu}')`, pages);
    if (!cpus.includes(Number(cpu))) throw invalidArgValue(`pages[${cpu}]`, `names CPU ${cpu}, which gets no buffer (cpus: ${cpus.join(',')})`, n);
    check(`pages[${cpu}]`, n);
  }
  return (cpu) => pages[cpu] ?? DEFAULT_PAGES;
}

function defaultCpus(process: Process, mapFd: number): number[] {
  // libbpf opens a buffer per online CPU (parse_cpu_mask_file of .../cpu/online), keyed by CPU
  // id and capped at the map's max_entries; find the size by walking keys (the only way user
  // space can learn it here)
  let n = 1;
  try {
    for (let key = 0; ; key = process.bpf.mapGetNextKey(mapFd, key)) {
      if (key + 1 > n) n = key + 1;
      if (n > 4096) break;
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  return process.onlineCpus.filter((c) => c < n);
}
