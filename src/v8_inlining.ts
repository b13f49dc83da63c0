/**
 * V8's inlining budget, widened for the output path.
 *
 * TurboFan inlines a call only while the optimized function's budget lasts: on Node 20 (V8 11.3)
 * 460 bytes of bytecode for one callee and 920 for all of them together. The output path is a
 * chain of the kernel's functions (bpf_perf_event_output, perf_event_output, perf_output_begin,
 * the record write, perf_output_end), each written as the kernel writes it, and together they
 * are about 2,300 bytes of bytecode. With the default budget V8 cuts the chain into separate
 * calls wherever the budget runs out, and where it runs out depends on the order in which the
 * functions were compiled. With the budget below, the whole chain is one optimized unit.
 *
 * Measured on the reference machine (2 vCPUs, Node 20, throwaway harnesses): a one-thread loop
 * of the helper 69-71 -> 54.5-54.8 ns per output; a CPU worker draining into a bare consumer
 * 9.9-10.1 -> 11.8-11.9 M records/s. A budget of 2000/1000 gained nothing in the worker;
 * 8000/3000 gained no more than this one.
 *
 * The flags are process-wide: V8 has one set of flags for every isolate, the workers' too.
 * They are set once, when the first kernel of the process is created, so that the output path
 * has not been optimized yet; they only change what the optimizing compiler inlines, never what
 * a program computes. Node documents that flags set after start-up may do nothing; these two are
 * read by each optimizing compile when it starts, which is what makes them take effect (the test
 * in test/v8_inlining.test.ts checks it with V8's own inlining trace). `PERFEMU_V8_INLINING=default`
 * leaves V8's budget alone, for a user whose process must keep V8's defaults.
 */
import { setFlagsFromString } from 'node:v8';

/** the budget set: bytes of bytecode for one inlined callee, and for all of one function's */
export const WIDE_INLINING = { maxInlinedBytecodeSize: 1500, maxInlinedBytecodeSizeCumulative: 4000 } as const;

/** 'wide': perfemu set the budget above; 'default': PERFEMU_V8_INLINING=default kept V8's; 'unset': no kernel created yet */
export type InliningState = 'wide' | 'default' | 'unset';

const ENV = 'PERFEMU_V8_INLINING';
let state: InliningState = 'unset';

/**
 * Sets the wide budget unless `PERFEMU_V8_INLINING=default`; once per process (later calls
 * return what the first did). Throws ERR_INVALID_ARG_VALUE for another value of the variable.
 */
export function widenInlining(env: NodeJS.ProcessEnv = process.env): InliningState {
  if (state !== 'unset') return state;
  const v = env[ENV] || undefined; // empty: unset, as a shell's `VAR= cmd` means
  if (v !== undefined && v !== 'wide' && v !== 'default') {
    const e = new TypeError(`The environment variable ${ENV} must be 'wide' or 'default' (or unset). Received '${v}'`) as TypeError & { code: string };
    e.code = 'ERR_INVALID_ARG_VALUE';
    throw e;
  }
  if (v === 'default') return (state = 'default');
  setFlagsFromString(`--max-inlined-bytecode-size=${WIDE_INLINING.maxInlinedBytecodeSize}`);
  setFlagsFromString(`--max-inlined-bytecode-size-cumulative=${WIDE_INLINING.maxInlinedBytecodeSizeCumulative}`);
  return (state = 'wide');
}

/** what widenInlining did in this process */
export function inliningState(): InliningState {
  return state;
}
