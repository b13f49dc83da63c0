/**
 * The race stress engine: CPUs write at full speed through the pinned map's program while the
 * main thread and app workers perform a seeded random mix of user-space actions (src/stress/
 * actor.ts), including purges racing with updates of the same slots from other frontends.
 * Invariants are checked continuously (kernel-side detections, the release hooks, ring frees),
 * at periodic pauses (references, release) and in a final audit after everything is closed.
 */
import { CpuPool } from '../cpus.js';
import { Kernel } from '../emulator.js';
import type { KernelBehaviour, KernelVersion } from '../kernel/behaviour.js';
import { FAULTS, faultByName } from '../kernel/faults.js';
import { INVARIANTS, INVARIANT_OF, INVARIANT_RULES, kernelBugs, type InvariantName, type Violation } from '../invariants/registry.js';
import { settleAndDestroy, startLongTasks } from '../pool.js';
import { Actor, type ActorConfig, type ActorResult } from './actor.js';
import type { ActorTask } from './actor_loop.js';
import { CTL_ACKS, CTL_OPS, CTL_PAUSE, CTL_STOP, controlBytes, holdersOf } from './control.js';
import { conservationHooks } from './invariants/conservation.js';
import { auditNothingLeft, auditReferences } from './invariants/references.js';
import { auditRelease, releaseHooks } from './invariants/release.js';
import { windowHook } from './window.js';

export const ACTOR_WORKER = new URL('../../workers/stress_actor.js', import.meta.url);
export const MAIN_PIN = '/sys/fs/bpf/stress';
const PIN_NAMES = ['/sys/fs/bpf/s0', '/sys/fs/bpf/s1', '/sys/fs/bpf/s2', '/sys/fs/bpf/s3'];

export interface StressOptions {
  cpus: number;
  /** app workers (actors in their own threads); the main thread is one more actor */
  apps: number;
  /** run time (default 5000 ms when `ops` is not given) */
  durationMs?: number;
  /** actions per actor (the run ends when every actor has done them) */
  ops?: number;
  seed: number;
  kernel: KernelVersion;
  strict: boolean;
  maxEntries: number;
  /** a fault name (kernel/faults.ts) */
  inject?: string;
  /** stop at the first violation (for fault hunting) */
  stopOnViolation?: boolean;
  /** ms between pause audits (default 250) */
  auditMs?: number;
  /**
   * µs the release purge is preempted between its load of a slot and its exchange (default 20;
   * 0 = as the kernel runs it): widens the purge window (docs/semantics.md) so a run reaches it.
   */
  windowUs?: number;
  /** called about once a second */
  onProgress?: (p: StressProgress) => void;
}

export interface StressProgress {
  elapsedMs: number;
  ops: number;
  opsPerSec: number;
  outputs: number;
  outputsPerSec: number;
  violations: number;
}

export interface InvariantResult {
  name: InvariantName | 'kernel';
  rule: string;
  result: 'ok' | 'violated' | 'expected' | 'not checked';
  count: number;
  /** ms from the start of the run to the first detection */
  firstMs: number | null;
  note?: string;
}

export interface StressReport {
  options: Omit<StressOptions, 'onProgress'>;
  reproduce: string;
  elapsedMs: number;
  ops: number;
  opsPerSec: number;
  actions: Record<string, number>;
  errors: Record<string, number>;
  actorDigests: string[];
  cpu: { outputs: number; outputsPerSec: number; lost: number; noRing: number; errors: Record<string, number> };
  recordsVerified: number;
  audits: number;
  ringsChecked: number;
  foreignEntriesPurged: number;
  invariants: InvariantResult[];
  /** the first 50 violations (the old kernel's own behaviour left out: see the invariants) */
  violations: Violation[];
  leftOver: string[];
  /** true when no invariant was violated */
  ok: boolean;
  /** sampled at every audit: progress, and the main map's slots (owner file ids, 0 = empty) */
  series: { tMs: number; ops: number; outputs: number; foreign: number; violations: number; slots: number[] }[];
}

export { INVARIANT_RULES };

export function reproduceCommand(o: Omit<StressOptions, 'onProgress'>): string {
  const parts = ['npx perfemu stress', `--seed ${o.seed}`, `--cpus ${o.cpus}`, `--apps ${o.apps}`];
  parts.push(o.ops !== undefined ? `--ops ${o.ops}` : `--duration ${(o.durationMs ?? 5000) / 1000}`);
  parts.push(`--kernel ${o.kernel}`, `--max-entries ${o.maxEntries}`);
  if (o.windowUs !== undefined && o.windowUs !== 20) parts.push(`--window-us ${o.windowUs}`);
  if (o.strict) parts.push('--strict');
  if (o.inject) parts.push(`--inject ${o.inject}`);
  return parts.join(' ');
}

export async function runStress(opts: StressOptions): Promise<StressReport> {
  const o = { ...opts };
  const fault = o.inject ? faultByName(o.inject) : undefined;
  if (o.inject && !fault) throw new Error(`unknown fault ${o.inject}; one of ${FAULTS.map((f) => f.name).join(', ')}`);
  const version = fault?.kernel ?? o.kernel;
  const leakCheck = fault?.name === 'leak-4.7';
  const durationMs = o.ops === undefined ? (o.durationMs ?? 5000) : Infinity;
  const maxOps = o.ops ?? Number.MAX_SAFE_INTEGER;
  const kernel = Kernel.create({
    cpus: o.cpus,
    version,
    strict: o.strict,
    ...(fault && !fault.kernel ? { inject: fault.name } : {}),
    limits: { maxFiles: 2048, maxEvents: 512, maxMaps: 128, maxSlots: 8192, maxEntries: 4096, maxProgs: 16, maxPins: 32, ringPages: 4096, rcuQueue: 8192 },
  });
  const k = kernel.k;
  const stats = { ringsChecked: 0 };
  k.hooks = { ...releaseHooks(k, leakCheck), ...conservationHooks(k, stats), ...windowHook(o.windowUs ?? 20) };

  // the loader: the pinned map the CPUs' program writes to
  const loader = kernel.process('loader');
  const m0 = loader.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: o.maxEntries });
  loader.bpf.objPin(m0, MAIN_PIN);
  const prog = loader.bpf.progLoad({ maps: [m0] });
  const m0Id = kernel.inspect().maps.find((x) => x.alive)!.id;

  const actorCfg = (id: number): ActorConfig => ({ id, seed: o.seed, cpus: o.cpus, maxEntries: o.maxEntries, mainPin: MAIN_PIN, pinNames: PIN_NAMES });
  const maxFiles = kernel.arena.L.maxFiles;
  const control = new SharedArrayBuffer(controlBytes(o.apps + 1, maxFiles));
  const ctl = new Int32Array(control);
  const mainActor = new Actor(kernel, actorCfg(0));
  const tasks: ActorTask[] = Array.from({ length: o.apps }, (_, i) => ({
    sab: kernel.sab,
    memory: kernel.memory,
    control,
    cfg: actorCfg(i + 1),
    ops: maxOps,
    windowUs: o.windowUs ?? 20,
    leakCheck,
  }));
  const workers = startLongTasks<ActorTask, ActorResult>(ACTOR_WORKER, tasks);
  let cpus: CpuPool | undefined = CpuPool.start(kernel, { prog: { process: loader, fd: prog }, program: { index: 'current', size: [16, 128], seed: o.seed } });
  await cpus.ready().catch(() => undefined); // a CPU that failed to start is reported by wait()
  const t0 = performance.now();
  const seenRefs = new Set<string>();
  const seenRelease = new Set<string>();
  let audits = 0;
  let actorResults: ActorResult[] = [];
  let workerError: unknown;
  workers.runs.forEach((r) => r.catch((e) => (workerError ??= e)));

  const violations = () => kernelBugs(k.b, kernel.violations());
  const audit = async (): Promise<void> => {
    Atomics.store(ctl, CTL_ACKS, 0);
    Atomics.store(ctl, CTL_PAUSE, ++audits);
    const deadline = Date.now() + 10_000;
    while (Atomics.load(ctl, CTL_ACKS) < o.apps) {
      if (workerError) return;
      if (Date.now() > deadline) throw new Error('stress: actors did not park for an audit within 10 s');
      await new Promise((r) => setTimeout(r, 0));
    }
    const holders = new Int32Array(maxFiles);
    for (let i = 1; i <= o.apps; i++) {
      const h = holdersOf(ctl, i, maxFiles);
      for (let f = 0; f < maxFiles; f++) holders[f]! += h[f]!;
    }
    for (const p of kernel.processes()) {
      for (const { file } of p.fdTable()) holders[file]!++;
      for (const f of p.mappedFiles()) holders[f]!++;
    }
    auditReferences(k, holders, seenRefs);
    auditRelease(k, leakCheck, seenRelease);
    Atomics.store(ctl, CTL_PAUSE, 0);
    Atomics.notify(ctl, CTL_PAUSE);
  };

  const series: StressReport['series'] = [];
  const record = (): void => {
    const snap = kernel.inspect();
    const m = snap.maps.find((x) => x.id === m0Id);
    series.push({
      tMs: performance.now() - t0,
      ops: opsNow(),
      outputs: snap.cpuCounters.reduce((s, c) => s + c.outputs, 0),
      foreign: snap.foreignEntriesPurged,
      violations: violations().length,
      slots: (m?.slots ?? []).map((x) => x?.owner ?? 0),
    });
  };
  const opsNow = () => mainActor.ops + tasks.reduce((s, _, i) => s + Atomics.load(ctl, CTL_OPS + i + 1), 0);
  const outputsNow = () => kernel.inspect().cpuCounters.reduce((s, c) => s + c.outputs, 0);
  let leftOver: string[] = [];
  record(); // the series spans the whole run: its start, each audit, its end
  let sampler: NodeJS.Timeout | undefined;
  try {
    let lastAudit = t0;
    let lastProgress = t0;
    let lastSample = t0;
    // the series: a run of N ops is sampled every N/200 of the main actor's steps (200 samples
    // whatever the load); a timed run every duration/300 ms (a loaded machine gets fewer, as the
    // main thread waits its turn), checked between steps so a slow iteration does not thin it out
    const sampleMs = Math.max(5, durationMs / 300);
    const sampleSteps = o.ops !== undefined ? Math.max(1, Math.floor(o.ops / 200)) : 0;
    let sampledAtOps = -1;
    const sampleDue = (): void => {
      if (sampleSteps) {
        if (mainActor.ops === sampledAtOps || mainActor.ops % sampleSteps !== 0 || mainActor.ops >= maxOps) return;
        sampledAtOps = mainActor.ops;
      } else if (performance.now() - lastSample < sampleMs) return;
      record();
      lastSample = performance.now();
    };
    // ... and while the main thread waits (audits wait for the actors to park)
    if (!sampleSteps) sampler = setInterval(sampleDue, sampleMs);
    for (;;) {
      const now = performance.now();
      if (workerError) throw workerError;
      if (now - t0 >= durationMs) break;
      if (o.ops !== undefined && mainActor.ops >= maxOps && tasks.every((_, i) => Atomics.load(ctl, CTL_OPS + i + 1) >= maxOps)) break;
      if (o.stopOnViolation && violations().length > 0) break;
      for (let i = 0; i < 32 && mainActor.ops < maxOps; i++) {
        mainActor.step();
        sampleDue();
      }
      if (now - lastAudit >= (o.auditMs ?? 250)) {
        await audit();
        lastAudit = performance.now();
      }
      sampleDue();
      if (o.onProgress && now - lastProgress >= 1000) {
        lastProgress = now;
        const el = now - t0;
        const ops = opsNow();
        const outs = outputsNow();
        o.onProgress({ elapsedMs: el, ops, opsPerSec: (ops * 1000) / el, outputs: outs, outputsPerSec: (outs * 1000) / el, violations: violations().length });
      }
      await new Promise((r) => setImmediate(r)); // let the RCU ticker and the audit timers run
    }
    clearInterval(sampler);
    await audit(); // one last look at the running system
    record();
  } finally {
    clearInterval(sampler);
    // Shutdown: actors exit every process; the CPUs stop; the loader goes; every pin goes.
    Atomics.store(ctl, CTL_STOP, 1);
    Atomics.notify(ctl, CTL_PAUSE);
    const { settled } = await settleAndDestroy(workers, 30_000);
    actorResults = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
    actorResults.unshift(mainActor.finish());
    if (cpus) {
      cpus.stop();
      await cpus.wait();
      cpus = undefined;
    }
    loader.exit();
    const admin = kernel.process('cleanup');
    for (const path of [MAIN_PIN, ...PIN_NAMES]) {
      try {
        admin.unlink(path);
      } catch {
        // not pinned
      }
    }
    admin.exit();
    kernel.rcuBarrier(30_000);
    // biome-ignore lint/correctness/noUnsafeFinally: an actor's failure is thrown once every worker is gone and the kernel is cleaned up
    if (failed) throw failed.reason;
  }
  leftOver = auditNothingLeft(k);
  const elapsedMs = performance.now() - t0;
  const snap = kernel.inspect();
  const all = kernel.violations();
  const ops = actorResults.reduce((s, a) => s + a.ops, 0);
  const sum = (xs: Record<string, number>[]) =>
    xs.reduce<Record<string, number>>((acc, x) => {
      for (const [key, v] of Object.entries(x)) acc[key] = (acc[key] ?? 0) + v;
      return acc;
    }, {});
  const cpuErr: Record<string, number> = {};
  for (const c of snap.cpuCounters) {
    for (const key of ['EINVAL', 'E2BIG', 'ENOENT', 'EOPNOTSUPP', 'ENOSPC', 'EBUSY'] as const) if (c[key]) cpuErr[key] = (cpuErr[key] ?? 0) + c[key];
  }
  const outputs = snap.cpuCounters.reduce((s, c) => s + c.outputs, 0);
  const invariants = buildInvariants(all, k.b, leakCheck);
  const report: StressReport = {
    options: strip(o),
    reproduce: reproduceCommand(strip(o)),
    elapsedMs,
    ops,
    opsPerSec: (ops * 1000) / elapsedMs,
    actions: sum(actorResults.map((a) => a.actions as Record<string, number>)),
    errors: sum(actorResults.map((a) => a.errors)),
    actorDigests: actorResults.map((a) => a.digest),
    cpu: {
      outputs,
      outputsPerSec: (outputs * 1000) / elapsedMs,
      lost: snap.cpuCounters.reduce((s, c) => s + c.lost, 0),
      noRing: snap.cpuCounters.reduce((s, c) => s + c.noRing, 0),
      errors: cpuErr,
    },
    recordsVerified: actorResults.reduce((s, a) => s + a.recordsVerified, 0),
    audits,
    ringsChecked: stats.ringsChecked,
    foreignEntriesPurged: snap.foreignEntriesPurged,
    invariants,
    violations: kernelBugs(k.b, all).slice(0, 50),
    leftOver,
    ok: invariants.every((i) => i.result !== 'violated'),
    series,
  };
  return report;
}

function buildInvariants(all: Violation[], b: KernelBehaviour, leakCheck: boolean): InvariantResult[] {
  const version = b.version;
  return INVARIANTS.map(({ name, rule }) => {
    const vs = all.filter((v) => INVARIANT_OF[v.kind] === name);
    const real = kernelBugs(b, vs, all);
    const base = { name, rule, count: real.length, firstMs: real.length ? Math.min(...real.map((v) => v.timeMs)) : null };
    if (name === 'leaked-events' && !leakCheck) {
      return {
        ...base,
        result: 'not checked' as const,
        note: version === '4.7' ? "4.7 keeps an exited app's events by design; run --inject leak-4.7 to report them" : 'checked under --inject leak-4.7',
      };
    }
    if (name === 'release' && version === '4.7') {
      return { ...base, result: 'not checked' as const, note: '4.7 has no release purge' };
    }
    if (real.length) return { ...base, result: 'violated' as const };
    if (vs.length)
      return {
        ...base,
        result: 'expected' as const,
        count: vs.length,
        note:
          name === 'provenance'
            ? "a CPU that used an event 4.7's immediate fput had freed wrote into the ring of the event that took its place: the old kernel's behaviour"
            : "4.7's immediate fput frees an event a CPU may still be using (4.7's perf_event_fd_array_put_ptr): the old kernel's behaviour",
      };
    return { ...base, result: 'ok' as const };
  });
}

function strip(o: StressOptions): Omit<StressOptions, 'onProgress'> {
  const { onProgress: _p, ...rest } = o;
  return rest;
}
