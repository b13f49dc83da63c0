/**
 * `perfemu merge FILE...`: the result files of a campaign's shards as one answer: checks they
 * belong to one campaign, reports missing or overlapping slices, sums the counts and prints each
 * distinct finding once with the units that hit it and one command that reproduces it.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatSchedule, writeExclusive } from '../explore/explore.js';
import { count } from '../format.js';
import {
  checkResult,
  mergeResults,
  sameCampaign,
  type CampaignResult,
  type ExploreCampaignOptions,
  type MergedCampaign,
  type StressCampaignOptions,
} from '../campaign/result.js';
import { formatRange, rangeSize } from '../campaign/shard.js';
import { outDirOpt, type Command } from './command.js';
import { UsageError } from './usage.js';

const n = count;

export function readResult(file: string): CampaignResult {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read result file ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const why = checkResult(doc);
  if (why) throw new UsageError(`${file}: ${why}`);
  return doc as CampaignResult;
}

/**
 * Gives every finding that has no reproduce command (a subtree of an exhaustive search) one:
 * its replay file is written into `dir` (never overwriting) and `perfemu replay FILE` named.
 */
export function writeReplayFiles(m: MergedCampaign, dir: string): void {
  for (const f of m.findings) {
    if (f.reproduce || !f.replay) continue;
    const path = writeExclusive(resolve(join(dir, `perfemu-${f.replay.scenario}-${f.kind}.replay.json`)), `${JSON.stringify(f.replay, null, 2)}\n`);
    f.reproduce = `npx perfemu replay ${path}`;
  }
}

export function describeCampaign(command: string, options: CampaignResult['options']): string {
  if (command === 'explore') {
    const o = options as ExploreCampaignOptions;
    const sch = o.scheduler === 'exhaustive' ? `exhaustive (preemption bound ${o.bound})` : o.scheduler === 'pct' ? `pct (depth ${o.bound})` : 'random';
    return (
      `scenario ${o.scenario}, scheduler ${sch}, at most ${n(o.budget)} schedules per ${o.scheduler === 'exhaustive' ? 'subtree' : 'seed'}, ` +
      `kernel ${o.kernel}${o.strict ? ' (strict purge)' : ''}${o.inject ? `, fault ${o.inject}` : ''}`
    );
  }
  const o = options as StressCampaignOptions;
  return (
    `${o.cpus} CPUs, ${o.apps} app workers + main, ${n(o.ops)} actions per actor, kernel ${o.kernel}${o.strict ? ' (strict purge)' : ''}, ` +
    `max_entries ${o.maxEntries}${o.windowUs !== 20 ? `, window ${o.windowUs} µs` : ''}${o.inject ? `, fault ${o.inject}` : ''}`
  );
}

/** The merged answer for people. `shardOnly`: one shard's own run (its slice is the whole story). */
export function formatMerged(m: MergedCampaign, o: { workers?: number; perSec?: number; shardOnly?: boolean } = {}): string {
  const unit = m.units === 'seeds' ? 'seeds' : 'subtrees';
  const c = m.counts;
  const lines = [`perfemu campaign ${m.command} — ${describeCampaign(m.command, m.options)}`];
  const covered = m.files.reduce((s, f) => s + rangeSize(f.slice), 0);
  if (o.shardOnly && m.files.length === 1) {
    const f = m.files[0]!;
    lines.push(
      (rangeSize(f.slice) === 0 ? `no ${unit} (more shards than ${unit})` : `${unit} ${formatRange(f.slice)} (${n(rangeSize(f.slice))})`) +
        ` of ${formatRange(m.range)}` +
        `${f.shard.count > 1 ? `: shard ${f.shard.index}/${f.shard.count}` : ''}${m.units === 'subtrees' ? ' of the bounded schedule tree' : ''}`,
    );
  } else {
    lines.push(
      `${unit} ${formatRange(m.range)} (${n(rangeSize(m.range))}) from ${m.files.length} file(s): ` +
        m.files.map((f) => `${f.shard.index}/${f.shard.count} ${rangeSize(f.slice) ? formatRange(f.slice) : '(empty)'}`).join(', '),
    );
    if (!m.missing.length && !m.overlapping.length) lines.push(`every ${unit.slice(0, -1)} covered exactly once (${n(covered)})`);
    if (m.missing.length) lines.push(`INCOMPLETE: ${unit} not covered by any file: ${m.missing.map(formatRange).join(', ')}`);
    if (m.overlapping.length) lines.push(`OVERLAP: ${unit} covered by more than one file: ${m.overlapping.map(formatRange).join(', ')}`);
  }
  const rate = o.perSec !== undefined ? ` (${n(o.perSec)}/s${o.workers ? ` on ${o.workers} worker(s)` : ''}, ${(m.elapsedMs / 1000).toFixed(1)} s)` : '';
  if (m.command === 'explore') {
    lines.push(
      `explored ${n(c.schedules ?? 0)} schedules${rate}, ${n(c.decisions ?? 0)} decision points; ` +
        `${n(c.unitsWithFinding ?? 0)} of ${n(c.units ?? 0)} ${unit} found something` +
        `${m.units === 'subtrees' ? `, ${n(c.unitsExhausted ?? 0)} exhausted within the budget` : ''}`,
    );
  } else {
    lines.push(`ran ${n(c.units ?? 0)} stress runs, ${n(c.actions ?? 0)} actions${rate}; ${n(c.cleanRuns ?? 0)} clean, ${n(c.violatedRuns ?? 0)} violated`);
  }
  lines.push('');
  if (!m.findings.length) lines.push('found nothing');
  else {
    lines.push(`${m.findings.length} distinct finding(s), ${m.violations} of them violation(s):`);
    // an explore finding is a kind and its shrunk schedule, so one bug reached by several
    // interleavings is several findings: say how many kinds they are
    const kinds = new Map<string, number>();
    for (const f of m.findings) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
    if (kinds.size < m.findings.length)
      lines.push(`  of ${kinds.size} kind(s): ${[...kinds].map(([k, c]) => `${k} ${c}`).join(', ')} (one kind by several shrunk schedules)`);
  }
  m.findings.forEach((f, i) => {
    lines.push(
      `  ${i + 1}. ${f.violation ? 'VIOLATION' : 'found'}: ${f.kind}${f.violation ? '' : " (not a violation of the kernel's contract)"} — ` +
        `${n(f.hits)} ${f.hits === 1 ? unit.slice(0, -1) : unit}, first ${unit.slice(0, -1)} ${f.first}`,
    );
    lines.push(`     ${f.detail}`);
    if (f.schedule) lines.push(`     shrunk schedule: ${formatSchedule(f.schedule)}`);
    lines.push(`     reproduce: ${f.reproduce ?? '(the replay file in the result: perfemu merge writes it)'}`);
  });
  return lines.join('\n');
}

export function mergeFiles(files: string[]): MergedCampaign {
  const results = files.map((file) => ({ file, result: readResult(file) }));
  const a = results[0]!;
  for (const b of results.slice(1)) {
    const why = sameCampaign(a.result, b.result);
    if (why) throw new UsageError(`${b.file} is not of the campaign of ${a.file}: ${why}`);
  }
  return mergeResults(results);
}

export const mergeCommand: Command = {
  summary: "merge the result files of a campaign's shards: counts summed, findings deduplicated, one reproduce command each",
  usage: 'perfemu merge FILE... [--out DIR] [--json]',
  positionals: Infinity,
  options: { out: { type: 'string' }, json: { type: 'boolean', default: false } },
  optionHelp: [
    ['FILE...', 'result files written by perfemu campaign --out (or saved from its --json output), one per shard'],
    ['--out DIR', 'where replay files of exhaustive-search findings are written (default: the current directory; never overwritten)'],
    ['--json', 'print one JSON document'],
    [
      'exit',
      '0 nothing violated; 1 a finding is a violation; 2 bad input: files of different campaigns, overlapping slices, or (without a violation) slices missing',
    ],
  ],
  run(v, positionals) {
    if (positionals.length === 0) throw new UsageError('merge takes one or more FILEs (result files of perfemu campaign)');
    const m = mergeFiles(positionals); // the inputs first: nothing is made for files that do not merge
    const out = v.out === undefined ? '.' : outDirOpt('out', String(v.out));
    if (!m.overlapping.length) writeReplayFiles(m, out);
    if (v.json) console.log(JSON.stringify(m, null, 2));
    else console.log(formatMerged(m));
    if (m.overlapping.length) {
      console.error(`perfemu: the files overlap (${m.overlapping.map(formatRange).join(', ')}): counts would be summed twice; merge each shard once`);
      return 2;
    }
    if (m.violations > 0) return 1;
    if (m.missing.length) {
      console.error(`perfemu: ${m.units} ${m.missing.map(formatRange).join(', ')} are in no file: the answer is partial`);
      return 2;
    }
    return 0;
  },
};
