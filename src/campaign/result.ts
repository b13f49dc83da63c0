/**
 * What a campaign is and what it found: the campaign's identity (command, options, units, the
 * whole range, the perfemu version), the per-shard result file (a versioned JSON document), and
 * the merge of several of them: counts summed, findings deduplicated by signature.
 */
import { readFileSync } from 'node:fs';
import type { ReplayFile } from '../explore/explore.js';
import { replayFileProblem } from '../explore/replay_file.js';
import type { SchedulerName } from '../explore/explore.js';
import type { KernelVersion } from '../kernel/behaviour.js';
import { coverage, type Range, type Shard } from './shard.js';

export const RESULT_FORMAT = 'perfemu-campaign-result';
export const RESULT_VERSION = 1;

/** the explorer's options in a campaign: every unit (seed or subtree) is one exploration */
export interface ExploreCampaignOptions {
  scenario: string;
  scheduler: SchedulerName;
  /** exhaustive: preemption bound; pct: depth */
  bound: number;
  /** schedules per unit (a count, never a time: shards must be deterministic) */
  budget: number;
  kernel: KernelVersion;
  strict: boolean;
  inject: string | null;
  /** exhaustive: how many subtrees the bounded space is cut into (at least) */
  subtrees: number | null;
}

/** the stress engine's options in a campaign: every seed is one run of `ops` actions per actor */
export interface StressCampaignOptions {
  cpus: number;
  apps: number;
  ops: number;
  kernel: KernelVersion;
  strict: boolean;
  maxEntries: number;
  inject: string | null;
  windowUs: number;
}

export type CampaignSpec = { command: 'explore'; options: ExploreCampaignOptions } | { command: 'stress'; options: StressCampaignOptions };

/** seeds (random, pct, stress), or subtrees of the exhaustive search numbered in search order */
export type UnitKind = 'seeds' | 'subtrees';

export function unitKind(spec: CampaignSpec): UnitKind {
  return spec.command === 'explore' && spec.options.scheduler === 'exhaustive' ? 'subtrees' : 'seeds';
}

/** One distinct finding: what it is, how many units hit it, and how to see it again. */
export interface CampaignFinding {
  /** kind + shrunk schedule (explore), or invariant + first violation (stress) */
  signature: string;
  kind: string;
  /** true for a broken invariant; false for an observation the scenario looks for */
  violation: boolean;
  detail: string;
  /** explore: the shrunk schedule */
  schedule: number[] | null;
  /** units (seeds or subtrees) that hit it */
  hits: number;
  /** the lowest such unit: `reproduce` and `replay` are its */
  first: number;
  /** a command that shows it again (null when only the replay file does: exhaustive subtrees) */
  reproduce: string | null;
  /** explore: the replay file of the shrunk schedule (perfemu replay FILE) */
  replay: ReplayFile | null;
}

/** deterministic counts (equal for equal units, however the campaign is split) */
export type Counts = Record<string, number>;

/** One shard's result file. */
export interface CampaignResult {
  format: typeof RESULT_FORMAT;
  version: typeof RESULT_VERSION;
  perfemu: string;
  command: CampaignSpec['command'];
  options: CampaignSpec['options'];
  units: UnitKind;
  /** the whole campaign's units */
  range: Range;
  shard: Shard;
  /** this shard's units */
  slice: Range;
  counts: Counts;
  /** timings and timing-dependent figures: not part of the campaign's answer */
  measured: { elapsedMs: number; workers: number; perSec: number; rate: 'schedules/s' | 'ops/s'; [k: string]: number | string };
  findings: CampaignFinding[];
}

let cachedVersion: string | undefined;
export function perfemuVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cachedVersion;
}

export function addCounts(into: Counts, c: Counts): Counts {
  for (const [k, v] of Object.entries(c)) into[k] = (into[k] ?? 0) + v;
  return into;
}

/**
 * Adds findings to a deduplicated list (by signature): hits are summed; the lowest unit's
 * details, schedule and reproduce command are kept, so the answer does not depend on the order
 * in which workers or shards finished.
 */
export function addFindings(into: Map<string, CampaignFinding>, fs: readonly CampaignFinding[]): void {
  for (const f of fs) {
    const had = into.get(f.signature);
    if (!had) into.set(f.signature, { ...f });
    else if (f.first < had.first) into.set(f.signature, { ...f, hits: had.hits + f.hits });
    else had.hits += f.hits;
  }
}

/** violations first, then by hits, then by signature: a stable order for people and tests */
export function sortFindings(m: Map<string, CampaignFinding>): CampaignFinding[] {
  return [...m.values()].sort(
    (a, b) => Number(b.violation) - Number(a.violation) || b.hits - a.hits || (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0),
  );
}

export interface MergedCampaign {
  format: 'perfemu-campaign-merge';
  version: typeof RESULT_VERSION;
  perfemu: string;
  command: CampaignSpec['command'];
  options: CampaignSpec['options'];
  units: UnitKind;
  range: Range;
  files: { file: string; shard: Shard; slice: Range }[];
  /** units of the range no file covers, and units more than one file covers */
  missing: Range[];
  overlapping: Range[];
  counts: Counts;
  elapsedMs: number;
  findings: CampaignFinding[];
  violations: number;
}

/** Why two results are not of one campaign (null when they are). */
export function sameCampaign(a: CampaignResult, b: CampaignResult): string | null {
  if (a.perfemu !== b.perfemu) return `perfemu version ${a.perfemu} vs ${b.perfemu}`;
  if (a.command !== b.command) return `command ${a.command} vs ${b.command}`;
  if (a.units !== b.units) return `units ${a.units} vs ${b.units}`;
  const ja = JSON.stringify(a.options);
  const jb = JSON.stringify(b.options);
  if (ja !== jb) {
    const keys = Object.keys(a.options).filter(
      (k) => JSON.stringify((a.options as unknown as Record<string, unknown>)[k]) !== JSON.stringify((b.options as unknown as Record<string, unknown>)[k]),
    );
    return `options differ: ${keys.map((k) => `${k} ${JSON.stringify((a.options as unknown as Record<string, unknown>)[k])} vs ${JSON.stringify((b.options as unknown as Record<string, unknown>)[k])}`).join(', ') || `${ja} vs ${jb}`}`;
  }
  if (a.range.first !== b.range.first || a.range.last !== b.range.last) return `range ${a.range.first}..${a.range.last} vs ${b.range.first}..${b.range.last}`;
  return null;
}

/** Merges result files of one campaign (the caller checked sameCampaign). */
export function mergeResults(results: { file: string; result: CampaignResult }[]): MergedCampaign {
  const first = results[0]!.result;
  const { missing, overlapping } = coverage(
    first.range,
    results.map((r) => r.result.slice),
  );
  const counts: Counts = {};
  const found = new Map<string, CampaignFinding>();
  let elapsedMs = 0;
  for (const { result } of results) {
    addCounts(counts, result.counts);
    addFindings(found, result.findings);
    elapsedMs = Math.max(elapsedMs, result.measured.elapsedMs);
  }
  const findings = sortFindings(found);
  return {
    format: 'perfemu-campaign-merge',
    version: RESULT_VERSION,
    perfemu: first.perfemu,
    command: first.command,
    options: first.options,
    units: first.units,
    range: first.range,
    files: results.map((r) => ({ file: r.file, shard: r.result.shard, slice: r.result.slice })),
    missing,
    overlapping,
    counts,
    elapsedMs,
    findings,
    violations: findings.filter((f) => f.violation).length,
  };
}

/** Checks a parsed JSON document is a result file this perfemu reads; the reason when not. */
export function checkResult(doc: unknown): string | null {
  const d = doc as Partial<CampaignResult> | null;
  if (!d || typeof d !== 'object') return 'not a JSON object';
  if (d.format !== RESULT_FORMAT) return `not a campaign result file (format ${JSON.stringify(d.format)}, want ${RESULT_FORMAT})`;
  if (d.version !== RESULT_VERSION) return `result file version ${String(d.version)}; this perfemu reads version ${RESULT_VERSION}`;
  const isRange = (r: unknown): boolean => !!r && Number.isInteger((r as Range).first) && Number.isInteger((r as Range).last);
  if (!isRange(d.range) || !isRange(d.slice) || !d.shard || !d.counts || !Array.isArray(d.findings) || !d.measured || !d.options)
    return 'a field is missing or malformed (range, slice, shard, counts, findings, measured, options)';
  if (typeof d.counts !== 'object' || Array.isArray(d.counts)) return 'counts must be an object of counts';
  for (const [k, v] of Object.entries(d.counts))
    if (!Number.isSafeInteger(v) || (v as number) < 0) return `counts.${k} must be a count (an integer >= 0); got ${JSON.stringify(v)}`;
  const { first, last } = d.slice as Range;
  if (first > last + 1 || first < d.range!.first || last > d.range!.last)
    return `slice ${first}..${last} is not within range ${d.range!.first}..${d.range!.last}`;
  for (const [i, f] of d.findings.entries()) {
    if (!f || typeof f !== 'object' || typeof f.signature !== 'string' || !Number.isSafeInteger(f.hits) || f.hits < 1 || !Number.isSafeInteger(f.first))
      return `findings[${i}] is malformed (a signature, hits >= 1 and its first unit are required)`;
    // the kind names the replay file perfemu merge writes: a name, never a path
    if (typeof f.kind !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(f.kind))
      return `findings[${i}].kind must be a finding's name (a-z, 0-9, -); got ${JSON.stringify(f.kind)}`;
    if (typeof f.violation !== 'boolean') return `findings[${i}].violation must be true or false`;
    if (f.replay !== null && f.replay !== undefined) {
      const why = replayFileProblem(f.replay);
      if (why) return `findings[${i}].replay is not a replay file: ${why}`;
    }
  }
  return null;
}
