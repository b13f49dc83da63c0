/**
 * `perfemu explore` (search interleavings of a small scenario, shrink what it finds, write a
 * replay file) and `perfemu replay FILE` (re-execute that schedule step for step).
 */
import { count } from '../format.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FAULTS } from '../kernel/faults.js';
import {
  explore,
  formatSchedule,
  formatTrace,
  replay,
  replayFile,
  writeExclusive,
  type ExploreOptions,
  type ExploreResult,
  type ReplayFile,
} from '../explore/explore.js';
import { SCENARIOS, SCENARIO_FOR_FAULT, scenarioByName } from '../explore/scenarios.js';
import { replayFileProblem } from '../explore/replay_file.js';
import { UsageErrorLike } from './usage.js';
import { exploreReport, replayReport, writeReport } from '../report/report.js';
import { command, kernelForFault, notApplicable, runRules } from './command.js';

export const exploreCmd = command({
  name: 'explore',
  summary: 'deterministic interleaving explorer: search schedules of a small scenario, shrink what it finds, write a replay file',
  options: {
    scenario: {
      type: 'choice',
      arg: 'NAME',
      choices: SCENARIOS.map((s) => s.name),
      defaultText: 'purge-window, or the one built for --inject',
      help: SCENARIOS.map((s) => s.name).join(', '),
    },
    scheduler: {
      type: 'choice',
      arg: 'S',
      choices: ['random', 'pct', 'exhaustive'],
      default: 'exhaustive',
      help: 'random (seeded random walk), pct (priorities with change points), exhaustive (every schedule within --bound preemptions)',
    },
    seed: { type: 'int', arg: 'N', min: 0, max: 0x7fffffff, rangeText: '0..2^31-1', default: 1, help: 'random and pct only: seed' },
    bound: { type: 'int', arg: 'N', min: 0, max: 10, default: 2, help: 'exhaustive: preemption bound; pct: depth (not for random)' },
    budget: { type: 'string', arg: 'N|Ns', default: '20s', help: 'stop after N schedules, or N seconds with an s' },
    kernel: { type: 'kernel', default: '6.18', help: '' },
    strict: { type: 'flag', help: "perfemu's strict purge" },
    inject: { type: 'choice', arg: 'NAME', choices: FAULTS.map((f) => f.name), help: `a broken kernel: ${FAULTS.map((f) => f.name).join(', ')}` },
    out: { type: 'path', arg: 'FILE', help: 'where to write the replay file (default ./perfemu-<scenario>-<finding>.replay.json; never overwritten)' },
    all: { type: 'flag', help: 'print every shared-memory access of the trace (not with --json: its trace has every access)' },
    report: { type: 'report', help: 'also write a self-contained HTML report (the interleaving as swim lanes)' },
    json: { type: 'flag', help: 'print one JSON document' },
  },
  run(o, _p, given) {
    if (o.scheduler === 'exhaustive') notApplicable(given, ['seed'], 'to the exhaustive scheduler (it tries every schedule; --seed is for random and pct)');
    if (o.json) notApplicable(given, ['all'], 'with --json (the JSON trace has every access)');
    const inject = o.inject;
    const kernel = kernelForFault(inject, o.kernel, given.has('kernel'));
    runRules({ kernel, scheduler: o.scheduler, bound: o.bound }, given);
    const m = /^(\d+)(s?)$/.exec(o.budget);
    if (!m || Number(m[1]) < 1) throw new UsageErrorLike(`--budget must be a number of schedules (1000) or of seconds (20s); got '${o.budget}'`);
    return exploreCommand({
      scenario: o.scenario ?? (inject ? (SCENARIO_FOR_FAULT[inject] ?? 'purge-window') : 'purge-window'),
      scheduler: o.scheduler as 'random' | 'pct' | 'exhaustive',
      seed: o.seed,
      bound: o.bound,
      maxSchedules: m[2] ? Number.MAX_SAFE_INTEGER : Number(m[1]),
      maxMs: m[2] ? Number(m[1]) * 1000 : 3_600_000,
      kernel,
      strict: o.strict,
      ...(inject ? { inject } : {}),
      ...(o.out !== undefined ? { out: o.out } : {}),
      json: o.json,
      all: o.all,
      ...(o.report !== undefined ? { report: o.report } : {}),
    });
  },
});

export const replayCmd = command({
  name: 'replay',
  summary: 're-execute a replay file written by explore, step for step, to the same finding',
  positionals: [{ name: 'FILE', help: 'a replay file from perfemu explore' }],
  options: {
    all: { type: 'flag', help: 'print every shared-memory access (not with --json: its trace has every access)' },
    report: { type: 'report', help: 'also write a self-contained HTML report (the interleaving as swim lanes)' },
    json: { type: 'flag', help: 'print one JSON document' },
  },
  run(o, positionals, given) {
    if (o.json) notApplicable(given, ['all'], 'with --json (the JSON trace has every access)');
    return replayCommand(positionals[0]!, { json: o.json, all: o.all, ...(o.report !== undefined ? { report: o.report } : {}) });
  },
});

export type ExploreCliOptions = Pick<ExploreOptions, 'scheduler' | 'seed' | 'bound' | 'maxSchedules' | 'maxMs' | 'kernel' | 'strict' | 'inject'> & {
  scenario: string;
  out?: string;
  json: boolean;
  all: boolean;
  report?: string;
};

const n = count;

export function exploreCommand(o: ExploreCliOptions): number {
  const scn = scenarioByName(o.scenario);
  if (!scn) throw new UsageErrorLike(`--scenario must be one of ${SCENARIOS.map((s) => s.name).join(', ')}; got '${o.scenario}'`);
  const fault = o.inject ? FAULTS.find((f) => f.name === o.inject) : undefined;
  const r = explore(scn, {
    scheduler: o.scheduler,
    seed: o.seed,
    bound: o.bound,
    maxSchedules: o.maxSchedules,
    maxMs: o.maxMs,
    kernel: fault?.kernel ?? o.kernel,
    strict: o.strict,
    ...(o.inject ? { inject: o.inject } : {}),
  });
  let file: string | undefined;
  if (r.found) {
    const rf = replayFile(scn, r.options, r.found);
    const path = resolve(o.out ?? `perfemu-${scn.name}-${r.found.finding.kind}.replay.json`);
    file = writeExclusive(path, `${JSON.stringify(rf, null, 2)}\n`);
  }
  if (o.json) {
    console.log(JSON.stringify({ command: 'explore', ...r, replayFile: file ?? null, replayCommand: file ? `npx perfemu replay ${file}` : null }, null, 2));
  } else {
    console.log(formatExplore(r, scn.summary, o.all));
    if (file) console.log(`\nreplay file: ${file}\nre-run it:   npx perfemu replay ${file}`);
  }
  if (o.report) {
    writeReport(o.report, exploreReport(r, scn.summary));
    if (!o.json) console.log(`report: ${o.report}`);
  }
  return r.found?.finding.violation ? 1 : 0;
}

export function formatExplore(r: ExploreResult, summary: string, all = false): string {
  const o = r.options;
  const lines = [
    `perfemu explore — scenario ${r.scenario}: ${summary}`,
    `kernel ${o.kernel}${o.strict ? ' (strict purge)' : ''}${o.inject ? `, fault ${o.inject}` : ''}; scheduler ${r.scheduler}` +
      `${r.scheduler === 'exhaustive' ? ` (preemption bound ${o.bound})` : r.scheduler === 'pct' ? ` (depth ${o.bound}, seed ${o.seed})` : ` (seed ${o.seed})`}`,
    `explored ${n(r.schedules)} schedules (${n(r.schedulesPerSec)}/s), ${n(r.decisions)} decision points, the longest ${r.maxDepth}` +
      `${r.exhausted ? '; the bounded space is exhausted' : ''}`,
  ];
  if (!r.found) {
    lines.push(r.exhausted ? 'found nothing: no schedule within the bound breaks an invariant or reaches the target' : 'found nothing within the budget');
    return lines.join('\n');
  }
  const f = r.found;
  lines.push('');
  lines.push(
    f.finding.violation
      ? `VIOLATION: ${f.finding.kind}: ${f.finding.detail}`
      : `found: ${f.finding.kind}: ${f.finding.detail} (not a violation of the kernel's contract)`,
  );
  lines.push(`schedule: ${f.schedule.length} choices, shrunk to ${f.shrunk.length} with ${f.preemptions} preemption(s): ${formatSchedule(f.shrunk)}`);
  lines.push(`operations in the order they finished: ${f.results.join(', ')}`);
  lines.push(`trace (${f.trace.length} accesses${all ? '' : '; slots, entries, rings and RCU shown, --all for every access'}):`);
  lines.push(...formatTrace(f.trace, { all }).map((l) => `  ${l}`));
  return lines.join('\n');
}

export function replayCommand(path: string, o: { json: boolean; all: boolean; report?: string }): number {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageErrorLike(`cannot read replay file ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const problem = replayFileProblem(doc);
  if (problem !== null) throw new UsageErrorLike(`${path} is not a valid perfemu replay file: ${problem}`);
  const rf = doc as ReplayFile;
  const scn = scenarioByName(rf.scenario)!;
  const ex = replay(scn, { version: rf.kernel, strict: rf.strict, ...(rf.inject ? { inject: rf.inject } : {}) }, rf.schedule);
  const got = ex.findings.find((f) => f.kind === rf.expect.kind);
  if (o.json) {
    console.log(
      JSON.stringify(
        { command: 'replay', file: path, reproduced: Boolean(got), expect: rf.expect, findings: ex.findings, results: ex.results, trace: ex.trace },
        null,
        2,
      ),
    );
  } else {
    console.log(
      `perfemu replay — ${rf.scenario} on kernel ${rf.kernel}${rf.strict ? ' (strict)' : ''}${rf.inject ? `, fault ${rf.inject}` : ''}: schedule ${formatSchedule(rf.schedule)}`,
    );
    console.log(`operations in the order they finished: ${ex.results.join(', ')}`);
    console.log(
      formatTrace(ex.trace ?? [], { all: o.all })
        .map((l) => `  ${l}`)
        .join('\n'),
    );
    console.log(
      got
        ? `\nreproduced: ${got.kind}: ${got.detail}`
        : `\nNOT reproduced: expected ${rf.expect.kind}; found ${ex.findings.map((f) => f.kind).join(', ') || 'nothing'}`,
    );
  }
  if (o.report) {
    writeReport(o.report, replayReport(rf.scenario, rf.kernel, rf.schedule, ex, rf.expect.kind));
    if (!o.json) console.log(`report: ${o.report}`);
  }
  if (!got) return 3;
  return got.violation ? 1 : 0;
}
