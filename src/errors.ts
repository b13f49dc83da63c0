/**
 * Error factories of the library boundary (piscina's errors.ts role). Kernel code returns
 * 0 or -errno; the facade turns a negative errno into a SystemCallError with Node's
 * system-error shape: `code` ('E2BIG'), negative `errno` (-7), `syscall` ('bpf').
 * Argument validation errors follow Node's ERR_* codes and name the option and the rule.
 */
import { ERR, PerfemuError, type PerfemuErrorCode } from './arena/perfemu_error.js';
import { ERRNO_NAMES, errnoName } from './kernel/errno.js';

export { ERR, PerfemuError, type PerfemuErrorCode };

/** A failed system call, in Node's system-error shape: `code` 'E2BIG', `errno` -7, `syscall` 'bpf'. */
export class SystemCallError extends PerfemuError {
  readonly errno: number;
  readonly syscall: string;
  /** the command or detail: 'BPF_MAP_UPDATE_ELEM', a path, ... */
  readonly info: string;
  constructor(syscall: string, errno: number, info: string, detail?: string) {
    const name = errnoName(errno);
    const text = ERRNO_NAMES[Math.abs(errno)]?.[1] ?? 'Unknown error';
    super(name, `${syscall}(${info}) failed: ${name} (${text})${detail ? `: ${detail}` : ''}`);
    this.name = 'SystemCallError';
    this.errno = -Math.abs(errno);
    this.syscall = syscall;
    this.info = info;
  }
}

/** returns `ret` when it is >= 0, else throws the SystemCallError it encodes */
export function check(ret: number, syscall: string, info: string, detail?: string): number {
  if (ret < 0) throw new SystemCallError(syscall, ret, info, detail);
  return ret;
}

/**
 * true when `err` is a failed system call, and (if `code` is given) one that failed with it:
 * `isSystemCallError(err, 'ENOENT')`.
 */
export function isSystemCallError(err: unknown, code?: string): err is SystemCallError {
  return err instanceof SystemCallError && (code === undefined || err.code === code);
}

/** A ring whose records do not parse: something wrote over them (a broken kernel, a fault). */
export class CorruptRingError extends PerfemuError {
  /** the byte counter where the walk found the bad record */
  readonly position: number;
  constructor(message: string, position: number) {
    super(ERR.CORRUPT_RING, message);
    this.name = 'CorruptRingError';
    this.position = position;
  }
}

export function invalidArgType(name: string, expected: string, got: unknown): TypeError & { code: string } {
  const e = new TypeError(`The "${name}" option must be ${expected}. Received ${describe(got)}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

export function outOfRange(name: string, rule: string, got: unknown): RangeError & { code: string } {
  const e = new RangeError(`The value of "${name}" is out of range. It must be ${rule}. Received ${describe(got)}`) as RangeError & { code: string };
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

export function invalidArgValue(name: string, rule: string, got: unknown): TypeError & { code: string } {
  const e = new TypeError(`The "${name}" option ${rule}. Received ${describe(got)}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

/** ERR_INVALID_ARG_VALUE for an environment variable perfemu reads (Node's shape, named as a variable) */
export function invalidEnvValue(name: string, rule: string, got: string): TypeError & { code: string } {
  const e = new TypeError(`The environment variable ${name} ${rule}. Received ${describe(got)}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || v === undefined || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? `an array of length ${v.length}` : `an instance of ${v.constructor?.name ?? 'Object'}`;
}

// ---- validators used by the facades ----

export function validateInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw invalidArgType(name, 'an integer', v);
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(name, `an integer >= ${min} and <= ${max}`, v);
  return v;
}

export function validateU32(name: string, v: unknown): number {
  return validateInt(name, v, 0, 0xffffffff);
}

/** the keys of an options type, listed once; the type checker makes the list complete and exact */
export function optionKeys<T>(keys: Record<keyof T, true>): readonly string[] {
  return Object.keys(keys);
}

/** edit distance, for naming the option a typo meant */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** the valid key nearest to `key` (a typo's intent) */
export function nearestKey(key: string, valid: readonly string[]): string {
  let best = valid[0]!;
  for (const v of valid) if (distance(key.toLowerCase(), v.toLowerCase()) < distance(key.toLowerCase(), best.toLowerCase())) best = v;
  return best;
}

/**
 * An options object with a key we do not know is a typo, not an option to ignore:
 * ERR_INVALID_ARG_VALUE naming the key and the nearest valid one.
 */
export function checkKeys(name: string, obj: object, valid: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (valid.includes(key)) continue;
    const e = new TypeError(
      `The "${name}" object has an unknown key '${key}'; did you mean '${nearestKey(key, valid)}'? ` + `(valid keys: ${valid.join(', ')})`,
    ) as TypeError & { code: string };
    e.code = 'ERR_INVALID_ARG_VALUE';
    throw e;
  }
}
