/**
 * PCT (Burckhardt et al., "A randomized scheduler with probabilistic guarantees of finding
 * bugs", 2010): random distinct priorities per actor, and `depth - 1` change points at random
 * steps where the running actor drops below everyone. The highest-priority eligible actor
 * runs; an eligible actor of higher priority than the running one preempts it.
 */
import { Prng } from '../../stress/prng.js';
import type { Decision, Scheduler } from './scheduler.js';

export class PctScheduler implements Scheduler {
  readonly name = 'pct';
  #seed: number;
  #depth: number;
  #steps: number;
  #run = 0;
  #prio: number[] = [];
  #change = new Set<number>();
  #low = 0;
  constructor(seed: number, depth = 2, expectedSteps = 200) {
    this.#seed = seed;
    this.#depth = Math.max(1, depth);
    this.#steps = Math.max(1, expectedSteps);
  }
  begin(actors: number): boolean {
    const rng = new Prng(this.#seed, this.#run++);
    const order = Array.from({ length: actors }, (_, i) => i);
    for (let i = actors - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    this.#prio = [];
    order.forEach((a, rank) => (this.#prio[a] = this.#depth + rank)); // above every change point's value
    this.#change = new Set(Array.from({ length: this.#depth - 1 }, () => 1 + rng.below(this.#steps)));
    this.#low = this.#depth;
    return true;
  }
  choose(d: Decision): number {
    if (d.current >= 0 && this.#change.has(d.step)) this.#prio[d.current] = --this.#low; // drop below all
    const best = (ids: number[]) => ids.reduce((b, a, i) => (this.#prio[a]! > this.#prio[ids[b]!]! ? i : b), 0);
    if (d.kind === 'top') return best(d.eligible);
    if (d.eligible.length === 0) return 0;
    const i = best(d.eligible);
    return this.#prio[d.eligible[i]!]! > this.#prio[d.current]! ? i + 1 : 0;
  }
  end(): void {}
}
