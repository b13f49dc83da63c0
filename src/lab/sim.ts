/**
 * One point of the lab: a deterministic, single-threaded run of the kernel's own output, ring
 * and epoll code on a virtual nanosecond clock. Every simulated CPU is an actor whose events
 * are its program's outputs (bpf_perf_event_output, as kernel.cpu(c).perfEventOutput runs it);
 * the consumer is one more actor modelling libbpf's perf buffer (tools/lib/bpf/libbpf.c:
 * perf_buffer__poll -> epoll_wait -> perf_buffer__process_records -> perf_event_read_simple).
 *
 * Nothing of the ring is re-implemented here: the CPUs call the helper, the consumer calls the
 * process's epoll_wait and ring walk (perf_ring_consume). Time is the only thing the lab adds:
 * which actor acts next, and how long the consumer is busy.
 *
 * One liberty with time, and why it is exact: perf_event_read_simple loads data_head once,
 * runs a callback per record, then stores data_tail once. In virtual time the callbacks take
 * `n x record cost`, so the lab walks the records at the start of the drain and moves data_tail
 * back (the reader's own word in the mapped control page) until the drain's end, when it
 * stores the walked position: producers see the space freed exactly when libbpf frees it, and
 * the bytes walked cannot change meanwhile because the producer never passes data_tail.
 */
import { PAGE_SIZE, RB_DATA_TAIL, RB_OUTPUTS, RB_POLL } from '../arena/layout.js';
import { ringWord } from '../arena/records.js';
import { Kernel } from '../emulator.js';
import { BPF_F_CURRENT_CPU, type KernelVersion } from '../kernel/behaviour.js';
import { bpf_perf_event_output } from '../kernel/bpf_trace.js';
import { epoll_wake_word } from '../kernel/eventpoll.js';
import { event_rb } from '../kernel/perf_event.js';
import { file_obj } from '../kernel/file.js';
import { rcu_read_lock, rcu_read_unlock } from '../kernel/rcu.js';
import { ring_audit } from '../stress/invariants/ring_audit.js';
import type { Process } from '../process/process.js';
import { Prng } from '../stress/prng.js';
import { sampleAlignedPayload } from '../record.js';
import { EventQueue, ACTOR_SPAN } from './event_queue.js';
import { Histogram } from './histogram.js';

/** How the records of one CPU arrive. */
export type Shape = { kind: 'constant' } | { kind: 'poisson' } | { kind: 'burst'; onMs: number; offMs: number };

/** a recorded workload: one row per output, in any order */
export interface TraceRow {
  timeNs: number;
  cpu: number;
  size: number;
}

/** Everything one point needs (plain data: it crosses to a pool worker). */
export interface PointSpec {
  cpus: number;
  kernel: KernelVersion;
  pages: number;
  wakeupEvents: number;
  watermark: number;
  pollTimeoutMs: number;
  /** records/s per CPU (ignored with a trace) */
  rate: number;
  shape: Shape;
  sizeMin: number;
  sizeMax: number;
  trace: TraceRow[] | null;
  wakeupUs: number;
  recordCostNs: number;
  wakeupCostNs: number;
  consumerShare: number;
  noWakeups: boolean;
  durationMs: number;
  seed: number;
  /** where to report progress: word `index` of `sab` gets the virtual time done, in permille */
  progress?: { sab: SharedArrayBuffer; index: number };
}

export interface PointResult {
  pages: number;
  wakeupEvents: number;
  watermark: number;
  pollTimeoutMs: number;
  rate: number;
  written: number;
  lost: number;
  lossRate: number;
  wakeups: number;
  consumerBusy: number;
  /** samples the reader delivered (the latency figures are over these; none: no latency to give) */
  read: number;
  latencyUs: { p50: number; p99: number; max: number };
  stranded: { records: number; maxWaitUs: number };
  ringBytes: number;
  maxInversionUs: number;
}

/** what the program saw from bpf_perf_event_output on the lost outputs */
export interface PointExtra {
  /** outputs that returned -ENOSPC (5.10+); on 4.x lost outputs return 0 */
  enospc: number;
  /** outputs that returned another error (none expected) */
  otherErrors: number;
}

/** the payload starts with the output's virtual time (u32 low, u32 high): 8 bytes at least */
export const LAB_MIN_SIZE = 8;

const TWO32 = 0x1_0000_0000;
/** file descriptors per reader process: RLIMIT_NOFILE is 1024, with fds 0-2 and the epoll fd */
const FDS_PER_READER = 1000;
const PIN_PATH = '/sys/fs/bpf/lab_events';

const K_CONSTANT = 0;
const K_POISSON = 1;
const K_BURST = 2;
const K_TRACE = 3;

const S_SLEEPING = 0;
const S_BUSY = 1;

export function ringPagesFor(cpus: number, pages: number): number {
  return cpus * (1 + pages);
}

export function simulatePoint(p: PointSpec): PointResult & { extra: PointExtra } {
  const { cpus, pages } = p;
  const endNs = p.durationMs * 1e6;
  const kernel = Kernel.create({
    cpus,
    version: p.kernel,
    limits: {
      ringPages: Math.max(2048, ringPagesFor(cpus, pages) + 16),
      maxEvents: Math.max(1024, cpus + 16),
      maxFiles: Math.max(4096, 2 * cpus + 64),
    },
  });
  const k = kernel.k;
  const a = k.a;
  const i32 = a.i32;

  // The tool's loader creates the map and the program and pins the map; each reader (one per
  // 1000 CPUs, as a process has 1024 fds) gets it, opens one BPF output event per CPU and
  // puts it at key = CPU through its own map fd, as libbpf's perf_buffer__new does, and
  // watches them with one epoll instance.
  const loader = kernel.process('loader');
  const mapFd = loader.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: cpus });
  const prog = kernel.progIndex({ process: loader, fd: loader.bpf.progLoad({ maps: [mapFd] }) });
  loader.bpf.objPin(mapFd, PIN_PATH);
  const readers: { proc: Process; epfd: number; mapFd: number; wakeWord: number }[] = [];
  const fdOf = new Int32Array(cpus);
  const readerOf = new Int32Array(cpus);
  const rbOf = new Int32Array(cpus);
  for (let c = 0; c < cpus; c++) {
    if (c % FDS_PER_READER === 0) {
      const proc = kernel.process(`reader-${readers.length}`);
      const epfd = proc.epollCreate();
      readers.push({ proc, epfd, mapFd: proc.bpf.objGet(PIN_PATH), wakeWord: epoll_wake_word(k, file_obj(k, fileIndex(proc, epfd))) });
    }
    const r = readers[readers.length - 1]!;
    const fd = r.proc.perfEventOpen({ cpu: c, pages, wakeupEvents: p.wakeupEvents, watermark: p.watermark });
    r.proc.bpf.mapUpdateElem(r.mapFd, c, fd);
    r.proc.epollCtlAdd(r.epfd, fd);
    fdOf[c] = fd;
    readerOf[c] = readers.length - 1;
    rbOf[c] = event_rb(k, file_obj(k, fileIndex(r.proc, fd)));
  }
  const wakeWordOf = Int32Array.from(readerOf, (r) => readers[r]!.wakeWord);
  const lastWake = new Int32Array(readers.length);
  readers.forEach((r, i) => (lastWake[i] = i32[r.wakeWord]!));

  // ---- the workload: each CPU's next output time and size
  const q = new EventQueue(cpus);
  const prngs = Array.from({ length: cpus }, (_, c) => new Prng(p.seed, c));
  const nth = new Float64Array(cpus); // outputs generated so far per CPU
  const periodNs = p.rate > 0 ? 1e9 / p.rate : Infinity;
  const shape = p.shape;
  const onNs = shape.kind === 'burst' ? shape.onMs * 1e6 : 0;
  const cycleNs = shape.kind === 'burst' ? (shape.onMs + shape.offMs) * 1e6 : 0;
  const sizeSpan = p.sizeMax - p.sizeMin + 1;
  let traceT: Float64Array[] = [];
  let traceS: Int32Array[] = [];
  if (p.trace) {
    const per = Array.from({ length: cpus }, () => [] as TraceRow[]);
    for (const row of p.trace) per[row.cpu]!.push(row);
    for (const rows of per) rows.sort((x, y) => x.timeNs - y.timeNs);
    traceT = per.map((rows) => Float64Array.from(rows, (r) => r.timeNs));
    traceS = per.map((rows) => Int32Array.from(rows, (r) => r.size));
  }
  const sizeNow = new Int32Array(cpus);

  /**
   * constant and burst: output g of all CPUs (CPU g % cpus, its (g / cpus)-th) comes at a time
   * increasing with g — the CPUs staggered across one period so they do not all tick
   * together — so these shapes need no queue: the next CPU to act is the next g.
   */
  const roundRobinTime = (g: number): number => {
    const on = (g * periodNs) / cpus;
    if (shape.kind !== 'burst') return Math.round(on);
    // burst: the rate holds during each ON window, nothing in the OFF window
    const cycle = Math.floor(on / onNs);
    return Math.round(cycle * cycleNs + (on - cycle * onNs));
  };
  const kind = p.trace ? K_TRACE : shape.kind === 'constant' ? K_CONSTANT : shape.kind === 'poisson' ? K_POISSON : K_BURST;
  const fixedSize = sizeSpan === 1;
  /** the time of CPU c's next output (Infinity: none), and its size in sizeNow[c] */
  const nextOutput = (c: number, prevNs: number): number => {
    const i = nth[c]!;
    nth[c] = i + 1;
    let t: number;
    if (kind === K_CONSTANT || kind === K_BURST) {
      t = roundRobinTime(i * cpus + c);
    } else if (kind === K_TRACE) {
      const ts = traceT[c]!;
      if (i >= ts.length) return Infinity;
      sizeNow[c] = traceS[c]![i]!;
      return ts[i]!;
    } else if (kind === K_POISSON) {
      const u = (prngs[c]!.next() + 1) / (TWO32 + 1); // (0, 1)
      t = (i === 0 ? 0 : prevNs) + Math.round(-Math.log(u) * periodNs);
    } else return Infinity;
    if (!fixedSize) sizeNow[c] = p.sizeMin + prngs[c]!.below(sizeSpan);
    return t;
  };
  sizeNow.fill(p.sizeMin);
  const roundRobin = kind === K_CONSTANT || kind === K_BURST;
  let g = 0; // roundRobin: the next output of all CPUs
  let gTime = roundRobin ? roundRobinTime(0) : Infinity;
  if (!roundRobin) {
    for (let c = 0; c < cpus; c++) {
      const t = nextOutput(c, 0);
      if (t < endNs) q.push(t, c);
    }
  }

  // ---- metrics
  const lat = new Histogram();
  let written = 0;
  let lostReported = 0;
  let enospc = 0;
  let otherErrors = 0;
  let wakeups = 0;
  let busyNs = 0;
  let stranded = 0;
  let strandedMaxNs = 0;
  let maxSeenNs = -1;
  let maxInversionNs = 0;

  // ---- the consumer
  const share = p.consumerShare;
  const recordCost = p.recordCostNs / share;
  const wakeupCost = p.wakeupCostNs / share;
  const wakeDelay = p.wakeupUs * 1000;
  const timeoutNs = p.pollTimeoutMs * 1e6;
  const CONSUMER = cpus; // actor id, after every CPU: at equal times CPUs go first
  let cState = S_SLEEPING;
  let cNext = timeoutNs; // the reader starts in epoll_wait (or on its timer) at t = 0
  let wakeByTimer = true; // cNext is the poll timeout's, not a wakeup's
  /**
   * When the reader last went to sleep with nothing ready. A record delivered later whose time
   * is not after it sat in its ring below the wakeup threshold while the reader slept: it was
   * stranded, until a later record crossed the threshold or the poll timeout expired.
   */
  let lastSleepNs = -1;
  /**
   * Per CPU, whether each record written is below the wakeup threshold while the reader sleeps
   * (it did not wake the reader): indexed by the record's number among those the CPU wrote,
   * which the reader knows too (the ring keeps them in order). A ring holds at most one record
   * per 24 bytes, so the table is a ring of that many entries: memory in proportion to rings.
   */
  const belowCap = Math.floor((pages * PAGE_SIZE) / 24) + 1;
  const below = new Uint8Array(cpus * belowCap);
  const writtenIdx = new Float64Array(cpus);
  const readIdx = new Float64Array(cpus);
  let drainCpu = 0;
  let readyQueue: number[] = []; // CPUs whose rings this round drains, in order
  let readyAt = 0;
  let pendingTailRb = -1; // a drain in progress: its ring and the data_tail it walked to
  let pendingTail = 0;
  // the drain in progress, for the callbacks
  let drainT = 0;
  let drainJ = 0;

  const sab = a.sab;
  const dv = new DataView(new ArrayBuffer(8));
  const onSample = (buf: Uint8Array, offset: number): void => {
    const tRec = readTime(buf, offset, sab, i32, dv);
    const ri = readIdx[drainCpu]!;
    readIdx[drainCpu] = ri + 1;
    const at = drainT + drainJ * recordCost;
    drainJ++;
    const wait = at - tRec;
    lat.add(wait);
    if (tRec <= lastSleepNs || below[drainCpu * belowCap + (ri % belowCap)] === 1) {
      stranded++;
      if (wait > strandedMaxNs) strandedMaxNs = wait;
    }
    if (maxSeenNs > tRec) {
      if (maxSeenNs - tRec > maxInversionNs) maxInversionNs = maxSeenNs - tRec;
    } else maxSeenNs = tRec;
  };
  const onLost = (_id: number, lost: number): void => {
    drainJ++;
    lostReported += lost;
  };

  /** perf_buffer__process_records of CPU c's ring at time t: returns the time it ends */
  const drain = (c: number, t: number): number => {
    const rb = rbOf[c]!;
    drainCpu = c;
    drainT = t;
    drainJ = 0;
    const tail0 = i32[ringWord(rb, RB_DATA_TAIL)]!;
    readers[readerOf[c]!]!.proc.consumeRingRaw(fdOf[c]!, onSample, onLost); // zero-copy: no view per record
    const cost = drainJ * recordCost;
    if (cost > 0) {
      pendingTailRb = rb;
      pendingTail = i32[ringWord(rb, RB_DATA_TAIL)]!;
      a.store(ringWord(rb, RB_DATA_TAIL), tail0); // stored when the drain ends (see the header)
      busyNs += cost;
    }
    return t + cost;
  };

  /** runs the consumer at time t until it sleeps or is busy past t */
  const consumerRun = (t: number, timedOut: boolean): void => {
    if (pendingTailRb >= 0) {
      a.store(ringWord(pendingTailRb, RB_DATA_TAIL), pendingTail);
      pendingTailRb = -1;
    }
    for (;;) {
      if (readyAt < readyQueue.length) {
        const c = readyQueue[readyAt++]!;
        const done = drain(c, t);
        if (done > t) {
          cState = S_BUSY;
          cNext = done;
          return;
        }
        continue;
      }
      // the round is over: back to perf_buffer__poll (or to the timer)
      let ready: number[] = [];
      if (!p.noWakeups) {
        for (let r = 0; r < readers.length; r++) {
          const rd = readers[r]!;
          for (const ev of rd.proc.epollWait(rd.epfd, 0)) ready.push(cpuOfFd(r, ev.fd));
        }
      }
      if (ready.length > 0) {
        // a wakeup's round
      } else if (timedOut) {
        // the timeout with nothing ready: perf_buffer__consume() of every ring (the usual
        // answer to records stranded below the wakeup threshold, libbpf issue 438), or the
        // timer-driven reader's read
        timedOut = false;
        ready = allCpus;
      } else {
        cState = S_SLEEPING;
        lastSleepNs = t;
        cNext = t + timeoutNs; // epoll_wait(timeout), or the timer's next tick
        wakeByTimer = true;
        return;
      }
      wakeups++;
      readyQueue = ready;
      readyAt = 0;
      if (wakeupCost > 0) {
        // the wake-up's own cost: the return from epoll_wait, the loop around it
        busyNs += wakeupCost;
        cState = S_BUSY;
        cNext = t + wakeupCost;
        return;
      }
    }
  };
  const allCpus = Array.from({ length: cpus }, (_, c) => c);
  const cpuOfFdMaps = readers.map(() => new Map<number, number>());
  for (let c = 0; c < cpus; c++) cpuOfFdMaps[readerOf[c]!]!.set(fdOf[c]!, c);
  const cpuOfFd = (r: number, fd: number): number => cpuOfFdMaps[r]!.get(fd)!;

  // ---- the run
  const noWakeups = p.noWakeups;
  const progress = p.progress ? new Int32Array(p.progress.sab) : null;
  const progressAt = p.progress?.index ?? 0;
  let steps = 0;
  const { bytes: payload, words } = sampleAlignedPayload(Math.max(p.sizeMax, LAB_MIN_SIZE) + 8);
  // one view per length, made once: the helper copies a whole view without making one per record
  const views: Uint8Array[] = [];
  for (;;) {
    let c: number;
    let top: number;
    if (roundRobin) {
      c = g % cpus;
      top = gTime < endNs ? gTime * ACTOR_SPAN + c : Infinity;
    } else {
      top = q.topKey();
      c = q.topId();
    }
    if (cNext * ACTOR_SPAN + CONSUMER <= top) {
      if (cNext >= endNs) break;
      consumerRun(cNext, cState === S_SLEEPING && wakeByTimer);
      continue;
    }
    const t = (top - c) / ACTOR_SPAN;
    if ((++steps & 0x3ffff) === 0 && progress) Atomics.store(progress, progressAt, Math.floor((t / endNs) * 1000));
    if (roundRobin && !fixedSize) sizeNow[c] = p.sizeMin + prngs[c]!.below(sizeSpan);
    words[0] = t >>> 0;
    words[1] = Math.floor(t / TWO32);
    const outsWord = ringWord(rbOf[c]!, RB_OUTPUTS);
    const outs = i32[outsWord]!;
    const len = sizeNow[c]!;
    rcu_read_lock(k, c); // the program's run holds the CPU's read-side section (the helper takes none)
    const ret = bpf_perf_event_output(k, c, prog, 0, BPF_F_CURRENT_CPU, 0, (views[len] ??= payload.subarray(0, len)), len);
    rcu_read_unlock(k, c);
    if (ret !== 0) {
      if (ret === -28) enospc++;
      else otherErrors++;
    }
    // a wakeup (perf_output_wakeup bumped the reader's epoll word): a sleeping reader runs
    // after the wake-up delay, unless its poll timeout comes first
    const r = readerOf[c]!;
    const w = i32[wakeWordOf[c]!]!;
    let woke = false;
    if (w !== lastWake[r]) {
      lastWake[r] = w;
      woke = true;
      if (cState === S_SLEEPING && !noWakeups && t + wakeDelay < cNext) {
        cNext = t + wakeDelay;
        wakeByTimer = false;
      }
    }
    if (i32[outsWord] !== outs) {
      // written: below the wakeup threshold while the reader sleeps, unless it woke it
      const wi = writtenIdx[c]!;
      writtenIdx[c] = wi + 1;
      below[c * belowCap + (wi % belowCap)] = cState === S_SLEEPING && (!woke || noWakeups) ? 1 : 0;
    }
    if (roundRobin) gTime = roundRobinTime(++g);
    else {
      const next = nextOutput(c, t);
      if (next < endNs) q.replaceTop(next);
      else q.pop();
    }
  }

  if (progress) Atomics.store(progress, progressAt, 1000);
  // ---- the end: what is still in the rings
  if (pendingTailRb >= 0) a.store(ringWord(pendingTailRb, RB_DATA_TAIL), pendingTail);
  const queued = new Set(readyQueue.slice(readyAt));
  let lost = lostReported;
  for (let c = 0; c < cpus; c++) {
    const rb = rbOf[c]!;
    const audit = ring_audit(k, rb);
    if (!audit.ok) throw new Error(`lab: ring of CPU ${c} fails its conservation audit (${JSON.stringify(audit)})`);
    written += audit.outputs;
    lost += audit.unreadLost + audit.pendingLost;
    // left below the wakeup threshold at the end: no wakeup pending, the reader not about to
    // read the ring, and asleep since they came (or now)
    if (audit.unreadSamples > 0 && i32[ringWord(rb, RB_POLL)] === 0 && !queued.has(c)) {
      const asleepSince = cState === S_SLEEPING ? endNs : lastSleepNs;
      readers[readerOf[c]!]!.proc.consumeRing(
        fdOf[c]!,
        (data) => {
          // only the wait counts here: these records were never delivered in the run
          const tRec = readTime(data, 0, sab, i32, dv);
          const ri = readIdx[c]!;
          readIdx[c] = ri + 1;
          if (tRec > asleepSince && below[c * belowCap + (ri % belowCap)] !== 1) return;
          stranded++;
          if (endNs - tRec > strandedMaxNs) strandedMaxNs = endNs - tRec;
        },
        () => undefined,
      );
    }
    if (audit.lostTotal !== audit.readLost + audit.unreadLost + audit.pendingLost) throw new Error('lab: lost count mismatch');
  }
  const us = (ns: number): number => Math.round(ns) / 1000;
  return {
    pages,
    wakeupEvents: p.wakeupEvents,
    watermark: p.watermark,
    pollTimeoutMs: p.pollTimeoutMs,
    rate: p.rate,
    written,
    lost,
    lossRate: written + lost === 0 ? 0 : lost / (written + lost),
    wakeups,
    consumerBusy: Math.min(1, busyNs / endNs),
    read: lat.total,
    latencyUs: { p50: us(lat.quantile(0.5)), p99: us(lat.quantile(0.99)), max: us(lat.max) },
    stranded: { records: stranded, maxWaitUs: us(strandedMaxNs) },
    ringBytes: cpus * (1 + pages) * PAGE_SIZE,
    maxInversionUs: us(maxInversionNs),
    extra: { enospc, otherErrors },
  };
}

function readTime(data: Uint8Array, offset: number, sab: ArrayBufferLike, i32: Int32Array, dv: DataView): number {
  if (data.buffer === sab) {
    const w = (data.byteOffset + offset) >> 2;
    return (i32[w]! >>> 0) + (i32[w + 1]! >>> 0) * TWO32;
  }
  for (let b = 0; b < 8; b++) dv.setUint8(b, data[offset + b]!);
  return dv.getUint32(0, true) + dv.getUint32(4, true) * TWO32;
}

/** the kernel file behind a process's fd */
function fileIndex(proc: Process, fd: number): number {
  const row = proc.fdTable().find((r) => r.fd === fd);
  if (!row) throw new Error(`lab: fd ${fd} not open in ${proc.name}`);
  return row.file;
}
