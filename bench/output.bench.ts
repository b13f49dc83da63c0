/**
 * Output path throughput: N CPU workers writing records of S bytes through
 * bpf_perf_event_output (slot, RCU, ring) with the main thread draining, beside, in the same
 * rounds, (a) the floor: a bare SharedArrayBuffer single-producer ring per producer, and (b) the
 * peer: one postMessage per record. Every implementation runs under the same policy: the
 * consumer drains a ring once 16 KiB wait (a watermark), a producer finding its ring full
 * sleeps 200 µs. Each implementation's workers are started and warmed once per configuration
 * and held at a gate between windows, so no timed window starts a cold pool. Windows
 * interleave (ours, floor, peer, rotated each round) and are labelled near/far by the probe
 * before and after.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CpuPool } from '../src/cpus.js';
import { Kernel } from '../src/emulator.js';
import { event_rb } from '../src/kernel/perf_event.js';
import { rb_readable } from '../src/kernel/ring_buffer.js';
import { file_obj } from '../src/kernel/file.js';
import type { Probe } from './probe.js';
import { placed, ratio, type PlacedSummary, type Window } from './stats.js';

const WATERMARK = 16 * 1024;
const RING_PAGES = 64; // 256 KiB of data per ring, for ours and the floor
/**
 * The larger rings of the bench's extra rows (2 MiB of data each, for ours and the floor alike).
 * The floor's rate depends on the ring's size more than ours does: in alternating `--quick` runs
 * its one producer wrote 20-23 M records/s of 64 B with 64 pages, 26 M with 128 and 29-32 M with
 * 256 to 2048; eight producers 37-39 M against 52-63 M; ours gained 8-30 %. Most likely, with a
 * ring smaller than a core's L2 (1 MiB here) the lines the producer comes back to are still in
 * the consumer's cache, and each store must first take its line back from the other core. Those
 * rows measure the ratio against the floor at its best ring size, not the workload's.
 */
const LARGE_RING_PAGES = 512;
const BACKOFF_US = 200;
const PEER_CAP = 10_000;
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface OutputRow {
  cpus: number;
  size: number;
  /** data pages of every ring (ours and the floor's) */
  ringPages: number;
  /** records/s in total */
  ours: PlacedSummary;
  floor: PlacedSummary;
  peer: PlacedSummary;
  vsFloor: ReturnType<typeof ratio>;
  vsPeer: ReturnType<typeof ratio>;
  /** ours: outputs that found the ring full, per window (the producer backed off) */
  lostShare: number;
  /** ms of untimed output each implementation ran before its first timed window (warmUp) */
  warmMs: { ours: number; floor: number; peer: number };
}

/**
 * One implementation kept warm across windows: `window(ms)` lets it run for `ms` and returns
 * records/s; between windows its workers wait at a gate (no cold pool, no JIT warm-up inside a
 * timed window).
 */
export interface Session {
  /** records/s over the window, the share of outputs lost, and the window's measured length (ms) */
  window(ms: number): Promise<{ rate: number; lostShare: number; elapsedMs: number }>;
  close(): Promise<void>;
}

/** drives the main thread for `ms`, running `tick` between yields */
async function spin(ms: number, tick: () => void): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    tick();
    await yieldLoop();
  }
  return performance.now() - t0;
}

async function oursSession(cpus: number, size: number, pages: number): Promise<Session> {
  const kernel = Kernel.create({ cpus, limits: { ringPages: cpus * (pages + 1) + 8 } });
  const app = kernel.process('consumer');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: cpus });
  const prog = app.bpf.progLoad({ maps: [m] });
  const fds = Array.from({ length: cpus }, (_, cpu) => {
    const fd = app.perfEventOpen({ cpu, pages, wakeupEvents: 0, watermark: WATERMARK });
    app.bpf.mapUpdateElem(m, cpu, fd);
    return fd;
  });
  const rbs = fds.map((fd) => event_rb(kernel.k, file_obj(kernel.k, app.fdTable().find((x) => x.fd === fd)!.file)));
  const noop = (): void => undefined;
  // the reader walks the records in place (zero-copy), as cheap as the floor's header walk can
  // be made through the real reader: the output path is what is measured here
  const drain = (all: boolean): void => {
    for (let i = 0; i < cpus; i++) if (all || rb_readable(kernel.k, rbs[i]!) >= WATERMARK) app.consumeRingRaw(fds[i]!, noop);
  };
  const pool = CpuPool.start(kernel, { prog, program: { index: 'current', size, backoffUs: BACKOFF_US, payload: 'constant' }, paused: true });
  await pool.ready();
  const totals = (): { ok: number; lost: number } => {
    let ok = 0;
    let lost = 0;
    for (const c of kernel.inspect().cpuCounters) {
      ok += c.outputs;
      lost += c.lost;
    }
    return { ok, lost };
  };
  return {
    async window(ms) {
      const before = totals();
      pool.resume();
      const elapsed = await spin(ms, () => drain(false));
      pool.pause();
      const after = totals();
      await spin(2, () => drain(true)); // the CPUs finish their current batch; the rings start empty
      const ok = after.ok - before.ok;
      const lost = after.lost - before.lost;
      return { rate: (ok * 1000) / elapsed, lostShare: ok + lost > 0 ? lost / (ok + lost) : 0, elapsedMs: elapsed };
    },
    async close() {
      pool.stop();
      await pool.wait();
      app.exit();
    },
  };
}

/** persistent bench workers held at a gate: [0] open, [1] stop, [2 + i] worker i's count */
function gated(n: number): { gate: Int32Array; gateSab: SharedArrayBuffer; count: () => number; open: () => void; hold: () => void; stop: () => void } {
  const gateSab = new SharedArrayBuffer(4 * (2 + n));
  const gate = new Int32Array(gateSab);
  return {
    gate,
    gateSab,
    count: () => {
      let c = 0;
      for (let i = 0; i < n; i++) c += Atomics.load(gate, 2 + i);
      return c;
    },
    open: () => {
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
    },
    hold: () => Atomics.store(gate, 0, 0),
    stop: () => {
      Atomics.store(gate, 1, 1);
      Atomics.notify(gate, 0);
    },
  };
}

async function floorSession(producers: number, size: number, pages: number): Promise<Session> {
  const rings = Array.from({ length: producers }, () => new SharedArrayBuffer(64 + pages * 4096));
  const dsize = pages * 4096;
  const g = gated(producers);
  const workers = rings.map(
    (sab, index) =>
      new Worker(new URL('./workers/floor.js', import.meta.url), {
        workerData: { sab, gateSab: g.gateSab, index, size, backoffUs: BACKOFF_US },
      }),
  );
  const drain = (sab: SharedArrayBuffer, force: boolean): void => {
    const ctl = new Int32Array(sab, 0, 2);
    const i32 = new Int32Array(sab, 64);
    const head = Atomics.load(ctl, 0);
    let tail = ctl[1]!;
    if (!force && (head - tail) >>> 0 < WATERMARK) return;
    while (tail !== head) tail = (tail + (i32[((tail & (dsize - 1)) >>> 2) + 1]! >>> 16)) | 0; // walk the headers
    Atomics.store(ctl, 1, tail);
  };
  await Promise.all(workers.map((w) => new Promise((r) => w.once('online', r))));
  return {
    async window(ms) {
      const before = g.count();
      g.open();
      const elapsed = await spin(ms, () => rings.forEach((r) => drain(r, false)));
      g.hold();
      const after = g.count();
      await spin(2, () => rings.forEach((r) => drain(r, true)));
      return { rate: ((after - before) * 1000) / elapsed, lostShare: 0, elapsedMs: elapsed };
    },
    async close() {
      g.stop();
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/** the bare ring's records/s for `producers` x `size` B: one warmed session, one timed window */
export async function floor(producers: number, size: number, ms: number): Promise<number> {
  const session = await floorSession(producers, size, RING_PAGES);
  try {
    await warmUp(session, Math.min(ms, 300), 300, 1200); // until its rate stops climbing, by the output group's rule
    return (await session.window(ms)).rate;
  } finally {
    await session.close();
  }
}

async function peerSession(producers: number, size: number): Promise<Session> {
  const g = gated(producers);
  const workers = Array.from({ length: producers }, (_, index) => {
    const sab = new SharedArrayBuffer(4);
    const c = new Int32Array(sab);
    const w = new Worker(new URL('./workers/peer.js', import.meta.url), { workerData: { sab, gateSab: g.gateSab, index, size, cap: PEER_CAP } });
    w.on('message', (m: unknown) => {
      if (m instanceof Uint8Array && (Atomics.add(c, 0, 1) & 1023) === 0) Atomics.notify(c, 0);
    });
    return w;
  });
  await Promise.all(workers.map((w) => new Promise((r) => w.once('online', r))));
  return {
    async window(ms) {
      const before = g.count();
      g.open();
      const elapsed = await spin(ms, () => undefined);
      g.hold();
      const after = g.count();
      await spin(5, () => undefined); // messages in flight arrive
      return { rate: ((after - before) * 1000) / elapsed, lostShare: 0, elapsedMs: elapsed };
    },
    async close() {
      g.stop();
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

/**
 * Runs untimed windows of `ms` until the session is warm: at least `minMs` of output, then on
 * while a window is over 5 % faster than every one before it (the JIT still compiling), at
 * most `maxMs` (windows' measured lengths). Returns the milliseconds of output it took.
 */
async function warmUp(session: Session, ms: number, minMs: number, maxMs: number): Promise<number> {
  let spent = 0;
  let best = 0;
  for (;;) {
    const { rate, elapsedMs } = await session.window(ms);
    spent += elapsedMs;
    const climbing = rate > best * 1.05;
    best = Math.max(best, rate);
    if (spent >= maxMs || (spent >= minMs && !climbing)) return Math.round(spent);
  }
}

/**
 * The output group's rows for `cpus` CPUs: the workload's rings (RING_PAGES) at every record
 * size, then, for some CPU counts, 64 B records in larger rings (LARGE_RING_PAGES), right after
 * the same CPUs' rows so that both run under about the same host load.
 */
export function outputConfigs(quick: boolean, cpus: number): { size: number; pages: number }[] {
  const configs = (quick ? [64] : [16, 64, 512]).map((size) => ({ size, pages: RING_PAGES }));
  if ((quick ? [1, 8] : [1, 4, 8]).includes(cpus)) configs.push({ size: 64, pages: LARGE_RING_PAGES });
  return configs;
}

/** one implementation's session, started (not warmed): for the bench's tests */
export function outputSession(impl: 'ours' | 'floor', cpus: number, size: number, pages: number): Promise<Session> {
  return impl === 'ours' ? oursSession(cpus, size, pages) : floorSession(cpus, size, pages);
}

export async function outputBench(probe: Probe, quick: boolean, log: (s: string) => void): Promise<OutputRow[]> {
  const rows: OutputRow[] = [];
  const cpuSet = quick ? [1, 4, 8] : [1, 2, 4, 8];
  const rounds = quick ? 3 : 6;
  const ms = quick ? 200 : 400;
  const warmMs = quick ? 300 : 600;
  const cores = availableParallelism();
  for (const cpus of cpuSet) {
    // The warm-up grows with the CPUs each core runs: the JIT compiles a worker's loop after
    // enough of its own iterations, and with 8 CPUs on 2 cores each worker gets a quarter of the
    // time. It then goes on while the rate still climbs (warmUp): in throwaway runs with
    // PERFEMU_V8_INLINING=wide (each of 8 workers compiles a larger unit, src/v8_inlining.ts) 8
    // CPUs took 1.6-2 s of output to reach their steady rate (1 CPU about 0.4 s).
    const warm = warmMs * Math.max(1, cpus / cores);
    for (const { size, pages } of outputConfigs(quick, cpus)) {
      // every implementation is started and warmed before any window is timed
      const sessions = { ours: await oursSession(cpus, size, pages), floor: await floorSession(cpus, size, pages), peer: await peerSession(cpus, size) };
      try {
        const warmed = { ours: 0, floor: 0, peer: 0 };
        for (const impl of ['ours', 'floor', 'peer'] as const) warmed[impl] = await warmUp(sessions[impl], ms, warm, 4 * warm);
        const w: Record<'ours' | 'floor' | 'peer', Window[]> = { ours: [], floor: [], peer: [] };
        let lost = 0;
        for (let r = 0; r < rounds; r++) {
          const order = (['ours', 'floor', 'peer'] as const).map((_, i, a) => a[(i + r) % 3]!);
          for (const impl of order) {
            const before = probe.measure();
            const o = await sessions[impl].window(ms);
            if (impl === 'ours') lost += o.lostShare / rounds;
            w[impl].push({ value: o.rate, placement: probe.classify(before, probe.measure()) });
          }
        }
        const row: OutputRow = {
          cpus,
          size,
          ringPages: pages,
          ours: placed(w.ours),
          floor: placed(w.floor),
          peer: placed(w.peer),
          vsFloor: { near: null, far: null, all: 0 },
          vsPeer: { near: null, far: null, all: 0 },
          lostShare: lost,
          warmMs: warmed,
        };
        row.vsFloor = ratio(row.ours, row.floor);
        row.vsPeer = ratio(row.ours, row.peer);
        rows.push(row);
        log(
          `  output ${cpus} CPU(s) x ${size} B, ${pages}-page rings: ours ${(row.ours.all.median / 1e6).toFixed(2)}M/s, floor ${(row.floor.all.median / 1e6).toFixed(2)}M/s ` +
            `(${row.vsFloor.all.toFixed(2)}x), peer ${(row.peer.all.median / 1e6).toFixed(2)}M/s (${row.vsPeer.all.toFixed(1)}x); warmed ${warmed.ours}/${warmed.floor}/${warmed.peer} ms`,
        );
      } finally {
        await Promise.all(Object.values(sessions).map((x) => x.close()));
      }
    }
  }
  return rows;
}
