/** Small statistics for benchmark windows (near and far windows reported apart, with min/max). */
export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
export const median = (xs: number[]): number => quantile(xs, 0.5);

export type Placement = 'near' | 'far' | 'mixed';

export interface Window {
  /** what was measured (records/s, ops/s, ...) */
  value: number;
  placement: Placement;
}

export interface Summary {
  windows: number;
  median: number;
  min: number;
  max: number;
}

export interface PlacedSummary {
  near: Summary | null;
  far: Summary | null;
  /** windows that straddled a placement switch (excluded) */
  mixed: number;
  all: Summary;
}

function summarize(xs: number[]): Summary {
  return { windows: xs.length, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

export function placed(ws: Window[]): PlacedSummary {
  const near = ws.filter((w) => w.placement === 'near').map((w) => w.value);
  const far = ws.filter((w) => w.placement === 'far').map((w) => w.value);
  return {
    near: near.length ? summarize(near) : null,
    far: far.length ? summarize(far) : null,
    mixed: ws.filter((w) => w.placement === 'mixed').length,
    all: summarize(ws.map((w) => w.value)),
  };
}

/** subject / baseline, per placement, from windows measured in the same rounds */
export function ratio(subject: PlacedSummary, baseline: PlacedSummary): { near: number | null; far: number | null; all: number } {
  const r = (a: Summary | null, b: Summary | null) => (a && b ? a.median / b.median : null);
  return { near: r(subject.near, baseline.near), far: r(subject.far, baseline.far), all: subject.all.median / baseline.all.median };
}

export function fmt(x: number | null | undefined, digits = 0): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (Math.abs(x) >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(digits);
}
