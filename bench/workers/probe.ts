/** The cache-line probe's far side: answer each odd value the main thread writes (see bench/probe.ts). */
import { workerData } from 'node:worker_threads';

// word 0: the bounced value; word 1: stop; word 2: active (the worker sleeps while 0)
const w = new Int32Array(workerData.sab as SharedArrayBuffer);
for (;;) {
  if (Atomics.load(w, 1)) break;
  if (Atomics.load(w, 2) === 0) {
    Atomics.wait(w, 2, 0, 100);
    continue;
  }
  const v = Atomics.load(w, 0);
  if (v & 1) Atomics.store(w, 0, v + 1);
}
