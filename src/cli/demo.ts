/**
 * `perfemu demo`: renders the demux demonstration (src/demo/demo.ts): a live table on a
 * terminal, the phase tables otherwise, a reading of what happened, and --json.
 */
import { count, table } from '../format.js';
import { styleText } from 'node:util';
import type { KernelVersion } from '../kernel/behaviour.js';
import { runDemo, type DemoFrame, type DemoOptions, type DemoRun } from '../demo/demo.js';
import { demoReport, writeReport } from '../report/report.js';
import { command, notApplicable } from './command.js';
import { UsageError } from './usage.js';

export const demo = command({
  name: 'demo',
  summary: 'per-CPU demux you can watch: CPUs write, consumer apps read, one app exits (its slots purged), then 4.7 (the leak)',
  options: {
    cpus: { type: 'int', arg: 'N', min: 2, max: 64, default: 4, help: 'simulated CPUs, one worker each', note: 'more than the cores is fine' },
    apps: { type: 'int', arg: 'N', min: 2, max: 64, default: 2, help: 'consumer apps, one worker each, at most --cpus (app i owns CPUs c with c % N == i)' },
    duration: { type: 'int', arg: 'S', min: 0, max: 600, default: 6, help: 'seconds of the main run', note: 'the 4.7 comparison runs half as long' },
    kernel: { type: 'kernel', default: '6.18', help: 'kernel of the main run' },
    rate: { type: 'int', arg: 'N', min: 1, max: 10_000_000, default: 20000, help: 'output attempts per second per CPU' },
    size: { type: 'int', arg: 'B', min: 16, max: 65_000, default: 64, help: 'payload bytes per record' },
    compare: { type: 'flag', default: true, help: 'skip the second run on kernel 4.7' },
    report: { type: 'report', help: 'also write a self-contained HTML report (demux diagram, slot timelines) to FILE' },
    json: { type: 'flag', help: 'print one JSON summary instead of tables' },
  },
  run(o, _p, given) {
    if (o.kernel === '4.7') notApplicable(given, ['no-compare'], 'with --kernel 4.7 (the comparison run is on 4.7: there is none)');
    if (o.apps > o.cpus) throw new UsageError(`--apps (${o.apps}) must not exceed --cpus (${o.cpus}): every app owns at least one CPU`);
    return demoCommand({
      cpus: o.cpus,
      apps: o.apps,
      durationMs: o.duration * 1000,
      kernel: o.kernel,
      rate: o.rate,
      size: o.size,
      compare: o.compare,
      json: o.json,
      ...(o.report !== undefined ? { report: o.report } : {}),
    });
  },
});

export type DemoCliOptions = Pick<DemoOptions, 'cpus' | 'apps' | 'durationMs' | 'kernel' | 'rate' | 'size'> & {
  /** run the same story on 4.7 after the main run */
  compare: boolean;
  json: boolean;
  report?: string;
};

const n = count;

export function formatFrame(f: DemoFrame): string {
  const head = ['CPU', 'slot', 'perf event', 'slot owner', 'reader app', 'written', 'received', 'lost', 'ENOENT', 'no ring'];
  const rows = f.rows.map((r) => [
    String(r.cpu),
    String(r.slot),
    r.event === null ? '(empty)' : `#${r.event}`,
    r.owner ?? '-',
    `${r.app}${r.appState === 'exited' ? ' (exited)' : ''}`,
    n(r.written),
    n(r.received),
    n(r.lost),
    n(r.enoent),
    n(r.noRing),
  ]);
  return `kernel ${f.kernel}  t=${(f.tMs / 1000).toFixed(1)}s  [${f.phase}]\n${table([head, ...rows])}`;
}

export function reading(run: DemoRun): string[] {
  const lines: string[] = [];
  const exited = run.final.rows.filter((r) => r.app === run.exitedApp);
  const enoent = exited.reduce((s, r) => s + r.enoent, 0);
  const noRing = exited.reduce((s, r) => s + r.noRing, 0);
  const held = run.exitedAppEvents.filter((e) => e.heldBySlot);
  if (held.length === 0) {
    lines.push(
      `${run.exitedApp} exited: its ${exited.length} slot(s) were purged by its map file's release; its CPUs' ` +
        `outputs since then failed with ENOENT (${n(enoent)} counted)` +
        (noRing ? `, after ${n(noRing)} into its unmapped rings while it exited.` : '.'),
    );
    const alive = run.exitedAppEvents.filter((e) => e.alive).length;
    lines.push(`Its perf events after a grace period: ${alive === 0 ? 'all freed' : `${alive} still alive`}.`);
  } else {
    lines.push(
      `${run.exitedApp} exited, yet the pinned map still holds its perf events ` +
        `${held.map((e) => `#${e.id}`).join(', ')} (alive, ${held.map((e) => e.fileRefs).join('/')} reference each): the leak of kernel ${run.kernel}.`,
    );
    lines.push(`Its CPUs' outputs still "succeed" into rings nobody maps any more: ${n(noRing)} records dropped without a trace.`);
  }
  const survivors = run.appResults.filter((a) => a.name !== run.exitedApp);
  lines.push(`The other app(s) kept receiving: ${survivors.map((a) => `${a.name} ${n(a.received)} records`).join(', ')}.`);
  const cons = run.conservation.every((c) => c.ok);
  lines.push(
    `Checks: ${n(run.appResults.reduce((s, a) => s + a.received, 0))} records verified, ${run.badRecords} torn or misrouted; ` +
      `on every surviving CPU, records received + losses reported to the app ${cons ? '=' : 'DIFFER FROM'} records the CPU wrote + losses the kernel counted; ` +
      `${run.violations} kernel violations.`,
  );
  return lines;
}

/** the demo's own expectations: a failed one is exit code 1 */
export function demoProblems(run: DemoRun): string[] {
  const p: string[] = [];
  if (run.badRecords) p.push(`${run.badRecords} records failed verification`);
  if (run.violations) p.push(`${run.violations} kernel violations`);
  for (const c of run.conservation) if (!c.ok) p.push(`conservation fails on CPU ${c.cpu}: ${JSON.stringify(c)}`);
  const held = run.exitedAppEvents.filter((e) => e.heldBySlot).length;
  if (run.kernel === '4.7' ? held !== run.exitedAppEvents.length : held !== 0) {
    p.push(`exited app's events held by slots: ${held}/${run.exitedAppEvents.length}, unexpected on ${run.kernel}`);
  }
  for (const a of run.appResults) p.push(...a.problems);
  return p;
}

export async function demoCommand(o: DemoCliOptions): Promise<number> {
  const tty = !o.json && process.stdout.isTTY === true;
  const runs: DemoRun[] = [];
  const kernels: KernelVersion[] = o.compare && o.kernel !== '4.7' ? [o.kernel, '4.7'] : [o.kernel];
  for (const kernel of kernels) {
    const durationMs = kernel === o.kernel ? o.durationMs : Math.round(o.durationMs / 2);
    if (!o.json) {
      console.log(
        styleText(
          'bold',
          `\n== kernel ${kernel}: ${o.cpus} CPUs write with BPF_F_CURRENT_CPU; ${o.apps} consumer apps own their CPUs' slots; app-0 exits midway ==`,
        ),
      );
    }
    let drawn = 0;
    let lastPhase = '';
    const run = await runDemo({
      cpus: o.cpus,
      apps: o.apps,
      durationMs,
      kernel,
      rate: o.rate,
      size: o.size,
      frameMs: tty ? 250 : 1000,
      ...(o.json
        ? {}
        : {
            onFrame: (f: DemoFrame) => {
              const text = formatFrame(f);
              if (tty) {
                if (drawn) process.stdout.write(`\x1b[${drawn}A\x1b[J`);
                process.stdout.write(`${text}\n`);
                drawn = text.split('\n').length;
                if (f.phase !== lastPhase && lastPhase !== '') drawn = 0; // keep each phase's last table
              } else if (f.phase !== lastPhase) {
                console.log(`${text}\n`);
              }
              lastPhase = f.phase;
            },
          }),
    });
    runs.push(run);
    if (!o.json) console.log(`\n${reading(run).join('\n')}`);
  }
  const problems = runs.flatMap((r) => demoProblems(r).map((p) => `kernel ${r.kernel}: ${p}`));
  if (o.report) {
    writeReport(o.report, demoReport(runs));
    if (!o.json) console.log(`\nreport: ${o.report}`);
  }
  if (o.json) {
    console.log(JSON.stringify({ command: 'demo', options: o, runs, problems }, null, 2));
  } else if (problems.length) {
    console.log(styleText('red', `\nProblems:\n${problems.map((p) => `  - ${p}`).join('\n')}`));
  }
  return problems.length ? 1 : 0;
}
