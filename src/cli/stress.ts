/**
 * `perfemu stress`: runs the race stress engine and reports, or with `--inject all` runs every
 * deliberately broken kernel and tabulates which invariant caught it and how fast.
 */
import { count, table } from '../format.js';
import { styleText } from 'node:util';
import { FAULTS } from '../kernel/faults.js';
import { describeViolation } from '../invariants/registry.js';
import { reproduceCommand, runStress, type StressOptions, type StressProgress, type StressReport } from '../stress/engine.js';
import { stressReport, writeReport } from '../report/report.js';

export type StressCliOptions = Pick<StressOptions, 'cpus' | 'apps' | 'durationMs' | 'ops' | 'seed' | 'kernel' | 'strict' | 'maxEntries' | 'inject'> & {
  /** with --inject all: seeds per fault */
  seeds: number;
  windowUs: number;
  json: boolean;
  report?: string;
};

const n = count;

export function progressLine(p: StressProgress): string {
  return `  ${(p.elapsedMs / 1000).toFixed(1)}s  ${n(p.opsPerSec)} ops/s  ${n(p.outputsPerSec)} outputs/s  violations ${p.violations}`;
}

export function formatReport(r: StressReport): string {
  const o = r.options;
  const lines: string[] = [];
  lines.push(`perfemu stress — kernel ${o.kernel}${o.strict ? ' (strict purge)' : ''}${o.inject ? `, fault ${o.inject}` : ''}, ` +
    `${o.cpus} CPUs, ${o.apps} app workers + main, ${(r.elapsedMs / 1000).toFixed(1)} s, seed ${o.seed}, max_entries ${o.maxEntries}`);
  const acts = Object.entries(r.actions).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${n(v)}`).join(', ');
  lines.push(`actions: ${n(r.ops)} (${n(r.opsPerSec)}/s): ${acts}`);
  lines.push(`syscall errors (expected in a random mix): ${Object.entries(r.errors).map(([k, v]) => `${k} ${n(v)}`).join(', ') || 'none'}`);
  lines.push(`CPUs: ${n(r.cpu.outputs)} records written (${n(r.cpu.outputsPerSec)}/s), ${n(r.cpu.lost)} lost to full rings, ` +
    `${n(r.cpu.noRing)} into unmapped rings; helper errors ${Object.entries(r.cpu.errors).map(([k, v]) => `${k} ${n(v)}`).join(', ') || 'none'}`);
  lines.push(`checks: ${r.audits} pause audits, ${n(r.ringsChecked)} rings audited at free, ${n(r.recordsVerified)} records verified`);
  lines.push('');
  lines.push(table([
    ['invariant', 'result', 'count', 'first', 'rule'],
    ...r.invariants.map((i) => [i.name, i.result, String(i.count), i.firstMs === null ? '-' : `${(i.firstMs / 1000).toFixed(3)}s`, i.note ? `${i.rule} (${i.note})` : i.rule]),
  ]));
  lines.push('');
  lines.push(`foreign entries purged (SPEC §8.1: a purge removed an entry another frontend had just put in; ` +
    `counted, not a violation): ${n(r.foreignEntriesPurged)}${o.strict ? ' (strict purge: must be 0)' : ''}`);
  if (r.leftOver.length) lines.push(`left after everything was closed: ${r.leftOver.join(', ')}`);
  const shown = r.violations.slice(0, 8);
  if (shown.length) {
    lines.push('first violations:');
    for (const v of shown) lines.push(`  ${describeViolation(v)}`);
  }
  lines.push('');
  lines.push(r.ok ? styleText('green', 'result: clean') : styleText('red', `result: VIOLATED — reproduce with: ${r.reproduce}`));
  return lines.join('\n');
}

export async function stressCommand(o: StressCliOptions): Promise<number> {
  if (o.inject === 'all') return injectAll(o);
  const tty = process.stderr.isTTY === true;
  const base: StressOptions = {
    cpus: o.cpus, apps: o.apps, seed: o.seed, kernel: o.kernel, strict: o.strict, maxEntries: o.maxEntries, windowUs: o.windowUs,
    ...(o.ops !== undefined ? { ops: o.ops } : { durationMs: o.durationMs ?? 5000 }),
    ...(o.inject ? { inject: o.inject } : {}),
  };
  if (!o.json) console.error(`seed ${o.seed}; reproduce: ${reproduceCommand(base)}`);
  const report = await runStress({
    ...base,
    ...(o.json && !tty ? {} : { onProgress: (p: StressProgress) => process.stderr.write(tty ? `\r${progressLine(p)}   ` : `${progressLine(p)}\n`) }),
  });
  if (tty && !o.json) process.stderr.write('\n');
  if (o.json) console.log(JSON.stringify({ command: 'stress', ...report }, null, 2));
  else console.log(formatReport(report));
  if (o.report) {
    writeReport(o.report, stressReport(report));
    if (!o.json) console.log(`report: ${o.report}`);
  }
  return report.ok ? 0 : 1;
}

export interface InjectRow {
  fault: string;
  summary: string;
  invariant: string;
  seeds: number;
  detected: number;
  /** seeds whose first detection was by the fault's own invariant */
  byInvariant: number;
  /** ms, per detected seed */
  times: number[];
  caughtBy: string[];
  reproduce: string[];
}

async function injectAll(o: StressCliOptions): Promise<number> {
  const rows: InjectRow[] = [];
  const capMs = 10_000;
  const clean: { seed: number; ok: boolean; reproduce: string }[] = [];
  for (const f of FAULTS) {
    const row: InjectRow = { fault: f.name, summary: f.summary, invariant: f.invariant, seeds: o.seeds, detected: 0, byInvariant: 0, times: [], caughtBy: [], reproduce: [] };
    for (let i = 0; i < o.seeds; i++) {
      const seed = o.seed + i;
      const r = await runStress({
        cpus: o.cpus, apps: o.apps, seed, kernel: f.kernel ?? o.kernel, strict: o.strict, maxEntries: o.maxEntries,
        windowUs: o.windowUs, durationMs: capMs, inject: f.name, stopOnViolation: true,
      });
      const hit = r.invariants.filter((x) => x.result === 'violated').sort((x, y) => (x.firstMs ?? 0) - (y.firstMs ?? 0));
      if (hit.length) {
        row.detected++;
        row.times.push(hit[0]!.firstMs ?? 0);
        if (hit[0]!.name === f.invariant || hit.some((x) => x.name === f.invariant && x.firstMs === hit[0]!.firstMs)) row.byInvariant++;
        for (const h of hit) if (!row.caughtBy.includes(h.name)) row.caughtBy.push(h.name);
      } else row.reproduce.push(r.reproduce);
      if (!o.json) process.stderr.write(`  ${f.name} seed ${seed}: ${hit.length ? `caught by ${hit.map((x) => x.name).join(', ')} at ${((hit[0]!.firstMs ?? 0) / 1000).toFixed(3)}s` : 'NOT caught'}\n`);
    }
    rows.push(row);
  }
  if (o.seeds > 1) {
    // the correct kernel on the same seeds: every run must be clean
    for (let i = 0; i < o.seeds; i++) {
      const seed = o.seed + i;
      const r = await runStress({ cpus: o.cpus, apps: o.apps, seed, kernel: o.kernel, strict: o.strict, maxEntries: o.maxEntries, windowUs: o.windowUs, durationMs: o.durationMs ?? 5000 });
      clean.push({ seed, ok: r.ok, reproduce: r.reproduce });
      if (!o.json) process.stderr.write(`  correct kernel seed ${seed}: ${r.ok ? 'clean' : 'VIOLATED'}\n`);
    }
  }
  const allCaught = rows.every((r) => r.detected >= Math.ceil(r.seeds * 0.9));
  const ok = allCaught && clean.every((c) => c.ok);
  if (o.json) {
    console.log(JSON.stringify({ command: 'stress --inject all', options: o, capMs, faults: rows, correctKernel: clean, ok }, null, 2));
  } else {
    const med = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);
    console.log(table([
      ['fault', 'detected', 'time to first detection', 'caught by', 'expected invariant'],
      ...rows.map((r) => [
        r.fault, `${r.detected}/${r.seeds}`,
        r.times.length ? (r.seeds > 1 ? `median ${(med(r.times) / 1000).toFixed(3)}s, max ${(Math.max(...r.times) / 1000).toFixed(3)}s` : `${(r.times[0]! / 1000).toFixed(3)}s`) : '-',
        r.caughtBy.join(', ') || '-', r.invariant,
      ]),
    ]));
    if (clean.length) console.log(`\ncorrect kernel on the same seeds: ${clean.filter((c) => c.ok).length}/${clean.length} clean`);
    for (const r of rows) for (const c of r.reproduce) console.log(`not caught: ${c}`);
    for (const c of clean) if (!c.ok) console.log(`violation on the correct kernel: ${c.reproduce}`);
    console.log(ok ? styleText('green', '\nresult: every fault caught') : styleText('red', '\nresult: some fault escaped'));
  }
  return ok ? 0 : 1;
}
