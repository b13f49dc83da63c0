/** The bare wake-up: store a timestamp, Atomics.notify, sleep 1 ms; `samples` times. */
import { workerData } from 'node:worker_threads';

const { sab, samples } = workerData as { sab: SharedArrayBuffer; samples: number };
const w = new Int32Array(sab);
const f = new Float64Array(sab, 8, 1);
for (let i = 0; i < samples; i++) {
  Atomics.wait(w, 1, 0, 1);
  f[0] = performance.timeOrigin + performance.now();
  Atomics.add(w, 0, 1);
  Atomics.notify(w, 0);
}
