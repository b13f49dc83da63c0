/**
 * One timed release purge: a map file owning every slot of a `maxEntries` map is closed while a
 * pin keeps the map, so its release purges them all. The control bench and `bench/ab.ts` (which
 * passes another build's kernel and process: only their public methods are used) share it.
 */
import { Kernel } from '../src/emulator.js';
import type { Process } from '../src/process/process.js';
import { median, quantile } from './stats.js';

/** µs of the close that purges `maxEntries` owned slots; the kernel is left as it was */
export function timedPurge(kernel: Pick<Kernel, 'rcuBarrier'>, p: Process, maxEntries: number, pin: string): number {
  const F = p.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries });
  p.bpf.objPin(F, pin);
  const ev = p.perfEventOpen({ cpu: 0, mmap: false });
  for (let i = 0; i < maxEntries; i++) p.bpf.mapUpdateElem(F, i, ev);
  const t0 = performance.now();
  p.close(F); // the release purge of every slot (the pin keeps the map)
  const us = (performance.now() - t0) * 1000;
  p.unlink(pin);
  p.close(ev);
  kernel.rcuBarrier();
  return us;
}

export interface PurgeCost {
  maxEntries: number;
  /** every slot filled by the releasing file */
  medianUs: number;
  p99Us: number;
  samples: number;
  /** cost per slot, µs */
  perSlotUs: number;
}

/**
 * The release purge of a map file that owns every slot: `samples` timed purges, after `warm`
 * untimed ones of the same size (the purge's code is JIT-compiled before it is timed, as the
 * output path's workers are warmed before their windows). The control bench runs it in a fresh
 * worker per size (bench/workers/purge.ts): after the other groups' kernels in the bench's
 * process, the same build's 4096-slot purge took 210-220 us instead of 100-125.
 */
export function purgeCost(maxEntries: number, samples: number, warm: number): PurgeCost {
  const kernel = Kernel.create({ cpus: 1, limits: { maxEntries: 1 << 15, rcuQueue: 1 << 16, ringPages: 1024 } });
  const owner = kernel.process('owner');
  const times: number[] = [];
  for (let s = 0; s < warm + samples; s++) {
    const us = timedPurge(kernel, owner, maxEntries, '/sys/fs/bpf/p');
    if (s >= warm) times.push(us);
  }
  const med = median(times);
  return { maxEntries, medianUs: med, p99Us: quantile(times, 0.99), samples, perSlotUs: med / maxEntries };
}
