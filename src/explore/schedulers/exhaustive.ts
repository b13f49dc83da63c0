/**
 * Exhaustive search with a preemption bound (CHESS-style iterative context bounding): every
 * schedule whose number of preemptions (non-zero `preempt` choices) is at most `bound`, in
 * depth-first order, by replaying a prefix of the previous schedule and changing its last
 * choice that can still change.
 */
import type { Decision, Scheduler } from './scheduler.js';

interface Made {
  choice: number;
  n: number;
  preempt: boolean;
}

export class ExhaustiveScheduler implements Scheduler {
  readonly name = 'exhaustive';
  #bound: number;
  #prefix: number[] = [];
  #made: Made[] = [];
  #pos = 0;
  #started = false;
  /** decision points seen over the whole search */
  decisions = 0;
  maxDepth = 0;
  /** a replayed prefix met a different number of alternatives (the scenario is not deterministic) */
  diverged = 0;
  constructor(bound: number) {
    this.#bound = bound;
  }
  begin(): boolean {
    if (this.#started) {
      const next = this.#next();
      if (!next) return false;
      this.#prefix = next;
    }
    this.#started = true;
    this.#made = [];
    this.#pos = 0;
    return true;
  }
  choose(d: Decision): number {
    const pos = this.#pos++;
    this.decisions++;
    let c = pos < this.#prefix.length ? this.#prefix[pos]! : 0;
    if (c >= d.n) {
      this.diverged++;
      c = 0;
    }
    this.#made.push({ choice: c, n: d.n, preempt: d.kind === 'preempt' });
    return c;
  }
  end(): void {
    this.maxDepth = Math.max(this.maxDepth, this.#made.length);
  }
  #next(): number[] | null {
    const m = this.#made;
    const used = (upto: number) => m.slice(0, upto).filter((x) => x.preempt && x.choice > 0).length;
    for (let j = m.length - 1; j >= 0; j--) {
      const x = m[j]!;
      if (x.choice + 1 >= x.n) continue;
      if (x.preempt && x.choice === 0 && used(j) >= this.#bound) continue; // would exceed the bound
      return [...m.slice(0, j).map((y) => y.choice), x.choice + 1];
    }
    return null;
  }
}
