/**
 * The public facade: `Kernel.create(...)` makes an arena and the handle on it for this thread;
 * `Kernel.attach(sab)` gives another thread a handle on the same kernel. Options are validated
 * here once, naming the option and the rule; the kernel code behind trusts them.
 */
import { ERR } from './arena/perfemu_error.js';
import { type Arena, allocateArena, attachArena, kDefaultArenaConfig } from './arena/arena.js';
import {
  C_OFFLINE,
  E_ID,
  FILE_KIND_REGULAR,
  FMODE_READ,
  PERF_HEADER_SIZE,
  PERF_RECORD_MAX,
  FMODE_WRITE,
  H_CONSOLE_FILE,
  H_CPUS,
  H_KERNEL_VERSION,
  H_FAULT,
  H_NEXT_PID,
  H_STRICT,
  H_T0_HI,
  H_T0_LO,
  H_UNPRIV_BPF_DISABLED,
  type ArenaConfig,
} from './arena/layout.js';
import { cpuWord } from './arena/records.js';
import { isSharedMemory, type SharedMemory } from './arena/wasm_atomics.js';
import { PerfemuError, SystemCallError, checkKeys, invalidArgType, optionKeys, invalidArgValue, outOfRange, validateInt } from './errors.js';
import { inspect, type KernelSnapshot } from './inspect.js';
import { BEHAVIOURS, KERNEL_VERSIONS, kDefaultKernelVersion, type KernelVersion } from './kernel/behaviour.js';
import { BPF_PERF_EVENT_VALUE_SIZE, bpf_perf_event_output, bpf_perf_event_read, bpf_perf_event_read_value, type PerfEventValue } from './kernel/bpf_trace.js';
import { FAULTS, faultByName } from './kernel/faults.js';
import { prog_nmaps } from './kernel/bpf/core.js';
import { map_id } from './kernel/bpf/map.js';
import { event_field } from './kernel/perf_event.js';
import { kctxOf, type Kctx, type KernelHooks } from './kernel/context.js';
import { cpu_online } from './kernel/perf_event.js';
import { EBADF, EINVAL } from './kernel/errno.js';
import { alloc_file, file_serial } from './kernel/file.js';
import { applyInliningSetting } from './v8_inlining.js';
import { rcu_barrier, rcu_read_lock, rcu_read_unlock, rcu_tick, synchronize_rcu } from './kernel/rcu.js';
import { readViolations, type Violation } from './invariants/registry.js';
import { Process, fdTableEpoch, type ProcessHost } from './process/process.js';
// Modules that register file releases and RCU callbacks must be loaded in every thread.
import './kernel/bpf/inode.js';
import './kernel/eventpoll.js';

export interface KernelOptions {
  /** simulated CPUs (1..1024) */
  cpus: number;
  /** kernel behaviour: '4.7' (before the fix), '4.8' (the fix), '5.10', '6.18' (default) */
  version?: KernelVersion;
  /** perfemu's strict purge: compare-and-exchange, never removing another frontend's entry */
  strict?: boolean;
  /** table sizes of the arena (defaults in kDefaultArenaConfig) */
  limits?: Partial<Omit<ArenaConfig, 'cpus'>>;
  /** a deliberately broken kernel (see FAULTS): for proving that checks catch bugs */
  inject?: string;
  /**
   * the online CPUs (default: all `cpus`, which are the possible ones). An offline CPU runs no
   * program, and perf_event_open of a CPU-wide event on it fails with ENODEV.
   */
  online?: number[];
}

const HOOK_NAMES = optionKeys<KernelHooks>({
  purgeLoaded: true,
  outputLoaded: true,
  outputReserved: true,
  purged: true,
  released: true,
  ringFreed: true,
  faultWindow: true,
});
const KERNEL_OPTION_KEYS = optionKeys<KernelOptions>({ cpus: true, version: true, strict: true, limits: true, inject: true, online: true });

/**
 * The kernel-side hooks (table indices) that call the user's hooks with the public ids: the
 * map's id, the file's serial (fileOf), the perf event's id.
 */
function publicHooks(k: Kctx, h: KernelHooks): KernelHooks {
  const out: KernelHooks = {};
  if (h.purgeLoaded) {
    const f = h.purgeLoaded;
    out.purgeLoaded = (i) => f({ ...i, map: map_id(k, i.map) });
  }
  if (h.outputLoaded) out.outputLoaded = h.outputLoaded;
  if (h.outputReserved) out.outputReserved = h.outputReserved;
  if (h.purged) {
    const f = h.purged;
    out.purged = (i) => f({ ...i, map: map_id(k, i.map), file: file_serial(k, i.file) });
  }
  if (h.released) {
    const f = h.released;
    out.released = (i) => f({ map: map_id(k, i.map), file: file_serial(k, i.file) });
  }
  if (h.ringFreed) {
    const f = h.ringFreed;
    out.ringFreed = (i) => f({ ...i, event: event_field(k, i.event, E_ID) });
  }
  if (h.faultWindow) out.faultWindow = h.faultWindow;
  return out;
}

/** a program reference for the helper: a prog fd of one of this thread's processes */
export type ProgRef = number | { process: Process; fd: number };

/** the largest payload whose PERF_RECORD_SAMPLE fits the u16 header.size */
export const MAX_OUTPUT_BYTES = PERF_RECORD_MAX - PERF_HEADER_SIZE - 4 - 7; // header, u32 size, padding

export class Kernel {
  readonly arena: Arena;
  /** @internal */
  readonly k: Kctx;
  #procs = new Set<Process>();
  #progCache = { ref: -1, epoch: -1, prog: -1 };
  #cpus: Cpu[] = [];
  #hooks: KernelHooks = {};

  private constructor(arena: Arena) {
    this.arena = arena;
    this.k = kctxOf(arena);
  }

  /** `ArenaClass` (internal): the explorer's arena, whose accesses are scheduling points */
  static create(opts: KernelOptions, ArenaClass?: typeof Arena): Kernel {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    checkKeys('options', opts, KERNEL_OPTION_KEYS);
    const cpus = validateInt('cpus', opts.cpus, 1, 1024);
    const version = opts.version ?? kDefaultKernelVersion;
    if (!KERNEL_VERSIONS.includes(version)) {
      throw invalidArgValue('version', `must be one of ${KERNEL_VERSIONS.map((v) => `'${v}'`).join(', ')}`, version);
    }
    if (opts.strict !== undefined && typeof opts.strict !== 'boolean') throw invalidArgType('strict', 'a boolean', opts.strict);
    const limits = opts.limits ?? {};
    if (typeof limits !== 'object' || limits === null) throw invalidArgType('limits', 'an object', limits);
    const cfg: ArenaConfig = { cpus, ...kDefaultArenaConfig };
    for (const [key, v] of Object.entries(limits)) {
      if (!(key in kDefaultArenaConfig)) checkKeys('limits', { [key]: v }, Object.keys(kDefaultArenaConfig));
      cfg[key as keyof typeof kDefaultArenaConfig] = validateInt(`limits.${key}`, v, 1, 1 << 24);
    }
    let fault = 0;
    if (opts.inject !== undefined) {
      const f = faultByName(opts.inject);
      if (!f) throw invalidArgValue('inject', `must be one of ${FAULTS.map((x) => `'${x.name}'`).join(', ')}`, opts.inject);
      if (f.kernel && f.kernel !== version)
        throw invalidArgValue('inject', `'${f.name}' is kernel ${f.kernel}: create the kernel with version '${f.kernel}'`, opts.inject);
      fault = f.id;
    }
    let online: number[] | undefined;
    if (opts.online !== undefined) {
      if (!Array.isArray(opts.online) || opts.online.length === 0) throw invalidArgType('online', 'a non-empty array of CPU numbers', opts.online);
      online = opts.online.map((c, i) => validateInt(`online[${i}]`, c, 0, cpus - 1));
      if (new Set(online).size !== online.length) throw invalidArgValue('online', 'must not repeat a CPU', opts.online);
    }
    // PERFEMU_V8_INLINING=wide: once every option is valid (a refused create changes nothing),
    // before any output runs, so its first optimized compile has the budget (v8_inlining.ts)
    applyInliningSetting();
    const a = allocateArena(cfg, ArenaClass);
    if (online) for (let c = 0; c < cpus; c++) a.i32[cpuWord(a.L, c, C_OFFLINE)] = online.includes(c) ? 0 : 1;
    a.i32[H_FAULT] = fault;
    a.i32[H_KERNEL_VERSION] = BEHAVIOURS[version].code;
    a.i32[H_STRICT] = opts.strict ? 1 : 0;
    a.i32[H_CPUS] = cpus;
    const now = Date.now();
    a.i32[H_T0_HI] = Math.floor(now / 0x100_0000);
    a.i32[H_T0_LO] = now % 0x100_0000;
    const kernel = new Kernel(a);
    // the tty behind every process's fds 0-2: a file that is neither a map nor a perf event
    a.i32[H_CONSOLE_FILE] = alloc_file(kernel.k, FILE_KIND_REGULAR, 0, FMODE_READ | FMODE_WRITE);
    return kernel;
  }

  /**
   * A handle on an existing kernel, in any thread (the arena's SharedArrayBuffer). Pass
   * `memory` too (kernel.memory, when not null) and this thread's atomic operations run as
   * WebAssembly instructions, about three times cheaper than JS Atomics calls; without it the
   * kernel works the same, on Atomics.
   */
  static attach(sab: SharedArrayBuffer, memory: SharedMemory | null = null): Kernel {
    if (!(sab instanceof SharedArrayBuffer)) throw invalidArgType('sab', 'a SharedArrayBuffer (kernel.sab)', sab);
    if (memory !== null && !isSharedMemory(memory)) throw invalidArgType('memory', 'a WebAssembly.Memory (kernel.memory) or null', memory);
    return new Kernel(attachArena(sab, memory ?? null));
  }

  get sab(): SharedArrayBuffer {
    return this.arena.sab;
  }
  /** the shared WebAssembly.Memory whose buffer is `sab` (null when the arena is a plain SharedArrayBuffer) */
  get memory(): SharedMemory | null {
    return this.arena.memory;
  }
  get version(): KernelVersion {
    return this.k.b.version;
  }
  get strict(): boolean {
    return this.k.strict;
  }
  /** the injected fault's name, or null for the correct kernel */
  get fault(): string | null {
    return FAULTS.find((f) => f.id === this.k.fault)?.name ?? null;
  }
  get cpus(): number {
    return this.arena.L.cpus;
  }
  /** the online CPUs, ascending (all of them unless Kernel.create was given `online`) */
  get online(): number[] {
    return Array.from({ length: this.cpus }, (_, c) => c).filter((c) => cpu_online(this.k, c));
  }

  /**
   * hook points for forcing interleavings (see KernelHooks); they run in this thread and see
   * the public ids (map ids as inspect() shows them, file ids as Process.fileOf returns them).
   * Assign the whole object: the hooks present when it is assigned are the ones called.
   */
  get hooks(): KernelHooks {
    return this.#hooks;
  }
  set hooks(h: KernelHooks) {
    if (typeof h !== 'object' || h === null) throw invalidArgType('hooks', 'an object', h);
    checkKeys('hooks', h, HOOK_NAMES);
    for (const name of HOOK_NAMES) {
      const fn = (h as Record<string, unknown>)[name];
      if (fn !== undefined && typeof fn !== 'function') throw invalidArgType(`hooks.${name}`, 'a function', fn);
    }
    this.#hooks = h;
    this.k.hooks = publicHooks(this.k, h);
  }

  /** a new process with fds 0-2 open (on a tty file) */
  process(name: string, opts: { privileged?: boolean } = {}): Process {
    if (typeof name !== 'string') throw invalidArgType('name', 'a string', name);
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    checkKeys('options', opts, ['privileged']);
    if (opts.privileged !== undefined && typeof opts.privileged !== 'boolean') throw invalidArgType('privileged', 'a boolean', opts.privileged);
    const host: ProcessHost = {
      k: this.k,
      consoleFile: this.arena.i32[H_CONSOLE_FILE]!,
      nextPid: () => this.arena.add(H_NEXT_PID, 1) + 1,
      register: (p) => this.#procs.add(p),
      unregister: (p) => this.#procs.delete(p),
    };
    return new Process(host, name, opts.privileged ?? true);
  }

  /** live processes of this thread */
  processes(): Process[] {
    return [...this.#procs];
  }

  /** the simulated CPU `c`, to run helpers synchronously "as CPU c" from this thread */
  cpu(c: number): Cpu {
    validateInt('cpu', c, 0, this.cpus - 1);
    if (!cpu_online(this.k, c)) throw new PerfemuError(ERR.CPU_OFFLINE, `CPU ${c} is offline (online: ${this.online.join(',')}): no program runs there`);
    return (this.#cpus[c] ??= new Cpu(this, c));
  }

  /** sysctl kernel.unprivileged_bpf_disabled (0 by default) */
  sysctl(settings: { unprivilegedBpfDisabled?: number }): void {
    if (typeof settings !== 'object' || settings === null) throw invalidArgType('settings', 'an object', settings);
    checkKeys('settings', settings, ['unprivilegedBpfDisabled']);
    if (settings.unprivilegedBpfDisabled !== undefined) {
      this.arena.store(H_UNPRIV_BPF_DISABLED, validateInt('unprivilegedBpfDisabled', settings.unprivilegedBpfDisabled, 0, 2));
    }
  }

  inspect(): KernelSnapshot {
    return inspect(this.k);
  }

  violations(): Violation[] {
    return readViolations(this.k);
  }

  /** waits until every pending RCU callback has run (rcu_barrier); bounded by `timeoutMs` */
  rcuBarrier(timeoutMs = 10_000): void {
    rcu_barrier(this.k, validateInt('timeoutMs', timeoutMs, 1, 3_600_000));
  }

  /** waits for one full grace period (synchronize_rcu), without running callbacks */
  synchronizeRcu(timeoutMs = 10_000): void {
    synchronize_rcu(this.k, validateInt('timeoutMs', timeoutMs, 1, 3_600_000));
  }

  /** advances grace periods and runs ready callbacks without waiting; returns callbacks run */
  rcuTick(): number {
    return rcu_tick(this.k);
  }

  /**
   * @internal the program behind a ProgRef: `{ process, fd }`, or a bare prog fd, looked up in
   * this thread's live processes (it must name one program)
   */
  progIndex(ref: ProgRef): number {
    if (typeof ref === 'object' && ref !== null) {
      if (!(ref.process instanceof Process)) throw invalidArgType('prog.process', 'a Process', ref.process);
      const p = ref.process.bpf.progIndex(ref.fd);
      if (p < 0) throw new SystemCallError('bpf_perf_event_output', -EBADF, `prog fd ${ref.fd}`, `not a program fd in process ${ref.process.name}`);
      return p;
    }
    if (typeof ref !== 'number') throw invalidArgType('prog', 'a prog fd or { process, fd }', ref);
    // a loop of outputs names the same fd every time: reuse the answer while no fd table changed
    const c = this.#progCache;
    if (c.ref === ref && c.epoch === fdTableEpoch()) return c.prog;
    const found = new Set<number>();
    for (const p of this.#procs) {
      const prog = p.bpf.progIndex(ref);
      if (prog >= 0) found.add(prog);
    }
    if (found.size === 0)
      throw new SystemCallError('bpf_perf_event_output', -EBADF, `prog fd ${ref}`, 'no live process of this thread has a program at that fd');
    if (found.size > 1) {
      throw new PerfemuError(ERR.AMBIGUOUS_PROG, `prog fd ${ref} names different programs in several processes; pass { process, fd }`);
    }
    const prog = [...found][0]!;
    this.#progCache = { ref, epoch: fdTableEpoch(), prog };
    return prog;
  }
}

/** A simulated CPU, driven synchronously from the calling thread. */
export class Cpu {
  readonly id: number;
  #kernel: Kernel;
  constructor(kernel: Kernel, id: number) {
    this.#kernel = kernel;
    this.id = id;
  }

  /**
   * bpf_perf_event_output(ctx, map, flags, data, size) run by program `prog` on this CPU, with
   * `map` the program's `mapIndexInProg`-th map. `flags` is the u64 helper argument: the index
   * in its low 32 bits, or BPF_F_CURRENT_CPU. Returns what the helper returns: 0 or -errno.
   */
  perfEventOutput(prog: ProgRef, mapIndexInProg: number, flags: number | bigint, data: Uint8Array | ArrayBufferView): number {
    const k = this.#kernel.k;
    const a = this.#args(prog, mapIndexInProg, flags);
    const p = a.prog;
    const lo = a.lo;
    const hi = a.hi;
    const bytes = data instanceof Uint8Array ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (!bytes) throw invalidArgType('data', 'a Uint8Array or ArrayBufferView', data);
    if (bytes.length > MAX_OUTPUT_BYTES) throw outOfRange('data.length', `at most ${MAX_OUTPUT_BYTES} (a record's header.size is a u16)`, bytes.length);
    if (bytes.length === 0 && !k.b.zeroSizeOutput) {
      throw new SystemCallError('bpf', -EINVAL, 'BPF_PROG_LOAD', `kernel ${k.b.version}'s verifier rejects a zero-size bpf_perf_event_output`);
    }
    return this.#run(() => bpf_perf_event_output(k, this.id, p, mapIndexInProg, lo, hi, bytes, bytes.length));
  }

  /**
   * bpf_perf_event_read(map, flags) on this CPU: the event's counter, or -errno (in one
   * return, as the helper's uapi has it). perfemu has no PMU: the counter of an event is the
   * number of samples written into it.
   */
  perfEventRead(prog: ProgRef, mapIndexInProg: number, flags: number | bigint): number {
    const a = this.#args(prog, mapIndexInProg, flags);
    const p = a.prog;
    const lo = a.lo;
    const hi = a.hi;
    return this.#run(() => bpf_perf_event_read(this.#kernel.k, this.id, p, mapIndexInProg, lo, hi));
  }

  /**
   * bpf_perf_event_read_value(map, flags, buf, size) on this CPU (4.15+): `ret` 0 and the
   * value, or -errno and a zeroed value; `size` other than 24 is EINVAL.
   */
  perfEventReadValue(prog: ProgRef, mapIndexInProg: number, flags: number | bigint, size = BPF_PERF_EVENT_VALUE_SIZE): PerfEventValue & { ret: number } {
    const k = this.#kernel.k;
    if (!k.b.readValue) throw new SystemCallError('bpf', -EINVAL, 'BPF_PROG_LOAD', `kernel ${k.b.version} has no bpf_perf_event_read_value (4.15+)`);
    const a = this.#args(prog, mapIndexInProg, flags);
    const p = a.prog;
    const lo = a.lo;
    const hi = a.hi;
    validateInt('size', size, 0, 0xffffffff);
    const out: PerfEventValue = { counter: 0, enabled: 0, running: 0 };
    const ret = this.#run(() => bpf_perf_event_read_value(k, this.id, p, mapIndexInProg, lo, hi, size, out));
    return { ret, ...out };
  }

  /**
   * One helper call as a program's run on this CPU: inside the CPU's RCU read-side section, as
   * trace_call_bpf holds rcu_read_lock around bpf_prog_run (the helpers take none themselves).
   */
  #run<T>(call: () => T): T {
    const k = this.#kernel.k;
    rcu_read_lock(k, this.id);
    try {
      return call();
    } finally {
      rcu_read_unlock(k, this.id);
    }
  }

  /** the program, and flags split into their low and high 32 bits (validated once) */
  /** the resolved arguments of a helper call (one scratch object per CPU: no allocation per call) */
  #scratch = { prog: 0, lo: 0, hi: 0 };
  #args(prog: ProgRef, mapIndexInProg: number, flags: number | bigint): { prog: number; lo: number; hi: number } {
    const k = this.#kernel.k;
    const out = this.#scratch;
    const p = this.#kernel.progIndex(prog);
    validateInt('mapIndexInProg', mapIndexInProg, 0, prog_nmaps(k, p) - 1);
    out.prog = p;
    if (typeof flags === 'bigint') {
      if (flags < 0n || flags > 0xffff_ffff_ffff_ffffn) throw outOfRange('flags', 'a u64', flags);
      out.lo = Number(flags & 0xffff_ffffn);
      out.hi = Number(flags >> 32n);
      return out;
    }
    validateInt('flags', flags, 0, Number.MAX_SAFE_INTEGER);
    out.lo = flags >>> 0;
    out.hi = Math.floor(flags / 0x1_0000_0000);
    return out;
  }
}
