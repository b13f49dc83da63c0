/**
 * Exhaustive search with a preemption bound (CHESS-style iterative context bounding): every
 * schedule whose number of preemptions (non-zero `preempt` choices) is at most `bound`, in
 * depth-first order, by replaying a prefix of the previous schedule and changing its last
 * choice that can still change. A root prefix confines the search to the subtree of schedules
 * that begin with it (a campaign splits the tree into such subtrees: src/campaign/tree.ts).
 */
import type { Decision, Scheduler } from './scheduler.js';

/**
 * How many alternatives a decision point offers within the bound: a preemption point where
 * `usedBefore` preemptions already reach the bound offers only 0 (continue).
 */
export function allowedChoices(n: number, preempt: boolean, usedBefore: number, bound: number): number {
  return preempt && usedBefore >= bound ? 1 : n;
}

interface Made {
  choice: number;
  n: number;
  preempt: boolean;
}

export class ExhaustiveScheduler implements Scheduler {
  readonly name = 'exhaustive';
  #bound: number;
  /** choices every schedule of this search starts with (never backtracked) */
  #root: number[];
  #prefix: number[];
  #made: Made[] = [];
  #pos = 0;
  #started = false;
  /** decision points seen over the whole search */
  decisions = 0;
  maxDepth = 0;
  /** a replayed prefix met a different number of alternatives (the scenario is not deterministic) */
  diverged = 0;
  constructor(bound: number, root: readonly number[] = []) {
    this.#bound = bound;
    this.#root = [...root];
    this.#prefix = [...root];
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
    for (let j = m.length - 1; j >= this.#root.length; j--) {
      const x = m[j]!;
      if (x.choice + 1 >= allowedChoices(x.n, x.preempt, used(j), this.#bound)) continue; // none left within the bound
      return [...m.slice(0, j).map((y) => y.choice), x.choice + 1];
    }
    return null;
  }
}
