/**
 * `npm run bench [-- --quick] [-- --only NAME]`: every figure beside a baseline measured in
 * the same run, printed as tables and written to bench/results/<date>.json. Benchmarks measure
 * and report; they never fail the test suite. Windows are interleaved (baseline and subject
 * alternate) so machine load affects both alike, and labelled near/far by the memory probe.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { controlBench, type ControlResult } from './control.bench.js';
import { consumerBench, type ConsumerResult } from './consumer.bench.js';
import { kernelBench, type KernelResult } from './kernel.bench.js';
import { outputBench, type OutputRow } from './output.bench.js';
import { Probe } from './probe.js';
import { fmt } from './stats.js';
import { systemBench, type SystemResult } from './system.bench.js';
import { table } from '../src/format.js';
import { writableOpt } from '../src/cli/command.js';
import { WIDE_INLINING, applyInliningSetting } from '../src/v8_inlining.js';

const GROUPS = ['output', 'control', 'consumer', 'system', 'kernel'] as const;

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', default: false } },
});
if (values.help) {
  console.log(`npm run bench -- [--quick] [--only ${GROUPS.join('|')}] [--out FILE]
  --quick   a reduced set, under a minute
  --only    one group: output (output path vs floor and postMessage), control (syscalls, purge, grace
            periods), consumer (drain, wake-up latency), system (stress, explorer, memory),
            kernel (the host kernel's own cost per bpf_perf_event_output; needs root and koffi)
  --out     the JSON file (default bench/results/<date>.json)`);
  process.exit(0);
}
if (values.only !== undefined && !GROUPS.includes(values.only as (typeof GROUPS)[number])) {
  console.error(`bench: --only must be one of ${GROUPS.join(', ')}; got '${values.only}'`);
  process.exit(2);
}
if (values.out !== undefined) {
  // checked before a long run, not after it
  try {
    writableOpt('out', values.out);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(2);
  }
}
const want = (g: (typeof GROUPS)[number]): boolean => values.only === undefined || values.only === g;
const quick = values.quick;
const log = (s: string): void => void process.stderr.write(`${s}\n`);

// PERFEMU_V8_INLINING, as the product reads it when it creates a kernel (src/v8_inlining.ts),
// read before any group's workers start, so ours, the floor and the peer all compile under the
// same V8 budget; the header and the JSON say which.
let v8Inlining: string;
try {
  v8Inlining = applyInliningSetting();
} catch (err) {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(2);
}
const t0 = Date.now();
const probe = await Probe.start();
const probes = { start: probe.measure() };
const result: {
  machine: { cores: number; cpuModel: string; node: string; date: string; quick: boolean; v8Inlining: string };
  probeNs: { start: number; end?: number };
  output?: OutputRow[];
  control?: ControlResult;
  consumer?: ConsumerResult;
  system?: SystemResult;
  kernel?: KernelResult;
  seconds?: number;
} = {
  machine: { cores: availableParallelism(), cpuModel: cpus()[0]?.model ?? '?', node: process.version, date: new Date().toISOString(), quick, v8Inlining },
  probeNs: probes,
};
try {
  if (want('output')) {
    log('output path (records/s, interleaved windows):');
    result.output = await outputBench(probe, quick, log);
  }
  if (want('control')) {
    log('control plane:');
    result.control = await controlBench(quick, log);
  }
  if (want('consumer')) {
    log('consumer:');
    result.consumer = await consumerBench(log);
  }
  if (want('system')) {
    log('stress, explorer, memory:');
    result.system = await systemBench(quick, log);
  }
  if (want('kernel')) {
    log('host kernel output path:');
    result.kernel = await kernelBench(quick, log);
  }
} finally {
  result.probeNs.end = probe.measure();
  await probe.stop();
}
result.seconds = (Date.now() - t0) / 1000;

const out: string[] = [];
out.push(
  `perfemu bench — ${result.machine.cores} cores, Node ${result.machine.node}, ${result.machine.date}${quick ? ' (quick)' : ''}; ` +
    `V8 inlining ${v8Inlining === 'wide' ? `wide (PERFEMU_V8_INLINING=wide: ${WIDE_INLINING.maxInlinedBytecodeSize}/${WIDE_INLINING.maxInlinedBytecodeSizeCumulative} bytes)` : "V8's default"}; ` +
    `probe ${result.probeNs.start.toFixed(0)}/${result.probeNs.end!.toFixed(0)} ns (near ≈ 110, far ≈ 500)`,
);
if (result.output) {
  out.push(
    '',
    'Output path: records/s in total (median of windows; near / far when the probe could tell). Rings of 64 data pages are the',
    "workload's; the 512-page rows give both larger rings, where the floor is at its best here (it gains more from them than ours)",
  );
  out.push(
    table([
      ['CPUs', 'bytes', 'ring pages', 'perfemu', 'floor (bare SAB ring)', 'ratio', 'postMessage', 'ratio', 'windows n/f/mixed'],
      ...result.output.map((r) => [
        String(r.cpus),
        String(r.size),
        String(r.ringPages),
        `${fmt(r.ours.all.median)} (${fmt(r.ours.near?.median)} / ${fmt(r.ours.far?.median)})`,
        `${fmt(r.floor.all.median)}`,
        fmt(r.vsFloor.all, 2),
        fmt(r.peer.all.median),
        fmt(r.vsPeer.all, 1),
        `${r.ours.near?.windows ?? 0}/${r.ours.far?.windows ?? 0}/${r.ours.mixed}`,
      ]),
    ]),
  );
}
if (result.control) {
  const c = result.control;
  out.push('', 'Control plane (ns per operation, 2 CPUs writing vs idle)');
  out.push(table([['operation', 'busy', 'idle', 'ratio'], ...c.ops.map((o) => [o.op, o.busyNs.toFixed(0), o.idleNs.toFixed(0), o.ratio.toFixed(2)])]));
  out.push('', 'Release purge (every slot filled by the releasing file)');
  out.push(
    table([
      ['max_entries', 'median µs', 'p99 µs', 'µs per slot'],
      ...c.purge.map((p) => [String(p.maxEntries), p.medianUs.toFixed(1), p.p99Us.toFixed(1), p.perSlotUs.toFixed(3)]),
    ]),
  );
  out.push('', 'Grace period (synchronize_rcu) with busy CPUs');
  out.push(
    table([
      ['busy CPUs', 'median µs', 'p99 µs', 'vs idle'],
      ...c.grace.map((g) => [String(g.busyCpus), g.medianUs.toFixed(1), g.p99Us.toFixed(1), g.ratio.toFixed(1)]),
    ]),
  );
  out.push(
    '',
    `inspect() on 4 CPUs, one map, 4 events, default limits: ${c.inspect.medianUs.toFixed(1)} µs median, ${c.inspect.p99Us.toFixed(1)} µs p99 (${c.inspect.samples} calls)`,
  );
}
if (result.consumer) {
  const c = result.consumer;
  out.push(
    '',
    `Consumer (${c.size}-byte records): PerfBuffer.consume ${fmt(c.drainRecords)} records/s with a view per record (ratio ${c.ratio.toFixed(2)}), ` +
      `${fmt(c.zeroCopyRecords)}/s zero-copy with onSampleAt (ratio ${c.zeroCopyRatio.toFixed(2)}; beside a second reader in the thread ${fmt(c.zeroCopyTwoReaders.records)}/s, ratio ${c.zeroCopyTwoReaders.ratio.toFixed(2)}, or ${fmt(c.zeroCopyTwoReadersShared.records)}/s, ratio ${c.zeroCopyTwoReadersShared.ratio.toFixed(2)}, when both are given one function); bare header walk ${fmt(c.floorRecords)}/s`,
  );
  out.push(
    `wake-up latency: ${c.wakeup.medianUs.toFixed(0)} µs median, ${c.wakeup.p99Us.toFixed(0)} µs p99 (${c.wakeup.samples} samples); bare Atomics.notify: ${c.bareWakeup.medianUs.toFixed(0)} µs median, ${c.bareWakeup.p99Us.toFixed(0)} µs p99`,
  );
}
if (result.system) {
  const s = result.system;
  out.push(
    '',
    `Stress (default, ${s.stress.seconds} s): ${fmt(s.stress.opsPerSec)} syscalls/s (main actor alone ${fmt(s.stress.soloOpsPerSec)}/s, ratio ${s.stress.ratio.toFixed(2)}), ` +
      `${fmt(s.stress.outputsPerSec)} outputs written/s, ${fmt(s.stress.attemptsPerSec)} output attempts/s`,
  );
  out.push(
    `Explorer (purge-window, ${s.explorer.scheduler}): ${fmt(s.explorer.schedulesPerSec)} schedules/s; plain executions ${fmt(s.explorer.plainPerSec)}/s (ratio ${s.explorer.ratio.toFixed(2)})`,
  );
  out.push(
    `Memory: arena ${s.memory.arenaBytesPerCpu} B per CPU, ${s.memory.arenaBytesPerRingPage} B per ring page, ${fmt(s.memory.defaultArenaBytes)} B default arena; ` +
      `peak RSS demo ${s.memory.demoRssMb.toFixed(0)} MB, stress ${s.memory.stressRssMb.toFixed(0)} MB, idle node ${s.memory.idleRssMb.toFixed(0)} MB`,
  );
}
if (result.kernel) {
  const k = result.kernel;
  out.push('', 'bpf_perf_event_output, 64 B, one CPU (ns per record)');
  if (k.skipped) out.push(`host kernel: skipped: ${k.skipped}`);
  else {
    out.push(
      table([
        ['', `host kernel (Linux ${k.host!.release})`, 'perfemu output path', 'bare SAB ring', 'perfemu / kernel'],
        [
          'median',
          k.host!.nsPerOutput.toFixed(0),
          k.perfemu!.nsPerOutput.toFixed(0),
          k.floor!.nsPerRecord.toFixed(0),
          (k.perfemu!.nsPerOutput / k.host!.nsPerOutput).toFixed(1),
        ],
        [
          'best run',
          k.host!.minNsPerOutput.toFixed(0),
          k.perfemu!.minNsPerOutput.toFixed(0),
          '-',
          (k.perfemu!.minNsPerOutput / k.host!.minNsPerOutput).toFixed(1),
        ],
      ]),
    );
    out.push(
      `(kernel: ${k.host!.runs} runs of BPF_PROG_TEST_RUN with ${k.host!.outputsPerRun} outputs minus 1 output; one run's syscall ${k.host!.syscallUs.toFixed(1)} µs)`,
    );
  }
}
out.push('', `(${result.seconds.toFixed(0)} s)`);
console.log(out.join('\n'));
const file = values.out ?? new URL(`./results/${result.machine.date.replace(/[:.]/g, '-')}.json`, new URL('../../bench/', import.meta.url)).pathname;
mkdirSync(new URL('../../bench/results/', import.meta.url).pathname, { recursive: true });
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`results: ${file}`);
