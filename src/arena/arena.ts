/**
 * The arena as an object: one SharedArrayBuffer, and a lens on it that any thread builds
 * (ringbuf.js's shape). `allocateArena` sizes and initialises the buffer once; `attachArena`
 * builds the views in any thread and refuses a buffer of another layout.
 *
 * Every shared-word access of the kernel goes through the small set of methods below
 * (load/store/xchg/cmpxchg/add, loadAcquire/storeRelease), so that one place decides how shared
 * memory is touched, and the explorer's subclass can make each one a scheduling point. The
 * exceptions, each for a reason given where it is: the wait queues' sleeper counts and
 * Atomics.wait/notify (kernel/wait.ts), and the lock and allocator below (not scheduling points).
 */
import { ERR, PerfemuError, type PerfemuErrorCode } from './perfemu_error.js';
import * as layout from './layout.js';
import { computeLayout, tableBase, tableCount, type ArenaConfig, type Layout, type TableName } from './layout.js';
import { allocateShared, type SharedMemory, wasmAtomics, type WasmAtomics } from './wasm_atomics.js';
// constants as module-local consts, as on every hot path (layout.ts: "Reading the constants")
const {
  ARENA_MAGIC,
  CONFIG_KEYS,
  S_DEAD,
  S_FREE,
  H_CFG,
  H_CUR_FILE,
  H_LAYOUT_VERSION,
  H_LOCK,
  H_MAGIC,
  H_MEMORY_PROBE,
  LAYOUT_VERSION,
  PAGE_SIZE,
  TABLE_CURSOR,
  TABLE_STRIDE,
} = layout;

/**
 * x86-64 is TSO: a plain load is an acquire and a plain store a release in hardware, and V8
 * keeps plain typed-array accesses in program order around atomic operations (which it
 * compiles as calls). Elsewhere (arm64) the ordered accessors below fall back to atomics.
 */
export const TSO = process.arch === 'x64' || process.arch === 'ia32';

/** an error of the arena or the kernel's own machinery (lock, RCU): a PerfemuError */
export class ArenaError extends PerfemuError {
  constructor(message: string, code: PerfemuErrorCode | 'ENOMEM') {
    super(code, message);
    this.name = 'ArenaError';
  }
}

/**
 * Whether `memory` is the memory behind `sab`: a WebAssembly.Memory and a SharedArrayBuffer
 * sent to a worker arrive as separate objects, so it writes a random value through the one and
 * reads it through the other. Two threads probing at once may both see a mismatch: they then
 * use Atomics, which is only slower.
 */
function sameMemory(memory: SharedMemory, sab: SharedArrayBuffer): boolean {
  if (memory.buffer.byteLength !== sab.byteLength) return false;
  const probe = (Math.random() * 0x7fff_ffff) | 0;
  Atomics.store(new Int32Array(memory.buffer), H_MEMORY_PROBE, probe);
  return Atomics.load(new Int32Array(sab), H_MEMORY_PROBE) === probe;
}

export class Arena {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly L: Layout;
  /** the shared WebAssembly.Memory whose buffer `sab` is (null for a plain SharedArrayBuffer) */
  readonly memory: SharedMemory | null;
  /**
   * The atomic operations, as WebAssembly instructions when this thread has the memory
   * (wasm_atomics.ts: a third of the cost of a JS Atomics call), else null: JS Atomics. The
   * methods below and the arena's own machinery (lock, allocator) go through it.
   */
  readonly #w: WasmAtomics | null;

  constructor(sab: SharedArrayBuffer, layout: Layout, memory: SharedMemory | null = null) {
    this.sab = sab;
    this.i32 = new Int32Array(sab);
    this.u8 = new Uint8Array(sab);
    this.L = layout;
    this.memory = memory !== null && sameMemory(memory, sab) ? memory : null;
    this.#w = this.memory !== null ? wasmAtomics(this.memory) : null;
  }

  load(i: number): number {
    const w = this.#w;
    return w !== null ? w.load(i << 2) : Atomics.load(this.i32, i);
  }
  store(i: number, v: number): void {
    const w = this.#w;
    if (w !== null) w.store(i << 2, v);
    else Atomics.store(this.i32, i, v);
  }
  xchg(i: number, v: number): number {
    const w = this.#w;
    return w !== null ? w.xchg(i << 2, v) : Atomics.exchange(this.i32, i, v);
  }
  cmpxchg(i: number, expected: number, replacement: number): number {
    const w = this.#w;
    return w !== null ? w.cmpxchg(i << 2, expected, replacement) : Atomics.compareExchange(this.i32, i, expected, replacement);
  }
  /** returns the value before the addition */
  add(i: number, d: number): number {
    const w = this.#w;
    return w !== null ? w.add(i << 2, d) : Atomics.add(this.i32, i, d);
  }

  /**
   * The hot paths' ordered accesses (the output helper, the ring producer): an acquire load and a
   * release store, i.e. the kernel's READ_ONCE / smp_load_acquire and smp_store_release, where
   * sequential consistency is not needed because a full barrier (an Atomics read-modify-write:
   * the RCU read-side entry) is close by. Plain accesses on x86-64; Atomics elsewhere. For the
   * explorer they are scheduling points like load and store. Which words use them, and why that
   * is enough, is written at each word in layout.ts.
   *
   * The methods here are the TSO forms, one typed-array access each; other architectures get the
   * Atomics forms installed below the class. Why not one method with a TSO test: V8 inlines a
   * function of up to 27 bytes of bytecode at once, and a larger one only while the caller's
   * inlining budget (920 bytes) lasts. The test made these 40 bytes, and the output path's seven
   * calls of them then used up budget that the ring's record write needed (see ring_buffer.ts).
   */
  loadAcquire(i: number): number {
    return this.i32[i]!;
  }
  storeRelease(i: number, v: number): void {
    this.i32[i] = v;
  }

  /**
   * Marks the plain-memory copy of a record's bytes into (ringWrite) or out of (ringRead) a
   * ring's data area, published by data_head / data_tail. Nothing for threads; for the
   * explorer, a scheduling point (the bytes are shared memory too).
   */
  ringWrite(_rb: number, _pos: number): void {}
  ringRead(_rb: number, _pos: number): void {}

  /**
   * The arena lock: a mutex for allocation and queues (never held on the output path).
   * 0 free, 1 held, 2 held with waiters. Waits are bounded so a thread that died holding it
   * turns into an error, not a hang.
   */
  lock(): void {
    const w = this.#w;
    if ((w !== null ? w.cmpxchg(H_LOCK << 2, 0, 1) : Atomics.compareExchange(this.i32, H_LOCK, 0, 1)) === 0) return;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const prev = Atomics.exchange(this.i32, H_LOCK, 2);
      if (prev === 0) return;
      Atomics.wait(this.i32, H_LOCK, 2, 5);
      if (Date.now() > deadline) {
        throw new ArenaError('arena lock held for over 10 s: a thread died holding it?', ERR.DEADLOCK);
      }
    }
  }
  unlock(): void {
    const w = this.#w;
    if ((w !== null ? w.xchg(H_LOCK << 2, 0) : Atomics.exchange(this.i32, H_LOCK, 0)) === 2) Atomics.notify(this.i32, H_LOCK, 1);
  }

  /**
   * Finds a record whose first word is FREE (or DEAD: freed, kept for inspection only) in table
   * `t`, starting after the table's rotating cursor, marks it with `state` and sets its in-use
   * bit; `genField`, if given, is a generation word bumped on reuse. Caller holds the lock.
   * Returns the record's index, -1 when the table is full.
   */
  allocRecord(t: TableName, state: number, genField = -1): number {
    const L = this.L;
    const base = tableBase(L, t);
    const stride = TABLE_STRIDE[t];
    const count = tableCount(L, t);
    const cursorWord = TABLE_CURSOR[t];
    const start = this.i32[cursorWord]!;
    for (let n = 0; n < count; n++) {
      const idx = (start + n) % count;
      const at = base + idx * stride;
      const st = this.i32[at];
      if (st === S_FREE || st === S_DEAD) {
        // The generation survives reuse and moves on, so a stale holder sees the change.
        const gen = genField >= 0 ? this.i32[at + genField]! : 0;
        this.i32.fill(0, at, at + stride);
        const w = this.#w;
        if (w !== null) {
          if (genField >= 0) w.store((at + genField) << 2, (gen + 1) | 0);
          w.store(at << 2, state);
          w.or((L.inUse[t] + (idx >>> 5)) << 2, 1 << (idx & 31));
        } else {
          if (genField >= 0) Atomics.store(this.i32, at + genField, (gen + 1) | 0);
          Atomics.store(this.i32, at, state);
          Atomics.or(this.i32, L.inUse[t] + (idx >>> 5), 1 << (idx & 31));
        }
        this.i32[cursorWord] = (idx + 1) % count;
        return idx;
      }
    }
    return -1;
  }

  /** allocRecord under the arena lock */
  allocRecordLocked(t: TableName, state: number, genField = -1): number {
    this.lock();
    try {
      return this.allocRecord(t, state, genField);
    } finally {
      this.unlock();
    }
  }

  /**
   * Returns record `idx` of table `t` to the allocator: its in-use bit goes first, then its
   * state word becomes FREE (the order makes a concurrent reuse keep its bit; see TABLES).
   */
  freeRecord(t: TableName, idx: number): void {
    const bit = this.L.inUse[t] + (idx >>> 5);
    const w = this.#w;
    if (w !== null) w.and(bit << 2, ~(1 << (idx & 31)));
    else Atomics.and(this.i32, bit, ~(1 << (idx & 31)));
    this.store(tableBase(this.L, t) + idx * TABLE_STRIDE[t], S_FREE);
  }

  /** Calls fn(idx) for each record of table `t` that is not FREE, in index order. */
  forEachInUse(t: TableName, fn: (idx: number) => void): void {
    const bits = this.L.inUse[t];
    const words = Math.ceil(tableCount(this.L, t) / 32);
    for (let w = 0; w < words; w++) {
      let m = Atomics.load(this.i32, bits + w);
      while (m !== 0) {
        const b = 31 - Math.clz32(m & -m);
        m &= m - 1;
        fn(w * 32 + b);
      }
    }
  }

  /**
   * First-fit extent allocator over a map of units (slot words, ring pages): map[u] = n > 0
   * marks the start of an extent of n units, -1 a unit inside one, 0 a free unit.
   * Caller holds the lock. Returns the first unit or -1.
   */
  allocExtent(mapBase: number, units: number, n: number): number {
    const m = this.i32;
    let run = 0;
    for (let u = 0; u < units; u++) {
      const v = m[mapBase + u]!;
      if (v === 0) {
        run++;
        if (run === n) {
          const first = u - n + 1;
          m[mapBase + first] = n;
          for (let k = first + 1; k <= u; k++) m[mapBase + k] = -1;
          return first;
        }
      } else {
        run = 0;
        if (v > 0) u += v - 1;
      }
    }
    return -1;
  }
  freeExtent(mapBase: number, first: number): void {
    const n = this.i32[mapBase + first]!;
    this.i32.fill(0, mapBase + first, mapBase + first + n);
  }
}

export const kDefaultArenaConfig: Omit<ArenaConfig, 'cpus'> = {
  maxFiles: 4096,
  maxEvents: 1024,
  maxMaps: 256,
  maxSlots: 1 << 16,
  maxEntries: 1 << 14,
  maxProgs: 256,
  maxPins: 256,
  ringPages: 2048, // 8 MiB
  rcuQueue: (1 << 14) + 2048,
  violationLog: 256,
  maxEpoll: 256,
};

/**
 * A new arena of configuration `cfg`. The plain Arena lives in a shared WebAssembly.Memory (for
 * its atomics, wasm_atomics.ts); a subclass (the explorer's ScheduledArena, which makes every
 * access a scheduling point and creates an arena per execution) gets a plain SharedArrayBuffer.
 */
export function allocateArena(cfg: ArenaConfig, ArenaClass: new (sab: SharedArrayBuffer, layout: Layout) => Arena = Arena): Arena {
  const layout = computeLayout(cfg);
  let a: Arena;
  if (ArenaClass === Arena) {
    const { sab, memory } = allocateShared(layout.totalBytes);
    a = new Arena(sab, layout, memory);
  } else a = new ArenaClass(new SharedArrayBuffer(layout.totalBytes), layout);
  a.i32[H_MAGIC] = ARENA_MAGIC;
  a.i32[H_LAYOUT_VERSION] = LAYOUT_VERSION;
  CONFIG_KEYS.forEach((k, i) => {
    a.i32[H_CFG + i] = cfg[k];
  });
  a.i32[H_CUR_FILE] = 0;
  return a;
}

/**
 * The arena in `sab`, from any thread. With `memory` (the WebAssembly.Memory whose buffer `sab`
 * is: kernel.arena.memory, passed along to a worker) this thread uses its fast atomics too.
 */
export function attachArena(sab: SharedArrayBuffer, memory: SharedMemory | null = null): Arena {
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < PAGE_SIZE) {
    throw new ArenaError('not a perfemu arena: expected a SharedArrayBuffer from Kernel.create()', ERR.BAD_ARENA);
  }
  const i32 = new Int32Array(sab);
  if (i32[H_MAGIC] !== ARENA_MAGIC || i32[H_LAYOUT_VERSION] !== LAYOUT_VERSION) {
    throw new ArenaError(
      `arena magic/layout ${hex(i32[H_MAGIC]!)}/${i32[H_LAYOUT_VERSION]} differs from this build's ${hex(ARENA_MAGIC)}/${LAYOUT_VERSION}`,
      ERR.BAD_ARENA,
    );
  }
  const cfg = {} as ArenaConfig;
  CONFIG_KEYS.forEach((k, i) => {
    cfg[k] = i32[H_CFG + i]!;
  });
  return new Arena(sab, computeLayout(cfg), memory);
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

// The ordered accessors where plain accesses are not enough (see Arena.loadAcquire).
if (!TSO) {
  Arena.prototype.loadAcquire = function loadAcquire(this: Arena, i: number): number {
    return Atomics.load(this.i32, i);
  };
  Arena.prototype.storeRelease = function storeRelease(this: Arena, i: number, v: number): void {
    Atomics.store(this.i32, i, v);
  };
}
