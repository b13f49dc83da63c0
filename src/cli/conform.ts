/**
 * `perfemu conform`: the catalogue on the host kernel (real syscalls through koffi) and on
 * perfemu, compared row by row; `--detect`: which modelled version the host matches best.
 */
import { ERR } from '../arena/perfemu_error.js';
import { styleText } from 'node:util';
import { KERNEL_VERSIONS } from '../kernel/behaviour.js';
import { PerfemuError } from '../errors.js';
import { table } from '../format.js';
import { conform, detect, nearestVersion, select, type ConformResult, type ConformRow, type DetectResult } from '../conform/conform.js';
import { kernelOpt, type Command } from './command.js';
import { UsageError } from './usage.js';

/** the observations of a row in a few words: the distinct short values, in order */
function summary(notes: [string, string][]): string {
  const seen: string[] = [];
  for (const [, v] of notes) {
    const s = v.includes('\n') || v.length > 12 ? (v.startsWith('sample') || v.startsWith('lost') ? 'records' : null) : v;
    if (s !== null && !seen.includes(s)) seen.push(s);
  }
  const text = seen.join(' ');
  return text.length > 34 ? `${text.slice(0, 33)}…` : text;
}

const short = (v: string): string => {
  const line = v.split('\n')[0]!;
  return line.length > 34 ? `${line.slice(0, 33)}…` : line;
};

export function formatConform(r: ConformResult): string {
  const rows = r.rows.map((x: ConformRow) => {
    if (x.status === 'skipped') return [x.scenario, '-', '-', `skipped: ${x.reason}`];
    if (x.status === 'differ') return [x.scenario, short(x.difference!.host), short(x.difference!.perfemu), styleText('red', 'NO')];
    return [x.scenario, summary(x.host), 'same', 'yes'];
  });
  const lines = [
    `perfemu conform — host Linux ${r.host.release} (${r.host.cpus} CPUs) against perfemu ${r.kernel}; bpffs ${r.host.bpffs ?? 'none (pin scenarios skipped)'}`,
    '',
    table([['scenario', 'host', 'perfemu', 'agree'], ...rows]),
  ];
  // one block per kind of difference (the same host and perfemu values), shown by the
  // scenario that reaches it in the fewest steps; the others that show it are named
  const groups = new Map<string, ConformRow[]>();
  for (const x of r.rows.filter((y) => y.status === 'differ')) {
    const key = `${x.difference!.host}\u0000${x.difference!.perfemu}`;
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  for (const rows of groups.values()) {
    const x = rows.reduce((a, b) => (b.difference!.step < a.difference!.step ? b : a));
    const d = x.difference!;
    lines.push('', `difference in '${x.scenario}' at step ${d.step + 1}, ${d.label}:`);
    lines.push(`  host:    ${d.host.split('\n').join('\n           ')}`);
    lines.push(`  perfemu: ${d.perfemu.split('\n').join('\n           ')}`);
    lines.push('  the scenario up to there (both sides agreed on these):');
    for (const [l, v] of x.host.slice(0, d.step)) lines.push(`    ${l} => ${short(v)}`);
    const others = rows.filter((y) => y !== x).map((y) => `'${y.scenario}'`);
    if (others.length) lines.push(`  the same difference shows in ${others.join(', ')}`);
  }
  lines.push('');
  const leak = r.leaked.fds !== 0 || r.leaked.maps.length > 0;
  if (leak) lines.push(styleText('red', `left behind on the host: ${r.leaked.fds} bpf/perf fds, maps ${r.leaked.maps.join(', ') || 'none'}`));
  const verdict = `${r.scenarios} scenarios: ${r.agree} agree, ${r.differ} differ, ${r.skipped} skipped; host resources released: ${leak ? 'NO' : 'yes'}`;
  lines.push(r.differ === 0 && !leak ? styleText('green', verdict) : styleText('red', verdict));
  return lines.join('\n');
}

export function formatDetect(d: DetectResult): string {
  return [
    `perfemu conform --detect — host Linux ${d.host.release} (${d.host.cpus} CPUs)`,
    '',
    table([
      ['kernel', 'agree', 'differ', 'differing scenarios'],
      ...d.versions.map((v) => [
        v.kernel,
        String(v.agree),
        String(v.differ),
        v.differing.length === 0
          ? '-'
          : `${v.differing.slice(0, 2).join('; ')}${v.differing.length > 2 ? `; and ${v.differing.length - 2} more (--json lists them)` : ''}`,
      ]),
    ]),
    '',
    `best match: ${d.best}`,
  ].join('\n');
}

export const conformCommand: Command = {
  summary: 'run the conformance catalogue on the host kernel (real bpf(2) via koffi) and on perfemu, and compare what user space sees',
  usage: 'perfemu conform [--kernel V] [--bpffs DIR] [--only REGEX] [--detect] [--json]',
  options: {
    kernel: { type: 'string' },
    bpffs: { type: 'string' },
    only: { type: 'string' },
    detect: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  optionHelp: [
    ['--kernel V', `perfemu's version: ${KERNEL_VERSIONS.join(', ')} (default: the one nearest uname -r, here ${nearestVersion()})`],
    ['--bpffs DIR', 'a bpf filesystem for the pin scenarios (default /sys/fs/bpf when it is one; else they are skipped)'],
    ['--only REGEX', 'only the scenarios whose name matches'],
    ['--detect', 'run perfemu at every version and name the one the host matches best'],
    ['--json', 'print one JSON document (every observation of both sides)'],
  ],
  async run(v) {
    if (v.detect && v.kernel !== undefined) throw new UsageError('--detect compares every version: it takes no --kernel');
    let only: RegExp | undefined;
    if (v.only !== undefined) {
      try {
        only = new RegExp(v.only as string);
      } catch {
        throw new UsageError(`--only must be a regular expression; got '${String(v.only)}'`);
      }
      // a filter that selects nothing would report "0 agree" and pass
      if (select(only).length === 0)
        throw new UsageError(`--only '${String(v.only)}' matches no scenario name (the names are the first column of perfemu conform's table)`);
    }
    const kernel = v.kernel === undefined ? undefined : kernelOpt(v.kernel);
    const tty = process.stderr.isTTY === true;
    const opts = {
      ...(v.bpffs !== undefined ? { bpffs: v.bpffs as string } : {}),
      ...(only ? { only } : {}),
      ...(tty ? { onScenario: (d: number, t: number, name: string) => process.stderr.write(`\r\x1b[K  host ${d}/${t} ${name}`) } : {}),
    };
    try {
      if (v.detect) {
        const d = await detect(opts);
        if (tty) process.stderr.write('\r\x1b[K');
        console.log(v.json ? JSON.stringify({ command: 'conform', detect: d }, null, 2) : formatDetect(d));
        return 0;
      }
      const r = await conform({ ...opts, ...(kernel ? { kernel } : {}) });
      if (tty) process.stderr.write('\r\x1b[K');
      console.log(v.json ? JSON.stringify({ command: 'conform', ...r }, null, 2) : formatConform(r));
      return r.differ > 0 || r.leaked.fds !== 0 || r.leaked.maps.length > 0 ? 1 : 0;
    } catch (err) {
      if (tty) process.stderr.write('\r\x1b[K');
      if (err instanceof PerfemuError && err.code === ERR.CONFORM_UNAVAILABLE) {
        console.error(`perfemu conform: cannot run here: ${err.message}`);
        if (v.json) console.log(JSON.stringify({ command: 'conform', unavailable: err.message }));
        return 2;
      }
      if (err instanceof PerfemuError && err.code === 'ERR_INVALID_ARG_VALUE') throw new UsageError(`--bpffs: ${err.message.replace(/^bpffs: /, '')}`);
      throw err;
    }
  },
};
