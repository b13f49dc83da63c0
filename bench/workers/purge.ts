/** One size of the control bench's purge (bench/purge.ts) in a fresh isolate; posts its cost and exits. */
import { parentPort, workerData } from 'node:worker_threads';
import { purgeCost } from '../purge.js';

const { maxEntries, samples, warm } = workerData as { maxEntries: number; samples: number; warm: number };
parentPort!.postMessage(purgeCost(maxEntries, samples, warm));
