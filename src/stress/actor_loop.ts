/**
 * An actor's life in a worker: act until told to stop, parking at every pause (after
 * publishing what its processes hold) so the main thread can audit a still kernel.
 */
import type { SharedMemory } from '../arena/wasm_atomics.js';
import { Kernel } from '../emulator.js';
import { CTL_ACKS, CTL_OPS, CTL_PAUSE, CTL_STOP, holdersOf } from './control.js';
import { Actor, type ActorConfig, type ActorResult } from './actor.js';
import { releaseHooks } from './invariants/release.js';
import { windowHook } from './window.js';

export interface ActorTask {
  sab: SharedArrayBuffer;
  /** kernel.memory, for the worker's fast atomics */
  memory: SharedMemory | null;
  control: SharedArrayBuffer;
  cfg: ActorConfig;
  /** actions to perform at most (then it idles, still answering pauses, until stopped) */
  ops: number;
  /** the purge's preemption between load and exchange, µs (window.ts) */
  windowUs: number;
  /** 4.7: report an exited app's entries left in a map (the leak) */
  leakCheck: boolean;
}

/** the longest an actor stays parked: a main thread gone for this long is dead */
const PARK_LIMIT_MS = 60_000;

export function runActorTask(task: ActorTask): ActorResult {
  const kernel = Kernel.attach(task.sab, task.memory);
  kernel.k.hooks = { ...releaseHooks(kernel.k, task.leakCheck), ...windowHook(task.windowUs) };
  const ctl = new Int32Array(task.control);
  const actor = new Actor(kernel, task.cfg);
  const id = task.cfg.id;
  let lastEpoch = 0;
  for (;;) {
    if (Atomics.load(ctl, CTL_STOP)) break;
    const epoch = Atomics.load(ctl, CTL_PAUSE);
    if (epoch !== 0 && epoch !== lastEpoch) {
      lastEpoch = epoch;
      park(ctl, epoch, () => {
        const h = holdersOf(ctl, id, kernel.arena.L.maxFiles);
        h.fill(0);
        actor.publishHolders(h);
      });
      continue;
    }
    if (actor.ops < task.ops) {
      actor.step();
      if ((actor.ops & 15) === 0) Atomics.store(ctl, CTL_OPS + id, actor.ops);
    } else {
      Atomics.store(ctl, CTL_OPS + id, actor.ops);
      Atomics.wait(ctl, CTL_PAUSE, 0, 5); // idle: nothing left to do but answer pauses
    }
  }
  Atomics.store(ctl, CTL_OPS + id, actor.ops);
  return actor.finish();
}

/** publishes, acknowledges, and waits until the pause `epoch` is over (bounded) */
export function park(ctl: Int32Array, epoch: number, publish: () => void): void {
  publish();
  Atomics.add(ctl, CTL_ACKS, 1);
  Atomics.notify(ctl, CTL_ACKS);
  const deadline = Date.now() + PARK_LIMIT_MS;
  while (Atomics.load(ctl, CTL_PAUSE) === epoch) {
    if (Date.now() > deadline) throw new Error(`stress actor parked for over ${PARK_LIMIT_MS} ms: the main thread stopped answering`);
    Atomics.wait(ctl, CTL_PAUSE, epoch, 100);
  }
}
