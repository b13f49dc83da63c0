/**
 * What a CLI command is: its summary, usage line, parseArgs options and help rows, and the
 * function that runs it. Each command may live in its own file and be registered in main.ts.
 */
import { closeSync, existsSync, openSync, unlinkSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { KERNEL_VERSIONS, type KernelVersion } from '../index.js';
import { UsageError } from './usage.js';

export interface Command {
  summary: string;
  usage: string;
  /** how many positional arguments it takes (default 0) */
  positionals?: number;
  options: NonNullable<ParseArgsConfig['options']>;
  optionHelp: [string, string][];
  /** `given`: the options the user wrote on the command line (not filled in from defaults) */
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
    throw new UsageError(`--${name} ${path} cannot be written: ${e.code ?? ''} ${e.message.replace(/^[A-Z]+: /, '').split(',')[0]}`.replace(/\s+/g, ' ').trim());
  }
  if (!existed) unlinkSync(path);
  return path;
}

/** throws if one of `names` was given: it does not apply `why` (e.g. 'with --inject all') */
export function notApplicable(given: ReadonlySet<string> | undefined, names: string[], why: string): void {
  for (const n of names) if (given?.has(n)) throw new UsageError(`--${n} does not apply ${why}`);
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
