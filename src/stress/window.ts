/**
 * Race-window amplification: a preemption of `us` microseconds between the release purge's
 * load of a slot and its exchange (perf_event_fd_array_release's load-then-xchg), installed through the purgeLoaded hook in every
 * thread that releases map files. The kernel's window is a few instructions wide; widening it
 * lets a short run reach it. 0 runs the purge as the kernel does.
 */
import type { KernelHooks } from '../kernel/context.js';

export function windowHook(us: number): Pick<KernelHooks, 'purgeLoaded'> {
  if (us <= 0) return {};
  const word = new Int32Array(new SharedArrayBuffer(4));
  return { purgeLoaded: () => void Atomics.wait(word, 0, 0, us / 1000) };
}
