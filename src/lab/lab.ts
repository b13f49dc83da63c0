/**
 * `lab(options)`: the ring sizing lab. Expands the options into points (the product of every
 * list: pages, wakeup settings, poll timeouts, rates), runs each point's virtual-time
 * simulation (src/lab/sim.ts) — on a piscina pool, one point per worker, as many workers as
 * cores, when there is more than one point — and picks the smallest configuration that meets
 * the limits. Same options and seed, same result (all but `wallMs`, a measurement).
 */
import { ERR } from '../arena/perfemu_error.js';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { PAGE_SIZE } from '../arena/layout.js';
import { count } from '../format.js';
import { MAX_OUTPUT_BYTES } from '../emulator.js';
import { PerfemuError, checkKeys, invalidArgType, invalidArgValue, optionKeys, outOfRange, validateInt } from '../errors.js';
import { KERNEL_VERSIONS, kDefaultKernelVersion, type KernelVersion } from '../kernel/behaviour.js';
import { LAB_MIN_SIZE, simulatePoint, type PointExtra, type PointResult, type PointSpec, type Shape, type TraceRow } from './sim.js';

export type { PointResult as LabPoint, TraceRow as LabTraceRow } from './sim.js';

export const LAB_WORKER = new URL('../../workers/lab_point.js', import.meta.url);

/** the most ring memory one point may allocate (all CPUs' rings, control pages included) */
export const LAB_MAX_RING_BYTES = 1 << 30;

export interface LabOptions {
  /** simulated CPUs, 1..1024 (default 4) */
  cpus?: number;
  /** records/s per CPU, or a list to sweep (default 100000) */
  rate?: number | number[];
  /** 'constant' (default), 'poisson', or 'burst:ON_MS/OFF_MS' (the rate during ON) */
  shape?: string;
  /** payload bytes, or [min, max] drawn uniformly per record (default 64; at least 8) */
  size?: number | [number, number];
  /** a recorded workload instead of rate/shape/size: a CSV path (time_ns,cpu,size) or rows */
  trace?: string | TraceRow[];
  /** data pages per ring (a power of two), or a list (default [8, 32, 128]) */
  pages?: number | number[];
  /** attr.wakeup_events, or a list (default 1 unless watermark is given) */
  wakeupEvents?: number | number[];
  /** attr.wakeup_watermark in bytes, or a list (each is its own wakeup setting) */
  watermark?: number | number[];
  /** the reader's epoll_wait timeout, or a list (default 100) */
  pollTimeoutMs?: number | number[];
  /** from a wakeup to the reader running, µs (default 10) */
  wakeupUs?: number;
  /** the reader's cost per record, ns (default 200) */
  recordCostNs?: number;
  /** the reader's cost per wake-up (epoll_wait's return, the loop), ns (default 2000) */
  wakeupCostNs?: number;
  /** the share of a core the reader gets, (0, 1] (default 1): its costs stretch by 1/share */
  consumerShare?: number;
  /** a reader that ignores wakeups and reads every ring when its poll timeout expires */
  noWakeups?: boolean;
  /** virtual time of each point (default 1000) */
  durationMs?: number;
  /** seed of the random shapes and sizes (default 1) */
  seed?: number;
  /** kernel version (default 6.18) */
  kernel?: KernelVersion;
  /** limits for the recommendation */
  maxLoss?: number;
  maxLatencyUs?: number;
  /** at most this many points at once (default: the cores) */
  concurrency?: number;
  /**
   * progress: called after each point, and about every half second while points run with
   * each running point's share of virtual time done (0..1)
   */
  onProgress?: (done: number, total: number, running: number[]) => void;
}

/** the options as run: every default filled in, lists as lists */
export interface LabResolvedOptions {
  cpus: number;
  rate: number[];
  shape: string;
  size: number | [number, number];
  trace: string | null;
  pages: number[];
  wakeupEvents: number[];
  watermark: number[];
  pollTimeoutMs: number[];
  wakeupUs: number;
  recordCostNs: number;
  wakeupCostNs: number;
  consumerShare: number;
  noWakeups: boolean;
  durationMs: number;
  seed: number;
  kernel: KernelVersion;
  maxLoss: number | null;
  maxLatencyUs: number | null;
}

export interface LabRecommendation {
  pages: number;
  wakeupEvents: number;
  watermark: number;
  lossRate: number;
  p99Us: number;
}

export interface LabResult {
  command: 'lab';
  options: LabResolvedOptions;
  points: PointResult[];
  recommendation: LabRecommendation | null;
  simulatedRecords: number;
  wallMs: number;
}

/** the lab's answer in words, and what the program saw (kept out of the JSON shape) */
export interface LabNotes {
  verdict: string;
  /** per point: what bpf_perf_event_output returned on the lost outputs */
  extras: PointExtra[];
}

export async function lab(options: LabOptions = {}): Promise<LabResult> {
  return (await labWithNotes(options)).result;
}

/** @internal lab() and the notes the command line prints */
export async function labWithNotes(options: LabOptions = {}): Promise<{ result: LabResult; notes: LabNotes }> {
  const t0 = performance.now();
  const { resolved, specs } = resolveLab(options);
  const outs = await runPoints(specs, options);
  const points = outs.map(({ extra: _extra, ...pt }) => pt);
  const result: LabResult = {
    command: 'lab',
    options: resolved,
    points,
    recommendation: recommend(points, resolved),
    simulatedRecords: points.reduce((s, p) => s + p.written + p.lost, 0),
    wallMs: Math.round(performance.now() - t0),
  };
  return { result, notes: { verdict: verdict(result), extras: outs.map((o) => o.extra) } };
}

// ---------------------------------------------------------------------------------------
// options

function list(name: string, v: unknown, def: number[], min: number, max: number): number[] {
  if (v === undefined) return def;
  const arr = Array.isArray(v) ? v : [v];
  if (arr.length === 0) throw invalidArgValue(name, 'must not be an empty list', v);
  if (arr.length > 64) throw outOfRange(name, 'a list of at most 64 values', arr.length);
  const out = arr.map((x, i) => validateInt(arr.length > 1 ? `${name}[${i}]` : name, x, min, max));
  return [...new Set(out)];
}

function num(name: string, v: unknown, def: number, min: number, max: number, openMin = false): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgType(name, 'a number', v);
  if (v < min || v > max || (openMin && v === min)) throw outOfRange(name, `${openMin ? `> ${min}` : `>= ${min}`} and <= ${max}`, v);
  return v;
}

export function parseShape(s: string): Shape | null {
  if (s === 'constant' || s === 'poisson') return { kind: s };
  const m = /^burst:(\d+)\/(\d+)$/.exec(s);
  if (m && Number(m[1]) >= 1 && Number(m[1]) <= 3_600_000 && Number(m[2]) <= 3_600_000) return { kind: 'burst', onMs: Number(m[1]), offMs: Number(m[2]) };
  return null;
}

/** parses a trace CSV (time_ns,cpu,size; an optional header line); errors name the line */
export function parseTrace(text: string, cpus: number, source = 'trace'): TraceRow[] {
  const rows: TraceRow[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(',').map((x) => x.trim());
    if (rows.length === 0 && i === lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#')) && !/^\d/.test(f[0] ?? '')) continue; // header
    if (f.length !== 3 || !f.every((x) => /^\d+$/.test(x))) {
      throw invalidArgValue('trace', `${source} line ${i + 1}: expected time_ns,cpu,size (three non-negative integers)`, line);
    }
    const [timeNs, cpu, size] = f.map(Number) as [number, number, number];
    if (cpu >= cpus) throw invalidArgValue('trace', `${source} line ${i + 1}: cpu ${cpu} is not below --cpus ${cpus}`, line);
    if (size < LAB_MIN_SIZE || size > MAX_OUTPUT_BYTES)
      throw invalidArgValue('trace', `${source} line ${i + 1}: size must be ${LAB_MIN_SIZE}..${MAX_OUTPUT_BYTES}`, line);
    if (timeNs > 600e9) throw invalidArgValue('trace', `${source} line ${i + 1}: time_ns beyond 600 s`, line);
    rows.push({ timeNs, cpu, size });
  }
  if (rows.length === 0) throw invalidArgValue('trace', `${source} has no rows`, source);
  return rows;
}

const LAB_KEYS = optionKeys<LabOptions>({
  cpus: true,
  rate: true,
  shape: true,
  size: true,
  trace: true,
  pages: true,
  wakeupEvents: true,
  watermark: true,
  pollTimeoutMs: true,
  wakeupUs: true,
  recordCostNs: true,
  wakeupCostNs: true,
  consumerShare: true,
  noWakeups: true,
  durationMs: true,
  seed: true,
  kernel: true,
  maxLoss: true,
  maxLatencyUs: true,
  concurrency: true,
  onProgress: true,
});

export function resolveLab(o: LabOptions): { resolved: LabResolvedOptions; specs: PointSpec[] } {
  if (typeof o !== 'object' || o === null) throw invalidArgType('options', 'an object', o);
  checkKeys('options', o, LAB_KEYS);
  const cpus = validateInt('cpus', o.cpus ?? 4, 1, 1024);
  const kernel = o.kernel ?? kDefaultKernelVersion;
  if (!KERNEL_VERSIONS.includes(kernel)) throw invalidArgValue('kernel', `must be one of ${KERNEL_VERSIONS.join(', ')}`, kernel);
  const pages = list('pages', o.pages, [8, 32, 128], 1, 1 << 18);
  for (const pg of pages) if (pg & (pg - 1)) throw invalidArgValue('pages', 'must be a power of two (perf_mmap requires it)', pg);
  const durationMs = validateInt('durationMs', o.durationMs ?? 1000, 1, 600_000);
  const rate = list('rate', o.rate, [100_000], 1, 100_000_000);
  const shapeText = o.shape ?? 'constant';
  if (typeof shapeText !== 'string') throw invalidArgType('shape', "'constant', 'poisson' or 'burst:ON_MS/OFF_MS'", shapeText);
  const shape = parseShape(shapeText);
  if (!shape) throw invalidArgValue('shape', "must be 'constant', 'poisson' or 'burst:ON_MS/OFF_MS' (ON 1..3600000 ms)", shapeText);
  let sizeMin: number;
  let sizeMax: number;
  if (Array.isArray(o.size)) {
    sizeMin = validateInt('size[0]', o.size[0], LAB_MIN_SIZE, MAX_OUTPUT_BYTES);
    sizeMax = validateInt('size[1]', o.size[1], sizeMin, MAX_OUTPUT_BYTES);
  } else sizeMin = sizeMax = validateInt('size', o.size ?? 64, LAB_MIN_SIZE, MAX_OUTPUT_BYTES);
  let trace: TraceRow[] | null = null;
  let tracePath: string | null = null;
  if (o.trace !== undefined) {
    if (o.rate !== undefined || o.shape !== undefined || o.size !== undefined) {
      throw invalidArgValue('trace', 'replaces rate, shape and size: give either the trace or those', o.trace);
    }
    if (typeof o.trace === 'string') {
      tracePath = o.trace;
      let text: string;
      try {
        text = readFileSync(o.trace, 'utf8');
      } catch (err) {
        throw invalidArgValue('trace', `cannot be read (${(err as { code?: string }).code ?? String(err)})`, o.trace);
      }
      trace = parseTrace(text, cpus, o.trace);
    } else if (Array.isArray(o.trace)) {
      trace = o.trace.map((r, i) => ({
        timeNs: validateInt(`trace[${i}].timeNs`, r?.timeNs, 0, 600e9),
        cpu: validateInt(`trace[${i}].cpu`, r?.cpu, 0, cpus - 1),
        size: validateInt(`trace[${i}].size`, r?.size, LAB_MIN_SIZE, MAX_OUTPUT_BYTES),
      }));
      tracePath = '(rows)';
    } else throw invalidArgType('trace', 'a CSV path or an array of { timeNs, cpu, size }', o.trace);
    sizeMin = Math.min(...trace.map((r) => r.size));
    sizeMax = Math.max(...trace.map((r) => r.size));
  }
  const watermark = list('watermark', o.watermark, [], 1, 0x7fffffff);
  const wakeupEvents = list('wakeupEvents', o.wakeupEvents, watermark.length > 0 ? [] : [1], 0, 1_000_000);
  const pollTimeoutMs = list('pollTimeoutMs', o.pollTimeoutMs, [100], 1, 600_000);
  const noWakeups = o.noWakeups ?? false;
  if (typeof noWakeups !== 'boolean') throw invalidArgType('noWakeups', 'a boolean', noWakeups);
  // a timer-driven reader ignores wakeups: a wakeup setting for it would sweep nothing real
  if (noWakeups)
    for (const name of ['wakeupEvents', 'watermark', 'wakeupUs'] as const)
      if (o[name] !== undefined)
        throw invalidArgValue(name, 'does not apply with noWakeups (that reader ignores wakeups; it reads when its poll timeout expires)', o[name]);
  const resolved: LabResolvedOptions = {
    cpus,
    rate: trace ? [0] : rate,
    shape: trace ? 'trace' : shapeText,
    size: sizeMin === sizeMax ? sizeMin : [sizeMin, sizeMax],
    trace: tracePath,
    pages,
    wakeupEvents,
    watermark,
    pollTimeoutMs,
    wakeupUs: validateInt('wakeupUs', o.wakeupUs ?? 10, 0, 1_000_000),
    recordCostNs: validateInt('recordCostNs', o.recordCostNs ?? 200, 0, 1_000_000_000),
    wakeupCostNs: validateInt('wakeupCostNs', o.wakeupCostNs ?? 2000, 0, 1_000_000_000),
    consumerShare: num('consumerShare', o.consumerShare, 1, 0, 1, true),
    noWakeups,
    durationMs,
    seed: validateInt('seed', o.seed ?? 1, 0, 0x7fffffff),
    kernel,
    maxLoss: o.maxLoss === undefined ? null : num('maxLoss', o.maxLoss, 0, 0, 1),
    maxLatencyUs: o.maxLatencyUs === undefined ? null : num('maxLatencyUs', o.maxLatencyUs, 0, 0, 1e12),
  };
  const biggest = Math.max(...pages);
  if (cpus * (1 + biggest) * PAGE_SIZE > LAB_MAX_RING_BYTES) {
    throw outOfRange(
      'pages',
      `at most ${LAB_MAX_RING_BYTES / 2 ** 20} MiB of rings per point (cpus x (1 + pages) x 4096 bytes); ${cpus} CPU(s) x (1 + ${biggest}) pages is ${cpus * (1 + biggest) * PAGE_SIZE} bytes`,
      biggest,
    );
  }
  for (const wm of watermark) {
    for (const pg of pages) if (wm > pg * PAGE_SIZE) throw outOfRange('watermark', `at most the ring's data size (${pg} pages = ${pg * PAGE_SIZE} bytes)`, wm);
  }
  const wakeups = [...wakeupEvents.map((w) => ({ wakeupEvents: w, watermark: 0 })), ...watermark.map((w) => ({ wakeupEvents: 0, watermark: w }))];
  const specs: PointSpec[] = [];
  for (const r of resolved.rate) {
    for (const pt of pollTimeoutMs) {
      for (const wk of wakeups) {
        for (const pg of pages) {
          specs.push({
            cpus,
            kernel,
            pages: pg,
            ...wk,
            pollTimeoutMs: pt,
            rate: r,
            shape: trace ? { kind: 'constant' } : shape,
            sizeMin,
            sizeMax,
            trace,
            wakeupUs: resolved.wakeupUs,
            recordCostNs: resolved.recordCostNs,
            wakeupCostNs: resolved.wakeupCostNs,
            consumerShare: resolved.consumerShare,
            noWakeups,
            durationMs,
            seed: resolved.seed,
          });
        }
      }
    }
  }
  if (specs.length > 256) throw outOfRange('sweep', 'at most 256 points (the product of the lists)', specs.length);
  return { resolved, specs };
}

// ---------------------------------------------------------------------------------------
// running the points

type PointOut = PointResult & { extra: PointExtra };

async function runPoints(specs: PointSpec[], o: LabOptions): Promise<PointOut[]> {
  const total = specs.length;
  let done = 0;
  // each point reports the permille of its virtual time done in its word (any thread)
  const sab = new SharedArrayBuffer(4 * total);
  const permille = new Int32Array(sab);
  const running = (): number[] => [...permille].filter((x) => x > 0 && x < 1000).map((x) => x / 1000);
  const progress = (): void => o.onProgress?.(++done, total, running());
  const withProgress = specs.map((s, index) => ({ ...s, progress: { sab, index } }));
  const ticker = o.onProgress ? setInterval(() => o.onProgress?.(done, total, running()), 500) : undefined;
  try {
    if (total === 1 && !o.onProgress) {
      // one point and nobody watching: run it here (a worker only to keep the event loop free)
      const r = simulatePoint(withProgress[0]!);
      progress();
      return [r];
    }
    const n = Math.min(total, o.concurrency === undefined ? availableParallelism() : validateInt('concurrency', o.concurrency, 1, 64));
    const pool = new Piscina({
      filename: LAB_WORKER.href,
      minThreads: n,
      maxThreads: n,
      concurrentTasksPerWorker: 1,
      idleTimeout: 1000,
      atomics: 'disabled',
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    pool.on('error', () => undefined);
    try {
      const runs = withProgress.map((s) =>
        (pool.run(s) as Promise<PointOut>).then((r) => {
          progress();
          return r;
        }),
      );
      const settled = await Promise.allSettled(runs);
      const failed = settled.findIndex((s) => s.status === 'rejected');
      if (failed >= 0) {
        const s = specs[failed]!;
        const reason = (settled[failed] as PromiseRejectedResult).reason as Error;
        throw new PerfemuError(
          ERR.LAB_POINT,
          `lab point pages=${s.pages} wakeupEvents=${s.wakeupEvents} watermark=${s.watermark} pollTimeoutMs=${s.pollTimeoutMs} rate=${s.rate} failed: ${reason?.message ?? reason}`,
        );
      }
      return settled.map((s) => (s as PromiseFulfilledResult<PointOut>).value);
    } finally {
      await pool.destroy();
    }
  } finally {
    clearInterval(ticker);
  }
}

// ---------------------------------------------------------------------------------------
// the recommendation

interface Config {
  pages: number;
  wakeupEvents: number;
  watermark: number;
  pollTimeoutMs: number;
  points: PointResult[];
  lossRate: number;
  p99Us: number;
  wakeups: number;
  /** a point of it wrote records and its reader delivered none: no latency to judge (not 0) */
  silent: boolean;
}

function configs(points: PointResult[]): Config[] {
  const by = new Map<string, Config>();
  for (const p of points) {
    const key = `${p.pages}/${p.wakeupEvents}/${p.watermark}/${p.pollTimeoutMs}`;
    let c = by.get(key);
    if (!c)
      by.set(
        key,
        (c = {
          pages: p.pages,
          wakeupEvents: p.wakeupEvents,
          watermark: p.watermark,
          pollTimeoutMs: p.pollTimeoutMs,
          points: [],
          lossRate: 0,
          p99Us: 0,
          wakeups: 0,
          silent: false,
        }),
      );
    c.points.push(p);
    // a configuration is as good as its worst swept rate
    c.lossRate = Math.max(c.lossRate, p.lossRate);
    c.p99Us = Math.max(c.p99Us, p.latencyUs.p99);
    c.wakeups = Math.max(c.wakeups, p.wakeups);
    if (p.read === 0 && p.written > 0) c.silent = true;
  }
  return [...by.values()];
}

/**
 * The smallest pages per CPU that meets both limits at every swept rate; among those, the
 * setting with the fewest reader wake-ups (the cheapest reader), then the lowest p99.
 */
export function recommend(points: PointResult[], o: Pick<LabResolvedOptions, 'maxLoss' | 'maxLatencyUs'>): LabRecommendation | null {
  if (o.maxLoss === null && o.maxLatencyUs === null) return null;
  const ok = configs(points).filter((c) => meets(c, o));
  ok.sort((x, y) => x.pages - y.pages || x.wakeups - y.wakeups || x.p99Us - y.p99Us || x.wakeupEvents - y.wakeupEvents || x.watermark - y.watermark);
  const best = ok[0];
  return best ? { pages: best.pages, wakeupEvents: best.wakeupEvents, watermark: best.watermark, lossRate: best.lossRate, p99Us: best.p99Us } : null;
}

/** whether point `p` is the recommended setting (its pages and wakeup setting) */
export function isRecommended(r: Pick<LabResult, 'recommendation'>, p: PointResult): boolean {
  const rec = r.recommendation;
  return rec !== null && rec.pages === p.pages && rec.wakeupEvents === p.wakeupEvents && rec.watermark === p.watermark;
}

function meets(c: { lossRate: number; p99Us: number; silent: boolean }, o: Pick<LabResolvedOptions, 'maxLoss' | 'maxLatencyUs'>): boolean {
  return (o.maxLoss === null || c.lossRate <= o.maxLoss) && (o.maxLatencyUs === null || (!c.silent && c.p99Us <= o.maxLatencyUs));
}

/** a point's wakeup setting: `watermark 4096 B` / `wakeup_events 1`, or `4096 B` / `1 ev` when `short` */
export function wakeupLabel(p: { wakeupEvents: number; watermark: number }, short = false): string {
  if (short) return p.watermark > 0 ? `${p.watermark} B` : `${p.wakeupEvents} ev`;
  return p.watermark > 0 ? `watermark ${p.watermark} B` : `wakeup_events ${p.wakeupEvents}`;
}

/** which of the options that make a point's identity besides pages and wakeup were swept */
export function swept(o: Pick<LabResolvedOptions, 'pollTimeoutMs' | 'rate'>): { poll: boolean; rate: boolean } {
  return { poll: o.pollTimeoutMs.length > 1, rate: o.rate.length > 1 };
}

/** the recommendation, or why there is none, in one sentence */
export function verdict(r: Pick<LabResult, 'points' | 'recommendation' | 'options'>): string {
  const o = r.options;
  const limits = [o.maxLoss !== null ? `loss rate <= ${o.maxLoss}` : '', o.maxLatencyUs !== null ? `p99 latency <= ${o.maxLatencyUs} µs` : '']
    .filter(Boolean)
    .join(' and ');
  if (o.maxLoss === null && o.maxLatencyUs === null) return 'No limits given (--max-loss, --max-latency-us): no recommendation.';
  const rec = r.recommendation;
  if (rec) {
    return `Recommendation: ${rec.pages} pages per CPU with ${wakeupLabel(rec)} (loss rate ${fmtRate(rec.lossRate)}, p99 ${rec.p99Us} µs): the smallest swept ring that meets ${limits}.`;
  }
  const cs = configs(r.points);
  const lossOk = cs.filter((c) => o.maxLoss === null || c.lossRate <= o.maxLoss);
  const latOk = cs.filter((c) => o.maxLatencyUs === null || c.p99Us <= o.maxLatencyUs);
  const bestLoss = [...cs].sort((x, y) => x.lossRate - y.lossRate)[0]!;
  const bestLat = [...cs].sort((x, y) => x.p99Us - y.p99Us)[0]!;
  let binds: string;
  if (lossOk.length === 0 && latOk.length === 0)
    binds = `both limits bind: the lowest loss rate is ${fmtRate(bestLoss.lossRate)} (${bestLoss.pages} pages, ${wakeupLabel(bestLoss)}) and the lowest p99 is ${bestLat.p99Us} µs (${bestLat.pages} pages, ${wakeupLabel(bestLat)})`;
  else if (lossOk.length === 0) {
    binds = `the loss limit binds: the lowest loss rate is ${fmtRate(bestLoss.lossRate)} (${bestLoss.pages} pages, ${wakeupLabel(bestLoss)})`;
    const saturated = bestLoss.points.every((p) => p.consumerBusy >= 0.99);
    if (saturated && o.recordCostNs > 0 && !o.trace) {
      // a reader busy all the time loses what it cannot read, whatever the ring size
      const canRead = (o.consumerShare * 1e9) / o.recordCostNs;
      const offered = o.cpus * Math.max(...o.rate);
      binds += `, and there the reader is busy all the time: at ${o.recordCostNs} ns per record it reads at most ${count(canRead)} records/s against ${count(offered)} offered, which no ring size fixes (a cheaper reader, --record-cost-ns, or fewer records)`;
    } else binds += '; sweep larger --pages (or a faster reader: --record-cost-ns, --consumer-share)';
  } else if (latOk.length === 0)
    binds = `the latency limit binds: the lowest p99 is ${bestLat.p99Us} µs (${bestLat.pages} pages, ${wakeupLabel(bestLat)}); sweep smaller --wakeup-events or --watermark`;
  else binds = 'the points that meet the loss limit miss the latency limit and the other way round';
  return `No swept point meets ${limits}: ${binds}.`;
}

export function fmtRate(x: number): string {
  if (x === 0) return '0';
  if (x >= 0.01) return x.toFixed(3);
  return x.toExponential(2);
}
