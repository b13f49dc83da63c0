/**
 * What a CLI command is: its summary, usage line, parseArgs options and help rows, and the
 * function that runs it. Each command may live in its own file and be registered in main.ts.
 */
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
  run(values: Record<string, unknown>, positionals: string[]): Promise<number> | number;
}

export function intOpt(name: string, v: unknown, min: number, max: number): number {
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}; got '${String(v)}'`);
  }
  return n;
}

export function reportOpt(v: unknown): string {
  if (typeof v !== 'string' || !v.endsWith('.html')) throw new UsageError(`--report must name an .html file; got '${String(v)}'`);
  return v;
}

export function kernelOpt(v: unknown): KernelVersion {
  if (!KERNEL_VERSIONS.includes(v as KernelVersion)) {
    throw new UsageError(`--kernel must be one of ${KERNEL_VERSIONS.join(', ')}; got '${String(v)}'`);
  }
  return v as KernelVersion;
}
