/**
 * `perfemu stress`: runs the race stress engine and reports, or with `--inject all` runs every
 * deliberately broken kernel and tabulates which invariant caught it and how fast.
 */
import { count, table } from '../format.js';
import { styleText } from 'node:util';
import { FAULTS, fault_exists_on } from '../kernel/faults.js';
import { describeViolation } from '../invariants/registry.js';
import { reproduceCommand, runStress, type StressOptions, type StressProgress, type StressReport } from '../stress/engine.js';
import { stressReport, writeReport } from '../report/report.js';
import { command, kernelForFault, notApplicable, runRules } from './command.js';
import { UsageError } from './usage.js';

const faultNames = FAULTS.map((f) => f.name).join(', ');

export const stress = command({
  name: 'stress',
  summary: 'race stress: CPUs write while the main thread and app workers churn the map; invariants checked; faults injectable',
  options: {
    cpus: { type: 'int', arg: 'N', min: 1, max: 64, default: 4, help: 'simulated CPUs writing at full speed, one worker each' },
    apps: { type: 'int', arg: 'N', min: 0, max: 16, default: 2, help: 'app workers running random user-space actions (the main thread is one more)' },
    duration: {
      type: 'int',
      arg: 'S',
      min: 1,
      max: 3600,
      defaultText: '5; with --inject all 10, the most each run may take',
      help: 'seconds to run',
      note: 'excludes --ops',
    },
    ops: {
      type: 'int',
      arg: 'N',
      min: 1,
      max: 100_000_000,
      help: 'actions per actor, then stop, instead of a duration (the action sequence is then fixed by the seed)',
      note: 'not with --inject all',
    },
    seed: { type: 'int', arg: 'N', min: 0, max: 0x7fffffff, rangeText: '0..2^31-1', defaultText: 'random, printed', help: 'PRNG seed' },
    kernel: { type: 'kernel', default: '6.18', help: '' },
    strict: { type: 'flag', help: "perfemu's strict purge (compare-and-exchange): foreign entries purged must stay 0" },
    'max-entries': { type: 'int', arg: 'N', min: 1, max: 1024, default: 4, help: 'slots of the shared map (few slots, many collisions)' },
    'window-us': {
      type: 'int',
      arg: 'N',
      min: 0,
      max: 10_000,
      default: 20,
      help: "µs the release purge is preempted between its load and its exchange (0 = the kernel's timing)",
    },
    inject: { type: 'string', arg: 'NAME', help: `a deliberately broken kernel: ${faultNames}; or all (each fault in turn, a table)` },
    seeds: {
      type: 'int',
      arg: 'N',
      min: 1,
      max: 100,
      default: 1,
      help: 'with --inject all only: seeds per fault (--seed, --seed+1, ...), and the correct kernel on the same seeds',
    },
    report: {
      type: 'report',
      help: 'also write a self-contained HTML report (invariants, first violations, counters, foreign purges over time, slot timeline); not with --inject all',
    },
    json: { type: 'flag', help: 'print one JSON report (progress goes to stderr on a terminal only)' },
  },
  run(o, _p, given) {
    if (o.duration !== undefined && o.ops !== undefined) throw new UsageError('--duration and --ops exclude each other: give one');
    const inject = o.inject;
    if (inject !== undefined && inject !== 'all' && !FAULTS.some((f) => f.name === inject)) {
      throw new UsageError(`--inject must be one of ${faultNames}, or all; got '${inject}'`);
    }
    if (inject === 'all')
      notApplicable(given, ['ops', 'report'], 'with --inject all (each fault runs until caught, at most --duration; the result is a table)');
    else notApplicable(given, ['seeds'], 'without --inject all (give --seed for one run)');
    const kernel = inject === 'all' ? o.kernel : kernelForFault(inject, o.kernel, given.has('kernel'));
    if (inject !== 'all') runRules({ kernel }, given);
    return stressCommand({
      cpus: o.cpus,
      apps: o.apps,
      ...(o.ops !== undefined ? { ops: o.ops } : { durationMs: (o.duration ?? (inject === 'all' ? 10 : 5)) * 1000 }),
      seed: o.seed ?? Math.floor(Math.random() * 0x7fffffff),
      kernel,
      strict: o.strict,
      maxEntries: o['max-entries'],
      ...(inject ? { inject } : {}),
      seeds: o.seeds,
      windowUs: o['window-us'],
      json: o.json,
      ...(o.report !== undefined ? { report: o.report } : {}),
    });
  },
});

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
  lines.push(
    `perfemu stress — kernel ${o.kernel}${o.strict ? ' (strict purge)' : ''}${o.inject ? `, fault ${o.inject}` : ''}, ` +
      `${o.cpus} CPUs, ${o.apps} app workers + main, ${(r.elapsedMs / 1000).toFixed(1)} s, seed ${o.seed}, max_entries ${o.maxEntries}`,
  );
  const acts = Object.entries(r.actions)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k} ${n(v)}`)
    .join(', ');
  lines.push(`actions: ${n(r.ops)} (${n(r.opsPerSec)}/s): ${acts}`);
  lines.push(
    `syscall errors (expected in a random mix): ${
      Object.entries(r.errors)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(', ') || 'none'
    }`,
  );
  lines.push(
    `CPUs: ${n(r.cpu.outputs)} records written (${n(r.cpu.outputsPerSec)}/s), ${n(r.cpu.lost)} lost to full rings, ` +
      `${n(r.cpu.noRing)} into unmapped rings; helper errors ${
        Object.entries(r.cpu.errors)
          .map(([k, v]) => `${k} ${n(v)}`)
          .join(', ') || 'none'
      }`,
  );
  lines.push(`checks: ${r.audits} pause audits, ${n(r.ringsChecked)} rings audited at free, ${n(r.recordsVerified)} records verified`);
  lines.push('');
  lines.push(
    table([
      ['invariant', 'result', 'count', 'first', 'rule'],
      ...r.invariants.map((i) => [
        i.name,
        i.result,
        String(i.count),
        i.firstMs === null ? '-' : `${(i.firstMs / 1000).toFixed(3)}s`,
        i.note ? `${i.rule} (${i.note})` : i.rule,
      ]),
    ]),
  );
  lines.push('');
  lines.push(
    `foreign entries purged (a purge removed an entry another frontend had just put in: the purge window, docs/semantics.md; ` +
      `counted, not a violation): ${n(r.foreignEntriesPurged)}${o.strict ? ' (strict purge: must be 0)' : ''}`,
  );
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
    cpus: o.cpus,
    apps: o.apps,
    seed: o.seed,
    kernel: o.kernel,
    strict: o.strict,
    maxEntries: o.maxEntries,
    windowUs: o.windowUs,
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
  /** median of `times` (the mean of the middle two for an even count), null when never caught */
  medianMs?: number | null;
  /** why the fault was not run on this kernel (the broken code does not exist there) */
  notApplicable?: string;
}

/** the median: the middle value, or the mean of the two middle values of an even count */
export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function injectAll(o: StressCliOptions): Promise<number> {
  const rows: InjectRow[] = [];
  const capMs = o.durationMs ?? 10_000;
  const clean: { seed: number; ok: boolean; reproduce: string }[] = [];
  for (const f of FAULTS) {
    const row: InjectRow = {
      fault: f.name,
      summary: f.summary,
      invariant: f.invariant,
      seeds: o.seeds,
      detected: 0,
      byInvariant: 0,
      times: [],
      caughtBy: [],
      reproduce: [],
    };
    const kernel = f.kernel ?? o.kernel;
    if (!fault_exists_on(f, kernel)) {
      row.notApplicable = `not on ${kernel}: ${f.needs?.why}`;
      if (!o.json) process.stderr.write(`  ${f.name}: ${row.notApplicable}\n`);
      rows.push(row);
      continue;
    }
    for (let i = 0; i < o.seeds; i++) {
      const seed = o.seed + i;
      const r = await runStress({
        cpus: o.cpus,
        apps: o.apps,
        seed,
        kernel,
        strict: o.strict,
        maxEntries: o.maxEntries,
        windowUs: o.windowUs,
        durationMs: capMs,
        inject: f.name,
        stopOnViolation: true,
      });
      const hit = r.invariants.filter((x) => x.result === 'violated').sort((x, y) => (x.firstMs ?? 0) - (y.firstMs ?? 0));
      if (hit.length) {
        row.detected++;
        row.times.push(hit[0]!.firstMs ?? 0);
        if (hit[0]!.name === f.invariant || hit.some((x) => x.name === f.invariant && x.firstMs === hit[0]!.firstMs)) row.byInvariant++;
        for (const h of hit) if (!row.caughtBy.includes(h.name)) row.caughtBy.push(h.name);
      } else row.reproduce.push(r.reproduce);
      if (!o.json)
        process.stderr.write(
          `  ${f.name} seed ${seed}: ${hit.length ? `caught by ${hit.map((x) => x.name).join(', ')} at ${((hit[0]!.firstMs ?? 0) / 1000).toFixed(3)}s` : 'NOT caught'}\n`,
        );
    }
    rows.push(row);
  }
  // the correct kernel on the same seeds (whatever --seeds is): every run must be clean
  for (let i = 0; i < o.seeds; i++) {
    const seed = o.seed + i;
    const r = await runStress({
      cpus: o.cpus,
      apps: o.apps,
      seed,
      kernel: o.kernel,
      strict: o.strict,
      maxEntries: o.maxEntries,
      windowUs: o.windowUs,
      durationMs: Math.min(capMs, 5000),
    });
    clean.push({ seed, ok: r.ok, reproduce: r.reproduce });
    if (!o.json) process.stderr.write(`  correct kernel seed ${seed}: ${r.ok ? 'clean' : 'VIOLATED'}\n`);
  }
  for (const r of rows) r.medianMs = median(r.times);
  const allCaught = rows.every((r) => r.notApplicable !== undefined || r.detected === r.seeds); // every fault on every seed
  const ok = allCaught && clean.every((c) => c.ok);
  if (o.json) {
    console.log(JSON.stringify({ command: 'stress --inject all', options: o, capMs, faults: rows, correctKernel: clean, ok }, null, 2));
  } else {
    console.log(
      table([
        ['fault', 'detected', 'time to first detection', 'caught by', 'expected invariant'],
        ...rows.map((r) => [
          r.fault,
          r.notApplicable !== undefined ? 'n/a' : `${r.detected}/${r.seeds}`,
          r.times.length
            ? r.seeds > 1
              ? `median ${(r.medianMs! / 1000).toFixed(3)}s, max ${(Math.max(...r.times) / 1000).toFixed(3)}s`
              : `${(r.times[0]! / 1000).toFixed(3)}s`
            : '-',
          r.notApplicable ?? (r.caughtBy.join(', ') || '-'),
          r.invariant,
        ]),
      ]),
    );
    if (clean.length) console.log(`\ncorrect kernel on the same seeds: ${clean.filter((c) => c.ok).length}/${clean.length} clean`);
    for (const r of rows) for (const c of r.reproduce) console.log(`not caught: ${c}`);
    for (const c of clean) if (!c.ok) console.log(`violation on the correct kernel: ${c.reproduce}`);
    const na = rows.filter((r) => r.notApplicable !== undefined).map((r) => r.fault);
    const naText = na.length ? ` (${na.join(', ')}: not on kernel ${o.kernel})` : '';
    console.log(ok ? styleText('green', `\nresult: every fault caught${naText}`) : styleText('red', `\nresult: some fault escaped${naText}`));
  }
  return ok ? 0 : 1;
}
