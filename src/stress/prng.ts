/** A small seeded PRNG (xorshift32): the same seed gives the same draws in any thread. */
export class Prng {
  #s: number;
  constructor(seed: number, stream = 0) {
    this.#s = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) | 0 || 0x2545f491;
    for (let i = 0; i < 4; i++) this.next(); // mix the seed in
  }
  /** a uniform u32 */
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x;
    return x >>> 0;
  }
  /** an integer in [0, n) */
  below(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }
  /** true with probability p */
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
}
