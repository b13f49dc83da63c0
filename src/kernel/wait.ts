/**
 * include/linux/wait.h, as far as the ring's and epoll's wait queues need it: a word a thread
 * sleeps on (Atomics.wait) and a count of the threads sleeping there. The waker reads the count
 * after its write to the word and calls Atomics.notify only when someone sleeps, as the kernel's
 * wake_up skips an empty queue (wq_has_sleeper). The point is the cost: Atomics.notify takes a
 * process-wide lock in V8 (about 50 ns alone, several times that when threads contend), and with
 * wakeup_events = 1 (libbpf's default) every output wakes.
 *
 * Why no wakeup is lost: the sleeper adds itself to the count before Atomics.wait compares the
 * word; the waker writes the word before it reads the count. All four are sequentially
 * consistent, so either the waker sees the sleeper counted (and notifies it), or the sleeper's
 * compare comes after the waker's write and Atomics.wait returns at once.
 *
 * The count is touched with raw Atomics, not through the arena's methods: they are not
 * scheduling points for the explorer (which never sleeps), so its schedules stay the same.
 */
import { type Arena, TSO } from '../arena/arena.js';

/** sleeps on `word` while it holds `expected`, for at most `timeoutMs`, counted in `sleepers` */
export function wait_on_word(a: Arena, word: number, expected: number, sleepers: number, timeoutMs: number): void {
  Atomics.add(a.i32, sleepers, 1);
  try {
    Atomics.wait(a.i32, word, expected, timeoutMs);
  } finally {
    Atomics.sub(a.i32, sleepers, 1);
  }
}

/**
 * Wakes the threads sleeping on `word`, if the count `sleepers` says there are any; call after a
 * sequentially consistent write of `word`. On x86-64 (TSO) that write is a locked instruction,
 * which no later load passes, so the count is a plain load there (an Atomics load costs about 20
 * ns); elsewhere an Atomics load.
 */
export function wake_up_word(a: Arena, word: number, sleepers: number): void {
  if ((TSO ? a.i32[sleepers] : Atomics.load(a.i32, sleepers)) !== 0) Atomics.notify(a.i32, word);
}
