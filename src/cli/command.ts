/**
 * What a CLI command is: its summary, usage line, parseArgs options and help rows, and the
 * function that runs it. Each command may live in its own file and be registered in main.ts.
 */
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { KERNEL_VERSIONS, type KernelVersion } from '../index.js';
import { faultByName, fault_run_kernel } from '../kernel/faults.js';
import { UsageError } from './usage.js';

export interface Command {
  summary: string;
  usage: string;
  /** how many positional arguments it takes (default 0) */
  positionals?: number;
  options: NonNullable<ParseArgsConfig['options']>;
  optionHelp: [string, string][];
  /** `given`: the options the user wrote on the command line, as written (`no-compare`), not
   *  those filled in from defaults */
  run(values: Record<string, unknown>, positionals: string[], given: ReadonlySet<string>): Promise<number> | number;
}

export function intOpt(name: string, v: unknown, min: number, max: number): number {
  const n = Number(v);
  if (typeof v !== 'string' || !/^-?\d+$/.test(v) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}; got '${String(v)}'`);
  }
  return n;
}

/** an --report FILE: must name an .html file we can write (checked before the run starts) */
export function reportOpt(v: unknown, name = 'report'): string {
  if (typeof v !== 'string' || !v.endsWith('.html')) throw new UsageError(`--${name} must name an .html file; got '${String(v)}'`);
  return writableOpt(name, v);
}

/**
 * An output path the command writes after its run: checked now by opening it for writing (and
 * removing it again if it did not exist), so a bad path fails in a second, not after the run.
 */
export function writableOpt(name: string, path: string): string {
  const existed = existsSync(path);
  try {
    closeSync(openSync(path, 'a'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(
      `--${name} ${path} cannot be written: ${e.code ?? ''} ${e.message.replace(/^[A-Z]+: /, '').split(',')[0]}`.replace(/\s+/g, ' ').trim(),
    );
  }
  if (!existed) unlinkSync(path);
  return path;
}

/**
 * An output directory (--out DIR): an existing directory we can write into, or a new one whose
 * parent exists (made now, not after the run). Never made recursively: a typo does not grow a
 * tree of directories somewhere, and Node 20's recursive mkdir never returns for a path under
 * /proc.
 */
export function outDirOpt(name: string, path: string): string {
  const fail = (why: string): never => {
    throw new UsageError(`--${name} ${path}: ${why}`);
  };
  if (path === '') throw new UsageError(`--${name} must name a directory; got ''`);
  const code = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'error';
  let st: ReturnType<typeof statSync> | undefined;
  try {
    st = statSync(path);
  } catch (err) {
    if (code(err) !== 'ENOENT') fail(`cannot be read (${code(err)})`);
  }
  if (st !== undefined) {
    if (!st.isDirectory()) fail('is not a directory (it must name one, existing or new)');
    try {
      accessSync(path, constants.W_OK);
    } catch (err) {
      fail(`cannot be written (${code(err)})`);
    }
    return path;
  }
  const parent = dirname(path); // as written: 'missing/..' is not resolved away before it is checked
  let pst: ReturnType<typeof statSync> | undefined;
  try {
    pst = statSync(parent);
  } catch {
    // reported below
  }
  if (!pst?.isDirectory()) fail(`its parent ${parent} is not an existing directory`);
  try {
    mkdirSync(path);
  } catch (err) {
    // another shard of the same campaign may have made it since the check: that is fine
    if (code(err) !== 'EEXIST' || !statSync(path, { throwIfNoEntry: false })?.isDirectory()) fail(`cannot be made (${code(err)})`);
  }
  return path;
}

/**
 * The rules of a run's options that perfemu explore, stress and campaign share (one copy, so the
 * three refuse the same things): on kernel 4.7 there is no release purge to make strict or to
 * preempt; the random scheduler takes no --bound; pct's --bound is a depth, at least 1.
 */
export function runRules(o: { kernel: KernelVersion; scheduler?: string; bound?: number }, given: ReadonlySet<string>): void {
  if (o.kernel === '4.7') notApplicable(given, ['strict', 'window-us'], 'on kernel 4.7 (it has no release purge to make strict or to preempt)');
  if (o.scheduler === 'random') notApplicable(given, ['bound'], 'to the random scheduler (--bound is for exhaustive and pct)');
  if (o.scheduler === 'pct' && o.bound !== undefined && o.bound < 1) throw new UsageError(`--bound is pct's depth: an integer from 1 to 10; got '${o.bound}'`);
}

/** throws if one of `names` was given: it does not apply `why` (e.g. 'with --inject all') */
export function notApplicable(given: ReadonlySet<string> | undefined, names: string[], why: string): void {
  for (const n of names) if (given?.has(n)) throw new UsageError(`--${n} does not apply ${why}`);
}

/**
 * The kernel a run with fault `inject` uses (faults.ts, fault_run_kernel): leak-4.7 is kernel 4.7
 * itself, and a --kernel the user gave that says otherwise is refused; any other fault must exist
 * on the kernel. Headers, reproduce lines and JSON then name the kernel that ran.
 */
export function kernelForFault(inject: string | undefined | null, kernel: KernelVersion, kernelGiven: boolean): KernelVersion {
  const f = inject ? faultByName(inject) : undefined;
  const r = fault_run_kernel(f, kernel, kernelGiven);
  if ('kernel' in r) return r.kernel;
  if (r.problem === 'own') throw new UsageError(`--inject ${inject} is kernel ${r.want[0]} itself; --kernel ${kernel} contradicts it (leave --kernel out)`);
  const ks = r.want;
  throw new UsageError(`--inject ${f!.name} needs --kernel ${ks.slice(0, -1).join(', ')} or ${ks.at(-1)} (${f!.needs?.why}); got --kernel ${kernel}`);
}

export function kernelOpt(v: unknown): KernelVersion {
  if (!KERNEL_VERSIONS.includes(v as KernelVersion)) {
    throw new UsageError(`--kernel must be one of ${KERNEL_VERSIONS.join(', ')}; got '${String(v)}'`);
  }
  return v as KernelVersion;
}

/**
 * parseArgs reads `--cpus -3` as two options; a string option followed by a negative number is
 * rewritten to `--cpus=-3` so its parser can give the range error.
 */
export function joinNegativeValues(args: string[], options: Command['options']): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Option specs: each option declared once, in its command's file; the parseArgs config, the
// help row, the usage line and the range check are all derived from that one declaration.

interface Described {
  /** what the option does (the range and the default are appended) */
  help: string;
  /** appended after the range and default */
  note?: string;
}
export type OptionSpec = Described &
  (
    | { type: 'int'; arg: string; min: number; max: number; default?: number; rangeText?: string; defaultText?: string }
    | { type: 'flag'; default?: boolean }
    | { type: 'kernel'; default: KernelVersion }
    | { type: 'choice'; arg: string; choices: readonly string[]; default?: string; defaultText?: string }
    | { type: 'report' }
    | { type: 'path'; arg: string }
    | { type: 'string'; arg: string; default?: string; defaultText?: string }
  );

/** the value a spec parses to */
export type OptionValue<O> = O extends { type: 'int'; default: number }
  ? number
  : O extends { type: 'int' }
    ? number | undefined
    : O extends { type: 'flag' }
      ? boolean
      : O extends { type: 'kernel' }
        ? KernelVersion
        : O extends { type: 'choice' | 'string'; default: string }
          ? string
          : string | undefined;
export type OptionValues<S> = { [K in keyof S]: OptionValue<S[K]> };

export interface CommandSpec<S extends Record<string, OptionSpec>> {
  name: string;
  summary: string;
  /** positional arguments: name and help (replay's FILE) */
  positionals?: { name: string; help: string }[];
  options: S;
  /** the options parsed and checked; `given`: those written on the command line */
  run(o: OptionValues<S>, positionals: string[], given: ReadonlySet<string>): Promise<number> | number;
}

function optArg(name: string, o: OptionSpec): string {
  if (o.type === 'flag') return o.default === true ? `--no-${name}` : `--${name}`;
  if (o.type === 'kernel') return `--${name} V`;
  if (o.type === 'report') return `--${name} FILE`;
  return `--${name} ${o.arg}`;
}

function optHelp(o: OptionSpec): string {
  const dflt = (d: unknown, text?: string): string => (text !== undefined ? ` (default: ${text})` : d !== undefined ? ` (default ${String(d)})` : '');
  let s: string;
  switch (o.type) {
    case 'int':
      s = `${o.help}, ${o.rangeText ?? `${o.min}..${o.max}`}${dflt(o.default, o.defaultText)}`;
      break;
    case 'kernel':
      s = `${o.help}${o.help ? ': ' : ''}${KERNEL_VERSIONS.join(', ')}${dflt(o.default)}`;
      break;
    case 'choice':
      s = `${o.help}${dflt(o.default, o.defaultText)}`;
      break;
    case 'string':
      s = `${o.help}${dflt(o.default, o.defaultText)}`;
      break;
    default:
      s = o.help;
  }
  return o.note ? `${s}; ${o.note}` : s;
}

/** parses one option's raw value by its spec (the range error names the option) */
function readOpt(name: string, o: OptionSpec, v: unknown): unknown {
  if (v === undefined) return undefined;
  switch (o.type) {
    case 'int':
      return intOpt(name, v, o.min, o.max);
    case 'kernel':
      return kernelOpt(v);
    case 'choice':
      if (!o.choices.includes(String(v))) throw new UsageError(`--${name} must be one of ${o.choices.join(', ')}; got '${String(v)}'`);
      return v;
    case 'report':
      return reportOpt(v, name);
    case 'path':
      return writableOpt(name, String(v));
    default:
      return v;
  }
}

/** a Command from one declaration per option */
export function command<S extends Record<string, OptionSpec>>(spec: CommandSpec<S>): Command {
  const entries = Object.entries(spec.options) as [string, OptionSpec][];
  const options: Command['options'] = {};
  for (const [name, o] of entries) {
    const d = 'default' in o ? o.default : undefined;
    options[name] = o.type === 'flag' ? { type: 'boolean', default: d === true } : { type: 'string', ...(d !== undefined ? { default: String(d) } : {}) };
  }
  const pos = spec.positionals ?? [];
  return {
    summary: spec.summary,
    usage: [`perfemu ${spec.name}`, ...pos.map((p) => p.name), ...entries.map(([n, o]) => `[${optArg(n, o)}]`)].join(' '),
    positionals: pos.length,
    options,
    optionHelp: [...pos.map((p) => [p.name, p.help] as [string, string]), ...entries.map(([n, o]) => [optArg(n, o), optHelp(o)] as [string, string])],
    run(values, positionals, given) {
      if (positionals.length !== pos.length) {
        throw new UsageError(
          `${spec.name} takes ${pos.length ? pos.map((p) => `${p.name} (${p.help})`).join(' ') : 'no arguments'}; got ${positionals.length}`,
        );
      }
      const o: Record<string, unknown> = {};
      for (const [name, s] of entries) o[name] = readOpt(name, s, values[name]);
      return spec.run(o as OptionValues<S>, positionals, given ?? new Set());
    },
  };
}
