/**
 * The main-side handle on the simulated CPUs: one piscina worker per CPU, each running one
 * long task (src/program.ts) on the shared arena. Stopped by the pool's own stop word and awaited;
 * a CPU that throws or dies is reported with its number, after the others are stopped and
 * every worker is gone. Nothing is left running when wait() settles.
 */
import { ERR } from './arena/perfemu_error.js';
import { POOL_PAUSED, POOL_STARTED, POOL_STOP, POOL_WORDS } from './arena/layout.js';
import { PerfemuError, checkKeys, invalidArgType, invalidArgValue, optionKeys, validateInt } from './errors.js';
import type { Kernel, ProgRef } from './emulator.js';
import { bpf_prog_inc, bpf_prog_put, prog_nmaps } from './kernel/bpf/core.js';
import { RECORD_MIN_BYTES } from './record.js';
import { settleAndDestroy, startLongTasks, type LongTasks } from './pool.js';
import type { CpuResult, CpuTask, ProgramSpec } from './program.js';

export type { CpuResult, ProgramSpec, ProgramContext } from './program.js';

export const CPU_WORKER = new URL('../workers/cpu.js', import.meta.url);

export interface CpuRunOptions {
  /** the program the CPUs run (attached: it holds a reference while they run) */
  prog: ProgRef;
  /** which of the program's maps the output goes to (default 0) */
  mapIndexInProg?: number;
  /** one spec for every CPU, or one per CPU */
  program: ProgramSpec | ProgramSpec[];
  /** the CPUs to run (default: the online ones) */
  cpus?: number[];
  /** how long wait() gives the CPUs to stop before terminating them (default 5000 ms) */
  stopTimeoutMs?: number;
  /** start with the CPUs paused (see pause()): nothing is written until resume() */
  paused?: boolean;
}

export class CpuCrashError extends PerfemuError {
  readonly cpu: number;
  constructor(cpu: number, cause: unknown) {
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(ERR.CPU_CRASHED, `CPU ${cpu}: ${msg}`);
    this.cpu = cpu;
    this.cause = cause;
  }
}

export class CpuPool {
  readonly cpus: number[];
  #kernel: Kernel;
  #tasks: LongTasks<CpuResult>;
  #prog: number;
  #stopMs: number;
  readonly #done: Promise<CpuResult[]>;
  #ticker: NodeJS.Timeout;
  #stopped: (() => void) | undefined;
  /** this pool's control words (layout.ts, POOL_*): its own, so that pools do not stop or pause each other */
  #ctl: Int32Array;
  #waited = false;

  private constructor(kernel: Kernel, cpus: number[], tasks: LongTasks<CpuResult>, prog: number, stopMs: number, ctl: Int32Array) {
    this.#kernel = kernel;
    this.cpus = [...cpus]; // its own copy: what the caller does to its array later changes nothing here
    this.#tasks = tasks;
    this.#prog = prog;
    this.#stopMs = stopMs;
    this.#ctl = ctl;
    // RCU callbacks (entry and program frees) run from here while the CPUs are busy
    this.#ticker = setInterval(() => kernel.rcuTick(), 2);
    livePools(kernel).add(this); // until #wait has ended it
    // The pool ends by itself when its programs do (or stop() is called): workers destroyed, the
    // ticker cleared, the program's reference dropped, so a script that never calls wait() still
    // exits. wait() returns this same promise; until someone awaits it, a crash is kept for it
    // rather than reported as an unhandled rejection.
    this.#done = this.#wait();
    this.#done.catch((err: unknown) => {
      // a crash nobody asked about would otherwise vanish: say so, once, if wait() was not called
      if (!this.#waited) process.emitWarning(`${(err as Error).message} (the CpuPool's wait() was not called)`, { code: 'PERFEMU_CPU_CRASHED' });
    });
  }

  /** Starts the CPUs; returns at once. Call wait() (after stop(), or for bounded programs). */
  static start(kernel: Kernel, opts: CpuRunOptions): CpuPool {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    checkKeys('options', opts, CPU_RUN_KEYS);
    const prog = kernel.progIndex(opts.prog);
    const mapRef = validateInt('mapIndexInProg', opts.mapIndexInProg ?? 0, 0, prog_nmaps(kernel.k, prog) - 1);
    const cpus = opts.cpus ?? kernel.online; // offline CPUs run no program
    if (!Array.isArray(cpus) || cpus.length === 0) throw invalidArgType('cpus', 'a non-empty array of CPU numbers', cpus);
    cpus.forEach((c, i) => validateInt(`cpus[${i}]`, c, 0, kernel.cpus - 1));
    const offline = cpus.filter((c) => !kernel.online.includes(c));
    if (offline.length > 0)
      throw new PerfemuError(ERR.CPU_OFFLINE, `CPU ${offline.join(', ')} is offline (online: ${kernel.online.join(',')}): no program runs there`);
    if (new Set(cpus).size !== cpus.length) throw invalidArgValue('cpus', 'must not repeat a CPU', cpus);
    const specs = Array.isArray(opts.program) ? opts.program : cpus.map(() => opts.program as ProgramSpec);
    if (specs.length !== cpus.length) throw invalidArgValue('program', `must be one spec, or one per CPU (${cpus.length})`, specs);
    specs.forEach((s, i) => validateSpec(s, `program[${i}]`));
    const stopMs = validateInt('stopTimeoutMs', opts.stopTimeoutMs ?? 5000, 1, 600_000);
    if (opts.paused !== undefined && typeof opts.paused !== 'boolean') throw invalidArgType('paused', 'a boolean', opts.paused);
    const busy = cpus.filter((c) => [...livePools(kernel)].some((p) => p.cpus.includes(c)));
    if (busy.length > 0)
      throw new PerfemuError(ERR.CPU_BUSY, `CPU ${busy.join(', ')} already runs a program of another CpuPool of this kernel (stop it and wait() first)`);
    const ctlSab = new SharedArrayBuffer(4 * POOL_WORDS);
    const ctl = new Int32Array(ctlSab);
    ctl[POOL_PAUSED] = opts.paused ? 1 : 0;
    const tasks: CpuTask[] = cpus.map((cpu, i) => ({ sab: kernel.sab, memory: kernel.memory, cpu, prog, mapRef, spec: specs[i]!, ctl: ctlSab }));
    bpf_prog_inc(kernel.k, prog); // the attachment
    let started: LongTasks<CpuResult>;
    try {
      started = startLongTasks<CpuTask, CpuResult>(CPU_WORKER, tasks);
    } catch (err) {
      bpf_prog_put(kernel.k, prog); // nothing started: no attachment, no CPU taken
      throw err;
    }
    return new CpuPool(kernel, cpus, started, prog, stopMs, ctl);
  }

  /**
   * Resolves once every CPU's program has started (worker threads take a while to come up,
   * more on a cold machine); rejects if one fails first or after `timeoutMs`.
   */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const ctl = this.#ctl;
    let failed: unknown;
    this.#tasks.runs.forEach((r) => r.catch((e) => (failed ??= e)));
    while (Atomics.load(ctl, POOL_STARTED) < this.cpus.length) {
      if (failed) throw failed;
      if (Date.now() > deadline)
        throw new PerfemuError(ERR.TIMEOUT, `CPUs not started after ${timeoutMs} ms (${Atomics.load(ctl, POOL_STARTED)}/${this.cpus.length})`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * Holds every CPU's spec program between two outputs (within 64 attempts) until resume():
   * warm workers, nothing written meanwhile, time paused not counted in durationMs or rate.
   * A module program sees it through ctx.paused().
   */
  pause(): void {
    Atomics.store(this.#ctl, POOL_PAUSED, 1);
  }
  resume(): void {
    Atomics.store(this.#ctl, POOL_PAUSED, 0);
    Atomics.notify(this.#ctl, POOL_PAUSED);
  }

  /** asks every CPU of this pool to stop (its stop word) */
  stop(): void {
    Atomics.store(this.#ctl, POOL_STOP, 1);
    Atomics.notify(this.#ctl, POOL_STOP);
    this.#stopped?.();
  }

  /**
   * Resolves with every CPU's result once all have ended; if one crashes, stops the others and
   * rejects with a CpuCrashError naming it. Either way the workers are gone when it settles.
   */
  wait(): Promise<CpuResult[]> {
    this.#waited = true;
    return this.#done;
  }

  async #wait(): Promise<CpuResult[]> {
    const t = this.#tasks;
    // Until a CPU fails or stop() is called, the programs take as long as they say; after
    // that, the rest get stopTimeoutMs to end before they are terminated.
    await new Promise<void>((resolve) => {
      let left = t.runs.length;
      this.#stopped = resolve;
      for (const r of t.runs) {
        r.then(
          () => void (--left === 0 && resolve()),
          () => {
            this.stop();
            resolve();
          },
        );
      }
    });
    let out: Awaited<ReturnType<typeof settleAndDestroy<CpuResult>>>;
    try {
      out = await settleAndDestroy(t, this.#stopMs);
    } finally {
      clearInterval(this.#ticker);
      bpf_prog_put(this.#kernel.k, this.#prog);
      livePools(this.#kernel).delete(this);
    }
    const { settled, timedOut } = out;
    const failed = settled.findIndex((s, i) => s.status === 'rejected' && !timedOut.includes(i));
    if (failed >= 0) throw new CpuCrashError(this.cpus[failed]!, (settled[failed] as PromiseRejectedResult).reason);
    if (timedOut.length > 0) {
      throw new CpuCrashError(this.cpus[timedOut[0]!]!, new Error(`did not stop within ${this.#stopMs} ms of the stop word; terminated`));
    }
    return settled.map((s) => (s as PromiseFulfilledResult<CpuResult>).value);
  }
}

/** each kernel's pools that have not ended: the CPUs they run are taken (a CPU runs one pool's program at a time) */
const pools = new WeakMap<Kernel, Set<CpuPool>>();
function livePools(kernel: Kernel): Set<CpuPool> {
  let s = pools.get(kernel);
  if (s === undefined) pools.set(kernel, (s = new Set()));
  return s;
}

const CPU_RUN_KEYS = optionKeys<CpuRunOptions>({ prog: true, mapIndexInProg: true, program: true, cpus: true, stopTimeoutMs: true, paused: true });
const PROGRAM_KEYS = optionKeys<ProgramSpec>({
  index: true,
  size: true,
  records: true,
  durationMs: true,
  rate: true,
  seed: true,
  backoffUs: true,
  payload: true,
  module: true,
  args: true,
});

function validateSpec(s: ProgramSpec, name: string): void {
  if (typeof s !== 'object' || s === null) throw invalidArgType(name, 'a program spec object', s);
  checkKeys(name, s, PROGRAM_KEYS);
  const idx = s.index ?? 'current';
  if (idx !== 'current' && idx !== 'random') validateInt(`${name}.index`, idx, 0, 0xfffffffe);
  if (Array.isArray(s.size)) {
    validateInt(`${name}.size[0]`, s.size[0], RECORD_MIN_BYTES, 65_000);
    validateInt(`${name}.size[1]`, s.size[1], s.size[0], 65_000);
  } else if (s.size !== undefined) validateInt(`${name}.size`, s.size, RECORD_MIN_BYTES, 65_000);
  if (s.records !== undefined) validateInt(`${name}.records`, s.records, 0, Number.MAX_SAFE_INTEGER);
  if (s.durationMs !== undefined) validateInt(`${name}.durationMs`, s.durationMs, 0, 86_400_000);
  if (s.rate !== undefined) validateInt(`${name}.rate`, s.rate, 0, 1e9);
  if (s.backoffUs !== undefined) validateInt(`${name}.backoffUs`, s.backoffUs, 0, 1_000_000);
  if (s.payload !== undefined && s.payload !== 'record' && s.payload !== 'constant') {
    throw invalidArgValue(`${name}.payload`, "must be 'record' or 'constant'", s.payload);
  }
  if (s.module !== undefined && typeof s.module !== 'string') throw invalidArgType(`${name}.module`, 'a module path', s.module);
}
