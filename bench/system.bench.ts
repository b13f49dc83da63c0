/**
 * Whole-system figures: syscalls/s and outputs/s of a default stress run beside the main
 * thread's actor alone (no CPUs, no other thread: the contention-free rate); the explorer's
 * schedules/s on the purge-window scenario beside plain executions of it (no scheduling
 * points); arena bytes per CPU and per ring page; peak RSS of a default demo and stress run
 * beside an idle node.
 */
import { EXPLORER_LIMITS } from '../src/explore/runner.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kDefaultArenaConfig } from '../src/arena/arena.js';
import { CPU_STRIDE, computeLayout, PAGE_SIZE, RCU_CPU_STRIDE } from '../src/arena/layout.js';
import { Kernel } from '../src/emulator.js';
import { explore } from '../src/explore/explore.js';
import { scenarioByName } from '../src/explore/scenarios.js';
import { Actor } from '../src/stress/actor.js';
import { runStress } from '../src/stress/engine.js';

export interface SystemResult {
  stress: { seconds: number; opsPerSec: number; outputsPerSec: number; attemptsPerSec: number; soloOpsPerSec: number; ratio: number };
  explorer: { schedulesPerSec: number; plainPerSec: number; ratio: number; scheduler: string };
  memory: { arenaBytesPerCpu: number; arenaBytesPerRingPage: number; defaultArenaBytes: number; demoRssMb: number; stressRssMb: number; idleRssMb: number };
}

function rss(args: string[]): number {
  const wrapper = fileURLToPath(new URL('./rss.js', import.meta.url));
  const r = spawnSync(process.execPath, [wrapper, ...args], { encoding: 'utf8', timeout: 120_000 });
  const m = /maxRSS (\d+)/.exec(r.stderr);
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function systemBench(quick: boolean, log: (s: string) => void): Promise<SystemResult> {
  const seconds = quick ? 2 : 5;
  const r = await runStress({ cpus: 4, apps: 2, durationMs: seconds * 1000, seed: 1, kernel: '6.18', strict: false, maxEntries: 4 });
  const snapAttempts = r.cpu.outputs + r.cpu.lost + r.cpu.noRing + Object.values(r.cpu.errors).reduce((s, x) => s + x, 0) - (r.cpu.errors.ENOSPC ?? 0);
  // the actor alone: same actions, one thread, no CPUs
  const kernel = Kernel.create({
    cpus: 4,
    limits: { maxFiles: 2048, maxEvents: 512, maxMaps: 128, maxSlots: 8192, maxEntries: 4096, ringPages: 4096, rcuQueue: 8192 },
  });
  const loader = kernel.process('loader');
  loader.bpf.objPin(loader.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 4 }), '/sys/fs/bpf/stress');
  const solo = new Actor(kernel, { id: 0, seed: 1, cpus: 4, maxEntries: 4, mainPin: '/sys/fs/bpf/stress', pinNames: ['/sys/fs/bpf/s0', '/sys/fs/bpf/s1'] });
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    for (let i = 0; i < 256; i++) solo.step();
    kernel.rcuTick();
  }
  const soloOps = (solo.ops * 1000) / (performance.now() - t0);
  solo.finish();
  const stress = {
    seconds,
    opsPerSec: r.opsPerSec,
    outputsPerSec: r.cpu.outputsPerSec,
    attemptsPerSec: (snapAttempts * 1000) / r.elapsedMs,
    soloOpsPerSec: soloOps,
    ratio: r.opsPerSec / soloOps,
  };
  log(
    `  stress: ${Math.round(stress.opsPerSec)} syscalls/s (main actor alone: ${Math.round(soloOps)}/s), ${Math.round(stress.outputsPerSec)} outputs/s written`,
  );

  const scn = scenarioByName('purge-window')!;
  const ms = quick ? 1500 : 4000;
  const ex = explore(scn, { scheduler: 'random', seed: 1, bound: 2, maxSchedules: Number.MAX_SAFE_INTEGER, maxMs: ms, kernel: '6.18', strict: true });
  // plain executions: the scenario built and run on the ordinary arena, no scheduling points
  let plain = 0;
  const p0 = performance.now();
  while (performance.now() - p0 < ms / 2) {
    const k2 = Kernel.create({
      cpus: 2,
      strict: true,
      limits: EXPLORER_LIMITS,
    });
    for (const a of scn.build(k2).actors) for (const op of a.ops) op.run();
    plain++;
  }
  const plainPerSec = (plain * 1000) / (performance.now() - p0);
  const explorer = {
    schedulesPerSec: ex.schedulesPerSec,
    plainPerSec,
    ratio: ex.schedulesPerSec / plainPerSec,
    scheduler: 'random (strict kernel: no finding ends the run)',
  };
  log(`  explorer: ${Math.round(ex.schedulesPerSec)} schedules/s on purge-window; plain executions ${Math.round(plainPerSec)}/s`);

  const l4 = computeLayout({ cpus: 4, ...kDefaultArenaConfig });
  const memory = {
    // the words one more CPU adds (its RCU reader and its counters; a page boundary may hide them)
    arenaBytesPerCpu: (RCU_CPU_STRIDE + CPU_STRIDE) * 4,
    // a ring page and its allocator word
    arenaBytesPerRingPage: PAGE_SIZE + 4,
    defaultArenaBytes: l4.totalBytes,
    demoRssMb: rss(['demo', '--json', '--duration', String(quick ? 2 : 6)]),
    stressRssMb: rss(['stress', '--json', '--duration', String(quick ? 2 : 5), '--seed', '1']),
    idleRssMb: rss(['--version']),
  };
  log(
    `  memory: arena ${memory.arenaBytesPerCpu} B per CPU, ${memory.arenaBytesPerRingPage} B per ring page; peak RSS demo ${memory.demoRssMb.toFixed(0)} MB, stress ${memory.stressRssMb.toFixed(0)} MB, idle node ${memory.idleRssMb.toFixed(0)} MB`,
  );
  return { stress, explorer, memory };
}
