/**
 * Consumer: drain throughput of the perf-buffer reader over a full ring, beside a bare walk of
 * the same bytes (the floor: headers only, tail stored once); and wake-up latency from a
 * record's publication to the poller's callback, beside a bare Atomics.notify -> Atomics.wait
 * round (a distribution, never one number).
 */
import { Worker } from 'node:worker_threads';
import type { SecondReader } from './drain.js';
import { inIsolate } from './isolate.js';
import { CpuPool } from '../src/cpus.js';
import { Kernel } from '../src/emulator.js';
import { PerfBuffer } from '../src/consumer/perf_buffer.js';
import { median, quantile } from './stats.js';

export interface ConsumerResult {
  size: number;
  /** records/s and bytes/s of PerfBuffer.consume over a full 1 MiB ring */
  drainRecords: number;
  drainBytes: number;
  /** the same with onSampleAt (zero-copy: no view per record) */
  zeroCopyRecords: number;
  /** the bare walk of the same ring (both phases' rounds) */
  floorRecords: number;
  /** medians of each round's ratio to the floor timed beside it */
  ratio: number;
  zeroCopyRatio: number;
  /**
   * zero-copy again, with a second PerfBuffer drained in the same thread (bench/drain.ts,
   * SecondReader): with a callback function of its own, which makes each record's callback a
   * real call, and given the first reader's function (records/s, and the ratio to the floor
   * timed beside it)
   */
  zeroCopyTwoReaders: { records: number; ratio: number };
  zeroCopyTwoReadersShared: { records: number; ratio: number };
  wakeup: { medianUs: number; p99Us: number; samples: number };
  bareWakeup: { medianUs: number; p99Us: number; samples: number };
}

/** timed drain rounds per form, after the warm ones: medians of 3 (as --quick had) moved by a third between runs */
const DRAIN_ROUNDS = 20;

/** the longest a drain phase's worker may take (it takes about a second) */
const PHASE_TIMEOUT_MS = 60_000;

/** one drain phase (bench/drain.ts) in a worker of its own, which has exited when this resolves */
function phaseInWorker(size: number, rounds: number, zeroCopy: boolean, second: SecondReader = 'none'): Promise<{ ours: number[]; floor: number[] }> {
  const what = `drain bench: the ${zeroCopy ? 'zero-copy' : 'view'} phase${second === 'none' ? '' : ` with a second reader (${second} callback)`}`;
  return inIsolate(new URL('./workers/drain.js', import.meta.url), { size, rounds, zeroCopy, second }, what, PHASE_TIMEOUT_MS);
}

/**
 * PerfBuffer.consume with a view per record, then zero-copy (onSampleAt), each interleaved with
 * the bare walk of the same bytes. Each form runs in a fresh worker (each warmed first): a reader
 * uses one of them, and what the JIT learned from other readers earlier in this process (the
 * other bench groups, the other form) moved the zero-copy ratio between 0.30 and 0.69 from run
 * to run when both ran here.
 */
/** the drain figures of ConsumerResult */
type DrainFigures = Omit<ConsumerResult, 'size' | 'wakeup' | 'bareWakeup'>;

async function drain(size: number, rounds: number): Promise<DrainFigures> {
  const views = await phaseInWorker(size, rounds, false);
  const zc = await phaseInWorker(size, rounds, true);
  const two = await phaseInWorker(size, rounds, true, 'own');
  const twoShared = await phaseInWorker(size, rounds, true, 'shared');
  const med = median(views.ours);
  // a ratio is the median of each round's ratio to the floor timed beside it (in the same worker),
  // not of one median over another: the pairing is what the interleaving is for
  const paired = (p: { ours: number[]; floor: number[] }): number => median(p.ours.map((o, i) => o / p.floor[i]!));
  return {
    drainRecords: med,
    drainBytes: med * (8 + ((size + 4 + 7) & ~7)),
    zeroCopyRecords: median(zc.ours),
    floorRecords: median([...views.floor, ...zc.floor]),
    ratio: paired(views),
    zeroCopyRatio: paired(zc),
    zeroCopyTwoReaders: { records: median(two.ours), ratio: paired(two) },
    zeroCopyTwoReadersShared: { records: median(twoShared.ours), ratio: paired(twoShared) },
  };
}

/**
 * Untimed wake-ups before the timed ones. The JIT compiles the poll, drain and output paths (on
 * both threads) over the first two seconds or so, and with 2 cores its work delays the waiter:
 * the p99 of each 400 samples in three runs of 3,200 fell from 300-2,300 us over the first
 * 1,600 to 44-172 us after (a throwaway run of this bench's loop). Samples come 1 ms apart.
 */
const WAKEUP_WARM = 4000;
/**
 * Timed wake-ups. The p99 of 400 is the fourth-worst sample, so one stall of the host that
 * delays three or four samples in a row decides it; of 2,000 it is the twentieth.
 */
const WAKEUP_SAMPLES = 2000;

async function wakeup(samples: number): Promise<number[]> {
  const kernel = Kernel.create({ cpus: 1 });
  const app = kernel.process('app');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 1 });
  const prog = app.bpf.progLoad({ maps: [m] });
  const lat: number[] = [];
  let seen = 0;
  // the stamp is read without allocating (a slice of the arena's buffer is a new
  // SharedArrayBuffer, whose cost landed inside the latency), after the clock is read
  const sentAt = new Float64Array(1);
  const sentBytes = new Uint8Array(sentAt.buffer);
  const pb = PerfBuffer.open(app, m, {
    pages: 8,
    wakeupEvents: 1,
    onSample: (_cpu, data) => {
      const now = performance.timeOrigin + performance.now();
      if (seen++ < WAKEUP_WARM) return;
      for (let i = 0; i < 8; i++) sentBytes[i] = data[i]!;
      lat.push((now - sentAt[0]!) * 1000);
    },
  });
  const stamp = new URL('./workers/stamp_program.js', import.meta.url).pathname;
  const pool = CpuPool.start(kernel, { prog, program: { module: stamp, args: { records: WAKEUP_WARM + samples, gapMs: 1 } } });
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

/** the consumer group; the same under `--quick` (the drain rounds are short, and a p99 needs its samples) */
export async function consumerBench(log: (s: string) => void): Promise<ConsumerResult> {
  const size = 64;
  const d = await drain(size, DRAIN_ROUNDS); // the same in --quick: a round is about 2 ms
  log(
    `  drain ${(d.drainRecords / 1e6).toFixed(2)}M records/s (${(d.drainBytes / 1e6).toFixed(0)} MB/s), zero-copy ${(d.zeroCopyRecords / 1e6).toFixed(2)}M/s (beside a second reader ${(d.zeroCopyTwoReaders.records / 1e6).toFixed(2)}M/s, ${(d.zeroCopyTwoReadersShared.records / 1e6).toFixed(2)}M/s when it shares the callback); bare walk ${(d.floorRecords / 1e6).toFixed(2)}M/s`,
  );
  // --quick times as many wake-ups as a full run (1.5 s more): with 500, the p99 was the fifth
  // worst sample, and five quick runs gave 82-540 µs against 57-71 in full runs (three quick
  // runs with 2,000: 78-80 µs)
  const n = WAKEUP_SAMPLES;
  const ours = await wakeup(n);
  const bare = await bareWakeup(n);
  const res: ConsumerResult = {
    size,
    ...d,
    wakeup: { medianUs: median(ours), p99Us: quantile(ours, 0.99), samples: ours.length },
    bareWakeup: { medianUs: median(bare), p99Us: quantile(bare, 0.99), samples: bare.length },
  };
  log(
    `  wake-up latency ${res.wakeup.medianUs.toFixed(0)} µs median, ${res.wakeup.p99Us.toFixed(0)} µs p99; bare notify ${res.bareWakeup.medianUs.toFixed(0)} µs median`,
  );
  return res;
}
