/**
 * Runs one shard of a campaign on a piscina pool, one unit at a time per worker (one worker per
 * core by default), and collects its result file. Units are fed in small batches with a bounded
 * number in flight, so a campaign of millions of seeds holds only a few batches at once.
 */
import { Piscina } from 'piscina';
import { invalidArgValue, outOfRange } from '../errors.js';
import { scenarioByName } from '../explore/scenarios.js';
import {
  RESULT_FORMAT,
  RESULT_VERSION,
  addCounts,
  addFindings,
  perfemuVersion,
  sortFindings,
  unitKind,
  type CampaignFinding,
  type CampaignResult,
  type CampaignSpec,
  type Counts,
} from './result.js';
import { rangeSize, shardSlice, type Range, type Shard } from './shard.js';
import { splitScheduleTree } from './tree.js';
import { exploreTarget, type UnitResult, type UnitTask } from './unit.js';

export const CAMPAIGN_WORKER = new URL('../../workers/campaign.js', import.meta.url);

/** an exhaustive campaign's subtrees unless --subtrees says otherwise */
export const DEFAULT_SUBTREES = 64;

const TASK_TIMEOUT_MS = 30 * 60_000;

export interface CampaignProgress {
  unitsDone: number;
  units: number;
  elapsedMs: number;
  /** schedules (explore) or actions (stress) per second so far */
  perSec: number;
  /** distinct findings so far, and units that hit one */
  findings: number;
  hits: number;
  violations: number;
  /** ms left at the rate so far (null before the first batch) */
  etaMs: number | null;
}

export interface CampaignRunOptions {
  /** the whole campaign's units: seeds, or (exhaustive) null: the subtrees are counted here */
  seeds: Range | null;
  shard: Shard;
  workers: number;
  onProgress?: (p: CampaignProgress) => void;
  /** a batch of units that runs longer than this fails the campaign (default 30 min) */
  taskTimeoutMs?: number;
}

/** The subtrees of an exhaustive campaign (the same on every shard: a function of the options). */
export function campaignSubtrees(spec: Extract<CampaignSpec, { command: 'explore' }>): number[][] {
  const { scn, run } = exploreTarget(spec.options);
  return splitScheduleTree(scn, run, spec.options.bound, spec.options.subtrees ?? DEFAULT_SUBTREES);
}

/** the library boundary: every option named in its error (the CLI has checked its own already) */
function validate(spec: CampaignSpec, o: CampaignRunOptions): void {
  if (!spec || (spec.command !== 'explore' && spec.command !== 'stress'))
    throw invalidArgValue('spec.command', "must be 'explore' or 'stress'", (spec as { command?: unknown } | undefined)?.command);
  if (spec.command === 'explore') {
    if (!scenarioByName(spec.options.scenario)) throw invalidArgValue('spec.options.scenario', 'must name a scenario', spec.options.scenario);
    if (!['random', 'pct', 'exhaustive'].includes(spec.options.scheduler))
      throw invalidArgValue('spec.options.scheduler', "must be 'random', 'pct' or 'exhaustive'", spec.options.scheduler);
    if (!Number.isSafeInteger(spec.options.budget) || spec.options.budget < 1)
      throw outOfRange('spec.options.budget', 'a positive integer (schedules per unit)', spec.options.budget);
  }
  if (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > 256) throw outOfRange('workers', 'an integer from 1 to 256', o.workers);
  const sh = o.shard;
  if (!sh || !Number.isInteger(sh.count) || !Number.isInteger(sh.index) || sh.count < 1 || sh.index < 0 || sh.index >= sh.count) {
    throw invalidArgValue('shard', 'must be { index, count } with 0 <= index < count', sh);
  }
  if (unitKind(spec) === 'seeds') {
    const r = o.seeds;
    if (!r || !Number.isSafeInteger(r.first) || !Number.isSafeInteger(r.last) || r.first < 0 || r.first > r.last) {
      throw invalidArgValue('seeds', 'must be { first, last } with 0 <= first <= last', r);
    }
  }
}

export async function runCampaign(spec: CampaignSpec, o: CampaignRunOptions): Promise<CampaignResult> {
  validate(spec, o);
  const kind = unitKind(spec);
  let prefixes: number[][] | undefined;
  let range: Range;
  if (kind === 'subtrees') {
    prefixes = campaignSubtrees(spec as Extract<CampaignSpec, { command: 'explore' }>);
    range = { first: 0, last: prefixes.length - 1 };
  } else {
    if (!o.seeds) throw new Error('a seeded campaign needs its seed range');
    range = o.seeds;
  }
  const slice = shardSlice(range, o.shard);
  const total = rangeSize(slice);
  // explore seeds are milliseconds each: batches amortize the messages; stress runs and
  // subtrees are long enough alone
  const batch = spec.command === 'explore' && kind === 'seeds' ? 8 : 1;
  const counts: Counts = {};
  const measured: Record<string, number> = {};
  const found = new Map<string, CampaignFinding>();
  const t0 = performance.now();
  let done = 0;
  let lastProgress = 0;
  const progress = (force: boolean): void => {
    if (!o.onProgress) return;
    const now = performance.now();
    if (!force && now - lastProgress < 250) return;
    lastProgress = now;
    const el = now - t0;
    const work = spec.command === 'explore' ? (counts.schedules ?? 0) : (counts.actions ?? 0);
    const hits = [...found.values()].reduce((s, f) => s + f.hits, 0);
    o.onProgress({
      unitsDone: done,
      units: total,
      elapsedMs: el,
      perSec: el > 0 ? (work * 1000) / el : 0,
      findings: found.size,
      hits,
      violations: [...found.values()].filter((f) => f.violation).length,
      etaMs: done > 0 ? ((total - done) * el) / done : null,
    });
  };

  const workers = Math.max(1, Math.min(o.workers, Math.ceil(total / batch) || 1));
  const pool = new Piscina({
    filename: CAMPAIGN_WORKER.href,
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: 1,
    idleTimeout: 1000,
    atomics: 'disabled',
    resourceLimits: { maxOldGenerationSizeMb: 512 },
  });
  pool.on('error', () => undefined); // reported through the task promises
  try {
    let next = slice.first;
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const submit = (): void => {
      const units: number[] = [];
      while (units.length < batch && next <= slice.last) units.push(next++);
      const task: UnitTask = { spec, units, ...(prefixes ? { prefixes: units.map((u) => prefixes![u]!) } : {}) };
      // the units are bounded by their budgets; this bounds a worker that is stuck anyway
      const ac = new AbortController();
      const timer = setTimeout(
        () => ac.abort(new Error(`units ${units.join(', ')} did not finish within ${o.taskTimeoutMs ?? TASK_TIMEOUT_MS} ms; terminated`)),
        o.taskTimeoutMs ?? TASK_TIMEOUT_MS,
      );
      const p = (pool.run(task, { signal: ac.signal }) as Promise<UnitResult[]>)
        .finally(() => clearTimeout(timer))
        .then(
          (rs) => {
            for (const r of rs) {
              addCounts(counts, r.counts);
              addCounts(measured, r.measured);
              addFindings(found, r.findings);
            }
            done += rs.length;
            progress(false);
          },
          (err: unknown) => void (failure ??= err),
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    while (next <= slice.last && failure === undefined) {
      while (inFlight.size < workers * 2 && next <= slice.last) submit();
      await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
  } finally {
    await pool.destroy();
  }
  progress(true);
  const elapsedMs = performance.now() - t0;
  const work = spec.command === 'explore' ? (counts.schedules ?? 0) : (counts.actions ?? 0);
  return {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    perfemu: perfemuVersion(),
    command: spec.command,
    options: spec.options,
    units: kind,
    range,
    shard: o.shard,
    slice,
    counts: sortedCounts(counts),
    measured: {
      elapsedMs,
      workers,
      perSec: elapsedMs > 0 ? (work * 1000) / elapsedMs : 0,
      rate: spec.command === 'explore' ? 'schedules/s' : 'ops/s',
      ...measured,
    },
    findings: sortFindings(found),
  };
}

/** keys in a fixed order: the file does not depend on which worker finished first */
export function sortedCounts(c: Counts): Counts {
  return Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
