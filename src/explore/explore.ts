/**
 * The explorer's public surface, loom/shuttle-sized: explore(scenario, options) over one
 * runner and a scheduler; shrink(failing schedule); replay(schedule). A schedule is the array
 * of choices of one execution (src/explore/schedulers/scheduler.ts); a replay file holds it.
 */
import { writeFileSync } from 'node:fs';
import type { KernelVersion } from '../kernel/behaviour.js';
import { actorCount, execute, type Execution, type Finding, type RunOptions, type Scenario, type TraceStep } from './runner.js';
import { ExhaustiveScheduler } from './schedulers/exhaustive.js';
import { PctScheduler } from './schedulers/pct.js';
import { RandomScheduler } from './schedulers/random.js';
import { ReplayScheduler } from './schedulers/replay.js';
import type { Scheduler } from './schedulers/scheduler.js';

export type SchedulerName = 'random' | 'pct' | 'exhaustive';

export interface ExploreOptions {
  scheduler: SchedulerName;
  seed: number;
  /** exhaustive: preemption bound; pct: depth (change points + 1); random: ignored */
  bound: number;
  /** at most this many schedules... */
  maxSchedules: number;
  /** ...and this many ms */
  maxMs: number;
  kernel: KernelVersion;
  strict: boolean;
  inject?: string;
  /** exhaustive: search only the schedules that begin with these choices (one subtree) */
  prefix?: readonly number[];
}

export interface Found {
  finding: Finding;
  /** the schedule that found it, and the schedule after shrinking */
  schedule: number[];
  shrunk: number[];
  /** the shrunk execution's trace and its decision count */
  trace: TraceStep[];
  preemptions: number;
  results: string[];
}

export interface ExploreResult {
  scenario: string;
  scheduler: SchedulerName;
  options: ExploreOptions;
  schedules: number;
  /** decision points over all schedules */
  decisions: number;
  /** the longest schedule (decision points) */
  maxDepth: number;
  elapsedMs: number;
  schedulesPerSec: number;
  /** exhaustive: the whole bounded space was explored */
  exhausted: boolean;
  /** schedules in which the scenario's target observation (e.g. the §8.1 window) showed */
  targetHits: number;
  found: Found | null;
}

function makeScheduler(o: ExploreOptions, scn: Scenario): Scheduler {
  if (o.scheduler === 'exhaustive') return new ExhaustiveScheduler(o.bound, o.prefix);
  if (o.scheduler === 'pct') return new PctScheduler(o.seed, o.bound, 64);
  return new RandomScheduler(o.seed, scn.cpus > 0 ? 0.08 : 0.08);
}

/** a violation, or the scenario's target observation */
export function interesting(scn: Scenario, ex: Execution): Finding | undefined {
  return ex.findings.find((f) => f.violation) ?? ex.findings.find((f) => f.kind === scn.target);
}

export function explore(scn: Scenario, o: ExploreOptions): ExploreResult {
  const run: RunOptions = { version: o.kernel, strict: o.strict, ...(o.inject ? { inject: o.inject } : {}) };
  const sched = makeScheduler(o, scn);
  const t0 = performance.now();
  let schedules = 0;
  let decisions = 0;
  let maxDepth = 0;
  let targetHits = 0;
  let exhausted = false;
  let found: Found | null = null;
  const n = actorCount(scn, run);
  for (;;) {
    if (schedules >= o.maxSchedules || performance.now() - t0 >= o.maxMs) break;
    if (!sched.begin(n)) {
      exhausted = true; // the scheduler's search space is covered
      break;
    }
    const ex = execute(scn, run, sched, false);
    schedules++;
    decisions += ex.decisions;
    maxDepth = Math.max(maxDepth, ex.decisions);
    if (ex.findings.some((f) => f.kind === scn.target)) targetHits++;
    const hit = interesting(scn, ex);
    if (hit) {
      found = shrinkFound(scn, run, ex.choices, hit);
      break;
    }
  }
  const elapsedMs = performance.now() - t0;
  return {
    scenario: scn.name,
    scheduler: o.scheduler,
    options: o,
    schedules,
    decisions,
    maxDepth,
    elapsedMs,
    schedulesPerSec: (schedules * 1000) / elapsedMs,
    exhausted,
    targetHits,
    found,
  };
}

/** one execution of a fixed schedule (a replay scheduler has exactly one) */
function replayWith(scn: Scenario, run: RunOptions, choices: number[], wantTrace: boolean): Execution {
  const sched: Scheduler = new ReplayScheduler(choices);
  sched.begin(actorCount(scn, run));
  return execute(scn, run, sched, wantTrace);
}

/** Re-executes `choices`; the trace is recorded. */
export function replay(scn: Scenario, run: RunOptions, choices: number[]): Execution {
  return replayWith(scn, run, choices, true);
}

/**
 * Shrinks a failing schedule: drops trailing zeros, then turns each preemption into a
 * "continue" when the same kind of finding still shows, then lowers the remaining choices.
 */
export function shrink(scn: Scenario, run: RunOptions, choices: number[], kind: string): number[] {
  const fails = (c: number[]): boolean => {
    const ex = replayWith(scn, run, c, false);
    return ex.findings.some((f) => f.kind === kind);
  };
  let best = trimZeros(choices);
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = best.length - 1; i >= 0; i--) {
      if (best[i] === 0) continue;
      for (let v = 0; v < best[i]!; v++) {
        const c = trimZeros([...best.slice(0, i), v, ...best.slice(i + 1)]);
        if (fails(c)) {
          best = c;
          changed = true;
          break;
        }
      }
    }
  }
  return best;
}

function shrinkFound(scn: Scenario, run: RunOptions, choices: number[], hit: Finding): Found {
  const shrunk = shrink(scn, run, choices, hit.kind);
  const ex = replay(scn, run, shrunk);
  const finding = ex.findings.find((f) => f.kind === hit.kind) ?? hit;
  return { finding, schedule: trimZeros(choices), shrunk, trace: ex.trace ?? [], preemptions: ex.preemptions, results: ex.results };
}

/** a schedule for people: runs of zeros compressed, "[0 ×57, 1]" */
export function formatSchedule(c: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < c.length; ) {
    let j = i;
    while (j < c.length && c[j] === c[i]) j++;
    out.push(j - i > 3 ? `${c[i]} ×${j - i}` : c.slice(i, j).join(', '));
    i = j;
  }
  return `[${out.join(', ')}]`;
}

function trimZeros(c: number[]): number[] {
  let n = c.length;
  while (n > 0 && c[n - 1] === 0) n--;
  return c.slice(0, n);
}

// ---------------------------------------------------------------------------------------
// Replay files

export const REPLAY_FORMAT = 'perfemu-schedule';
export const REPLAY_VERSION = 1;

/**
 * A replay file: which scenario, on which kernel, and the schedule (the choice made at each
 * decision point: at a top-level point the index of the actor among those with operations
 * left, at an access point 0 to continue or k to run the k-th eligible actor's next
 * operation first). Past the end of `schedule` every choice is 0.
 */
export interface ReplayFile {
  format: typeof REPLAY_FORMAT;
  version: typeof REPLAY_VERSION;
  scenario: string;
  kernel: KernelVersion;
  strict: boolean;
  inject: string | null;
  schedule: number[];
  expect: { kind: string; violation: boolean; detail: string };
}

export function replayFile(scn: Scenario, o: ExploreOptions, f: Found): ReplayFile {
  return {
    format: REPLAY_FORMAT,
    version: REPLAY_VERSION,
    scenario: scn.name,
    kernel: o.kernel,
    strict: o.strict,
    inject: o.inject ?? null,
    schedule: f.shrunk,
    expect: { kind: f.finding.kind, violation: f.finding.violation, detail: f.finding.detail },
  };
}

/** writes `data` at `path`, or at path-1, path-2, ... if taken (never overwrites) */
export function writeExclusive(path: string, data: string): string {
  for (let i = 0; ; i++) {
    const p = i === 0 ? path : path.replace(/(\.json)?$/, `-${i}$1`);
    try {
      writeFileSync(p, data, { flag: 'wx' });
      return p;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST' || i > 1000) throw err;
    }
  }
}

/** the accesses a reader needs to follow the story: slots, entries, rings, RCU read sides */
const KEY_WORDS = /slot|entry \d+ \.(state|gen)|data_head|data_tail|record bytes|rcu cpu\d+ \.(nesting|qs_ctr)|event \d+ \.gen/;
export function isKeyAccess(s: TraceStep): boolean {
  return KEY_WORDS.test(s.word);
}

/** what an access saw or wrote; a slot's value as the entry it names */
export function accessText(s: TraceStep): string {
  const val = (v: number): string => (/slot/.test(s.word) ? (v === 0 ? 'NULL' : `entry ${v - 1}`) : String(v));
  if (s.access === 'load') return `saw ${val(s.value)}`;
  if (s.access === 'store') return `wrote ${val(s.arg)}`;
  if (s.access === 'add') return `added ${s.arg} to ${s.value}`;
  if (s.access.endsWith('bytes')) return '';
  return `saw ${val(s.value)}, wrote ${val(s.arg)}`;
}

/** The trace as lines: one per access, indented by nesting, the preempting operations marked. */
export function formatTrace(trace: TraceStep[], opts: { all?: boolean } = {}): string[] {
  const lines: string[] = [];
  let last = '';
  for (const s of trace) {
    const who = `${s.actor}:${s.op}`;
    if (who !== last) {
      lines.push(`${'  '.repeat(s.depth)}${s.depth > 0 ? '↳ preempted by ' : ''}${s.actor} ${s.op}`);
      last = who;
    }
    if (!opts.all && !isKeyAccess(s)) continue;
    const what = accessText(s);
    lines.push(`${'  '.repeat(s.depth)}  #${String(s.step).padStart(3)} ${s.access.padEnd(11)} ${s.word}${what ? `: ${what}` : ''}`);
  }
  return lines;
}
