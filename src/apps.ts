/**
 * The main-side handle on consumer apps running in workers (src/app.ts): start them, wait
 * until each is ready, tell one to exit, read their live counters, and collect their results.
 * Every wait is bounded; nothing is left running when wait() settles.
 */
import { ERR } from './arena/perfemu_error.js';
import { PerfemuError, checkKeys, invalidArgType, optionKeys, validateInt } from './errors.js';
import type { Kernel } from './emulator.js';
import {
  AC_BAD,
  AC_EVENT,
  AC_FILE,
  AC_GAPS,
  AC_LOST,
  AC_RECEIVED,
  APP_CMD,
  APP_CPU_STRIDE,
  APP_MAP_FILE,
  APP_PER_CPU,
  APP_PID,
  APP_STATE,
  CMD_CLOSE,
  CMD_EXIT,
  STATE_DONE,
  STATE_READY,
  appControlBytes,
  type AppResult,
  type AppTask,
} from './app.js';
import { settleAndDestroy, startLongTasks, type LongTasks } from './pool.js';

export type { AppResult } from './app.js';
export const APP_WORKER = new URL('../workers/app.js', import.meta.url);

export interface AppSpec {
  name: string;
  /** the CPUs whose slots this app fills and whose records it reads */
  cpus: number[];
}

export interface AppPoolOptions {
  /** bpffs path of the map every app gets with BPF_OBJ_GET */
  pinPath: string;
  apps: AppSpec[];
  pages?: number;
  wakeupEvents?: number;
  watermark?: number;
  /** each app's poll timeout, ms (default 20) */
  pollMs?: number;
}

export interface AppLive {
  name: string;
  pid: number;
  state: 'starting' | 'running' | 'done';
  mapFile: number;
  perCpu: { cpu: number; event: number; file: number; received: number; lost: number; gaps: number; bad: number }[];
}

const APP_POOL_KEYS = optionKeys<AppPoolOptions>({ pinPath: true, apps: true, pages: true, wakeupEvents: true, watermark: true, pollMs: true });
const APP_ENTRY_KEYS = optionKeys<AppSpec>({ name: true, cpus: true });

export class AppCrashError extends PerfemuError {
  readonly app: string;
  constructor(app: string, cause: unknown) {
    super(ERR.APP_CRASHED, `app ${app}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.app = app;
    this.cause = cause;
  }
}

export class AppPool {
  readonly specs: AppSpec[];
  #ctl: Int32Array[];
  #tasks: LongTasks<AppResult>;
  #done: Promise<AppResult[]> | undefined;

  private constructor(specs: AppSpec[], ctl: Int32Array[], tasks: LongTasks<AppResult>) {
    this.specs = specs;
    this.#ctl = ctl;
    this.#tasks = tasks;
  }

  static start(kernel: Kernel, opts: AppPoolOptions): AppPool {
    if (typeof opts !== 'object' || opts === null) throw invalidArgType('options', 'an object', opts);
    checkKeys('options', opts, APP_POOL_KEYS);
    if (typeof opts.pinPath !== 'string') throw invalidArgType('pinPath', 'a bpffs path string', opts.pinPath);
    if (!Array.isArray(opts.apps) || opts.apps.length === 0) throw invalidArgType('apps', 'a non-empty array', opts.apps);
    const ctls = opts.apps.map(() => new SharedArrayBuffer(appControlBytes(kernel.cpus)));
    const tasks: AppTask[] = opts.apps.map((a, i) => {
      if (typeof a !== 'object' || a === null) throw invalidArgType(`apps[${i}]`, 'an object { name, cpus }', a);
      checkKeys(`apps[${i}]`, a, APP_ENTRY_KEYS);
      if (typeof a.name !== 'string') throw invalidArgType(`apps[${i}].name`, 'a string', a.name);
      if (!Array.isArray(a.cpus)) throw invalidArgType(`apps[${i}].cpus`, 'an array of CPU numbers', a.cpus);
      a.cpus.forEach((c, j) => validateInt(`apps[${i}].cpus[${j}]`, c, 0, kernel.cpus - 1));
      return {
        sab: kernel.sab,
        memory: kernel.memory,
        control: ctls[i]!,
        name: a.name,
        pinPath: opts.pinPath,
        cpus: a.cpus,
        pages: validateInt('pages', opts.pages ?? 16, 1, 1 << 16),
        wakeupEvents: validateInt('wakeupEvents', opts.wakeupEvents ?? 0, 0, 1 << 30),
        watermark: validateInt('watermark', opts.watermark ?? 0, 0, 1 << 30),
        pollMs: validateInt('pollMs', opts.pollMs ?? 20, 1, 60_000),
      };
    });
    const pool = new AppPool(
      opts.apps,
      ctls.map((c) => new Int32Array(c)),
      startLongTasks<AppTask, AppResult>(APP_WORKER, tasks),
    );
    return pool;
  }

  /** resolves once every app has its buffers installed (bounded; rejects if one fails first) */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const failed = new Promise<never>((_, reject) => {
      this.#tasks.runs.forEach((r, i) => r.catch((e) => reject(new AppCrashError(this.specs[i]!.name, e))));
    });
    failed.catch(() => undefined);
    while (this.#ctl.some((c) => Atomics.load(c, APP_STATE) < STATE_READY)) {
      if (Date.now() > deadline) throw new PerfemuError(ERR.TIMEOUT, `apps not ready after ${timeoutMs} ms`);
      await Promise.race([failed, new Promise((r) => setTimeout(r, 5))]);
    }
  }

  /** tells app `i` to exit with its buffers open (the kernel closes its fds: the purge) */
  exit(i: number, closeFirst = false): void {
    const c = this.#ctl[validateInt('i', i, 0, this.#ctl.length - 1)]!;
    Atomics.store(c, APP_CMD, closeFirst ? CMD_CLOSE : CMD_EXIT);
  }

  /** resolves once app `i` has exited (bounded) */
  async exited(i: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(this.#ctl[i]!, APP_STATE) !== STATE_DONE) {
      if (Date.now() > deadline) throw new PerfemuError(ERR.TIMEOUT, `app ${this.specs[i]!.name} did not exit within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  live(): AppLive[] {
    return this.specs.map((s, i) => {
      const c = this.#ctl[i]!;
      const st = Atomics.load(c, APP_STATE);
      const at = (cpu: number, f: number) => Atomics.load(c, APP_PER_CPU + cpu * APP_CPU_STRIDE + f);
      return {
        name: s.name,
        pid: c[APP_PID]!,
        mapFile: c[APP_MAP_FILE]!,
        state: st === STATE_DONE ? 'done' : st === STATE_READY ? 'running' : 'starting',
        perCpu: s.cpus.map((cpu) => ({
          cpu,
          event: at(cpu, AC_EVENT),
          file: at(cpu, AC_FILE),
          received: at(cpu, AC_RECEIVED),
          lost: at(cpu, AC_LOST),
          gaps: at(cpu, AC_GAPS),
          bad: at(cpu, AC_BAD),
        })),
      };
    });
  }

  /** tells every app still running to exit and collects the results; bounded */
  wait(timeoutMs = 10_000): Promise<AppResult[]> {
    this.#done ??= (async () => {
      this.#ctl.forEach((c, i) => {
        if (Atomics.load(c, APP_CMD) === 0) this.exit(i);
      });
      const { settled } = await settleAndDestroy(this.#tasks, timeoutMs);
      const bad = settled.findIndex((s) => s.status === 'rejected');
      if (bad >= 0) throw new AppCrashError(this.specs[bad]!.name, (settled[bad] as PromiseRejectedResult).reason);
      return settled.map((s) => (s as PromiseFulfilledResult<AppResult>).value);
    })();
    return this.#done;
  }
}
