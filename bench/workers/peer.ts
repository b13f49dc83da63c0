/**
 * The naive peer: one postMessage of a Uint8Array per record, at most `cap` in flight (the fair,
 * capped form); the main thread counts 'message' events into `received[0]`.
 *
 * A persistent worker (warm across windows): it sends only while the gate word is open and
 * publishes how many it has sent. Gate: [0] open (1) or held (0), [1] stop, [2 + index] sent.
 */
import { parentPort, workerData } from 'node:worker_threads';

const { sab, gateSab, index, size, cap } = workerData as { sab: SharedArrayBuffer; gateSab: SharedArrayBuffer; index: number; size: number; cap: number };
const received = new Int32Array(sab);
const gate = new Int32Array(gateSab);
let sent = 0;
for (;;) {
  Atomics.store(gate, 2 + index, sent);
  while (Atomics.load(gate, 0) === 0 && Atomics.load(gate, 1) === 0) Atomics.wait(gate, 0, 0, 50);
  if (Atomics.load(gate, 1) !== 0) break;
  if (sent - Atomics.load(received, 0) >= cap) {
    Atomics.wait(received, 0, Atomics.load(received, 0), 0.2);
    continue;
  }
  parentPort!.postMessage(new Uint8Array(size));
  sent++;
}
parentPort!.postMessage({ done: true, sent });
