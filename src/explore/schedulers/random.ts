/** Random walk: uniform top-level choices; a preemption with probability `p` at each access. */
import { Prng } from '../../stress/prng.js';
import type { Decision, Scheduler } from './scheduler.js';

export class RandomScheduler implements Scheduler {
  readonly name = 'random';
  #seed: number;
  #p: number;
  #run = 0;
  #rng: Prng;
  constructor(seed: number, p = 0.05) {
    this.#seed = seed;
    this.#p = p;
    this.#rng = new Prng(seed, 0);
  }
  begin(): boolean {
    this.#rng = new Prng(this.#seed, this.#run++); // execution i is a function of (seed, i)
    return true;
  }
  choose(d: Decision): number {
    if (d.kind === 'top') return this.#rng.below(d.n);
    return this.#rng.chance(this.#p) ? 1 + this.#rng.below(d.n - 1) : 0;
  }
  end(): void {}
}
