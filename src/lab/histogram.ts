/**
 * Latency histogram with bounded memory and ~1.6 % resolution (log-linear buckets: 64 per
 * power of two, exact below 64 ns), so a run of hundreds of millions of records keeps a fixed
 * few KiB and its percentiles are the same on every machine. The maximum is kept exactly.
 */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
const BUCKETS = SUB + 64 * SUB; // exact values below SUB, then 64 octaves of SUB buckets

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  total = 0;
  max = 0;

  /** records a value in ns (>= 0) */
  add(ns: number): void {
    const v = Math.floor(ns);
    if (v > this.max) this.max = v;
    this.total++;
    this.counts[bucketOf(v)]!++;
  }

  /** the value at quantile q (0..1), as the upper bound of its bucket (never above max) */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) return Math.min(upperOf(b), this.max);
    }
    return this.max;
  }
}

function bucketOf(v: number): number {
  if (v < SUB) return v;
  if (v < 0x8000_0000) {
    const e = 31 - Math.clz32(v); // 2^e <= v
    return SUB + (e - SUB_BITS) * SUB + ((v >>> (e - SUB_BITS)) - SUB);
  }
  const e = Math.floor(Math.log2(v));
  return SUB + (e - SUB_BITS) * SUB + (Math.floor(v / 2 ** (e - SUB_BITS)) - SUB);
}

function upperOf(b: number): number {
  if (b < SUB) return b;
  const octave = Math.floor((b - SUB) / SUB);
  const mant = (b - SUB) % SUB;
  return (SUB + mant + 1) * 2 ** octave - 1;
}
