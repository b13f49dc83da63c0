/**
 * One size of the control bench's release purge in a fresh isolate (bench/isolate.ts); posts its
 * cost and exits. Its own module, so that bench/purge.ts (which bench/ab.ts loads beside the two
 * builds it compares) needs nothing of this build but types.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Kernel } from '../../src/emulator.js';
import { CONTROL_LIMITS, timedPurge } from '../purge.js';
import { median, quantile } from '../stats.js';

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
 * output path's workers are warmed before their windows). The control bench runs it in this
 * worker, a fresh one per size: after the other groups' kernels in the bench's process, the
 * previous build's 4096-slot purge took 212-222 us, against 116-227 us in fresh processes.
 */
function purgeCost(maxEntries: number, samples: number, warm: number): PurgeCost {
  const kernel = Kernel.create({ cpus: 1, limits: CONTROL_LIMITS });
  const owner = kernel.process('owner');
  const times: number[] = [];
  for (let s = 0; s < warm + samples; s++) {
    const us = timedPurge(kernel, owner, maxEntries, '/sys/fs/bpf/p');
    if (s >= warm) times.push(us);
  }
  const med = median(times);
  return { maxEntries, medianUs: med, p99Us: quantile(times, 0.99), samples, perSlotUs: med / maxEntries };
}

const { maxEntries, samples, warm } = workerData as { maxEntries: number; samples: number; warm: number };
parentPort!.postMessage(purgeCost(maxEntries, samples, warm));
