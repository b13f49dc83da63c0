/**
 * perfemu's own error codes and their base class, in one place. The kernel and the arena use them
 * too, so they live beside the layout (the kernel imports only src/arena/); src/errors.ts
 * re-exports them with the library's factories.
 *
 * System-call failures are SystemCallError (Node's system-error shape, `code` 'E2BIG'); bad
 * arguments are Node's ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE; every
 * other failure of perfemu itself is a PerfemuError with one of the codes below.
 */
export const ERR = {
  /** a wait ran out of time (CPUs or apps not ready, not exited) */
  TIMEOUT: 'ERR_PERFEMU_TIMEOUT',
  /** a map type or operation the kernel has and perfemu does not model */
  UNSUPPORTED: 'ERR_PERFEMU_UNSUPPORTED',
  /** a grace period did not end within its bound (a CPU stuck in a read-side section) */
  RCU_STALL: 'ERR_PERFEMU_RCU_STALL',
  /** synchronize_rcu / rcu_barrier from inside a read-side section */
  RCU_DEADLOCK: 'ERR_PERFEMU_RCU_DEADLOCK',
  /** the arena lock was held for over 10 s (a thread died holding it?) */
  DEADLOCK: 'ERR_PERFEMU_DEADLOCK',
  /** a SharedArrayBuffer that is not a perfemu arena of this build's layout */
  BAD_ARENA: 'ERR_PERFEMU_BAD_ARENA',
  /** a bug in perfemu itself */
  INTERNAL: 'ERR_PERFEMU_INTERNAL',
  /** a ring read through a process that has not mapped it */
  NOT_MAPPED: 'ERR_PERFEMU_NOT_MAPPED',
  /** readRing/consumeRing of a ring mapped without PROT_WRITE (data_tail cannot be written) */
  READ_ONLY_MAPPING: 'ERR_PERFEMU_READ_ONLY_MAPPING',
  /** an overwrite read of a ring that is not overwritable */
  NOT_OVERWRITE: 'ERR_PERFEMU_NOT_OVERWRITE',
  /** a ring whose records do not parse (something wrote over them) */
  CORRUPT_RING: 'ERR_PERFEMU_CORRUPT_RING',
  /** a PerfBuffer used after close() */
  CLOSED: 'ERR_PERFEMU_CLOSED',
  /** a program run on, or a CPU pool started on, an offline CPU */
  CPU_OFFLINE: 'ERR_PERFEMU_CPU_OFFLINE',
  /** a CPU pool started on a CPU that a live pool of the same kernel runs (one thread drives a CPU at a time) */
  CPU_BUSY: 'ERR_PERFEMU_CPU_BUSY',
  /** a simulated CPU's program threw or its worker died (CpuCrashError) */
  CPU_CRASHED: 'ERR_PERFEMU_CPU_CRASHED',
  /** a consumer app's worker threw or died (AppCrashError) */
  APP_CRASHED: 'ERR_PERFEMU_APP_CRASHED',
  /** a prog fd number that names different programs in several processes */
  AMBIGUOUS_PROG: 'ERR_PERFEMU_AMBIGUOUS_PROG',
  /** a lab point failed in its worker */
  LAB_POINT: 'ERR_PERFEMU_LAB_POINT',
  /** perfemu conform cannot run on this host (the reason is the message) */
  CONFORM_UNAVAILABLE: 'ERR_PERFEMU_CONFORM_UNAVAILABLE',
  /** a command line perfemu's CLI does not accept (exit 2) */
  USAGE: 'ERR_PERFEMU_USAGE',
} as const;
export type PerfemuErrorCode = (typeof ERR)[keyof typeof ERR];

/** The base class of every error perfemu throws of its own (SystemCallError included). */
export class PerfemuError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'PerfemuError';
    this.code = code;
  }
}
