/**
 * The lab's event queue: a binary min-heap of actors keyed by the virtual time (ns) of their
 * next event. Each actor has at most one pending event, so the heap holds actor ids; ties in
 * time go to the lower actor id, which makes the order of a run a function of its inputs only.
 * Typed arrays and one float key per entry (time * ACTOR_SPAN + id) keep a step to a few
 * comparisons: the per-record overhead of the lab is this sift, not allocation.
 */
export const ACTOR_SPAN = 2048; // actor ids are below this (1024 CPUs and the consumer)

export class EventQueue {
  #keys: Float64Array;
  #ids: Int32Array;
  #n = 0;

  constructor(capacity: number) {
    this.#keys = new Float64Array(capacity);
    this.#ids = new Int32Array(capacity);
  }

  get size(): number {
    return this.#n;
  }
  /** the key of the earliest event (Infinity when empty) */
  topKey(): number {
    return this.#n > 0 ? this.#keys[0]! : Infinity;
  }
  topId(): number {
    return this.#ids[0]!;
  }

  push(timeNs: number, id: number): void {
    const keys = this.#keys;
    const ids = this.#ids;
    const key = timeNs * ACTOR_SPAN + id;
    let i = this.#n++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      keys[i] = keys[parent]!;
      ids[i] = ids[parent]!;
      i = parent;
    }
    keys[i] = key;
    ids[i] = id;
  }

  /** re-keys the earliest actor to a later time (its next event) */
  replaceTop(timeNs: number): void {
    this.#siftDown(timeNs * ACTOR_SPAN + this.#ids[0]!, this.#ids[0]!);
  }

  /** removes the earliest actor (it has no more events) */
  pop(): void {
    const last = --this.#n;
    if (last > 0) this.#siftDown(this.#keys[last]!, this.#ids[last]!);
  }

  #siftDown(key: number, id: number): void {
    const keys = this.#keys;
    const ids = this.#ids;
    const n = this.#n;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && keys[c + 1]! < keys[c]!) c++;
      if (keys[c]! >= key) break;
      keys[i] = keys[c]!;
      ids[i] = ids[c]!;
      i = c;
    }
    keys[i] = key;
    ids[i] = id;
  }
}
