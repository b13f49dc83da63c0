/**
 * Splitting an exhaustive search into disjoint subtrees. The explorer's exhaustive scheduler
 * walks the tree of schedules depth first (src/explore/schedulers/exhaustive.ts); every node is
 * a prefix of choices, every leaf one complete schedule. Cutting the tree along a frontier of
 * prefixes gives subtrees whose leaves are disjoint and together are all the leaves: workers and
 * shards that each search some of the subtrees never repeat a schedule and together search the
 * whole bounded space. The frontier depends only on the scenario and its options, so every shard
 * computes the same one.
 */
import { execute, type RunOptions, type Scenario } from '../explore/runner.js';
import { allowedChoices } from '../explore/schedulers/exhaustive.js';
import type { Decision, Scheduler } from '../explore/schedulers/scheduler.js';

/** Replays a prefix and records the decision point that follows it (if the execution has one). */
class PrefixProbe implements Scheduler {
  readonly name = 'prefix-probe';
  #prefix: readonly number[];
  #pos = 0;
  /** the kinds of the prefix's decision points, then the point after it */
  kinds: Decision['kind'][] = [];
  next: Decision | null = null;
  constructor(prefix: readonly number[]) {
    this.#prefix = prefix;
  }
  begin(): boolean {
    return true;
  }
  choose(d: Decision): number {
    const pos = this.#pos++;
    if (pos < this.#prefix.length) {
      this.kinds.push(d.kind);
      const c = this.#prefix[pos]!;
      if (c >= d.n) throw new Error(`prefix [${this.#prefix.join(', ')}] does not fit the scenario at point ${pos} (${d.n} alternatives)`);
      return c;
    }
    if (pos === this.#prefix.length) this.next = d;
    return 0;
  }
  end(): void {}
}

/** the children of a prefix within the preemption bound; none when the prefix is a whole schedule */
export function childPrefixes(scn: Scenario, run: RunOptions, bound: number, prefix: readonly number[]): number[][] {
  const probe = new PrefixProbe(prefix);
  execute(scn, run, probe, false);
  const d = probe.next;
  if (!d) return [];
  const used = prefix.filter((c, i) => c > 0 && probe.kinds[i] === 'preempt').length;
  const n = allowedChoices(d.n, d.kind === 'preempt', used, bound);
  return Array.from({ length: n }, (_, c) => [...prefix, c]);
}

/**
 * At least `target` disjoint subtrees covering the bounded space (fewer when the whole tree has
 * fewer nodes to split), in the order the single-process search visits them: the frontier is
 * deepened level by level, each prefix replaced by its children, until it is large enough.
 */
export function splitScheduleTree(scn: Scenario, run: RunOptions, bound: number, target: number): number[][] {
  let frontier: number[][] = [[]];
  for (;;) {
    if (frontier.length >= target) return frontier;
    let expanded = false;
    const next: number[][] = [];
    for (const p of frontier) {
      const kids = childPrefixes(scn, run, bound, p);
      if (kids.length === 0)
        next.push(p); // a leaf stays: one schedule
      else {
        next.push(...kids);
        expanded = true;
      }
    }
    frontier = next;
    if (!expanded) return frontier; // every prefix is a whole schedule
  }
}
