/**
 * The naive peer (the baseline without shared memory): one postMessage of a Uint8Array per record, at most `cap` in
 * flight (the fair, capped form); the main thread counts 'message' events into word 0.
 */
import { parentPort, workerData } from 'node:worker_threads';

const { sab, size, durationMs, cap } = workerData as { sab: SharedArrayBuffer; size: number; durationMs: number; cap: number };
const received = new Int32Array(sab);
let sent = 0;
const t0 = performance.now();
const end = t0 + durationMs;
while (performance.now() < end) {
  if (sent - Atomics.load(received, 0) >= cap) {
    Atomics.wait(received, 0, Atomics.load(received, 0), 0.2);
    continue;
  }
  parentPort!.postMessage(new Uint8Array(size));
  sent++;
}
parentPort!.postMessage({ done: true, sent, elapsedMs: performance.now() - t0 });
