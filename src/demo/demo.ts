/**
 * The per-CPU demux demonstration, as an engine the CLI renders (src/cli/demo.ts):
 * a loader pins a perf event array and loads a program using it; consumer apps in their own
 * workers each get the map through BPF_OBJ_GET and own the slots of some CPUs; CPU workers
 * write with BPF_F_CURRENT_CPU; then app-0 exits while the CPUs keep writing. From 4.8 on
 * the exit purges app-0's slots (its CPUs' outputs now get ENOENT) and frees its events after
 * a grace period; on 4.7 the pinned map keeps them (the leak).
 */
import { PAGE_SIZE } from '../arena/layout.js';
import { AppPool, type AppLive, type AppResult } from '../apps.js';
import { CpuPool, type CpuResult } from '../cpus.js';
import { Kernel } from '../emulator.js';
import type { KernelSnapshot } from '../inspect.js';
import type { KernelVersion } from '../kernel/behaviour.js';

export const DEMO_PIN = '/sys/fs/bpf/perfemu_demo';

export interface DemoOptions {
  cpus: number;
  apps: number;
  durationMs: number;
  kernel: KernelVersion;
  /** output attempts per second per CPU */
  rate: number;
  /** payload bytes per record */
  size: number;
  /** called with a fresh frame every frameMs while it runs, and at each phase change */
  onFrame?: (f: DemoFrame) => void;
  frameMs?: number;
}

export interface DemoRow {
  cpu: number;
  /** the slot CPU c's BPF_F_CURRENT_CPU output goes to */
  slot: number;
  /** perf event id in the slot now, or null (empty slot) */
  event: number | null;
  /** the app whose map file owns the slot's entry */
  owner: string | null;
  /** the app that opened this CPU's event */
  app: string;
  appState: 'starting' | 'running' | 'exited';
  /** records the kernel wrote into this CPU's ring (successful outputs) */
  written: number;
  /** records the app read and verified */
  received: number;
  /** records lost (ring full), as reported to the app */
  lost: number;
  enoent: number;
  /** outputs into an event that no longer has a ring (its app unmapped it) */
  noRing: number;
}

export interface DemoFrame {
  kernel: KernelVersion;
  tMs: number;
  phase: 'all apps running' | 'app-0 exited' | 'done';
  rows: DemoRow[];
}

/** one sample of the slot timeline: who owns each slot, and the per-CPU counters so far */
export interface TimelineSample {
  tMs: number;
  /** per slot: the owning app's name, 'file N' for a frontend of no app, or null (empty) */
  slots: (string | null)[];
  /** per slot: the perf event id in it, or null */
  events: (number | null)[];
  /** per CPU (= slot: BPF_F_CURRENT_CPU): outputs written, and failures so far */
  written: number[];
  enoent: number[];
  noRing: number[];
  lost: number[];
}

export interface DemoRun {
  kernel: KernelVersion;
  cpus: number;
  apps: number;
  durationMs: number;
  rate: number;
  exitedApp: string;
  /** the frame right before app-0 exits, and the final one */
  beforeExit: DemoFrame;
  final: DemoFrame;
  /** app-0's perf events after its exit and a grace period */
  exitedAppEvents: { id: number; cpu: number; alive: boolean; heldBySlot: boolean; fileRefs: number }[];
  cpuResults: CpuResult[];
  appResults: AppResult[];
  /** records that failed verification (torn, misrouted, out of order): must be 0 */
  badRecords: number;
  /** per surviving app's CPU: received + lost reported + lost pending == written + lost */
  conservation: { cpu: number; ok: boolean; received: number; lostReported: number; lostPending: number; written: number; lostCounted: number }[];
  violations: number;
  /** the slot timeline, ~120 samples a run (every duration/120 ms, 5 to 100 ms apart) */
  timeline: TimelineSample[];
  /** when app-0 was told to exit, and when it was gone (ms since the start) */
  exitAtMs: number;
  exitedAtMs: number;
}

export async function runDemo(o: DemoOptions): Promise<DemoRun> {
  const kernel = Kernel.create({ cpus: o.cpus, version: o.kernel });
  const loader = kernel.process('loader');
  const map = loader.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: o.cpus });
  loader.bpf.objPin(map, DEMO_PIN);
  const prog = loader.bpf.progLoad({ maps: [map] });
  const appSpecs = Array.from({ length: o.apps }, (_, i) => ({
    name: `app-${i}`,
    cpus: Array.from({ length: o.cpus }, (_, c) => c).filter((c) => c % o.apps === i),
  }));
  // Rings wake their reader every quarter ring (a watermark), not per record: a wakeup per record would cost more than the records.
  const pages = 16;
  const apps = AppPool.start(kernel, { pinPath: DEMO_PIN, apps: appSpecs, pages, watermark: (pages * PAGE_SIZE) / 4, pollMs: 20 });
  let cpus: CpuPool | undefined;
  const t0 = performance.now();
  let phase: DemoFrame['phase'] = 'all apps running';
  let exitedApp0 = false;
  const frame = (): DemoFrame => buildFrame(kernel, o.kernel, apps.live(), appSpecs, performance.now() - t0, phase, exitedApp0);
  const timer = o.onFrame ? setInterval(() => o.onFrame!(frame()), o.frameMs ?? 500) : undefined;
  const timeline: TimelineSample[] = [];
  const sample = (): void => {
    const f = frame();
    timeline.push({
      tMs: f.tMs,
      slots: f.rows.map((r) => r.owner),
      events: f.rows.map((r) => r.event),
      written: f.rows.map((r) => r.written),
      enoent: f.rows.map((r) => r.enoent),
      noRing: f.rows.map((r) => r.noRing),
      lost: f.rows.map((r) => r.lost),
    });
  };
  // at least ~120 samples a run, so a short run's timeline still shows what happened
  const sampler = setInterval(sample, Math.max(5, Math.min(100, o.durationMs / 120)));
  let exitAtMs = 0;
  let exitedAtMs = 0;
  try {
    await apps.ready();
    sample();
    cpus = CpuPool.start(kernel, { prog: { process: loader, fd: prog }, program: { index: 'current', rate: o.rate, size: o.size } });
    await cpus.ready(); // the phases count from when the CPUs run, not from when their threads were asked for
    await sleep(o.durationMs * 0.45);
    const beforeExit = frame();
    o.onFrame?.(beforeExit);
    const app0Events = apps.live()[0]!.perCpu.map((x) => ({ id: x.event, cpu: x.cpu }));
    exitAtMs = performance.now() - t0;
    apps.exit(0);
    await apps.exited(0);
    exitedAtMs = performance.now() - t0;
    sample();
    exitedApp0 = true;
    phase = 'app-0 exited';
    o.onFrame?.(frame());
    await sleep(o.durationMs * 0.55);
    cpus.stop();
    const cpuResults = await cpus.wait();
    cpus = undefined;
    sample();
    clearInterval(sampler);
    const stopped = kernel.inspect(); // CPUs stopped, survivors not yet drained
    const appResults = await apps.wait(); // survivors drain their rings and exit
    kernel.rcuBarrier();
    phase = 'done';
    const liveAfter = apps.live();
    // the slots as the CPUs left them (survivors still running), the counts after their last drain
    const final = buildFrame(kernel, o.kernel, liveAfter, appSpecs, performance.now() - t0, phase, true, stopped);
    o.onFrame?.(final);
    const snap = kernel.inspect();
    // samples taken before an app had published its map file named the owner 'file N': the
    // same owner as the app's name, so name it so (a rename is not a replace)
    const named = new Map(liveAfter.map((a) => [`file ${a.mapFile}`, a.name]));
    for (const s of timeline) s.slots = s.slots.map((x) => (x !== null ? (named.get(x) ?? x) : x));
    return {
      kernel: o.kernel,
      cpus: o.cpus,
      apps: o.apps,
      durationMs: o.durationMs,
      rate: o.rate,
      exitedApp: 'app-0',
      beforeExit,
      final,
      exitedAppEvents: app0Events.map(({ id, cpu }) => {
        const e = snap.perfEvents.find((x) => x.id === id);
        return { id, cpu, alive: e?.alive ?? false, fileRefs: e?.fileRefs ?? 0, heldBySlot: snap.maps[0]!.slots.some((s) => s?.event === id) };
      }),
      cpuResults,
      appResults,
      badRecords: appResults.reduce((s, r) => s + r.bad, 0),
      conservation: conservation(stopped, liveAfter.slice(1)),
      violations: snap.violations.length,
      timeline,
      exitAtMs,
      exitedAtMs,
    };
  } finally {
    clearInterval(sampler);
    if (timer) clearInterval(timer);
    if (cpus) {
      cpus.stop();
      await cpus.wait().catch(() => undefined);
    }
    await apps.wait().catch(() => undefined);
  }
}

function conservation(stopped: KernelSnapshot, survivors: AppLive[]): DemoRun['conservation'] {
  const out: DemoRun['conservation'] = [];
  for (const app of survivors) {
    for (const c of app.perCpu) {
      const cnt = stopped.cpuCounters[c.cpu]!;
      const lostPending = stopped.perfEvents.find((e) => e.id === c.event)?.ring?.lostPending ?? 0;
      const ok = c.received + c.lost + lostPending === cnt.outputs + cnt.lost;
      out.push({ cpu: c.cpu, ok, received: c.received, lostReported: c.lost, lostPending, written: cnt.outputs, lostCounted: cnt.lost });
    }
  }
  return out;
}

function buildFrame(
  kernel: Kernel,
  version: KernelVersion,
  live: AppLive[],
  specs: { name: string; cpus: number[] }[],
  tMs: number,
  phase: DemoFrame['phase'],
  app0Gone: boolean,
  slotsFrom?: KernelSnapshot,
): DemoFrame {
  const s = kernel.inspect();
  const slotSnap = slotsFrom ?? s;
  const map = slotSnap.maps.find((m) => m.alive);
  const ownerOf = new Map(live.map((a) => [a.mapFile, a.name]));
  const rows: DemoRow[] = [];
  for (let cpu = 0; cpu < s.cpus; cpu++) {
    const ai = specs.findIndex((a) => a.cpus.includes(cpu));
    const a = live[ai]!;
    const pc = a.perCpu.find((x) => x.cpu === cpu)!;
    const slot = map?.slots[cpu] ?? null;
    const cnt = s.cpuCounters[cpu]!;
    rows.push({
      cpu,
      slot: cpu,
      event: slot?.event ?? null,
      owner: slot ? (ownerOf.get(slot.owner) ?? `file ${slot.owner}`) : null,
      app: a.name,
      appState: ai === 0 && app0Gone ? 'exited' : a.state === 'done' && !slotsFrom ? 'exited' : 'running',
      written: cnt.outputs,
      received: pc.received,
      lost: pc.lost,
      enoent: cnt.ENOENT,
      noRing: cnt.noRing,
    });
  }
  return { kernel: version, tMs, phase, rows };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
