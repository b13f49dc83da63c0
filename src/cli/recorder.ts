/**
 * `perfemu recorder`: a flight recorder on overwritable rings while the CPUs write
 * (src/demo/recorder.ts): the snapshots as a table, a reading of them, and --json.
 */
import { styleText } from 'node:util';
import { KERNEL_VERSIONS } from '../index.js';
import { count as n } from '../format.js';
import { runRecorder, type RecorderRun, type RecorderSnapshot } from '../demo/recorder.js';
import { intOpt, kernelOpt, type Command } from './command.js';
import { UsageError } from './usage.js';

function rows(s: RecorderSnapshot): string[][] {
  return s.cpus.map((c) => [
    s.final ? 'final' : String(s.index),
    `${(s.tMs / 1000).toFixed(2)}s`,
    String(c.cpu),
    n(c.kept),
    c.newest === null ? '-' : n(c.newest),
    c.oldest === null ? '-' : n(c.oldest),
    n(c.written),
    c.oldestTorn ? 'yes' : 'no',
  ]);
}
const HEAD = ['snapshot', 't', 'CPU', 'kept', 'newest seq', 'oldest seq', 'written so far', 'oldest torn'];
/** fixed columns: the rows are printed as each snapshot is taken */
const WIDTH = HEAD.map((h) => Math.max(h.length, 6, h.includes('seq') || h.startsWith('written') ? 14 : 0));

export function recorderReading(r: RecorderRun): string[] {
  const torn = r.snapshots.reduce((s, x) => s + x.cpus.filter((c) => c.oldestTorn).length, 0);
  const lost = r.totals.reduce((s, t) => s + t.lost, 0);
  const over = r.totals.reduce((s, t) => s + t.overwrittenBytes, 0);
  const perRing = Math.floor(r.ringBytes / r.recordBytes);
  return [
    `Each snapshot held the newest records of every CPU (up to ${perRing} of ${r.recordBytes} bytes in a ${n(r.ringBytes)}-byte ring), newest first and consecutive: the kernel overwrote ${n(over)} bytes of older records instead of losing new ones.`,
    `Outputs lost: ${n(lost)} (an overwrite ring loses only outputs made while a snapshot pauses it with PERF_EVENT_IOC_PAUSE_OUTPUT; the program then gets ${r.kernel === '4.7' || r.kernel === '4.8' ? '0' : '-ENOSPC'}).`,
    `Oldest record torn in ${torn} snapshot view(s): a write already past the pause test when the pause landed overwrites the oldest record while it is read; the kernel gives a reader no way to know.`,
    `Checks: ${r.problems.length === 0 ? "every record whole and in order, the final snapshot starts at each CPU's last attempt, written + lost = attempts" : `${r.problems.length} problem(s)`}.`,
  ];
}

export const recorderCommand: Command = {
  summary: 'a flight recorder: CPUs write into overwritable rings (write_backward, mapped read-only) while snapshots keep the newest records',
  usage: 'perfemu recorder [--cpus N] [--duration S] [--kernel V] [--pages N] [--size B] [--snapshots N] [--json]',
  options: {
    cpus: { type: 'string', default: '2' },
    duration: { type: 'string', default: '2' },
    kernel: { type: 'string', default: '6.18' },
    pages: { type: 'string', default: '1' },
    size: { type: 'string', default: '40' },
    snapshots: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--cpus N', 'simulated CPUs, one worker each, 1..64 (default 2)'],
    ['--duration S', 'seconds the CPUs write, 1..600 (default 2)'],
    ['--kernel V', `kernel: ${KERNEL_VERSIONS.join(', ')} (default 6.18)`],
    ['--pages N', 'data pages per ring, a power of two 1..256 (default 1)'],
    ['--size B', 'payload bytes per record, 16..4096 (default 40)'],
    ['--snapshots N', 'snapshots taken while the CPUs write, 1..100 (default 4), then one after they stop'],
    ['--json', 'print one JSON document instead of tables'],
  ],
  async run(v) {
    const pages = intOpt('pages', v.pages, 1, 256);
    if (pages & (pages - 1)) throw new UsageError(`--pages must be a power of two; got '${String(v.pages)}'`);
    const json = v.json as boolean;
    const o = {
      cpus: intOpt('cpus', v.cpus, 1, 64),
      durationMs: intOpt('duration', v.duration, 1, 600) * 1000,
      kernel: kernelOpt(v.kernel),
      pages,
      size: intOpt('size', v.size, 16, 4096),
      snapshots: intOpt('snapshots', v.snapshots, 1, 100),
    };
    if (!json) {
      console.log(
        styleText(
          'bold',
          `== kernel ${o.kernel}: ${o.cpus} CPUs write ${o.size}-byte payloads into overwritable rings of ${pages} page(s); the recorder takes ${o.snapshots} snapshots while they write ==`,
        ),
      );
      console.log(
        HEAD.map((h, i) => h.padEnd(WIDTH[i]!))
          .join('  ')
          .trimEnd(),
      );
    }
    const run = await runRecorder({
      ...o,
      ...(json
        ? {}
        : {
            onSnapshot: (s: RecorderSnapshot) => {
              for (const line of rows(s))
                console.log(
                  line
                    .map((c, i) => c.padEnd(WIDTH[i]!))
                    .join('  ')
                    .trimEnd(),
                );
            },
          }),
    });
    if (json) console.log(JSON.stringify({ command: 'recorder', options: o, ...run }, null, 2));
    else {
      console.log(`\n${recorderReading(run).join('\n')}`);
      if (run.problems.length) console.log(styleText('red', `\nProblems:\n${run.problems.map((p) => `  - ${p}`).join('\n')}`));
    }
    return run.problems.length ? 1 : 0;
  },
};
