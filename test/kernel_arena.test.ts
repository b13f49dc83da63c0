/**
 * The arena's atomic operations: as WebAssembly instructions on a shared WebAssembly.Memory
 * (Kernel.create), or JS Atomics on a plain SharedArrayBuffer (a thread attached without the
 * memory, the explorer's arena). Both must be the same operations on the same memory.
 */
import { Worker } from 'node:worker_threads';
import * as layout from '../src/arena/layout.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Arena, attachArena } from '../src/arena/arena.js';
import { H_CFG } from '../src/arena/layout.js';
import { rcuCallbackWord } from '../src/arena/records.js';
import { isSharedMemory } from '../src/arena/wasm_atomics.js';
import { Kernel } from '../src/emulator.js';
import { Prng } from '../src/stress/prng.js';

test('Kernel.create puts the arena in a shared WebAssembly.Memory whose buffer is kernel.sab', () => {
  const kernel = Kernel.create({ cpus: 2 });
  assert.ok(isSharedMemory(kernel.memory));
  assert.is(kernel.memory!.buffer, kernel.sab);
  assert.ok(kernel.sab.byteLength >= kernel.arena.L.totalBytes && kernel.sab.byteLength % 65536 === 0);
  // attached without the memory, another handle works on Atomics; with it, on the same words
  assert.is(Kernel.attach(kernel.sab).memory, null);
  assert.is(Kernel.attach(kernel.sab, kernel.memory).memory, kernel.memory);
});

test('the WebAssembly atomics and JS Atomics give the same results, operation by operation (seeded)', () => {
  const kernel = Kernel.create({ cpus: 1 });
  const wasm = kernel.arena;
  const plain = attachArena(kernel.sab); // no memory: Atomics, on the same words
  assert.is(plain.memory, null);
  const rng = new Prng(11, 0);
  const base = kernel.arena.L.ringBase; // ring pages: unused by this kernel
  for (let n = 0; n < 5000; n++) {
    const i = base + (rng.next() % 64);
    const v = rng.next() | 0; // any int32
    const arena: Arena = n % 2 === 0 ? wasm : plain;
    const other: Arena = arena === wasm ? plain : wasm;
    const before = other.load(i);
    switch (rng.next() % 5) {
      case 0:
        arena.store(i, v);
        assert.is(other.load(i), v);
        break;
      case 1:
        assert.is(arena.xchg(i, v), before);
        assert.is(other.load(i), v);
        break;
      case 2: {
        const expected = rng.next() % 2 === 0 ? before : (before + 1) | 0;
        assert.is(arena.cmpxchg(i, expected, v), before);
        assert.is(other.load(i), expected === before ? v : before);
        break;
      }
      case 3:
        assert.is(arena.add(i, v), before);
        assert.is(other.load(i), (before + v) | 0);
        break;
      default:
        assert.is(arena.load(i), before);
    }
  }
  // the top of the arena is addressable too (byte addresses are word index * 4)
  const last = kernel.sab.byteLength / 4 - 1;
  wasm.store(last, 7);
  assert.is(plain.xchg(last, 8), 7);
  assert.is(wasm.load(last), 8);
});

test('a worker attached with kernel.memory writes with its WebAssembly atomics into the same kernel', async () => {
  const kernel = Kernel.create({ cpus: 1 });
  const word = kernel.arena.L.ringBase + 3;
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { memory, sab, word } = workerData;
    import(${JSON.stringify(new URL('../src/emulator.js', import.meta.url).href)}).then(({ Kernel }) => {
      const k = Kernel.attach(sab, memory);
      for (let i = 0; i < 10000; i++) k.arena.add(word, 1);
      parentPort.postMessage(k.memory === memory);
    });`;
  const w = new Worker(src, { eval: true, workerData: { memory: kernel.memory, sab: kernel.sab, word } });
  try {
    for (let i = 0; i < 10000; i++) kernel.arena.add(word, 1);
    const fast = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.is(fast, true, 'the worker used the memory it was given');
    assert.is(kernel.arena.load(word), 20000, 'no increment lost between the two threads');
  } finally {
    await w.terminate();
  }
});

test("a WebAssembly.Memory that is not the arena's (same size) is not used: the handle falls back to Atomics on the arena", () => {
  const a = Kernel.create({ cpus: 1 });
  const b = Kernel.create({ cpus: 1 });
  assert.is(a.sab.byteLength, b.sab.byteLength);
  const h = Kernel.attach(a.sab, b.memory);
  assert.is(h.memory, null);
  const word = a.arena.L.ringBase;
  h.arena.store(word, 42);
  assert.is(a.arena.load(word), 42, 'the write went to the arena, not to the other memory');
  assert.is(b.arena.load(word), 0);
});

test('every call_rcu record starts on 16 bytes, for any CPU count and queue size (a batch is then copied into the queue word by word)', () => {
  for (const cpus of [1, 2, 3, 7, 64]) {
    for (const rcuQueue of [1, 3, 4096]) {
      const L = Kernel.create({ cpus, limits: { rcuQueue } }).arena.L;
      for (const n of [0, 1, 2, 3, rcuQueue - 1]) {
        const byte = rcuCallbackWord(L, n, 0) * 4;
        assert.is(byte % 16, 0, `${cpus} CPUs, queue of ${rcuQueue}, record ${n}`);
      }
    }
  }
});

test('Kernel.attach refuses a memory that is not a WebAssembly.Memory, naming it', () => {
  const kernel = Kernel.create({ cpus: 1 });
  try {
    Kernel.attach(kernel.sab, new SharedArrayBuffer(8) as never);
    assert.unreachable();
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_TYPE');
    assert.match((err as Error).message, /memory/);
  }
  assert.is(kernel.arena.i32[H_CFG], kernel.cpus, 'the arena is intact');
});

test("the ring control page: every RB_* word its own, inside the page, and the reader's words off the line the producer writes per output", () => {
  const rb = Object.entries(layout).filter(([name, v]) => name.startsWith('RB_') && typeof v === 'number') as [string, number][];
  assert.ok(rb.length >= 20);
  assert.is(new Set(rb.map(([, v]) => v)).size, rb.length, 'no two RB_* words share an index');
  for (const [name, v] of rb) assert.ok(Number.isInteger(v) && v >= 0 && v < layout.PAGE_SIZE / 4, `${name} = ${v} is a word of the control page`);
  // words 0-15: rb->head, nest, lost, wakeup, events... written on every output
  for (const name of ['RB_POLL', 'RB_SLEEPERS', 'RB_BACKWARD', 'RB_READ_SAMPLES', 'RB_READ_LOST', 'RB_DATA_HEAD', 'RB_DATA_TAIL']) {
    assert.ok((layout as unknown as Record<string, number>)[name]! >= layout.LINE_WORDS, `${name} is not on the producer's line`);
  }
});

test.run();
