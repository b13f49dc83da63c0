/**
 * Atomic operations on the arena through a few lines of WebAssembly.
 *
 * Why: V8 on Node 20 compiles each JS `Atomics` call as a call into a runtime builtin, about
 * 8-25 ns on these machines, while a call of an exported WebAssembly function whose body is one
 * atomic instruction (`i32.atomic.rmw.xchg` is an x86 `xchg`) costs about 3.5 ns. The two are
 * the same sequentially consistent operations on the same memory, so threads that use either
 * mix freely: a thread attached without the WebAssembly.Memory (Kernel.attach(sab)) falls back
 * to `Atomics`.
 *
 * The arena must then live in a shared WebAssembly.Memory (its `.buffer` is the arena's
 * SharedArrayBuffer); `allocateShared` makes one, or a plain SharedArrayBuffer where that fails.
 *
 * The module, written out by hand (no toolchain): it imports the memory as `env.mem` (shared,
 * 1 to 65536 pages: any arena up to 4 GiB) and exports, on byte addresses,
 *   load(a) store(a, v) xchg(a, v) cmpxchg(a, expected, replacement) add(a, d) and(a, m) or(a, m)
 * each a single 4-byte-aligned atomic instruction (memarg align 2, offset 0).
 */

/** the arena's atomics on byte addresses (word index << 2; addresses are unsigned in wasm) */
export interface WasmAtomics {
  load(addr: number): number;
  store(addr: number, v: number): void;
  xchg(addr: number, v: number): number;
  cmpxchg(addr: number, expected: number, replacement: number): number;
  add(addr: number, d: number): number;
  and(addr: number, m: number): number;
  or(addr: number, m: number): number;
}

/**
 * A shared WebAssembly.Memory, as far as perfemu uses it (Node's own type declarations do not
 * declare the WebAssembly namespace, so the few parts used here are declared below).
 */
export interface SharedMemory {
  readonly buffer: ArrayBufferLike;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
  Memory: new (desc: { initial: number; maximum: number; shared: boolean }) => SharedMemory;
}
const Wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** true for a WebAssembly.Memory (what kernel.memory holds) */
export function isSharedMemory(x: unknown): x is SharedMemory {
  return Wasm !== undefined && x instanceof Wasm.Memory;
}

const WASM_PAGE = 65536;
const MAX_PAGES = 65536;

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]): number[] => [id, ...leb(bytes.length), ...bytes];
const name = (s: string): number[] => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const I32 = 0x7f;
const ATOMIC = 0xfe; // prefix of the threads proposal's instructions
const MEMARG = [2, 0]; // align 2^2, offset 0
const get = (i: number): number[] => [0x20, i]; // local.get

/** [export name, type index, body] */
const FUNCS: [string, number, number[]][] = [
  ['load', 0, [...get(0), ATOMIC, 0x10, ...MEMARG]], // i32.atomic.load
  ['store', 1, [...get(0), ...get(1), ATOMIC, 0x17, ...MEMARG]], // i32.atomic.store
  ['xchg', 2, [...get(0), ...get(1), ATOMIC, 0x41, ...MEMARG]], // i32.atomic.rmw.xchg
  ['cmpxchg', 3, [...get(0), ...get(1), ...get(2), ATOMIC, 0x48, ...MEMARG]], // i32.atomic.rmw.cmpxchg
  ['add', 2, [...get(0), ...get(1), ATOMIC, 0x1e, ...MEMARG]], // i32.atomic.rmw.add
  ['and', 2, [...get(0), ...get(1), ATOMIC, 0x2c, ...MEMARG]], // i32.atomic.rmw.and
  ['or', 2, [...get(0), ...get(1), ATOMIC, 0x33, ...MEMARG]], // i32.atomic.rmw.or
];

function moduleBytes(): Uint8Array {
  const types = vec([
    [0x60, 1, I32, 1, I32], // (a) -> v
    [0x60, 2, I32, I32, 0], // (a, v) -> ()
    [0x60, 2, I32, I32, 1, I32], // (a, v) -> old
    [0x60, 3, I32, I32, I32, 1, I32], // (a, expected, replacement) -> old
  ]);
  const imports = vec([[...name('env'), ...name('mem'), 0x02, 0x03, ...leb(1), ...leb(MAX_PAGES)]]); // shared memory, min 1, max 65536
  const funcs = vec(FUNCS.map(([, type]) => [type]));
  const exports = vec(FUNCS.map(([n], i) => [...name(n), 0x00, i]));
  const code = vec(
    FUNCS.map(([, , body]) => {
      const b = [0, ...body, 0x0b]; // no locals, body, end
      return [...leb(b.length), ...b];
    }),
  );
  const header = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0]; // "\0asm", version 1
  return new Uint8Array([...header, ...section(1, types), ...section(2, imports), ...section(3, funcs), ...section(7, exports), ...section(10, code)]);
}

let compiled: object | null | undefined;
/** the module, compiled once per thread; null where WebAssembly threads are unavailable */
function atomicsModule(): object | null {
  if (compiled === undefined) {
    try {
      compiled = Wasm === undefined ? null : new Wasm.Module(moduleBytes());
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** the atomics bound to `memory`, or null when the module cannot run here */
export function wasmAtomics(memory: SharedMemory): WasmAtomics | null {
  const mod = atomicsModule();
  if (mod === null || Wasm === undefined) return null;
  try {
    return new Wasm.Instance(mod, { env: { mem: memory } }).exports as WasmAtomics;
  } catch {
    return null;
  }
}

/**
 * Shared memory of at least `bytes`: a shared WebAssembly.Memory (its buffer rounded up to 64 KiB
 * pages) when possible, else a plain SharedArrayBuffer of exactly `bytes` (memory: null).
 */
export function allocateShared(bytes: number): { sab: SharedArrayBuffer; memory: SharedMemory | null } {
  const pages = Math.ceil(bytes / WASM_PAGE);
  if (pages <= MAX_PAGES && atomicsModule() !== null && Wasm !== undefined) {
    try {
      const memory = new Wasm.Memory({ initial: pages, maximum: pages, shared: true });
      return { sab: memory.buffer as unknown as SharedArrayBuffer, memory };
    } catch {
      // fall through: address space or the feature is unavailable
    }
  }
  return { sab: new SharedArrayBuffer(bytes), memory: null };
}
