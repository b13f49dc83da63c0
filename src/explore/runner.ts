/**
 * Executes one schedule of a scenario: every CPU and app is an actor with a list of
 * operations; all run in this thread, on a ScheduledArena, through the unchanged kernel code.
 * At each shared-memory access of the running operation the scheduler may run another actor's
 * next operation to its end first (nested, as an interrupt would; it may be preempted in turn).
 *
 * What it can reach: every interleaving in which an operation runs entirely between two
 * accesses of the operations it preempts. What it cannot: two operations that each stop
 * half-way and alternate (A, B, A, B); with the kernel's short critical windows, the races
 * this map is known for (docs/semantics.md, "Race windows") are of the first kind.
 */
import { describeWord } from './describe_word.js';
import { Kernel, type KernelOptions } from '../emulator.js';
import { SystemCallError } from '../errors.js';
import type { KernelHooks } from '../kernel/context.js';
import { describeViolation, kernelBugs, type Violation } from '../invariants/registry.js';
import { conservationHooks } from '../stress/invariants/conservation.js';
import { auditReferences } from '../stress/invariants/references.js';
import { auditRelease, releaseHooks } from '../stress/invariants/release.js';
import { ScheduledArena, type AccessOp } from './arena.js';
import type { Scheduler } from './schedulers/scheduler.js';

export interface XOp {
  name: string;
  run(): void;
}
export interface XActor {
  name: string;
  ops: XOp[];
}
export interface Built {
  actors: XActor[];
  /** scenario-specific findings on the final state */
  check?(): Finding[];
}
export interface Scenario {
  name: string;
  summary: string;
  cpus: number;
  /** what finding the search is after, besides any violation */
  target?: string;
  build(kernel: Kernel): Built;
}

export interface Finding {
  kind: string;
  /** a broken invariant (true), or an observation the scenario looks for (the §8.1 window) */
  violation: boolean;
  detail: string;
}

export interface TraceStep {
  step: number;
  actor: string;
  op: string;
  access: AccessOp;
  word: string;
  /** what the access saw (load, xchg, cmpxchg, add) or wrote (store) */
  value: number;
  /** what it wrote (store, xchg, cmpxchg) or added (add) */
  arg: number;
  /** nesting depth: 0 for a top-level operation, 1 for one that preempted it, ... */
  depth: number;
}

export interface Execution {
  choices: number[];
  /** decision points (top-level and preemption) */
  decisions: number;
  /** shared-memory accesses performed */
  accesses: number;
  preemptions: number;
  findings: Finding[];
  trace: TraceStep[] | null;
  /** syscall results per operation, in order: 'A:update=0', 'B:delete=ENOENT' */
  results: string[];
}

export interface RunOptions {
  version: NonNullable<KernelOptions['version']>;
  strict: boolean;
  inject?: string;
}

/** the small arena every explored execution gets (also the bench's plain executions) */
export const EXPLORER_LIMITS = {
  maxFiles: 64,
  maxEvents: 16,
  maxMaps: 4,
  maxSlots: 32,
  maxEntries: 32,
  maxProgs: 4,
  maxPins: 4,
  ringPages: 32,
  rcuQueue: 128,
  violationLog: 64,
  maxEpoll: 2,
};
const MAX_ACCESSES = 200_000;

function makeKernel(scn: Scenario, opts: RunOptions): Kernel {
  return Kernel.create(
    { cpus: scn.cpus, version: opts.version, strict: opts.strict, limits: EXPLORER_LIMITS, ...(opts.inject ? { inject: opts.inject } : {}) },
    ScheduledArena,
  );
}

/** how many actors the scenario builds under `opts` (the same every time: scenarios are deterministic) */
export function actorCount(scn: Scenario, opts: RunOptions): number {
  const key = `${opts.version}/${opts.strict}/${opts.inject ?? ''}`;
  let byOpts = actorCounts.get(scn);
  if (!byOpts) actorCounts.set(scn, (byOpts = new Map()));
  let n = byOpts.get(key);
  if (n === undefined) byOpts.set(key, (n = scn.build(makeKernel(scn, opts)).actors.length));
  return n;
}
const actorCounts = new WeakMap<Scenario, Map<string, number>>();

/**
 * Runs one execution of the scenario under `sched`, whose begin() the caller has called and
 * seen return true: the scheduler contract is `while (sched.begin(n)) execute(...)`, with `n`
 * from actorCount, so a scheduler alone says when its search space is exhausted.
 */
export function execute(scn: Scenario, opts: RunOptions, sched: Scheduler, wantTrace: boolean): Execution {
  const kernel = makeKernel(scn, opts);
  const arena = kernel.arena as ScheduledArena;
  const k = kernel.k;
  const built = scn.build(kernel);
  const actors = built.actors;
  let quiet = 0; // checks run inside hooks are not part of the schedule
  const q = <T extends (...a: never[]) => void>(fn: T | undefined): T | undefined =>
    fn &&
    (((...a: Parameters<T>) => {
      quiet++;
      try {
        fn(...a);
      } finally {
        quiet--;
      }
    }) as T);
  const rh = releaseHooks(k);
  const ch = conservationHooks(k, { ringsChecked: 0 });
  // the kernel-side hooks (internal indices), not the public Kernel.hooks (public ids)
  const hooks: KernelHooks = { ...k.hooks, purged: q(rh.purged)!, released: q(rh.released)!, ringFreed: q(ch.ringFreed)! };
  k.hooks = hooks;

  const next = actors.map(() => 0);
  const stack: number[] = [];
  const opName: string[] = [];
  const ex: Execution = { choices: [], decisions: 0, accesses: 0, preemptions: 0, findings: [], trace: wantTrace ? [] : null, results: [] };
  let crashed: string | null = null;

  const choose = (kind: 'top' | 'preempt', n: number, eligible: number[]): number => {
    const c = sched.choose({ kind, n, step: ex.decisions, current: stack.at(-1) ?? -1, eligible });
    ex.decisions++;
    ex.choices.push(c);
    return c;
  };
  const runOp = (a: number): void => {
    const op = actors[a]!.ops[next[a]!++]!;
    stack.push(a);
    opName.push(op.name);
    try {
      op.run();
      ex.results.push(`${actors[a]!.name}:${op.name}=0`);
    } catch (err) {
      if (err instanceof SystemCallError) ex.results.push(`${actors[a]!.name}:${op.name}=${err.code}`);
      else {
        crashed ??= `${actors[a]!.name}:${op.name}: ${(err as Error).message}`;
        ex.results.push(`${actors[a]!.name}:${op.name}=crash`);
      }
    } finally {
      stack.pop();
      opName.pop();
    }
  };
  const eligibleNow = (): number[] => actors.map((_, i) => i).filter((i) => next[i]! < actors[i]!.ops.length && !stack.includes(i));

  arena.observer = {
    before() {
      if (quiet > 0 || crashed) return;
      if (++ex.accesses > MAX_ACCESSES) throw new Error(`more than ${MAX_ACCESSES} accesses in one execution`);
      const el = eligibleNow();
      if (el.length === 0) return;
      const c = choose('preempt', el.length + 1, el);
      if (c > 0) {
        ex.preemptions++;
        runOp(el[c - 1]!);
      }
    },
    after(op, i, value, arg) {
      if (!ex.trace || quiet > 0) return;
      const a = stack.at(-1);
      ex.trace.push({
        step: ex.trace.length,
        actor: a === undefined ? '-' : actors[a]!.name,
        op: opName.at(-1) ?? '-',
        access: op,
        word: op.endsWith('bytes')
          ? `record bytes at ${value >>> 0} of ${describeWord(arena.L, i).replace(/ head$/, '')}`
          : describeWord(arena.L, i, arena.i32),
        value,
        arg,
        depth: Math.max(0, stack.length - 1),
      });
    },
  };
  try {
    for (;;) {
      const el = actors.map((_, i) => i).filter((i) => next[i]! < actors[i]!.ops.length);
      if (el.length === 0) break;
      runOp(el[choose('top', el.length, el)]!);
    }
  } finally {
    arena.observer = null;
    sched.end();
  }
  ex.findings = findings(kernel, built, crashed);
  return ex;
}

/** The invariants on the final state (no thread is running: nothing moves under the audit). */
function findings(kernel: Kernel, built: Built, crashed: string | null): Finding[] {
  const k = kernel.k;
  const out: Finding[] = [];
  if (crashed) out.push({ kind: 'crash', violation: true, detail: crashed });
  const holders = new Int32Array(kernel.arena.L.maxFiles);
  for (const p of kernel.processes()) {
    for (const { file } of p.fdTable()) holders[file]!++;
    for (const f of p.mappedFiles()) holders[f]!++;
  }
  auditReferences(k, holders, new Set());
  auditRelease(k, false, new Set());
  for (const v of kernelBugs(k.b, kernel.violations())) out.push({ kind: v.kind, violation: true, detail: violationText(v) });
  out.push(...(built.check?.() ?? []));
  return out;
}

function violationText(v: Violation): string {
  return describeViolation(v, false).trim();
}
