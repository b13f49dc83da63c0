/**
 * `perfemu campaign explore|stress [options] --seeds A..B`: the explorer or the stress engine
 * over a range of seeds on every core (an exhaustive search: over disjoint subtrees of its
 * schedule tree), optionally one deterministic shard of it (--shard K/N, or a Kubernetes Indexed
 * Job's JOB_COMPLETION_INDEX), writing a result file `perfemu merge` combines.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { SCENARIOS, SCENARIO_FOR_FAULT } from '../explore/scenarios.js';
import { count } from '../format.js';
import { FAULTS } from '../kernel/faults.js';
import { KERNEL_VERSIONS, type KernelVersion } from '../index.js';
import { mergeResults, type CampaignResult, type CampaignSpec } from '../campaign/result.js';
import { DEFAULT_SUBTREES, runCampaign, type CampaignProgress } from '../campaign/run.js';
import { parseRange, parseShard, shardFromEnv, type Range, type Shard } from '../campaign/shard.js';
import { intOpt, kernelForFault, kernelOpt, outDirOpt, runRules, type Command } from './command.js';
import { formatMerged, writeReplayFiles } from './merge.js';
import { UsageError } from './usage.js';

const MAX_SEED = 0x7fffffff;
const MAX_SHARDS = 100_000;
const EXPLORE_ONLY = ['scenario', 'scheduler', 'bound', 'budget', 'subtrees'] as const;
const STRESS_ONLY = ['cpus', 'apps', 'ops', 'max-entries', 'window-us'] as const;

const n = count;

function fmtMs(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}

export function campaignProgressLine(p: CampaignProgress, unit: string, rate: string): string {
  const pct = p.units ? Math.floor((p.unitsDone * 100) / p.units) : 100;
  return (
    `  ${unit} ${n(p.unitsDone)}/${n(p.units)} (${pct}%)  ${n(p.perSec)} ${rate}  findings ${p.findings} distinct` +
    `${p.violations ? ` (${p.violations} violation(s))` : ''} in ${n(p.hits)} ${unit}  ETA ${p.etaMs === null ? '?' : fmtMs(p.etaMs)}`
  );
}

/** --shard, else JOB_COMPLETION_INDEX of --shards or JOB_COMPLETIONS, else the whole range */
export function resolveShard(shardOpt: unknown, shardsOpt: unknown, env: Record<string, string | undefined>): Shard {
  const shards = shardsOpt === undefined ? undefined : intOpt('shards', shardsOpt, 1, MAX_SHARDS);
  if (shardOpt !== undefined) {
    const s = parseShard(String(shardOpt), MAX_SHARDS);
    if (!s)
      throw new UsageError(`--shard must be K/N with 0 <= K < N <= ${MAX_SHARDS} (K counts from 0, as JOB_COMPLETION_INDEX does); got '${String(shardOpt)}'`);
    if (shards !== undefined && shards !== s.count) throw new UsageError(`--shards (${shards}) contradicts --shard ${String(shardOpt)}: give one`);
    return s;
  }
  const fromEnv = shardFromEnv(env, shards, MAX_SHARDS);
  if (typeof fromEnv === 'string') throw new UsageError(fromEnv);
  if (fromEnv) return fromEnv;
  if (shards !== undefined) throw new UsageError('--shards needs JOB_COMPLETION_INDEX in the environment (a Kubernetes Indexed Job) or --shard K/N');
  return { index: 0, count: 1 };
}

/** the kernel a campaign runs (kernelForFault), once the options the run shares with explore and stress pass their rules */
function campaignKernel(v: Record<string, unknown>, inject: string | undefined, scheduler?: string): KernelVersion {
  const kernel = kernelForFault(inject, kernelOpt(v.kernel ?? '6.18'), v.kernel !== undefined);
  const given = new Set(Object.keys(v).filter((k) => v[k] !== undefined && v[k] !== false));
  runRules({ kernel, ...(scheduler ? { scheduler, bound: intOpt('bound', v.bound ?? '2', 0, 10) } : {}) }, given);
  return kernel;
}

export function campaignSpec(sub: string, v: Record<string, unknown>): CampaignSpec {
  const given = (k: string) => v[k] !== undefined;
  const inject = v.inject as string | undefined;
  if (inject === 'all') throw new UsageError('--inject all is not a campaign: give one fault (perfemu stress --inject all runs each in turn)');
  if (inject !== undefined && !FAULTS.some((f) => f.name === inject))
    throw new UsageError(`--inject must be one of ${FAULTS.map((f) => f.name).join(', ')}; got '${inject}'`);
  if (sub === 'explore') {
    const bad = STRESS_ONLY.find(given);
    if (bad)
      throw new UsageError(`--${bad} is a stress option; campaign explore takes ${EXPLORE_ONLY.map((o) => `--${o}`).join(', ')}, --kernel, --strict, --inject`);
    const scheduler = (v.scheduler as string | undefined) ?? 'exhaustive';
    if (!['random', 'pct', 'exhaustive'].includes(scheduler)) throw new UsageError(`--scheduler must be random, pct or exhaustive; got '${scheduler}'`);
    const scenario = (v.scenario as string | undefined) ?? (inject ? (SCENARIO_FOR_FAULT[inject] ?? 'purge-window') : 'purge-window');
    if (!SCENARIOS.some((s) => s.name === scenario))
      throw new UsageError(`--scenario must be one of ${SCENARIOS.map((s) => s.name).join(', ')}; got '${scenario}'`);
    if (given('budget') && !/^\d+$/.test(String(v.budget)))
      throw new UsageError(
        `--budget must be a number of schedules per unit (a campaign's shards must be deterministic, so not seconds); got '${String(v.budget)}'`,
      );
    if (given('subtrees') && scheduler !== 'exhaustive') throw new UsageError('--subtrees applies to --scheduler exhaustive only');
    return {
      command: 'explore',
      options: {
        scenario,
        scheduler: scheduler as 'random' | 'pct' | 'exhaustive',
        bound: intOpt('bound', v.bound ?? '2', 0, 10),
        budget: intOpt('budget', v.budget ?? (scheduler === 'exhaustive' ? '100000' : '1000'), 1, 100_000_000),
        kernel: campaignKernel(v, inject, scheduler),
        strict: v.strict === true,
        inject: inject ?? null,
        subtrees: scheduler === 'exhaustive' ? intOpt('subtrees', v.subtrees ?? String(DEFAULT_SUBTREES), 1, 100_000) : null,
      },
    };
  }
  if (sub === 'stress') {
    const bad = EXPLORE_ONLY.find(given);
    if (bad)
      throw new UsageError(`--${bad} is an explore option; campaign stress takes ${STRESS_ONLY.map((o) => `--${o}`).join(', ')}, --kernel, --strict, --inject`);
    return {
      command: 'stress',
      options: {
        cpus: intOpt('cpus', v.cpus ?? '4', 1, 64),
        apps: intOpt('apps', v.apps ?? '2', 0, 16),
        ops: intOpt('ops', v.ops ?? '1000', 1, 100_000_000),
        kernel: campaignKernel(v, inject),
        strict: v.strict === true,
        maxEntries: intOpt('max-entries', v['max-entries'] ?? '4', 1, 1024),
        inject: inject ?? null,
        windowUs: intOpt('window-us', v['window-us'] ?? '20', 0, 10_000),
      },
    };
  }
  throw new UsageError(`campaign takes explore or stress first; got '${sub}'`);
}

/** result file name: one per shard, so the shards of one campaign can share a directory */
export function resultFileName(r: CampaignResult): string {
  const what = r.command === 'explore' ? `explore-${(r.options as { scenario: string }).scenario}` : 'stress';
  return `perfemu-campaign-${what}-shard-${r.shard.index}-of-${r.shard.count}.json`;
}

export const campaignCommand: Command = {
  summary: 'explore or stress over a seed range on every core; --shard K/N (or a Kubernetes Indexed Job) for one slice; perfemu merge combines',
  usage: 'perfemu campaign explore|stress [command options] --seeds A..B [--workers N] [--shard K/N | --shards N] [--out DIR] [--json]',
  positionals: 1,
  options: {
    seeds: { type: 'string' },
    workers: { type: 'string' },
    shard: { type: 'string' },
    shards: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
    scenario: { type: 'string' },
    scheduler: { type: 'string' },
    bound: { type: 'string' },
    budget: { type: 'string' },
    subtrees: { type: 'string' },
    cpus: { type: 'string' },
    apps: { type: 'string' },
    ops: { type: 'string' },
    'max-entries': { type: 'string' },
    'window-us': { type: 'string' },
    kernel: { type: 'string' },
    strict: { type: 'boolean' },
    inject: { type: 'string' },
  },
  optionHelp: [
    ['explore|stress', 'the engine each unit runs: explore (one exploration per seed, or per subtree when exhaustive) or stress (one run per seed)'],
    ['--seeds A..B', `the seed range, inclusive, 0..${MAX_SEED} (random, pct and stress; an exhaustive search is split into subtrees instead)`],
    ['--workers N', `runs at once, one per worker thread, 1..256 (default: the cores, ${availableParallelism()} here)`],
    ['--shard K/N', 'run only slice K of N (K from 0): every unit is in exactly one slice'],
    [
      '--shards N',
      'the N for JOB_COMPLETION_INDEX (default: JOB_COMPLETIONS); with JOB_COMPLETION_INDEX set and no --shard, the shard is JOB_COMPLETION_INDEX/N',
    ],
    [
      '--out DIR',
      'write the result file perfemu-campaign-<what>-shard-K-of-N.json into DIR (made if its parent exists; a rerun of a shard replaces its file). ' +
        'Without it, the replay files of exhaustive-search findings go to the current directory (with it, perfemu merge writes them)',
    ],
    ['--json', 'print the result file to stdout (for kubectl logs); progress goes to stderr on a terminal only'],
    [
      'explore:',
      `--scenario NAME (${SCENARIOS.map((s) => s.name).join(', ')}), --scheduler random|pct|exhaustive (default exhaustive), --bound N (0..10, default 2)`,
    ],
    ['', '--budget N: schedules per seed or subtree (default 1000; exhaustive 100000); --subtrees N: cut the exhaustive tree into at least N (default 64)'],
    [
      'stress:',
      '--cpus N (default 4), --apps N (default 2), --ops N actions per actor (default 1000; fixes the actions), --max-entries N (default 4), --window-us N (default 20)',
    ],
    ['both:', `--kernel V (${KERNEL_VERSIONS.join(', ')}; default 6.18), --strict, --inject NAME (one fault)`],
    ['exit', '0 nothing violated; 1 a finding is a violation; 2 bad usage'],
  ],
  async run(v, positionals) {
    if (positionals.length !== 1) throw new UsageError('campaign takes explore or stress first (perfemu campaign explore --seeds 1..1000)');
    const spec = campaignSpec(positionals[0]!, v);
    const exhaustive = spec.command === 'explore' && spec.options.scheduler === 'exhaustive';
    let seeds: Range | null = null;
    if (exhaustive) {
      if (v.seeds !== undefined)
        throw new UsageError('--seeds applies to random, pct and stress; an exhaustive campaign is split by schedule prefix (see --subtrees)');
    } else {
      if (v.seeds === undefined) throw new UsageError('--seeds A..B is required (the seeds to run, e.g. --seeds 1..20000)');
      seeds = parseRange(String(v.seeds), MAX_SEED);
      if (!seeds) throw new UsageError(`--seeds must be A..B with 0 <= A <= B <= ${MAX_SEED}; got '${String(v.seeds)}'`);
    }
    const workers = v.workers === undefined ? availableParallelism() : intOpt('workers', v.workers, 1, 256);
    const shard = resolveShard(v.shard, v.shards, process.env);
    const out = v.out === undefined ? undefined : outDirOpt('out', String(v.out));
    const tty = process.stderr.isTTY === true;
    const unit = exhaustive ? 'subtrees' : 'seeds';
    const rate = spec.command === 'explore' ? 'schedules/s' : 'ops/s';
    const r = await runCampaign(spec, {
      seeds,
      shard,
      workers,
      ...(tty ? { onProgress: (p: CampaignProgress) => process.stderr.write(`\r${campaignProgressLine(p, unit, rate)}   `) } : {}),
    });
    if (tty) process.stderr.write('\n');
    let file: string | undefined;
    if (out !== undefined) {
      file = resolve(join(out, resultFileName(r)));
      writeFileSync(`${file}.tmp`, `${JSON.stringify(r, null, 2)}\n`);
      renameSync(`${file}.tmp`, file); // whole or not at all: a reader never sees half a file
    }
    if (v.json) console.log(JSON.stringify(r, null, 2));
    else {
      const m = mergeResults([{ file: file ?? '-', result: r }]);
      // not into --out: that directory holds result files only, for `perfemu merge DIR/*.json`
      if (out === undefined) writeReplayFiles(m, '.');
      console.log(formatMerged(m, { workers: r.measured.workers, perSec: r.measured.perSec, shardOnly: true }));
      if (file) console.log(`\nresult file: ${file}${shard.count > 1 ? '\nmerge the shards: npx perfemu merge <the N result files>' : ''}`);
    }
    return r.findings.some((f) => f.violation) ? 1 : 0;
  },
};
