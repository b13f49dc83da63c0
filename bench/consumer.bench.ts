/**
 * Consumer: drain throughput of the perf-buffer reader over a full ring, beside a bare walk of
 * the same bytes (the floor: headers only, tail stored once); and wake-up latency from a
 * record's publication to the poller's callback, beside a bare Atomics.notify -> Atomics.wait
 * round (a distribution, never one number).
 */
import { Worker } from 'node:worker_threads';
import { BPF_F_CURRENT_CPU } from '../src/kernel/behaviour.js';
import { CpuPool } from '../src/cpus.js';
import { Kernel } from '../src/emulator.js';
import { PerfBuffer } from '../src/consumer/perf_buffer.js';
import { event_rb } from '../src/kernel/perf_event.js';
import { file_obj } from '../src/kernel/file.js';
import { RB_DATA_HEAD, RB_DATA_SIZE, RB_DATA_TAIL, PAGE_SIZE } from '../src/arena/layout.js';
import { median, quantile } from './stats.js';

export interface ConsumerResult {
  size: number;
  /** records/s and bytes/s of PerfBuffer.consume over a full 1 MiB ring */
  drainRecords: number;
  drainBytes: number;
  /** the same with onSampleAt (zero-copy: no view per record) */
  zeroCopyRecords: number;
  /** the bare walk of the same ring */
  floorRecords: number;
  ratio: number;
  zeroCopyRatio: number;
  wakeup: { medianUs: number; p99Us: number; samples: number };
  bareWakeup: { medianUs: number; p99Us: number; samples: number };
}

/** a kernel with one 256-page ring read by a PerfBuffer; fill() writes until the ring is full */
function drainSetup(size: number, zeroCopy: boolean) {
  const kernel = Kernel.create({ cpus: 1, limits: { ringPages: 300 } });
  const app = kernel.process('app');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 1 });
  const prog = app.bpf.progLoad({ maps: [m] });
  let seen = 0;
  const pb = PerfBuffer.open(
    app,
    m,
    zeroCopy
      ? { pages: 256, wakeupEvents: 0, onSampleAt: (_cpu, buf, off) => void (seen += buf[off]!) }
      : { pages: 256, wakeupEvents: 0, onSample: (_cpu, data) => void (seen += data[0]!) },
  );
  const fd = pb.bufferFd(0);
  const rb = event_rb(kernel.k, file_obj(kernel.k, app.fdTable().find((x) => x.fd === fd)!.file));
  const data = new Uint8Array(size).fill(3);
  const fill = (): number => {
    let n = 0;
    while (kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data) === 0) n++;
    return n;
  };
  return { kernel, pb, rb, fill, seen: () => seen };
}

/** untimed drains before the timed ones (each fills and drains a 1 MiB ring, about a millisecond) */
const WARM_ROUNDS = 40;

/**
 * PerfBuffer.consume with a view per record, then zero-copy (onSampleAt), each interleaved with
 * the bare walk of the same bytes. The two forms run in separate phases (each warmed first): a
 * reader uses one of them, and mixing both in one loop would measure V8's polymorphic call sites.
 */
function drain(size: number, rounds: number): { ours: number; zeroCopy: number; floor: number; bytes: number } {
  const phase = (zeroCopy: boolean): { ours: number[]; floor: number[] } => {
    const d = drainSetup(size, zeroCopy);
    const i32 = d.kernel.arena.i32;
    const rb = d.rb;
    const timed = (n: number, fn: () => void): number => {
      const t0 = performance.now();
      fn();
      return (n * 1000) / (performance.now() - t0);
    };
    const ours: number[] = [];
    const floor: number[] = [];
    for (let r = 0; r < WARM_ROUNDS + rounds; r++) {
      const a = timed(d.fill(), () => d.pb.consume());
      // the floor: walk the headers of the same ring and store the tail once
      const c = timed(d.fill(), () => {
        const dsize = i32[rb + RB_DATA_SIZE]!;
        const head = Atomics.load(i32, rb + RB_DATA_HEAD);
        let tail = i32[rb + RB_DATA_TAIL]!;
        while (tail !== head) tail = (tail + (i32[rb + PAGE_SIZE / 4 + ((tail & (dsize - 1)) >>> 2) + 1]! >>> 16)) | 0;
        Atomics.store(i32, rb + RB_DATA_TAIL, tail);
      });
      if (r < WARM_ROUNDS) continue; // untimed: the reader's code is compiled before it is timed
      ours.push(a);
      floor.push(c);
    }
    if (d.seen() === 0) throw new Error('drain bench: nothing delivered');
    return { ours, floor };
  };
  const views = phase(false);
  const zc = phase(true);
  const med = median(views.ours);
  return { ours: med, zeroCopy: median(zc.ours), floor: median([...views.floor, ...zc.floor]), bytes: med * (8 + ((size + 4 + 7) & ~7)) };
}

async function wakeup(samples: number): Promise<number[]> {
  const kernel = Kernel.create({ cpus: 1 });
  const app = kernel.process('app');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 1 });
  const prog = app.bpf.progLoad({ maps: [m] });
  const lat: number[] = [];
  // the stamp is read without allocating (a slice of the arena's buffer is a new
  // SharedArrayBuffer, whose cost landed inside the latency), after the clock is read
  const sentAt = new Float64Array(1);
  const sentBytes = new Uint8Array(sentAt.buffer);
  const pb = PerfBuffer.open(app, m, {
    pages: 8,
    wakeupEvents: 1,
    onSample: (_cpu, data) => {
      const now = performance.timeOrigin + performance.now();
      for (let i = 0; i < 8; i++) sentBytes[i] = data[i]!;
      lat.push((now - sentAt[0]!) * 1000);
    },
  });
  const stamp = new URL('./workers/stamp_program.js', import.meta.url).pathname;
  const pool = CpuPool.start(kernel, { prog, program: { module: stamp, args: { records: samples, gapMs: 1 } } });
  let done = false;
  const finished = pool.wait().finally(() => (done = true));
  while (!done && lat.length < samples) {
    pb.poll(20); // blocks this thread until the ring wakes it (at most 20 ms)
    await new Promise((r) => setImmediate(r));
  }
  await finished;
  return lat;
}

async function bareWakeup(samples: number): Promise<number[]> {
  const sab = new SharedArrayBuffer(16);
  const w = new Int32Array(sab);
  const f = new Float64Array(sab, 8, 1);
  const worker = new Worker(new URL('./workers/notify.js', import.meta.url), { workerData: { sab, samples } });
  const lat: number[] = [];
  for (let i = 0; i < samples; i++) {
    const seen = Atomics.load(w, 0);
    if (Atomics.wait(w, 0, seen, 1000) === 'timed-out') break;
    lat.push((performance.timeOrigin + performance.now() - f[0]!) * 1000);
  }
  await worker.terminate();
  return lat;
}

export async function consumerBench(quick: boolean, log: (s: string) => void): Promise<ConsumerResult> {
  const size = 64;
  const d = drain(size, quick ? 3 : 8);
  log(
    `  drain ${(d.ours / 1e6).toFixed(2)}M records/s (${(d.bytes / 1e6).toFixed(0)} MB/s), zero-copy ${(d.zeroCopy / 1e6).toFixed(2)}M/s; bare walk ${(d.floor / 1e6).toFixed(2)}M/s`,
  );
  const n = quick ? 100 : 400;
  const ours = await wakeup(n);
  const bare = await bareWakeup(n);
  const res: ConsumerResult = {
    size,
    drainRecords: d.ours,
    drainBytes: d.bytes,
    zeroCopyRecords: d.zeroCopy,
    floorRecords: d.floor,
    ratio: d.ours / d.floor,
    zeroCopyRatio: d.zeroCopy / d.floor,
    wakeup: { medianUs: median(ours), p99Us: quantile(ours, 0.99), samples: ours.length },
    bareWakeup: { medianUs: median(bare), p99Us: quantile(bare, 0.99), samples: bare.length },
  };
  log(
    `  wake-up latency ${res.wakeup.medianUs.toFixed(0)} µs median, ${res.wakeup.p99Us.toFixed(0)} µs p99; bare notify ${res.bareWakeup.medianUs.toFixed(0)} µs median`,
  );
  return res;
}
