/**
 * The cache-line probe: main and a worker bounce one Int32Array word; the round
 * trip reads about 110 ns when the two vCPUs sit near each other and about 500 ns when far.
 */
import { Worker } from 'node:worker_threads';
import type { Placement } from './stats.js';

/** midway between the ~110 ns (near) and ~500 ns (far) round trips measured on the two placements */
export const NEAR_FAR_NS = 300;

export class Probe {
  #w: Int32Array;
  #worker: Worker;
  #v = 0;
  private constructor(sab: SharedArrayBuffer, worker: Worker) {
    this.#w = new Int32Array(sab);
    this.#worker = worker;
  }
  static async start(): Promise<Probe> {
    const sab = new SharedArrayBuffer(16);
    const worker = new Worker(new URL('./workers/probe.js', import.meta.url), { workerData: { sab } });
    await new Promise((r) => setTimeout(r, 20));
    return new Probe(sab, worker);
  }
  /** median round trip in ns over `rounds` bounces (8 batches; the median batch) */
  measure(rounds = 2000): number {
    const w = this.#w;
    Atomics.store(w, 2, 1);
    Atomics.notify(w, 2);
    const bounce = (): void => {
      this.#v = (this.#v + 2) & 0x3fffffff;
      const v = this.#v | 1;
      Atomics.store(w, 0, v);
      for (let spins = 0; Atomics.load(w, 0) === v; spins++) if ((spins & 0xffff) === 0xffff && !this.#alive()) return;
    };
    for (let i = 0; i < 200; i++) bounce(); // wake the worker up
    const times: number[] = [];
    for (let b = 0; b < 8; b++) {
      const t0 = performance.now();
      for (let i = 0; i < rounds / 8; i++) bounce();
      times.push(((performance.now() - t0) * 1e6) / (rounds / 8));
    }
    Atomics.store(w, 2, 0);
    times.sort((a, b) => a - b);
    return times[4]!;
  }
  #alive(): boolean {
    return Atomics.load(this.#w, 1) === 0;
  }
  classify(before: number, after: number): Placement {
    if (before < NEAR_FAR_NS && after < NEAR_FAR_NS) return 'near';
    if (before >= NEAR_FAR_NS && after >= NEAR_FAR_NS) return 'far';
    return 'mixed';
  }
  async stop(): Promise<void> {
    Atomics.store(this.#w, 1, 1);
    Atomics.store(this.#w, 0, 1);
    Atomics.notify(this.#w, 0);
    await this.#worker.terminate();
  }
}
