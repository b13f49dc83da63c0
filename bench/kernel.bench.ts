/**
 * The physical anchor: what the host kernel itself pays per bpf_perf_event_output of 64 B,
 * beside perfemu's output path and the bare SharedArrayBuffer ring. The host side loads a
 * raw tracepoint program that outputs N records in a loop (unrolled by the verifier) and runs
 * it with BPF_PROG_TEST_RUN + BPF_F_TEST_RUN_ON_CPU; the same program with N = 1 is the
 * baseline, so the syscall and the cross-CPU call cancel out: cost = (T(N) - T(1)) / (N - 1), from
 * the medians of each (and from the best runs of each: the figure least disturbed by other load).
 * Needs what `perfemu conform` needs (koffi, root, Linux); otherwise it says why and skips.
 */
import { release } from 'node:os';
import { Kernel } from '../src/emulator.js';
import { BPF_F_CURRENT_CPU } from '../src/kernel/behaviour.js';
import { probeHost } from '../src/conform/conform.js';
import { HostSys, loadOutputProgram, testRunOnCpu } from '../src/conform/host.js';
import { floor } from './output.bench.js';
import { quantile } from './stats.js';

const SIZE = 64;
const PAGES = 128; // 512 KiB: N records of 80 B fit, so every output takes the write path

export interface KernelResult {
  skipped?: string;
  host?: { release: string; nsPerOutput: number; minNsPerOutput: number; p90NsPerOutput: number; runs: number; outputsPerRun: number; syscallUs: number };
  perfemu?: { nsPerOutput: number; minNsPerOutput: number };
  floor?: { nsPerRecord: number };
}

/** outputs through perfemu's path before its timed runs */
const WARM_OUTPUTS = 200_000;

export async function kernelBench(quick: boolean, log: (s: string) => void): Promise<KernelResult> {
  const probe = probeHost();
  if (typeof probe === 'string') {
    log(`  kernel: skipped: ${probe}`);
    return { skipped: probe };
  }
  const n = quick ? 1024 : 4096;
  const runs = quick ? 15 : 60;
  const h = new HostSys(probe.native, probe.cpus, null, 'bench');
  const tns: number[] = [];
  const base: number[] = [];
  try {
    const map = h.mapCreate({ maxEntries: probe.cpus });
    const e = h.perfOpen({ cpu: 0 });
    if (map < 0 || e < 0 || h.mmap(e, PAGES) < 0 || h.update(map, 0, e) < 0) throw new Error('kernel bench: setup failed');
    const one = h.progLoad(map);
    const many = loadOutputProgram(probe.native, map, n);
    if (one < 0 || many < 0) throw new Error(`kernel bench: BPF_PROG_LOAD failed (${one}, ${many})`);
    const time = (prog: number): number => {
      const t0 = process.hrtime.bigint();
      const r = testRunOnCpu(probe.native, prog, 0, BigInt(BPF_F_CURRENT_CPU), SIZE);
      const ns = Number(process.hrtime.bigint() - t0);
      if (r !== 0) throw new Error(`kernel bench: the helper returned ${r}`);
      return ns;
    };
    for (let i = 0; i < runs + 3; i++) {
      const t1 = time(one);
      const tn = time(many);
      const recs = h.ring(e);
      if (recs.length !== n + 1) throw new Error(`kernel bench: ${recs.length} records in the ring, expected ${n + 1}`);
      if (i >= 3) {
        // warm-up runs dropped
        base.push(t1);
        tns.push(tn);
      }
    }
  } finally {
    await h.release();
  }
  // perfemu's output path, the same 64 B records, one thread, drained between runs
  const kernel = Kernel.create({ cpus: probe.cpus, limits: { ringPages: PAGES + 16 } });
  const app = kernel.process('bench');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: probe.cpus });
  const fd = app.perfEventOpen({ cpu: 0, pages: PAGES, wakeupEvents: 0 });
  app.bpf.mapUpdateElem(m, 0, fd);
  const prog = app.bpf.progLoad({ maps: [m] });
  const cpu = kernel.cpu(0);
  const data = new Uint8Array(SIZE).fill(7);
  const ours: number[] = [];
  // untimed first, as the output windows' workers are: the helper's code is compiled before it is
  // timed (--quick's runs alone are too few outputs for that)
  for (let w = 0; w < WARM_OUTPUTS; w += n) {
    for (let j = 0; j < n; j++) cpu.perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data);
    app.consumeRing(fd, () => undefined);
  }
  for (let i = 0; i < runs + 3; i++) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < n; j++) cpu.perfEventOutput(prog, 0, BPF_F_CURRENT_CPU, data);
    const ns = Number(process.hrtime.bigint() - t0);
    app.consumeRing(fd, () => undefined);
    if (i >= 3) ours.push(ns / n);
  }
  app.exit();
  const floorRate = await floor(1, SIZE, quick ? 300 : 1000);
  const r: KernelResult = {
    host: {
      release: release(),
      nsPerOutput: (quantile(tns, 0.5) - quantile(base, 0.5)) / (n - 1),
      minNsPerOutput: (Math.min(...tns) - Math.min(...base)) / (n - 1),
      p90NsPerOutput: (quantile(tns, 0.9) - quantile(base, 0.9)) / (n - 1),
      runs,
      outputsPerRun: n,
      syscallUs: quantile(base, 0.5) / 1000,
    },
    perfemu: { nsPerOutput: quantile(ours, 0.5), minNsPerOutput: Math.min(...ours) },
    floor: { nsPerRecord: 1e9 / floorRate },
  };
  log(
    `  host kernel ${r.host!.nsPerOutput.toFixed(0)} ns/output, perfemu ${r.perfemu!.nsPerOutput.toFixed(0)} ns, bare ring ${r.floor!.nsPerRecord.toFixed(0)} ns`,
  );
  return r;
}
