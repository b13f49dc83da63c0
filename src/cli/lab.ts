/**
 * `perfemu lab`: the ring sizing lab (src/lab/lab.ts) from the command line: a table of the
 * swept points, the recommendation or why there is none, `--json`, `--report FILE.html`.
 */
import { writeFileSync } from 'node:fs';
import { KERNEL_VERSIONS } from '../index.js';
import { MAX_OUTPUT_BYTES } from '../emulator.js';
import { count, table } from '../format.js';
import { labColumns } from '../lab/columns.js';
import { isRecommended, labWithNotes, parseShape, type LabOptions, type LabResult, type LabNotes } from '../lab/lab.js';
import { LAB_MIN_SIZE } from '../lab/sim.js';
import { labReport } from '../report/lab.js';
import { intOpt, kernelOpt, reportOpt, type Command } from './command.js';
import { UsageError } from './usage.js';

function listOpt(name: string, v: unknown, min: number, max: number): number[] {
  if (typeof v !== 'string' || v === '')
    throw new UsageError(`--${name} must be an integer or a comma-separated list of integers from ${min} to ${max}; got '${String(v)}'`);
  const parts = v.split(',');
  return parts.map((x) => {
    if (!/^\d+$/.test(x) || Number(x) < min || Number(x) > max) {
      throw new UsageError(`--${name} must be an integer or a comma-separated list of integers from ${min} to ${max}; got '${v}'`);
    }
    return Number(x);
  });
}

function fracOpt(name: string, v: unknown, min: number, max: number, openMin: boolean): number {
  const n = Number(v);
  if (typeof v !== 'string' || !/^(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/i.test(v) || n < min || n > max || (openMin && n === min)) {
    throw new UsageError(`--${name} must be a number ${openMin ? '>' : '>='} ${min} and <= ${max}; got '${String(v)}'`);
  }
  return n;
}

/** the library's option names as the command line spells them */
const FLAG: Record<string, string> = {
  cpus: 'cpus',
  rate: 'rate',
  shape: 'shape',
  size: 'size',
  trace: 'trace',
  pages: 'pages',
  wakeupEvents: 'wakeup-events',
  watermark: 'watermark',
  pollTimeoutMs: 'poll-timeout-ms',
  wakeupUs: 'wakeup-us',
  sweep: 'pages',
  durationMs: 'duration-ms',
};

export const labCommand: Command = {
  summary: 'ring sizing lab: the kernel ring code on a virtual clock, any number of CPUs; sweeps pages and wakeup settings, recommends a size',
  usage:
    'perfemu lab [--cpus N] [--rate R[,R...]] [--shape constant|poisson|burst:ON/OFF] [--size S|MIN-MAX] [--trace FILE.csv] ' +
    '[--pages P[,P...]] [--wakeup-events N[,N...]] [--watermark B[,B...]] [--poll-timeout-ms T[,T...]] [--wakeup-us U] ' +
    '[--record-cost-ns C] [--wakeup-cost-ns C] [--consumer-share F] [--no-wakeups] [--duration-ms D] [--seed S] [--kernel V] ' +
    '[--max-loss X] [--max-latency-us Y] [--json] [--report FILE.html]',
  options: {
    cpus: { type: 'string', default: '4' },
    rate: { type: 'string' },
    shape: { type: 'string' },
    size: { type: 'string' },
    trace: { type: 'string' },
    pages: { type: 'string', default: '8,32,128' },
    'wakeup-events': { type: 'string' },
    watermark: { type: 'string' },
    'poll-timeout-ms': { type: 'string', default: '100' },
    'wakeup-us': { type: 'string' },
    'record-cost-ns': { type: 'string', default: '200' },
    'wakeup-cost-ns': { type: 'string', default: '2000' },
    'consumer-share': { type: 'string', default: '1' },
    wakeups: { type: 'boolean', default: true },
    'duration-ms': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    kernel: { type: 'string', default: '6.18' },
    'max-loss': { type: 'string' },
    'max-latency-us': { type: 'string' },
    report: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--cpus N', 'simulated CPUs, 1..1024 (default 4); they run on a virtual clock, not on cores'],
    ['--rate R', 'records/s per CPU, 1..100000000, or a list to sweep (default 100000)'],
    ['--shape S', 'constant (default), poisson, or burst:ON_MS/OFF_MS (the rate during ON, silence during OFF)'],
    ['--size S|MIN-MAX', `payload bytes, ${LAB_MIN_SIZE}..${MAX_OUTPUT_BYTES}, or a range drawn uniformly per record (default 64)`],
    ['--trace FILE.csv', 'replay a recorded workload: rows time_ns,cpu,size (replaces --rate, --shape, --size)'],
    ['--pages P', 'data pages per ring, a power of two up to 131072, or a list to sweep (default 8,32,128); at most 1 GiB of rings: CPUs x (1 + P) x 4 KiB'],
    ['--wakeup-events N', 'attr.wakeup_events, 0..1000000, or a list (default 1): wake the reader every N records'],
    ['--watermark B', 'attr.wakeup_watermark in bytes, or a list: wake the reader every B bytes (each value is one more wakeup setting)'],
    ['--poll-timeout-ms T', "the reader's epoll_wait timeout, 1..600000, or a list (default 100); on a timeout it reads every ring"],
    ['--wakeup-us U', 'from the wakeup to the reader running, 0..1000000 µs (default 10)'],
    ['--record-cost-ns C', "the reader's cost per record, 0..1e9 ns (default 200)"],
    ['--wakeup-cost-ns C', "the reader's cost per wake-up (epoll_wait returning, its loop), 0..1e9 ns (default 2000)"],
    ['--consumer-share F', 'the share of a core the reader gets, (0, 1] (default 1); its costs stretch by 1/F'],
    ['--no-wakeups', 'a timer-driven reader: ignores wakeups, reads every ring each time its poll timeout expires'],
    ['--duration-ms D', 'virtual time per point, 1..600000 (default 1000)'],
    ['--seed S', 'seed of the poisson shape and the size ranges, 0..2^31-1 (default 1)'],
    ['--kernel V', `${KERNEL_VERSIONS.join(', ')} (default 6.18): 4.x's helper returns 0 on a full ring, 5.10+ -ENOSPC`],
    ['--max-loss X', 'largest acceptable loss rate, 0..1 (e.g. 0.001)'],
    ['--max-latency-us Y', 'largest acceptable p99 latency from output to callback, µs'],
    ['--report FILE', 'also write a self-contained HTML page: loss and p99 latency against pages, one curve per wakeup setting'],
    ['--json', 'print one JSON document (progress goes to stderr on a terminal only)'],
  ],
  async run(v, _p, given) {
    const cpus = intOpt('cpus', v.cpus, 1, 1024);
    const opts: LabOptions = {
      cpus,
      pages: listOpt('pages', v.pages, 1, 1 << 17),
      pollTimeoutMs: listOpt('poll-timeout-ms', v['poll-timeout-ms'], 1, 600_000),
      ...(given.has('wakeup-us') ? { wakeupUs: intOpt('wakeup-us', v['wakeup-us'], 0, 1_000_000) } : {}),
      recordCostNs: intOpt('record-cost-ns', v['record-cost-ns'], 0, 1_000_000_000),
      wakeupCostNs: intOpt('wakeup-cost-ns', v['wakeup-cost-ns'], 0, 1_000_000_000),
      consumerShare: fracOpt('consumer-share', v['consumer-share'], 0, 1, true),
      noWakeups: !(v.wakeups as boolean),
      durationMs: intOpt('duration-ms', v['duration-ms'], 1, 600_000),
      seed: intOpt('seed', v.seed, 0, 0x7fffffff),
      kernel: kernelOpt(v.kernel),
    };
    for (const p of opts.pages as number[])
      if (p & (p - 1)) throw new UsageError(`--pages must be powers of two (perf_mmap requires it); got '${String(v.pages)}'`);
    if (v.trace !== undefined) {
      for (const o of ['rate', 'shape', 'size'])
        if (v[o] !== undefined) throw new UsageError(`--trace replaces --rate, --shape and --size: give either the trace or --${o}`);
      opts.trace = String(v.trace);
    } else {
      if (v.rate !== undefined) opts.rate = listOpt('rate', v.rate, 1, 100_000_000);
      if (v.shape !== undefined) {
        if (!parseShape(String(v.shape)))
          throw new UsageError(`--shape must be constant, poisson or burst:ON_MS/OFF_MS (ON 1..3600000); got '${String(v.shape)}'`);
        opts.shape = String(v.shape);
      }
      if (v.size !== undefined) {
        const s = String(v.size);
        const m = /^(\d+)-(\d+)$/.exec(s);
        const rule = `--size must be bytes ${LAB_MIN_SIZE}..${MAX_OUTPUT_BYTES}, or MIN-MAX with MIN <= MAX in that range; got '${s}'`;
        if (m) {
          const lo = Number(m[1]);
          const hi = Number(m[2]);
          if (lo < LAB_MIN_SIZE || hi > MAX_OUTPUT_BYTES || lo > hi) throw new UsageError(rule);
          opts.size = [lo, hi];
        } else {
          if (!/^\d+$/.test(s) || Number(s) < LAB_MIN_SIZE || Number(s) > MAX_OUTPUT_BYTES) throw new UsageError(rule);
          opts.size = Number(s);
        }
      }
    }
    if (v['wakeup-events'] !== undefined) opts.wakeupEvents = listOpt('wakeup-events', v['wakeup-events'], 0, 1_000_000);
    if (v.watermark !== undefined) opts.watermark = listOpt('watermark', v.watermark, 1, 0x7fffffff);
    if (v['max-loss'] !== undefined) opts.maxLoss = fracOpt('max-loss', v['max-loss'], 0, 1, false);
    if (v['max-latency-us'] !== undefined) opts.maxLatencyUs = fracOpt('max-latency-us', v['max-latency-us'], 0, 1e12, false);
    const report = v.report !== undefined ? reportOpt(v.report) : undefined;
    const tty = process.stderr.isTTY;
    if (tty) {
      opts.onProgress = (done, total, running) =>
        process.stderr.write(
          `\rperfemu lab: ${done}/${total} points done` +
            (running.length ? `; running: ${running.map((f) => `${Math.round(f * 100)}%`).join(', ')}` : '') +
            (done === total ? '\n' : '\x1b[K'),
        );
    }
    let out: { result: LabResult; notes: LabNotes };
    try {
      out = await labWithNotes(opts);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_OUT_OF_RANGE' || code === 'ERR_INVALID_ARG_TYPE') {
        const msg = (err as Error).message;
        const name = /"([A-Za-z]+)/.exec(msg)?.[1] ?? '';
        throw new UsageError(`--${FLAG[name] ?? name}: ${msg}`);
      }
      throw err;
    }
    const { result, notes } = out;
    if (report) writeFileSync(report, labReport(result, notes));
    if (v.json) console.log(JSON.stringify(result, null, 2));
    else console.log(formatLab(result, notes) + (report ? `\nReport: ${report}` : ''));
    return 0;
  },
};

export function formatLab(r: LabResult, notes: LabNotes): string {
  const o = r.options;
  const cols = labColumns(r);
  const head = ['', ...cols.map((c) => c.title)];
  const rows = r.points.map((p) => [isRecommended(r, p) ? '*' : '', ...cols.map((c) => c.cell(p))]);
  const work = o.trace
    ? `trace ${o.trace}`
    : `${o.rate.map(count).join(',')} records/s per CPU, ${o.shape}, ${Array.isArray(o.size) ? `${o.size[0]}-${o.size[1]}` : o.size} B`;
  const reader = o.noWakeups
    ? `a timer-driven reader (every ${o.pollTimeoutMs.join(',')} ms, wakeups ignored)`
    : `a libbpf perf buffer reader (epoll_wait timeout ${o.pollTimeoutMs.join(',')} ms, woken ${o.wakeupUs} µs after a wakeup)`;
  const lostOutputs = r.points.reduce((s, p) => s + p.lost, 0);
  const enospc = notes.extras.reduce((s, e) => s + e.enospc, 0);
  const saw =
    lostOutputs === 0
      ? ''
      : enospc > 0
        ? `\nKernel ${o.kernel}: the program saw -ENOSPC from bpf_perf_event_output for each of the ${count(enospc)} lost outputs.`
        : `\nKernel ${o.kernel}: bpf_perf_event_output returned 0 for the ${count(lostOutputs)} lost outputs: the program cannot tell (5.10+ returns -ENOSPC).`;
  return [
    `perfemu lab: ${o.cpus} CPUs, ${work}, ${o.durationMs} ms of virtual time, kernel ${o.kernel}, seed ${o.seed}`,
    `reader: ${reader}; ${o.recordCostNs} ns per record, ${o.wakeupCostNs} ns per wake-up, ${o.consumerShare === 1 ? 'a whole core' : `${o.consumerShare} of a core`}`,
    '',
    table([head, ...rows]),
    '',
    `latency: output to callback; stranded: records that sat below the wakeup threshold while the reader slept (until a later`,
    `record crossed it, the poll timeout, or the end); inversion: how far a record's time is behind one of another CPU read before it.`,
    notes.verdict + saw,
    `${count(r.simulatedRecords)} simulated records in ${(r.wallMs / 1000).toFixed(1)} s (${count((r.simulatedRecords / Math.max(1, r.wallMs)) * 1000)} records/s of wall time).`,
  ].join('\n');
}
