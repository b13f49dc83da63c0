/**
 * The floor: the best plain SharedArrayBuffer single-producer ring write of the same records,
 * with no kernel checks (header + payload by plain stores, then one ordered store of the head;
 * when full, sleep 200 µs rather than spin). Ring: [head, tail] words, then the data.
 *
 * Its ordered accesses (the tail's load, the head's store) are made as the emulated path makes
 * its own (Arena.loadAcquire / storeRelease on data_tail and data_head): plain accesses on
 * x86-64, which is TSO, and Atomics elsewhere. With Atomics.load and Atomics.store, which V8 on
 * Node 20 compiles as calls, the floor paid about 14 ns per record that the path it is compared
 * with does not pay: a throwaway one-thread loop of it took 36 ns per 64 B record, 22 ns with
 * plain ones.
 *
 * A persistent worker (warm across windows): it writes only while the gate word is open, and
 * publishes how many records it has written every 64 records and before it waits at the gate.
 * Gate: [0] open (1) or held (0), [1] stop, [2 + index] records written by producer `index`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TSO } from '../../src/arena/arena.js';
import { sampleAlignedPayload } from '../../src/record.js';

const tso = TSO; // module-local: folded into the loop (an imported binding is loaded each time)

const { sab, gateSab, index, size, backoffUs } = workerData as {
  sab: SharedArrayBuffer;
  gateSab: SharedArrayBuffer;
  index: number;
  size: number;
  backoffUs: number;
};
const ctl = new Int32Array(sab, 0, 2);
const gate = new Int32Array(gateSab);
const DATA = 64;
const dsize = sab.byteLength - DATA;
const u8 = new Uint8Array(sab, DATA);
const i32 = new Int32Array(sab, DATA);
const rec = 8 + ((size + 4 + 7) & ~7); // the same bytes as a PERF_RECORD_SAMPLE
// placed as ours is (src/program.ts): 4 bytes past an 8-byte boundary, as the raw data lands, so
// V8 copies it into the shared ring a word at a time (byte by byte when the two disagree mod 8)
const payload = sampleAlignedPayload(size).bytes.subarray(0, size).fill(7);
let head = Atomics.load(ctl, 0);
let n = 0;
for (;;) {
  if ((n & 63) === 0) {
    Atomics.store(gate, 2 + index, n);
    while (Atomics.load(gate, 0) === 0 && Atomics.load(gate, 1) === 0) Atomics.wait(gate, 0, 0, 50);
    if (Atomics.load(gate, 1) !== 0) break;
  }
  const tail = tso ? ctl[1]! : Atomics.load(ctl, 1);
  if (((head - tail) >>> 0) + rec >= dsize) {
    Atomics.wait(ctl, 1, tail, backoffUs / 1000);
    continue;
  }
  const off = head & (dsize - 1);
  i32[off >>> 2] = 9;
  i32[(off >>> 2) + 1] = rec << 16;
  i32[(off >>> 2) + 2] = rec - 12;
  const at = (off + 12) & (dsize - 1);
  if (at + size <= dsize) u8.set(payload, at);
  else {
    u8.set(payload.subarray(0, dsize - at), at);
    u8.set(payload.subarray(dsize - at), 0);
  }
  head = (head + rec) | 0;
  if (tso) ctl[0] = head;
  else Atomics.store(ctl, 0, head);
  n++;
}
parentPort!.postMessage({ records: n });
