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
 * A kernel with one 256-page ring read by a PerfBuffer; fill() writes until the ring is full.
 * With `readers` > 1, as many more PerfBuffers in this thread (each with its own map, program,
 * ring and callback), drained beside the first but untimed: their callbacks reach the first
 * reader's call site (Buf.deliverSample is one method for every PerfBuffer), which then calls
 * whichever is passed: a real call per record instead of one inlined into the walk.
 */
function drainSetup(size: number, zeroCopy: boolean, readers: number) {
  const kernel = Kernel.create({ cpus: 1, limits: { ringPages: 300 * readers } });
  const app = kernel.process('app');
  const data = new Uint8Array(size).fill(3);
  const open = (r: number) => {
    const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    const prog = app.bpf.progLoad({ maps: [m] });
    // a callback of its own per reader, as two parts of a program would have
    const opts: PerfBufferOptions = { pages: 256, wakeupEvents: 0 };
    let seen: () => number;
    if (zeroCopy) {
      const cb = readerCallbacks[r]!.at();
      opts.onSampleAt = cb.fn;
      seen = cb.seen;
    } else {
      const cb = readerCallbacks[r]!.view();
      opts.onSample = cb.fn;
      seen = cb.seen;
    }
    const pb = PerfBuffer.open(app, m, opts);
    const fd = pb.bufferFd(0);
    const rb = event_rb(kernel.k, file_obj(kernel.k, app.fdTable().find((x) => x.fd === fd)!.file));
    const fill = (): number => {
      let n = 0;
      while (kernel.cpu(0).perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data) === 0) n++;
      return n;
    };
    return { pb, rb, fill, seen };
  };
  const all = Array.from({ length: readers }, (_, r) => open(r));
  return { kernel, ...all[0]!, others: all.slice(1) };
}

/**
 * Distinct callbacks (distinct functions, not closures of one) for up to three readers, each
 * with what it has summed: the first is the callback the one-reader phases have always timed.
 */
type Counted<F> = () => { fn: F; seen: () => number };
const readerCallbacks: { at: Counted<NonNullable<PerfBufferOptions['onSampleAt']>>; view: Counted<NonNullable<PerfBufferOptions['onSample']>> }[] = [
  {
    at: () => {
      let seen = 0;
      return { fn: (_cpu, buf, off) => void (seen += buf[off]!), seen: () => seen };
    },
    view: () => {
      let seen = 0;
      return { fn: (_cpu, data) => void (seen += data[0]!), seen: () => seen };
    },
  },
  {
    at: () => {
      let seen = 0;
      return { fn: (_cpu, buf, off) => void (seen ^= buf[off]! + 1), seen: () => seen };
    },
    view: () => {
      let seen = 0;
      return { fn: (_cpu, data) => void (seen ^= data[0]! + 1), seen: () => seen };
    },
  },
  {
    at: () => {
      let seen = 0;
      return { fn: (_cpu, buf, off) => void (seen |= buf[off]!), seen: () => seen };
    },
    view: () => {
      let seen = 0;
      return { fn: (_cpu, data) => void (seen |= data[0]!), seen: () => seen };
    },
  },
];

/** untimed drains before the timed ones (each fills and drains a 1 MiB ring, about a millisecond) */
const WARM_ROUNDS = 40;

/**
 * records/s of each timed round: ours (the first reader's PerfBuffer.consume) and the floor,
 * interleaved; `readers` as drainSetup's
 */
export function drainPhase(size: number, rounds: number, zeroCopy: boolean, readers = 1): { ours: number[]; floor: number[] } {
  if (readers < 1 || readers > readerCallbacks.length) throw new RangeError(`drain bench: readers must be 1 to ${readerCallbacks.length}, not ${readers}`);
  const d = drainSetup(size, zeroCopy, readers);
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
  if (d.seen() === 0 || d.others.some((o) => o.seen() === 0)) throw new Error('drain bench: nothing delivered');
  d.pb.close();
  for (const o of d.others) o.pb.close();
  return { ours, floor };
}
