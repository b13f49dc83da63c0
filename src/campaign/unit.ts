/**
 * One unit of a campaign, run in a pool worker (workers/campaign.ts): a seed of the explorer's
 * random or PCT search, a subtree of its exhaustive search, or a seed of the stress engine.
 * Each unit runs the unchanged engine (explore(), runStress()) and reports counts and findings.
 */
import { explore, replayFile } from '../explore/explore.js';
import type { RunOptions, Scenario } from '../explore/runner.js';
import { scenarioByName } from '../explore/scenarios.js';
import { faultByName } from '../kernel/faults.js';
import { describeViolation } from '../invariants/registry.js';
import { runStress } from '../stress/engine.js';
import { INVARIANT_OF } from '../invariants/registry.js';
import type { CampaignFinding, CampaignSpec, Counts, ExploreCampaignOptions } from './result.js';

export interface UnitTask {
  spec: CampaignSpec;
  /** unit numbers; for subtrees, `prefixes[i]` is unit `units[i]`'s prefix */
  units: number[];
  prefixes?: number[][];
}

export interface UnitResult {
  unit: number;
  counts: Counts;
  /** timing-dependent figures (stress: outputs, foreign entries purged) */
  measured: Record<string, number>;
  findings: CampaignFinding[];
}

/** the explore command that finds it again from the seed alone */
export function exploreReproduce(o: ExploreCampaignOptions, seed: number): string {
  const parts = ['npx perfemu explore', `--scenario ${o.scenario}`, `--scheduler ${o.scheduler}`, `--seed ${seed}`];
  if (o.scheduler === 'pct') parts.push(`--bound ${o.bound}`);
  parts.push(`--budget ${o.budget}`, `--kernel ${o.kernel}`);
  if (o.strict) parts.push('--strict');
  if (o.inject) parts.push(`--inject ${o.inject}`);
  return parts.join(' ');
}

/** the scenario and the kernel it runs on (a fault may name its own kernel, as in perfemu explore) */
export function exploreTarget(o: ExploreCampaignOptions): { scn: Scenario; run: RunOptions } {
  const scn = scenarioByName(o.scenario);
  if (!scn) throw new Error(`unknown scenario ${o.scenario}`);
  const fault = o.inject ? faultByName(o.inject) : undefined;
  return { scn, run: { version: fault?.kernel ?? o.kernel, strict: o.strict, ...(o.inject ? { inject: o.inject } : {}) } };
}

function exploreUnit(o: ExploreCampaignOptions, unit: number, prefix: number[] | undefined): UnitResult {
  const { scn, run } = exploreTarget(o);
  const exhaustive = o.scheduler === 'exhaustive';
  const r = explore(scn, {
    scheduler: o.scheduler,
    seed: exhaustive ? 1 : unit,
    bound: o.bound,
    maxSchedules: o.budget,
    maxMs: Number.MAX_SAFE_INTEGER,
    kernel: run.version,
    strict: run.strict,
    ...(run.inject ? { inject: run.inject } : {}),
    ...(prefix ? { prefix } : {}),
  });
  const counts: Counts = {
    units: 1,
    schedules: r.schedules,
    decisions: r.decisions,
    targetHits: r.targetHits,
    unitsExhausted: r.exhausted ? 1 : 0,
    unitsWithFinding: r.found ? 1 : 0,
  };
  const findings: CampaignFinding[] = [];
  if (r.found) {
    const f = r.found;
    findings.push({
      signature: `${f.finding.kind} [${f.shrunk.join(',')}]`,
      kind: f.finding.kind,
      violation: f.finding.violation,
      detail: f.finding.detail,
      schedule: f.shrunk,
      hits: 1,
      first: unit,
      reproduce: exhaustive ? null : exploreReproduce(o, unit),
      replay: replayFile(scn, r.options, f),
    });
  }
  return { unit, counts, measured: {}, findings };
}

async function stressUnit(spec: Extract<CampaignSpec, { command: 'stress' }>, seed: number): Promise<UnitResult> {
  const o = spec.options;
  const r = await runStress({
    cpus: o.cpus,
    apps: o.apps,
    ops: o.ops,
    seed,
    kernel: o.kernel,
    strict: o.strict,
    maxEntries: o.maxEntries,
    windowUs: o.windowUs,
    ...(o.inject ? { inject: o.inject } : {}),
  });
  const counts: Counts = { units: 1, actions: r.ops, cleanRuns: r.ok ? 1 : 0, violatedRuns: r.ok ? 0 : 1 };
  for (const [k, v] of Object.entries(r.actions)) counts[`actions.${k}`] = v;
  const findings: CampaignFinding[] = [];
  for (const inv of r.invariants) {
    if (inv.result !== 'violated') continue;
    // the first violation this invariant reported (the report keeps them in detection order)
    const v = r.violations.find((x) => INVARIANT_OF[x.kind] === inv.name);
    findings.push({
      signature: `${inv.name}: ${v?.kind ?? 'violated'}`,
      kind: inv.name,
      violation: true,
      detail: v ? describeViolation(v, false).trim() : inv.rule,
      schedule: null,
      hits: 1,
      first: seed,
      reproduce: r.reproduce,
      replay: null,
    });
  }
  return {
    unit: seed,
    counts,
    findings,
    measured: { outputs: r.cpu.outputs, foreignEntriesPurged: r.foreignEntriesPurged, runMs: r.elapsedMs },
  };
}

export async function runUnits(task: UnitTask): Promise<UnitResult[]> {
  const out: UnitResult[] = [];
  for (let i = 0; i < task.units.length; i++) {
    const unit = task.units[i]!;
    if (task.spec.command === 'explore') out.push(exploreUnit(task.spec.options, unit, task.prefixes?.[i]));
    else out.push(await stressUnit(task.spec, unit));
  }
  return out;
}
