/**
 * V8's inlining budget, widened for the output path on request.
 *
 * TurboFan inlines a call only while the optimized function's budget lasts: on Node 20 (V8 11.3)
 * 460 bytes of bytecode for one callee and 920 for all of one function's. The output path is a
 * chain of the kernel's functions (bpf_perf_event_output, perf_event_output, perf_output_begin,
 * the record write, perf_output_end), each written as the kernel writes it, about 2,300 bytes
 * of bytecode together. With the default budget V8 cuts the chain into calls where the budget
 * runs out (which calls depends on the order the functions were compiled in); with the budget
 * below it is one optimized unit.
 *
 * The trade (reference machine, 2 vCPUs, Node 20; throwaway harnesses, alternating runs):
 * - a CPU's steady rate: a one-thread loop of the helper 69-71 -> 54.5-54.8 ns per output, a
 *   CPU worker 9.9-10.1 -> 11.8-11.9 M records/s;
 * - warm-up: every isolate compiles larger units, on the same cores. `perfemu stress` (5 s,
 *   4 CPUs, 2 apps) did 15 % fewer syscalls and a quarter fewer outputs; over 15 s the two
 *   were even. V8's --trace-opt log of such runs: the optimizing compiles took 10.5-10.9 s in
 *   all against 4.7-5.0 s, for about as many of them (the syscall layer's entry points, whose
 *   chains are as deep as the output path's, gained the most).
 * So it is not the default: `PERFEMU_V8_INLINING=wide` (or widenInlining()) asks for it, for
 * long runs whose figure is the output path's rate.
 *
 * The flags are process-wide (V8 has one set of flags for every isolate, the workers' too), are
 * set with v8.setFlagsFromString, and change only what the optimizing compiler inlines, never
 * what code computes. Node documents that flags set after start-up may do nothing; these two are
 * read by each optimizing compile when it starts, which is what makes them take effect (the test
 * in test/v8_inlining.test.ts checks it with V8's own inlining trace). Set them before the
 * output path warms up: Kernel.create reads the variable once its options are valid, the CLI
 * before it runs a command.
 */
import { setFlagsFromString } from 'node:v8';
import { invalidEnvValue } from './errors.js';

/** the budget set: bytes of bytecode for one inlined callee, and for all of one function's */
export const WIDE_INLINING = { maxInlinedBytecodeSize: 1500, maxInlinedBytecodeSizeCumulative: 4000 } as const;

/** 'wide': the budget above is set in this process; 'default': V8's own */
export type InliningState = 'wide' | 'default';

const ENV = 'PERFEMU_V8_INLINING';
let state: InliningState = 'default';

/** PERFEMU_V8_INLINING's value ('wide', 'default' or unset); another value is ERR_INVALID_ARG_VALUE */
function setting(env: NodeJS.ProcessEnv): 'wide' | 'default' | undefined {
  const v = env[ENV] || undefined; // empty: unset, as a shell's `VAR= cmd` means
  if (v !== undefined && v !== 'wide' && v !== 'default') throw invalidEnvValue(ENV, "must be 'wide' or 'default' (or unset)", v);
  return v;
}

function widen(): InliningState {
  if (state === 'wide') return state;
  setFlagsFromString(`--max-inlined-bytecode-size=${WIDE_INLINING.maxInlinedBytecodeSize}`);
  setFlagsFromString(`--max-inlined-bytecode-size-cumulative=${WIDE_INLINING.maxInlinedBytecodeSizeCumulative}`);
  return (state = 'wide');
}

/**
 * What Kernel.create and the CLI call first: widens the budget if PERFEMU_V8_INLINING=wide,
 * leaves V8's otherwise. Returns the state after it.
 */
export function applyInliningSetting(env: NodeJS.ProcessEnv = process.env): InliningState {
  return setting(env) === 'wide' ? widen() : state;
}

/**
 * Widens the budget now, for the rest of the process (a library user's choice, for a long
 * throughput run), unless PERFEMU_V8_INLINING=default says to keep V8's. Returns the state.
 */
export function widenInlining(env: NodeJS.ProcessEnv = process.env): InliningState {
  return setting(env) === 'default' ? state : widen();
}

/**
 * 'wide' once this thread's copy of perfemu has set the budget. The flags are the process's,
 * but this record is the module's: a worker thread that loaded perfemu and created no kernel
 * says 'default' while the process runs wide (CPU workers attach, they create nothing). perfemu
 * cannot read V8's flags back; a budget given on node's own command line is not seen here, and
 * is replaced by the wide one when perfemu sets it.
 */
export function inliningState(): InliningState {
  return state;
}
