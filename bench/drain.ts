/**
 * One phase of the drain bench: PerfBuffer.consume over a full 1 MiB ring of 64 B records, with
 * a view per record or zero-copy (onSampleAt), each round beside the bare walk of the same bytes
 * (the floor: headers only, tail stored once). consumer.bench.ts runs each phase in a worker of
 * its own (bench/workers/drain.ts), so what ran before in the bench's process cannot change it.
 */
import { BPF_F_CURRENT_CPU } from '../src/kernel/behaviour.js';
import { Kernel } from '../src/emulator.js';
import { PerfBuffer, type PerfBufferOptions } from '../src/consumer/perf_buffer.js';
import { event_rb } from '../src/kernel/perf_event.js';
import { file_obj } from '../src/kernel/file.js';
import { RB_DATA_HEAD, RB_DATA_SIZE, RB_DATA_TAIL } from '../src/arena/layout.js';
import { dataWord } from '../src/kernel/ring_buffer.js';

/**
 * A second PerfBuffer in the phase's thread, drained beside the first but untimed: 'own' gives
 * it a callback function of its own, as another part of a program would have; 'shared' gives it
 * the first reader's function. Every PerfBuffer calls its callback from one place
 * (Buf.deliverSample), and V8 inlines the callback there only while it has seen one function:
 * with 'own', each of the first reader's records costs a real call.
 */
export type SecondReader = 'none' | 'own' | 'shared';
export const SECOND_READERS: readonly SecondReader[] = ['none', 'own', 'shared'];

/** a kernel with one 256-page ring read by a PerfBuffer (and the second reader); fill() writes until the ring is full */
function drainSetup(size: number, zeroCopy: boolean, second: SecondReader) {
  const kernel = Kernel.create({ cpus: 1, limits: { ringPages: 600 } });
  const app = kernel.process('app');
  const data = new Uint8Array(size).fill(3);
  let seen = 0;
  let otherSeen = 0;
  // two function literals, so two functions V8 tells apart as call targets
  const first: PerfBufferOptions = zeroCopy
    ? { onSampleAt: (_cpu, buf, off) => void (seen += buf[off]!) }
    : { onSample: (_cpu, bytes) => void (seen += bytes[0]!) };
  const own: PerfBufferOptions = zeroCopy
    ? { onSampleAt: (_cpu, buf, off) => void (otherSeen ^= buf[off]! + 1) }
    : { onSample: (_cpu, bytes) => void (otherSeen ^= bytes[0]! + 1) };
  const open = (callbacks: PerfBufferOptions) => {
    const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    const prog = app.bpf.progLoad({ maps: [m] });
    const pb = PerfBuffer.open(app, m, { pages: 256, wakeupEvents: 0, ...callbacks });
    const fd = pb.bufferFd(0);
    const rb = event_rb(kernel.k, file_obj(kernel.k, app.fdTable().find((x) => x.fd === fd)!.file));
    const fill = (): number => {
      let n = 0;
      while (kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data) === 0) n++;
      return n;
    };
    return { pb, rb, fill };
  };
  const reader = open(first);
  const others = second === 'none' ? [] : [open(second === 'own' ? own : first)];
  return { kernel, ...reader, others, seen: () => seen };
}

/** untimed drains before the timed ones (each fills and drains a 1 MiB ring, about a millisecond) */
const WARM_ROUNDS = 40;

/**
 * records/s of each timed round: ours (the first reader's PerfBuffer.consume) and the floor,
 * interleaved; `second` as SecondReader
 */
export function drainPhase(size: number, rounds: number, zeroCopy: boolean, second: SecondReader = 'none'): { ours: number[]; floor: number[] } {
  if (!SECOND_READERS.includes(second))
    throw new RangeError(`drain bench: the second reader must be one of ${SECOND_READERS.join(', ')}, not ${String(second)}`);
  const d = drainSetup(size, zeroCopy, second);
  const i32 = d.kernel.arena.i32;
  const rb = d.rb;
  const timed = (n: number, fn: () => void): number => {
    const t0 = performance.now();
    fn();
    return (n * 1000) / (performance.now() - t0);
  };
  const ours: number[] = [];
  const floor: number[] = [];
  for (let r = 0; r < WARM_ROUNDS + rounds; r++) {
    const written = d.fill();
    const before = d.pb.stats.samples;
    const a = timed(written, () => d.pb.consume());
    const consumed = d.pb.stats.samples - before;
    if (consumed !== written) throw new Error(`drain bench: ${written} samples written, ${consumed} consumed`);
    for (const o of d.others) {
      const n = o.fill();
      const had = o.pb.stats.samples;
      o.pb.consume();
      if (o.pb.stats.samples - had !== n || n === 0)
        throw new Error(`drain bench: the second reader consumed ${o.pb.stats.samples - had} of ${n} samples written`);
    }
    // the floor: walk the headers of the same ring and store the tail once
    const c = timed(d.fill(), () => {
      const dsize = i32[rb + RB_DATA_SIZE]!;
      const head = Atomics.load(i32, rb + RB_DATA_HEAD);
      let tail = i32[rb + RB_DATA_TAIL]!;
      while (tail !== head) tail = (tail + (i32[dataWord(rb, dsize, tail) + 1]! >>> 16)) | 0;
      Atomics.store(i32, rb + RB_DATA_TAIL, tail);
    });
    if (r < WARM_ROUNDS) continue; // untimed: the reader's code is compiled before it is timed
    ours.push(a);
    floor.push(c);
  }
  if (d.seen() === 0) throw new Error('drain bench: nothing delivered');
  d.pb.close();
  for (const o of d.others) o.pb.close();
  return { ours, floor };
}
