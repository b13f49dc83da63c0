/**
 * The ring faults' windows, forced. reader-early-tail and producer-early-head break the ring
 * protocol only if the other side acts inside a window of a few instructions; left to the OS
 * scheduler, a loaded machine rarely lets it (a run could end with the fault unseen). So the
 * broken step waits, bounded, for the other side to act in the window, as a badly timed
 * preemption would: detection then depends on the other side running at all within the bound,
 * not on it running at the right microsecond.
 *
 * Only real threads are waited for: the explorer's arena (ScheduledArena, which has an
 * `observer`) runs every actor in this thread, where its scheduler opens the window instead.
 *
 * A test that runs both sides in one thread sets the `faultWindow` hook: each pass of the wait
 * then calls it instead of sleeping, so the hook can be the other side (a producer writing over
 * the records, a reader consuming past the unwritten one) and show the fault's effect at once;
 * it returns true to end the wait, as the bound would, when the other side has done all it will
 * (so such a test never sleeps through the bound).
 */
import { E_ONCPU, RB_DATA_HEAD, RB_DATA_TAIL, RB_EVENT, RC_CTR } from '../arena/layout.js';
import { eventWord, rcuReaderWord, ringWord } from '../arena/records.js';
import type { Kctx } from './context.js';

/** how long a broken step waits for the other side, at most (ms) */
export const FAULT_WINDOW_MS = 300;
/** reader-early-tail gives up sooner on a ring whose producer has written nothing for this long (ms) */
export const FAULT_IDLE_MS = 50;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function threaded(k: Kctx): boolean {
  return !('observer' in k.a);
}

/** one pass of a window's wait: sleep 1 ms, or let the test's hook act as the other side;
 *  false when the hook ended the wait */
function pass(k: Kctx, fault: 'reader-early-tail' | 'producer-early-head', rb: number): boolean {
  const hook = k.hooks.faultWindow;
  if (hook) return hook({ fault, rb }) !== true;
  Atomics.wait(sleeper, 0, 0, 1);
  return true;
}

/**
 * reader-early-tail: data_tail was published before the records in [tail, head) were read;
 * wait until the producer has written over the first of them (data_head passed tail + size).
 */
export function fault_reader_window(k: Kctx, rb: number, tail: number, head: number, dsize: number): void {
  if (tail === head || !threaded(k)) return;
  const deadline = Date.now() + FAULT_WINDOW_MS;
  // a ring no CPU is writing into (its event in no slot, say) will not be overwritten: give up on
  // it once its producer has been idle a while, so that the next window comes sooner
  let seen = head;
  let idleSince = Date.now();
  for (;;) {
    const now = k.a.load(ringWord(rb, RB_DATA_HEAD));
    if ((now - tail) >>> 0 >= dsize + 8) return;
    const t = Date.now();
    if (now !== seen) {
      seen = now;
      idleSince = t;
    } else if (t - idleSince >= FAULT_IDLE_MS) return;
    if (t >= deadline || !pass(k, 'reader-early-tail', rb)) return;
  }
}

/**
 * The producer's windows in one read-side section share one bound (FAULT_WINDOW_MS). The CPU
 * loop holds a section over up to 64 outputs (program.ts), and with this fault every output
 * opens a window: 64 windows of 300 ms held the section, and any grace period with it, for up
 * to 19 s, past synchronize_rcu's 10 s stall bound, and 4.7 and 4.8's map free waits in one
 * (`perfemu stress --inject producer-early-head --kernel 4.7` stopped with an RCU stall in 2 to 4
 * runs of 20). A CPU preempted in its section holds up grace periods in the kernel too, but not
 * for seconds. The section is told apart by the CPU's RC_CTR, which moves at each section's
 * entry and exit; the record is Kctx.faultSection (this thread's: one thread drives a CPU at a time).
 *
 * producer-early-head: data_head was published before the record at `offset` was written;
 * wait until a reader has consumed past it (data_tail beyond offset), so it read the stale bytes.
 */
export function fault_producer_window(k: Kctx, rb: number, offset: number): void {
  if (!threaded(k)) return;
  const a = k.a;
  const cpu = a.load(eventWord(a.L, a.i32[ringWord(rb, RB_EVENT)]!, E_ONCPU)); // the CPU writing
  const ctr = cpu >= 0 ? a.load(rcuReaderWord(a.L, cpu, RC_CTR)) : 0;
  const section = k.faultSection;
  if (cpu !== section.cpu || ctr !== section.ctr) {
    section.cpu = cpu;
    section.ctr = ctr;
    section.spentMs = 0;
  }
  const start = Date.now();
  const deadline = start + Math.max(0, FAULT_WINDOW_MS - section.spentMs);
  while (((a.load(ringWord(rb, RB_DATA_TAIL)) - offset) | 0) <= 0 && Date.now() < deadline) if (!pass(k, 'producer-early-head', rb)) break;
  section.spentMs += Date.now() - start;
}
