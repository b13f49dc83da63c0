/**
 * A scheduler decides, at each decision point of one execution, which alternative is taken.
 * `top`: which actor starts its next operation (n = actors with operations left).
 * `preempt`: at a shared-memory access of the running operation, 0 = continue, k > 0 = run the
 * next operation of eligible actor k-1 first (nested). The chosen indices of one execution are
 * its schedule: replaying them reproduces it exactly.
 */
export interface Decision {
  kind: 'top' | 'preempt';
  /** number of alternatives (index 0 .. n-1) */
  n: number;
  /** decision points so far in this execution */
  step: number;
  /** actor running now (-1 at top level) */
  current: number;
  /** actor ids behind the alternatives (preempt: alternative k is eligible[k-1]) */
  eligible: number[];
}

export interface Scheduler {
  readonly name: string;
  /** starts one execution of `actors` actors; false when the search space is exhausted */
  begin(actors: number): boolean;
  choose(d: Decision): number;
  end(): void;
}
