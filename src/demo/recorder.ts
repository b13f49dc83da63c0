/**
 * The flight-recorder demonstration: CPU workers write provenance records as fast as they can
 * into overwritable rings (write_backward events mapped read-only), and a recorder takes
 * snapshots while they write: each snapshot pauses a ring's output, walks it from the newest
 * record back, and resumes (PerfBuffer's `overwritable`). Every record read is verified.
 */
import { PerfBuffer } from '../consumer/perf_buffer.js';
import { CpuPool } from '../cpus.js';
import { Kernel } from '../emulator.js';
import type { KernelVersion } from '../kernel/behaviour.js';
import { PAGE_SIZE } from '../arena/layout.js';
import { verifyRecord } from '../record.js';

export interface RecorderOptions {
  cpus: number;
  kernel: KernelVersion;
  durationMs: number;
  /** data pages per ring */
  pages: number;
  /** payload bytes per record */
  size: number;
  snapshots: number;
  /** called with each snapshot as it is taken */
  onSnapshot?: (s: RecorderSnapshot) => void;
}

export interface RecorderCpuView {
  cpu: number;
  /** records the snapshot delivered (whole ones) */
  kept: number;
  newest: number | null;
  oldest: number | null;
  /** the oldest record was torn by a write in flight when the pause landed */
  oldestTorn: boolean;
  /** records that were not whole, or out of order, other than the oldest one */
  bad: number;
  /** samples written into this ring so far (the kernel's count) */
  written: number;
}

export interface RecorderSnapshot {
  index: number;
  tMs: number;
  /** taken after the CPUs stopped */
  final: boolean;
  cpus: RecorderCpuView[];
}

export interface RecorderRun {
  kernel: KernelVersion;
  cpus: number;
  ringBytes: number;
  recordBytes: number;
  snapshots: RecorderSnapshot[];
  /** per CPU: attempts made, samples written, outputs lost (all while a snapshot paused the ring) */
  totals: { cpu: number; attempts: number; written: number; lost: number; overwrittenBytes: number }[];
  problems: string[];
}

export async function runRecorder(o: RecorderOptions): Promise<RecorderRun> {
  const ringPages = o.cpus * (1 + o.pages) + 8;
  const kernel = Kernel.create({ cpus: o.cpus, version: o.kernel, limits: { ringPages } });
  const app = kernel.process('recorder');
  const map = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: o.cpus });
  const prog = app.bpf.progLoad({ maps: [map] });
  let current = new Map<number, (number | null)[]>();
  const pb = PerfBuffer.open(app, map, {
    pages: o.pages,
    overwritable: true,
    onSample: (cpu, data) => {
      const c = verifyRecord(data);
      current.get(cpu)!.push(c.ok && c.cpu === cpu ? c.seq : null);
    },
  });
  const snapshots: RecorderSnapshot[] = [];
  const problems: string[] = [];
  const t0 = Date.now();
  const snap = (final: boolean): void => {
    current = new Map(Array.from({ length: o.cpus }, (_, c) => [c, []]));
    pb.consume();
    const stats = pb.statsByCpu().cpus;
    const views = [...current].map(([cpu, seqs]): RecorderCpuView => {
      // a writer already past the paused test when the pause landed may still be writing, over
      // the oldest record of the window: the kernel gives a reader no way to know
      const oldestTorn = seqs.length > 0 && seqs[seqs.length - 1] === null;
      if (oldestTorn) seqs.pop();
      let bad = 0;
      seqs.forEach((q, j) => {
        if (q === null || (j > 0 && q !== seqs[j - 1]! - 1)) bad++;
      });
      const whole = seqs.filter((q): q is number => q !== null);
      return {
        cpu,
        kept: whole.length,
        newest: whole[0] ?? null,
        oldest: whole.at(-1) ?? null,
        oldestTorn,
        bad,
        written: stats.find((s) => s.cpu === cpu)!.written,
      };
    });
    const s: RecorderSnapshot = { index: snapshots.length + 1, tMs: Date.now() - t0, final, cpus: views };
    for (const v of views) {
      if (v.bad) problems.push(`snapshot ${s.index}, CPU ${v.cpu}: ${v.bad} record(s) torn or out of order`);
      if (final && v.oldestTorn) problems.push(`final snapshot, CPU ${v.cpu}: the oldest record torn with no writer left`);
    }
    snapshots.push(s);
    o.onSnapshot?.(s);
  };
  // the CPUs write until stopped; the snapshots are spread over the duration
  const pool = CpuPool.start(kernel, { prog, program: { size: o.size } });
  let results: Awaited<ReturnType<CpuPool['wait']>>;
  try {
    await pool.ready();
    const every = o.durationMs / (o.snapshots + 1);
    for (let i = 0; i < o.snapshots; i++) {
      await new Promise((r) => setTimeout(r, every));
      snap(false);
    }
    await new Promise((r) => setTimeout(r, every));
  } finally {
    pool.stop();
    results = await pool.wait();
  }
  snap(true);
  const stats = pb.statsByCpu().cpus;
  const totals = results.map((r) => {
    const s = stats.find((x) => x.cpu === r.cpu)!;
    return { cpu: r.cpu, attempts: r.attempts, written: s.written, lost: s.lostTotal, overwrittenBytes: s.overwrittenBytes };
  });
  for (const t of totals) {
    // the newest record read (by the final snapshot, or an earlier one if nothing came since)
    const newest =
      snapshots
        .map((x) => x.cpus.find((c) => c.cpu === t.cpu)!.newest)
        .filter((q) => q !== null)
        .at(-1) ?? null;
    if (t.written > 0 && newest !== t.attempts - 1) problems.push(`CPU ${t.cpu}: the newest record read is ${newest}, not attempt ${t.attempts - 1}`);
    if (t.written + t.lost !== t.attempts) problems.push(`CPU ${t.cpu}: written ${t.written} + lost ${t.lost} != attempts ${t.attempts}`);
  }
  pb.close();
  app.exit();
  kernel.rcuBarrier();
  const violations = kernel.violations().length;
  if (violations) problems.push(`${violations} kernel violations`);
  return {
    kernel: o.kernel,
    cpus: o.cpus,
    ringBytes: o.pages * PAGE_SIZE,
    recordBytes: 8 + ((o.size + 4 + 7) & ~7),
    snapshots,
    totals,
    problems,
  };
}
