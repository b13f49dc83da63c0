/**
 * The stress engine's control block: a SharedArrayBuffer of its own (not the kernel arena),
 * through which the main thread stops and pauses the actor workers and collects, at each
 * pause, what their processes hold. Layout (Int32 words):
 *
 *   CTL_STOP          main -> actors: 1 = finish (exit every process) and return
 *   CTL_PAUSE         main -> actors: an epoch number while a pause is asked, 0 otherwise
 *   CTL_ACKS          actors -> main: how many actors have published and are parked
 *   CTL_OPS + i       actor i: actions done (Atomics.store; read for progress)
 *   holders(i)        actor i: maxFiles words, fds + ring mappings per file index, written
 *                     by actor i while it is parked in a pause (read by main's audit)
 */
export const CTL_STOP = 0;
export const CTL_PAUSE = 1;
export const CTL_ACKS = 2;
export const CTL_OPS = 8; // + actor id
export const CTL_MAX_ACTORS = 32;
const CTL_HOLDERS = CTL_OPS + CTL_MAX_ACTORS;

export function controlBytes(actors: number, maxFiles: number): number {
  return (CTL_HOLDERS + actors * maxFiles) * 4;
}

export function holdersOf(ctl: Int32Array, actor: number, maxFiles: number): Int32Array {
  return ctl.subarray(CTL_HOLDERS + actor * maxFiles, CTL_HOLDERS + (actor + 1) * maxFiles);
}
