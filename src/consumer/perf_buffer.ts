/**
 * A consumer in the spirit of libbpf's perf buffer (tools/lib/bpf/libbpf.c perf_buffer__*):
 * one BPF output event per CPU, each mapped and put in the map at key = CPU through this
 * process's map fd, all watched by one epoll instance; poll() blocks until a ring wakes and
 * drains every ready ring; sample and lost callbacks get the buffer's CPU.
 *
 * Ownership: the entries are added through `mapFd`, so they belong to that map file. Closing
 * the buffer unmaps and closes its events; the slots are purged when that map file's last
 * reference goes (4.8+), or deleted here with `deleteOnClose` (what libbpf's free does).
 */
import { PerfemuError, checkKeys, invalidArgType, optionKeys, validateInt } from '../errors.js';
import type { Process } from '../process/process.js';
import { POLLHUP } from '../process/process.js';

export interface PerfBufferOptions {
  /** CPUs to open a buffer for (default: every CPU below the map's size, as libbpf caps it) */
  cpus?: number[];
  /** data pages per ring, a power of two (default 8) */
  pages?: number;
  /** wake the poller every N samples (default 1); ignored when `watermark` is set */
  wakeupEvents?: number;
  /** wake the poller every N bytes instead (attr.watermark) */
  watermark?: number;
  /** called per sample with a view valid only during the call */
  onSample?: (cpu: number, data: Uint8Array, size: number) => void;
  onLost?: (cpu: number, lost: number) => void;
  /** delete the slots on close, as libbpf's perf_buffer__free does (default false) */
  deleteOnClose?: boolean;
}

const PERF_BUFFER_KEYS = optionKeys<PerfBufferOptions>({
  cpus: true, pages: true, wakeupEvents: true, watermark: true, onSample: true, onLost: true, deleteOnClose: true,
});

export interface PerfBufferStats {
  samples: number;
  /** lost records reported through PERF_RECORD_LOST */
  lost: number;
  /** poll() calls that returned at least one ready buffer */
  wakeups: number;
}

interface Buf {
  cpu: number;
  fd: number;
}

export class PerfBuffer {
  readonly process: Process;
  readonly mapFd: number;
  readonly stats: PerfBufferStats = { samples: 0, lost: 0, wakeups: 0 };
  #bufs: Buf[] = [];
  #byFd = new Map<number, Buf>();
  #epfd: number;
  #opts: PerfBufferOptions;
  #closed = false;

  private constructor(process: Process, mapFd: number, epfd: number, opts: PerfBufferOptions) {
    this.process = process;
    this.mapFd = mapFd;
    this.#epfd = epfd;
    this.#opts = opts;
  }

  /** perf_buffer__new: opens, maps and installs one event per CPU; undone on any error */
  static open(process: Process, mapFd: number, opts: PerfBufferOptions = {}): PerfBuffer {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    if (typeof process !== 'object' || process === null || typeof process.epollCreate !== 'function') throw invalidArgType('process', 'a Process', process);
    if (typeof mapFd !== 'number') throw invalidArgType('mapFd', 'an integer fd', mapFd);
    checkKeys('options', opts, PERF_BUFFER_KEYS);
    for (const cb of ['onSample', 'onLost'] as const) if (opts[cb] !== undefined && typeof opts[cb] !== 'function') throw invalidArgType(cb, 'a function', opts[cb]);
    const cpus = opts.cpus ?? defaultCpus(process, mapFd);
    if (!Array.isArray(cpus) || cpus.length === 0) throw invalidArgType('cpus', 'a non-empty array of CPU numbers', cpus);
    const epfd = process.epollCreate();
    const pb = new PerfBuffer(process, mapFd, epfd, opts);
    try {
      for (const cpu of cpus) {
        const fd = process.perfEventOpen({
          cpu, pages: opts.pages ?? 8, wakeupEvents: opts.wakeupEvents ?? 1, watermark: opts.watermark ?? 0,
        });
        const b = { cpu, fd };
        pb.#bufs.push(b);
        pb.#byFd.set(fd, b);
        process.bpf.mapUpdateElem(mapFd, cpu, fd);
        process.epollCtlAdd(epfd, fd);
      }
    } catch (err) {
      pb.close();
      throw err;
    }
    return pb;
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

  /**
   * perf_buffer__poll: waits up to `timeoutMs` for a wakeup, then drains every ready buffer.
   * Returns the number of ready buffers. Blocks the calling thread (use it in a worker, or with
   * short timeouts on the main thread).
   */
  poll(timeoutMs: number): number {
    this.#open('poll');
    validateInt('timeoutMs', timeoutMs, 0, 3_600_000);
    const ready = this.process.epollWait(this.#epfd, timeoutMs);
    for (const r of ready) {
      const b = this.#byFd.get(r.fd);
      if (b && r.revents !== POLLHUP) this.#drain(b);
    }
    if (ready.length > 0) this.stats.wakeups++;
    return ready.length;
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

  /** unmaps and closes every event (and deletes the slots with `deleteOnClose`); idempotent */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const p = this.process;
    if (!p.alive) return;
    for (const b of this.#bufs) {
      if (this.#opts.deleteOnClose) {
        try {
          p.bpf.mapDeleteElem(this.mapFd, b.cpu);
        } catch (err) {
          if ((err as { code?: string }).code !== 'ENOENT') throw err;
        }
      }
      p.munmap(b.fd);
      p.close(b.fd);
    }
    p.close(this.#epfd);
  }

  #drain(b: Buf): number {
    const { onSample, onLost } = this.#opts;
    const st = this.stats;
    return this.process.consumeRing(
      b.fd,
      (data, size) => {
        st.samples++;
        onSample?.(b.cpu, data, size);
      },
      (_id, lost) => {
        st.lost += lost;
        onLost?.(b.cpu, lost);
      },
    );
  }

  #buf(i: number): Buf {
    const b = this.#bufs[validateInt('i', i, 0, this.#bufs.length - 1)];
    return b!;
  }

  #open(op: string): void {
    if (this.#closed) throw new PerfemuError('ERR_PERFEMU_CLOSED', `PerfBuffer.${op}: the buffer is closed`);
  }
}

function defaultCpus(process: Process, mapFd: number): number[] {
  // libbpf opens a buffer per possible CPU, capped at the map's max_entries; find the size by
  // walking keys (the only way user space can learn it here)
  let n = 1;
  try {
    for (let key = 0; ; key = process.bpf.mapGetNextKey(mapFd, key)) {
      if (key + 1 > n) n = key + 1;
      if (n > 4096) break;
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  return Array.from({ length: Math.min(n, process.nrCpus) }, (_, c) => c);
}
