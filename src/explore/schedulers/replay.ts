/** Replays a recorded schedule; past its end every choice is 0 (continue / the first actor). */
import type { Decision, Scheduler } from './scheduler.js';

export class ReplayScheduler implements Scheduler {
  readonly name = 'replay';
  #choices: number[];
  #pos = 0;
  #done = false;
  /** recorded choices that were out of range when replayed (a schedule of another build) */
  mismatches = 0;
  constructor(choices: number[]) {
    this.#choices = choices;
  }
  begin(): boolean {
    if (this.#done) return false;
    this.#done = true;
    this.#pos = 0;
    return true;
  }
  choose(d: Decision): number {
    const c = this.#choices[this.#pos++] ?? 0;
    if (c < d.n) return c;
    this.mismatches++;
    return 0;
  }
  end(): void {}
}
