/**
 * The perfemu command line: one function per command, `node:util` parseArgs for options.
 * Exit codes (EXIT_CODES, printed by --help): 0 ok, 1 the run found a violation or a difference,
 * 2 bad usage or bad input, 3 a replay that did not reproduce its finding.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KERNEL_VERSIONS } from '../index.js';
import {
  perf_event_array_map_ops, perf_event_array_map_ops_strict, perf_event_array_map_ops_v47,
  perf_event_array_map_ops_v48,
} from '../kernel/bpf/arraymap.js';
import { demoCommand } from './demo.js';
import { exploreCommand, replayCommand } from './explore.js';
import { SCENARIOS, SCENARIO_FOR_FAULT } from '../explore/scenarios.js';
import { stressCommand } from './stress.js';
import { FAULTS } from '../kernel/faults.js';
import { formatStory, storyRows } from './story.js';
import { table } from '../format.js';

export { UsageError } from './usage.js';
import { UsageError } from './usage.js';
import { intOpt, joinNegativeValues, kernelOpt, notApplicable, reportOpt, writableOpt, type Command } from './command.js';
export { kernelOpt } from './command.js';

const COMMANDS: Record<string, Command> = {
  demo: {
    summary: 'per-CPU demux you can watch: CPUs write, consumer apps read, one app exits (its slots purged), then 4.7 (the leak)',
    usage: 'perfemu demo [--cpus N] [--apps N] [--duration S] [--kernel V] [--rate N] [--size B] [--no-compare] [--report FILE] [--json]',
    options: {
      cpus: { type: 'string', default: '4' },
      apps: { type: 'string', default: '2' },
      duration: { type: 'string', default: '6' },
      kernel: { type: 'string', default: '6.18' },
      rate: { type: 'string', default: '20000' },
      size: { type: 'string', default: '64' },
      compare: { type: 'boolean', default: true },
      report: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    optionHelp: [
      ['--cpus N', 'simulated CPUs, one worker each, 2..64 (default 4; more than the cores is fine)'],
      ['--apps N', 'consumer apps, one worker each, 2..CPUs; app i owns CPUs c with c % N == i (default 2)'],
      ['--duration S', 'seconds of the main run, 0..600 (default 6); the 4.7 comparison runs half as long'],
      ['--kernel V', `kernel of the main run: ${KERNEL_VERSIONS.join(', ')} (default 6.18)`],
      ['--rate N', 'output attempts per second per CPU, 1..10000000 (default 20000)'],
      ['--size B', 'payload bytes per record, 16..65000 (default 64)'],
      ['--no-compare', 'skip the second run on kernel 4.7'],
      ['--report FILE', 'also write a self-contained HTML report (demux diagram, slot timelines) to FILE'],
      ['--json', 'print one JSON summary instead of tables'],
    ],
    async run(v) {
      const cpus = intOpt('cpus', v.cpus, 2, 64);
      const apps = intOpt('apps', v.apps, 2, 64);
      if (apps > cpus) throw new UsageError(`--apps (${apps}) must not exceed --cpus (${cpus}): every app owns at least one CPU`);
      const o = {
        cpus, apps,
        durationMs: intOpt('duration', v.duration, 0, 600) * 1000,
        kernel: kernelOpt(v.kernel),
        rate: intOpt('rate', v.rate, 1, 10_000_000),
        size: intOpt('size', v.size, 16, 65_000),
        compare: v.compare as boolean,
        json: v.json as boolean,
      };
      return demoCommand({ ...o, ...(v.report !== undefined ? { report: reportOpt(v.report) } : {}) });
    },
  },
  stress: {
    summary: 'race stress: CPUs write while the main thread and app workers churn the map; invariants checked; faults injectable',
    usage: 'perfemu stress [--cpus N] [--apps N] [--duration S | --ops N] [--seed N] [--kernel V] [--strict] [--max-entries N] [--window-us N] [--inject NAME | --inject all [--seeds N]] [--report FILE] [--json]',
    options: {
      cpus: { type: 'string', default: '4' },
      apps: { type: 'string', default: '2' },
      duration: { type: 'string' },
      ops: { type: 'string' },
      seed: { type: 'string' },
      kernel: { type: 'string', default: '6.18' },
      strict: { type: 'boolean', default: false },
      'max-entries': { type: 'string', default: '4' },
      inject: { type: 'string' },
      seeds: { type: 'string', default: '1' },
      'window-us': { type: 'string', default: '20' },
      report: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    optionHelp: [
      ['--cpus N', 'simulated CPUs writing at full speed, one worker each, 1..64 (default 4)'],
      ['--apps N', 'app workers running random user-space actions, 0..16; the main thread is one more (default 2)'],
      ['--duration S', 'seconds to run, 1..3600 (default 5); with --inject all, the most each run may take (default 10)'],
      ['--ops N', 'instead of a duration: actions per actor, then stop (the action sequence is then fixed by the seed; not with --inject all)'],
      ['--seed N', 'PRNG seed, 0..2^31-1 (default: random, printed)'],
      ['--kernel V', `${KERNEL_VERSIONS.join(', ')} (default 6.18)`],
      ['--strict', "perfemu's strict purge (compare-and-exchange): foreign entries purged must stay 0"],
      ['--max-entries N', 'slots of the shared map, 1..1024 (default 4: few slots, many collisions)'],
      ['--inject NAME', `a deliberately broken kernel: ${FAULTS.map((f) => f.name).join(', ')}; or all (each up to 10 s, a table)`],
      ['--seeds N', 'with --inject all only: seeds per fault (--seed, --seed+1, ...), and the correct kernel on the same seeds (default 1)'],
      ['--window-us N', "µs the release purge is preempted between its load and its exchange, 0..10000 (default 20; 0 = the kernel's timing)"],
      ['--report FILE', 'also write a self-contained HTML report (invariants, counters, foreign purges over time, slot timeline); not with --inject all'],
      ['--json', 'print one JSON report (progress goes to stderr on a terminal only)'],
    ],
    run(v, _p, given) {
      if (v.duration !== undefined && v.ops !== undefined) throw new UsageError('--duration and --ops exclude each other: give one');
      const inject = v.inject as string | undefined;
      if (inject !== undefined && inject !== 'all' && !FAULTS.some((f) => f.name === inject)) {
        throw new UsageError(`--inject must be one of ${FAULTS.map((f) => f.name).join(', ')}, or all; got '${inject}'`);
      }
      if (inject === 'all') notApplicable(given, ['ops', 'report'], 'with --inject all (each fault runs until caught, at most --duration; the result is a table)');
      else notApplicable(given, ['seeds'], 'without --inject all (give --seed for one run)');
      const seed = v.seed === undefined ? Math.floor(Math.random() * 0x7fffffff) : intOpt('seed', v.seed, 0, 0x7fffffff);
      return stressCommand({
        cpus: intOpt('cpus', v.cpus, 1, 64),
        apps: intOpt('apps', v.apps, 0, 16),
        ...(v.ops !== undefined ? { ops: intOpt('ops', v.ops, 1, 100_000_000) }
          : { durationMs: intOpt('duration', v.duration ?? (inject === 'all' ? '10' : '5'), 1, 3600) * 1000 }),
        seed,
        kernel: kernelOpt(v.kernel),
        strict: v.strict as boolean,
        maxEntries: intOpt('max-entries', v['max-entries'], 1, 1024),
        ...(inject ? { inject } : {}),
        seeds: intOpt('seeds', v.seeds, 1, 100),
        windowUs: intOpt('window-us', v['window-us'], 0, 10_000),
        json: v.json as boolean,
        ...(v.report !== undefined ? { report: reportOpt(v.report) } : {}),
      });
    },
  },
  explore: {
    summary: 'deterministic interleaving explorer: search schedules of a small scenario, shrink what it finds, write a replay file',
    usage: 'perfemu explore [--scenario NAME] [--scheduler random|pct|exhaustive] [--seed N] [--bound N] [--budget N|Ns] [--kernel V] [--strict] [--inject NAME] [--out FILE] [--all] [--report FILE] [--json]',
    options: {
      scenario: { type: 'string' },
      scheduler: { type: 'string', default: 'exhaustive' },
      seed: { type: 'string', default: '1' },
      bound: { type: 'string', default: '2' },
      budget: { type: 'string', default: '20s' },
      kernel: { type: 'string', default: '6.18' },
      strict: { type: 'boolean', default: false },
      inject: { type: 'string' },
      out: { type: 'string' },
      all: { type: 'boolean', default: false },
      report: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    optionHelp: [
      ['--scenario NAME', `${SCENARIOS.map((s) => s.name).join(', ')} (default: purge-window, or the one built for --inject)`],
      ['--scheduler S', 'random (seeded random walk), pct (priorities with change points), exhaustive (every schedule within --bound preemptions; default)'],
      ['--seed N', 'random and pct: seed, 0..2^31-1 (default 1)'],
      ['--bound N', 'exhaustive: preemption bound; pct: depth; 0..10 (default 2)'],
      ['--budget N|Ns', 'stop after N schedules, or N seconds with an s (default 20s)'],
      ['--kernel V', `${KERNEL_VERSIONS.join(', ')} (default 6.18)`],
      ['--strict', "perfemu's strict purge"],
      ['--inject NAME', `a broken kernel: ${FAULTS.map((f) => f.name).join(', ')}`],
      ['--out FILE', 'where to write the replay file (default ./perfemu-<scenario>-<finding>.replay.json; never overwritten)'],
      ['--all', 'print every shared-memory access of the trace'],
      ['--report FILE', 'also write a self-contained HTML report (the interleaving as swim lanes)'],
      ['--json', 'print one JSON document'],
    ],
    run(v, _p, given) {
      const sch = v.scheduler as string;
      if (!['random', 'pct', 'exhaustive'].includes(sch)) throw new UsageError(`--scheduler must be random, pct or exhaustive; got '${sch}'`);
      if (sch === 'exhaustive') notApplicable(given, ['seed'], 'to the exhaustive scheduler (it tries every schedule; --seed is for random and pct)');
      if (sch === 'random') notApplicable(given, ['bound'], 'to the random scheduler (--bound is for exhaustive and pct)');
      if (v.json) notApplicable(given, ['all'], 'with --json (the JSON trace has every access)');
      const inject = v.inject as string | undefined;
      if (inject !== undefined && !FAULTS.some((f) => f.name === inject)) throw new UsageError(`--inject must be one of ${FAULTS.map((f) => f.name).join(', ')}; got '${inject}'`);
      const budget = String(v.budget);
      const m = /^(\d+)(s?)$/.exec(budget);
      if (!m || Number(m[1]) < 1) throw new UsageError(`--budget must be a number of schedules (1000) or of seconds (20s); got '${budget}'`);
      return exploreCommand({
        scenario: (v.scenario as string | undefined) ?? (inject ? SCENARIO_FOR_FAULT[inject] ?? 'purge-window' : 'purge-window'),
        scheduler: sch as 'random' | 'pct' | 'exhaustive',
        seed: intOpt('seed', v.seed, 0, 0x7fffffff),
        bound: intOpt('bound', v.bound, 0, 10),
        maxSchedules: m[2] ? Number.MAX_SAFE_INTEGER : Number(m[1]),
        maxMs: m[2] ? Number(m[1]) * 1000 : 3_600_000,
        kernel: kernelOpt(v.kernel),
        strict: v.strict as boolean,
        ...(inject ? { inject } : {}),
        ...(v.out !== undefined ? { out: writableOpt('out', v.out as string) } : {}),
        json: v.json as boolean,
        all: v.all as boolean,
        ...(v.report !== undefined ? { report: reportOpt(v.report) } : {}),
      });
    },
  },
  replay: {
    summary: 're-execute a replay file written by explore, step for step, to the same finding',
    usage: 'perfemu replay FILE [--all] [--report FILE] [--json]',
    options: { all: { type: 'boolean', default: false }, report: { type: 'string' }, json: { type: 'boolean', default: false } },
    optionHelp: [['FILE', 'a replay file from perfemu explore'], ['--all', 'print every shared-memory access'],
      ['--report FILE', 'also write a self-contained HTML report (the interleaving as swim lanes)'], ['--json', 'print one JSON document']],
    positionals: 1,
    run(v, positionals, given) {
      if (positionals.length !== 1) throw new UsageError('replay takes one FILE (a replay file written by perfemu explore)');
      if (v.json) notApplicable(given, ['all'], 'with --json (the JSON trace has every access)');
      return replayCommand(positionals[0]!, { json: v.json as boolean, all: v.all as boolean, ...(v.report !== undefined ? { report: reportOpt(v.report) } : {}) });
    },
  },
  story: {
    summary: "the commit's pinned-map story (app pins a map, fills it, exits) on every kernel version",
    usage: 'perfemu story [--cpus N] [--json]',
    options: { cpus: { type: 'string', default: '4' }, json: { type: 'boolean', default: false } },
    optionHelp: [['--cpus N', 'simulated CPUs, 1..64 (default 4)'], ['--json', 'print one JSON document instead of the table']],
    run(v) {
      const cpus = intOpt('cpus', v.cpus, 1, 64);
      const rows = storyRows(cpus);
      if (v.json) console.log(JSON.stringify({ command: 'story', cpus, results: rows }, null, 2));
      else {
        console.log(`An app creates a perf event array, pins it at /sys/fs/bpf/events, puts one BPF output`);
        console.log(`event per CPU in it through its own fd, and exits; a tracer's program still uses the map.\n`);
        console.log(formatStory(rows));
        console.log(`\n4.7 keeps the exited app's events alive through the pinned map (the leak fixed by`);
        console.log(`3b1efb196eee); 4.8+ purges the entries the app's map file added when it is released.`);
      }
      return rows.some((r) => r.violations > 0) ? 1 : 0;
    },
  },
  explain: {
    summary: "the perf event array's ops table on each kernel version (the fix, read as a table)",
    usage: 'perfemu explain [--json]',
    options: { json: { type: 'boolean', default: false } },
    optionHelp: [['--json', 'print JSON']],
    run(v) {
      const tables = [perf_event_array_map_ops_v47, perf_event_array_map_ops_v48, perf_event_array_map_ops, perf_event_array_map_ops_strict];
      const members = ['map_release', 'map_free', 'map_fd_get_ptr', 'map_fd_put_ptr', 'map_update_elem', 'map_delete_elem', 'map_lookup_elem', 'map_get_next_key'] as const;
      const rows = members.map((m) => [m, ...tables.map((t) => (t[m] as { name?: string } | undefined)?.name ?? '-')]);
      if (v.json) console.log(JSON.stringify({ command: 'explain', tables: tables.map((t) => ({ name: t.name, ops: Object.fromEntries(members.map((m) => [m, (t[m] as { name?: string } | undefined)?.name ?? null])) })) }, null, 2));
      else console.log(table([['member', '4.7', '4.8', '5.10 / 6.18', 'strict (perfemu)'], ...rows]));
      return 0;
    },
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function helpText(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return [
    'perfemu — an emulator of the Linux BPF perf event array (BPF_MAP_TYPE_PERF_EVENT_ARRAY)',
    '',
    'Usage: perfemu <command> [options]',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n]!.summary}`),
    '',
    'Options:',
    '  --help     this text; `perfemu <command> --help` for a command',
    '  --version  the perfemu version',
    '',
    'Exit codes: 0 ok; 1 a violation or a failed check was found; 2 bad usage or a bad input file;',
    '3 a replay file did not reproduce its finding.',
    '',
    'Kernel versions: 4.7 (before the fix), 4.8 (commit 3b1efb196eee), 5.10 (BPF_F_PRESERVE_ELEMS), 6.18 (default).',
    "The library: import { Kernel } from 'perfemu' (see README.md, docs/api.md; what is modelled: docs/semantics.md).",
  ].join('\n');
}

function commandHelp(name: string, c: Command): string {
  const w = Math.max(...c.optionHelp.map(([o]) => o.length), 6);
  return [
    `perfemu ${name} — ${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    '',
    'Options:',
    ...c.optionHelp.map(([o, d]) => `  ${o.padEnd(w)}  ${d}`),
    `  ${'--help'.padEnd(w)}  this text`,
    '',
    'Exit codes: 0 ok; 1 a violation or a failed check was found; 2 bad usage or a bad input file; 3 not reproduced (replay).',
  ].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      console.log(helpText());
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-v') {
      console.log(version());
      return 0;
    }
    const cmd = COMMANDS[name];
    if (!cmd) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(commandHelp(name, cmd));
      return 0;
    }
    let parsed;
    try {
      parsed = parseArgs({
        args: joinNegativeValues(rest, cmd.options), options: cmd.options, allowPositionals: (cmd.positionals ?? 0) > 0,
        strict: true, allowNegative: true, tokens: true,
      });
    } catch (err) {
      throw new UsageError(`${(err as Error).message.split('\n')[0]} (see 'perfemu ${name} --help')`);
    }
    const given = new Set(parsed.tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
    return await cmd.run(parsed.values, parsed.positionals, given);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`perfemu: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

// `node dist/src/cli/main.js <command>` (npm start) as well as the bin entry
if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await run(process.argv.slice(2));
}
