/**
 * Output path throughput: N CPU workers writing records of S bytes through
 * bpf_perf_event_output (slot, RCU, ring) with the main thread draining, beside, in the same
 * rounds, (a) the floor: a bare SharedArrayBuffer single-producer ring per producer, and (b) the
 * peer: one postMessage per record. Every implementation runs under the same policy: the
 * consumer drains a ring once 16 KiB wait (a watermark), a producer finding its ring full
 * sleeps 200 µs. Windows interleave (ours, floor, peer, rotated each round) and are labelled
 * near/far by the probe before and after (see bench/probe.ts).
 */
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
const BACKOFF_US = 200;
const PEER_CAP = 10_000;
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface OutputRow {
  cpus: number;
  size: number;
  /** records/s in total */
  ours: PlacedSummary;
  floor: PlacedSummary;
  peer: PlacedSummary;
  vsFloor: ReturnType<typeof ratio>;
  vsPeer: ReturnType<typeof ratio>;
  /** ours: outputs that found the ring full, per window (the producer backed off) */
  lostShare: number;
}

async function ours(cpus: number, size: number, ms: number): Promise<{ rate: number; lostShare: number }> {
  const kernel = Kernel.create({ cpus, limits: { ringPages: cpus * (RING_PAGES + 1) + 8 } });
  const app = kernel.process('consumer');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: cpus });
  const prog = app.bpf.progLoad({ maps: [m] });
  const fds = Array.from({ length: cpus }, (_, cpu) => {
    const fd = app.perfEventOpen({ cpu, pages: RING_PAGES, wakeupEvents: 0, watermark: WATERMARK });
    app.bpf.mapUpdateElem(m, cpu, fd);
    return fd;
  });
  const rbs = fds.map((fd) => event_rb(kernel.k, file_obj(kernel.k, app.fdTable().find((x) => x.fd === fd)!.file)));
  const noop = (): void => undefined;
  const pool = CpuPool.start(kernel, { prog, program: { index: 'current', size, durationMs: ms, backoffUs: BACKOFF_US, payload: 'constant' } });
  let done = false;
  const results = pool.wait().finally(() => (done = true));
  while (!done) {
    for (let i = 0; i < cpus; i++) if (rb_readable(kernel.k, rbs[i]!) >= WATERMARK) app.consumeRing(fds[i]!, noop);
    await yieldLoop();
  }
  const res = await results;
  const ok = res.reduce((s, r) => s + r.ok, 0);
  const attempts = res.reduce((s, r) => s + r.attempts, 0);
  const elapsed = res.reduce((s, r) => s + r.elapsedMs, 0) / res.length;
  app.exit();
  return { rate: (ok * 1000) / elapsed, lostShare: attempts ? (attempts - ok) / attempts : 0 };
}

async function floor(producers: number, size: number, ms: number): Promise<number> {
  const rings = Array.from({ length: producers }, () => new SharedArrayBuffer(64 + RING_PAGES * 4096));
  const dsize = RING_PAGES * 4096;
  const workers = rings.map((sab) => new Worker(new URL('./workers/floor.js', import.meta.url), { workerData: { sab, size, durationMs: ms, backoffUs: BACKOFF_US } }));
  const results: { records: number; elapsedMs: number }[] = [];
  const done = Promise.all(workers.map((w) => new Promise<void>((res) => w.once('message', (m: { records: number; elapsedMs: number }) => {
    results.push(m);
    res();
  }))));
  let finished = false;
  void done.then(() => (finished = true));
  const drain = (sab: SharedArrayBuffer, force: boolean): void => {
    const ctl = new Int32Array(sab, 0, 2);
    const i32 = new Int32Array(sab, 64);
    const head = Atomics.load(ctl, 0);
    let tail = ctl[1]!;
    if (!force && ((head - tail) >>> 0) < WATERMARK) return;
    while (tail !== head) tail = (tail + (i32[((tail & (dsize - 1)) >>> 2) + 1]! >>> 16)) | 0; // walk the headers
    Atomics.store(ctl, 1, tail);
  };
  while (!finished) {
    for (const r of rings) drain(r, false);
    await yieldLoop();
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const total = results.reduce((s, r) => s + r.records, 0);
  return (total * 1000) / (results.reduce((s, r) => s + r.elapsedMs, 0) / results.length);
}

async function peer(producers: number, size: number, ms: number): Promise<number> {
  const counters = Array.from({ length: producers }, () => new SharedArrayBuffer(4));
  let total = 0;
  let elapsed = 0;
  const workers = counters.map((sab) => {
    const w = new Worker(new URL('./workers/peer.js', import.meta.url), { workerData: { sab, size, durationMs: ms, cap: PEER_CAP } });
    const c = new Int32Array(sab);
    return { w, done: new Promise<void>((res) => {
      w.on('message', (m: Uint8Array | { done: true; sent: number; elapsedMs: number }) => {
        if (m instanceof Uint8Array) {
          if ((Atomics.add(c, 0, 1) & 1023) === 0) Atomics.notify(c, 0);
          return;
        }
        total += m.sent;
        elapsed += m.elapsedMs;
        res();
      });
    }) };
  });
  await Promise.all(workers.map((x) => x.done));
  await Promise.all(workers.map((x) => x.w.terminate()));
  return (total * 1000) / (elapsed / producers);
}

export async function outputBench(probe: Probe, quick: boolean, log: (s: string) => void): Promise<OutputRow[]> {
  const rows: OutputRow[] = [];
  const cpuSet = quick ? [1, 4] : [1, 2, 4, 8];
  const sizes = quick ? [64] : [16, 64, 512];
  const rounds = quick ? 2 : 4;
  const ms = quick ? 250 : 400;
  for (const cpus of cpuSet) {
    for (const size of sizes) {
      const w: Record<'ours' | 'floor' | 'peer', Window[]> = { ours: [], floor: [], peer: [] };
      let lost = 0;
      for (let r = 0; r < rounds; r++) {
        const order = (['ours', 'floor', 'peer'] as const).map((_, i, a) => a[(i + r) % 3]!);
        for (const impl of order) {
          const before = probe.measure();
          let value: number;
          if (impl === 'ours') {
            const o = await ours(cpus, size, ms);
            value = o.rate;
            lost += o.lostShare / rounds;
          } else value = impl === 'floor' ? await floor(cpus, size, ms) : await peer(cpus, size, ms);
          w[impl].push({ value, placement: probe.classify(before, probe.measure()) });
        }
      }
      const row: OutputRow = {
        cpus, size, ours: placed(w.ours), floor: placed(w.floor), peer: placed(w.peer), vsFloor: { near: null, far: null, all: 0 },
        vsPeer: { near: null, far: null, all: 0 }, lostShare: lost,
      };
      row.vsFloor = ratio(row.ours, row.floor);
      row.vsPeer = ratio(row.ours, row.peer);
      rows.push(row);
      log(`  output ${cpus} CPU(s) x ${size} B: ours ${(row.ours.all.median / 1e6).toFixed(2)}M/s, floor ${(row.floor.all.median / 1e6).toFixed(2)}M/s, peer ${(row.peer.all.median / 1e6).toFixed(2)}M/s`);
    }
  }
  return rows;
}
