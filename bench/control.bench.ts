/**
 * Control plane while CPUs write: update (fresh and replace), delete and get_next_key with
 * tinybench, beside the same operations with the CPUs idle (the baseline); the release purge as
 * a function of max_entries (it scans every slot, as the kernel does: linear, no worse); and
 * grace-period latency (synchronize_rcu) with 0, 1, 2, 4 and 8 busy CPUs.
 */
import { Bench } from 'tinybench';
import { CpuPool } from '../src/cpus.js';
import { Kernel } from '../src/emulator.js';
import type { Process } from '../src/process/process.js';
import { inIsolate } from './isolate.js';
import { CONTROL_LIMITS } from './purge.js';
import type { PurgeCost } from './workers/purge.js';
import { median, quantile } from './stats.js';

export interface OpCost {
  op: string;
  /** ns per operation with the CPUs writing, and idle */
  busyNs: number;
  idleNs: number;
  ratio: number;
}
export interface GraceCost {
  busyCpus: number;
  medianUs: number;
  p99Us: number;
  samples: number;
  /** median / the median with no busy CPU */
  ratio: number;
}
export interface InspectCost {
  /** kernel.inspect() on 4 CPUs, one map, 4 events, default limits */
  medianUs: number;
  p99Us: number;
  samples: number;
}
export interface ControlResult {
  ops: OpCost[];
  purge: PurgeCost[];
  grace: GraceCost[];
  inspect: InspectCost;
}

const BATCH = 256;

function setup(cpus: number, maxEntries: number) {
  const kernel = Kernel.create({ cpus, limits: CONTROL_LIMITS });
  const app = kernel.process('app');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries });
  const prog = app.bpf.progLoad({ maps: [m] });
  const evs = Array.from({ length: cpus }, (_, cpu) => app.perfEventOpen({ cpu, pages: 16, wakeupEvents: 0, watermark: 1 << 30 }));
  evs.forEach((fd, cpu) => app.bpf.mapUpdateElem(m, cpu % maxEntries, fd));
  return { kernel, app, m, prog, evs };
}

async function opCosts(busy: boolean, time: number): Promise<Record<string, number>> {
  const cpus = 2;
  const { kernel, app, m, prog, evs } = setup(cpus, 64);
  const pool = busy ? CpuPool.start(kernel, { prog, program: { index: 'current', size: 64, backoffUs: 200, payload: 'constant' } }) : null;
  await pool?.ready();
  const drainer = setInterval(() => evs.forEach((fd) => app.consumeRing(fd, () => true)), 1);
  const fresh = app.perfEventOpen({ cpu: 0, mmap: false });
  const bench = new Bench({ time, warmupTime: 50 });
  let key = 0;
  bench
    .add('update (replace)', () => {
      for (let i = 0; i < BATCH; i++) app.bpf.mapUpdateElem(m, 2 + (key++ & 31), fresh);
      kernel.rcuTick();
    })
    .add('update (fresh) + delete', () => {
      for (let i = 0; i < BATCH; i++) {
        app.bpf.mapUpdateElem(m, 40, fresh);
        app.bpf.mapDeleteElem(m, 40);
      }
      kernel.rcuTick();
    })
    .add('get_next_key', () => {
      for (let i = 0; i < BATCH; i++) app.bpf.mapGetNextKey(m, i & 31);
    });
  await bench.run();
  clearInterval(drainer);
  if (pool) {
    pool.stop();
    await pool.wait();
  }
  const out: Record<string, number> = {};
  for (const t of bench.tasks) {
    const r = t.result;
    if (r && r.state === 'completed') out[t.name] = (r.latency.p50 * 1e6) / (t.name === 'update (fresh) + delete' ? BATCH * 2 : BATCH);
  }
  kernel.rcuBarrier();
  return out;
}

/**
 * Untimed purges before the timed ones, per size: enough for about 40,000 slots in all, at
 * least 150 (40 with --quick) and at most 1,000. A fixed 150 left a 64-slot purge's code still
 * compiling while it was timed: in fresh workers its median moved between 4 and 14 µs with 150,
 * and stayed at 2.2-2.9 µs with 600 (a throwaway run, four workers each).
 */
export function purgeWarmCount(maxEntries: number, quick: boolean): number {
  return Math.min(1000, Math.max(quick ? 40 : 150, Math.ceil(40_000 / maxEntries)));
}

/** one size of the purge (bench/purge.ts) in a worker of its own */
function purgeInWorker(maxEntries: number, samples: number, warm: number): Promise<PurgeCost> {
  return inIsolate(new URL('./workers/purge.js', import.meta.url), { maxEntries, samples, warm }, `purge bench (${maxEntries} slots)`, 60_000);
}

async function graceLatency(busyCpus: number, samples: number): Promise<{ median: number; p99: number }> {
  const cpus = Math.max(1, busyCpus);
  const { kernel, app, prog, evs } = setup(cpus, cpus);
  const pool = busyCpus > 0 ? CpuPool.start(kernel, { prog, program: { index: 'current', size: 64, backoffUs: 200, payload: 'constant' } }) : null;
  const drain = (): void => evs.forEach((fd) => void app.consumeRing(fd, () => true));
  await pool?.ready();
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    kernel.synchronizeRcu();
    times.push((performance.now() - t0) * 1000);
    if ((s & 15) === 0) {
      drain();
      await new Promise((r) => setImmediate(r));
    }
  }
  if (pool) {
    pool.stop();
    await pool.wait();
  }
  void (app as Process);
  return { median: median(times), p99: quantile(times, 0.99) };
}

/** inspect() on the small kernel a script checks after every step (default arena limits) */
async function inspectCost(time: number): Promise<InspectCost> {
  const kernel = Kernel.create({ cpus: 4 });
  const app = kernel.process('app');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 4 });
  for (let cpu = 0; cpu < 4; cpu++) app.bpf.mapUpdateElem(m, cpu, app.perfEventOpen({ cpu }));
  const bench = new Bench({ time, warmupTime: 50 });
  bench.add('inspect', () => void kernel.inspect());
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r?.state !== 'completed') throw new Error('inspect bench did not complete');
  return { medianUs: r.latency.p50 * 1000, p99Us: r.latency.p99 * 1000, samples: r.latency.samplesCount };
}

export async function controlBench(quick: boolean, log: (s: string) => void): Promise<ControlResult> {
  const time = quick ? 150 : 400;
  const idle = await opCosts(false, time);
  const busy = await opCosts(true, time);
  const ops = Object.keys(idle).map((op) => ({ op, busyNs: busy[op]!, idleNs: idle[op]!, ratio: busy[op]! / idle[op]! }));
  for (const o of ops) log(`  ${o.op}: ${o.busyNs.toFixed(0)} ns busy, ${o.idleNs.toFixed(0)} ns idle`);
  const purge: PurgeCost[] = [];
  for (const n of [1, 64, 1024, 4096]) purge.push(await purgeInWorker(n, quick ? 8 : 30, purgeWarmCount(n, quick)));
  for (const p of purge) log(`  purge of ${p.maxEntries} slots: ${p.medianUs.toFixed(1)} µs median (${p.perSlotUs.toFixed(3)} µs/slot)`);
  const grace: GraceCost[] = [];
  let base = 0;
  for (const n of quick ? [0, 2, 8] : [0, 1, 2, 4, 8]) {
    const g = await graceLatency(n, quick ? 100 : 400);
    if (n === 0) base = g.median;
    grace.push({ busyCpus: n, medianUs: g.median, p99Us: g.p99, samples: quick ? 100 : 400, ratio: g.median / base });
    log(`  grace period with ${n} busy CPUs: ${g.median.toFixed(1)} µs median, ${g.p99.toFixed(1)} µs p99`);
  }
  const inspect = await inspectCost(time);
  log(`  inspect() on 4 CPUs, one map, 4 events: ${inspect.medianUs.toFixed(1)} µs median, ${inspect.p99Us.toFixed(1)} µs p99`);
  return { ops, purge, grace, inspect };
}
