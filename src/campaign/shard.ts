/**
 * Shard arithmetic: a campaign's units (seeds, or subtrees of an exhaustive search) are the
 * integers first..last; shard k of n (0-based, as Kubernetes numbers an Indexed Job's pods)
 * takes one contiguous slice, and the n slices tile the range: every unit in exactly one shard.
 */

export interface Range {
  first: number;
  last: number;
}

export interface Shard {
  /** 0-based */
  index: number;
  count: number;
}

/** units in a range (0 for an empty slice, last < first) */
export function rangeSize(r: Range): number {
  return Math.max(0, r.last - r.first + 1);
}

/** Shard k of n of `r`: units first + floor(size*k/n) .. first + floor(size*(k+1)/n) - 1 (maybe empty). */
export function shardSlice(r: Range, s: Shard): Range {
  const size = rangeSize(r);
  return {
    first: r.first + Math.floor((size * s.index) / s.count),
    last: r.first + Math.floor((size * (s.index + 1)) / s.count) - 1,
  };
}

/** 'A..B' (inclusive), or a single 'A'; null when malformed */
export function parseRange(text: string, max: number): Range | null {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text);
  if (!m) return null;
  const first = Number(m[1]);
  const last = Number(m[2] ?? m[1]);
  if (first > last || last > max) return null;
  return { first, last };
}

/** 'K/N' with 0 <= K < N <= maxCount; null when malformed */
export function parseShard(text: string, maxCount: number): Shard | null {
  const m = /^(\d+)\/(\d+)$/.exec(text);
  if (!m) return null;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > maxCount || index >= count) return null;
  return { index, count };
}

/** What gave the shard: the option, the environment (a Kubernetes Indexed Job), or nothing. */
export type ShardSource = 'option' | 'env' | 'none';

/**
 * The shard from the environment: JOB_COMPLETION_INDEX (set by Kubernetes in every pod of an
 * Indexed Job) of `shards`, or of JOB_COMPLETIONS when `shards` is not given. An error message
 * when the variables are malformed; null when JOB_COMPLETION_INDEX is not set.
 */
export function shardFromEnv(env: Record<string, string | undefined>, shards: number | undefined, maxCount: number): Shard | string | null {
  const idx = env.JOB_COMPLETION_INDEX;
  if (idx === undefined || idx === '') return null;
  const jc = env.JOB_COMPLETIONS;
  if (shards === undefined && jc !== undefined && jc !== '' && !/^\d+$/.test(jc))
    return `JOB_COMPLETIONS must be a number of shards (an integer >= 1); got '${jc}'`;
  const n = shards ?? (jc !== undefined && jc !== '' ? Number(jc) : undefined);
  if (n === undefined) return 'JOB_COMPLETION_INDEX is set but neither --shards nor JOB_COMPLETIONS gives the number of shards';
  const s = parseShard(`${idx}/${n}`, maxCount);
  return s ?? `JOB_COMPLETION_INDEX=${idx} of ${n} shards is not a shard (want 0 <= index < shards <= ${maxCount})`;
}

/** How a set of slices covers a range: the units missing and the units claimed twice. */
export function coverage(whole: Range, slices: Range[]): { missing: Range[]; overlapping: Range[] } {
  const sorted = slices.filter((s) => rangeSize(s) > 0).sort((a, b) => a.first - b.first || a.last - b.last);
  const missing: Range[] = [];
  const overlapping: Range[] = [];
  let next = whole.first; // the first unit not yet covered
  for (const s of sorted) {
    if (s.first > next) missing.push({ first: next, last: s.first - 1 });
    else if (s.first < next) overlapping.push({ first: s.first, last: Math.min(s.last, next - 1) });
    next = Math.max(next, s.last + 1);
  }
  if (next <= whole.last) missing.push({ first: next, last: whole.last });
  return { missing, overlapping };
}

export function formatRange(r: Range): string {
  return r.first === r.last ? String(r.first) : `${r.first}..${r.last}`;
}
