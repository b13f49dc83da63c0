/**
 * conform(): runs the catalogue (scenarios.ts) on the host kernel and on perfemu and compares
 * what user space observed. The host side needs Linux, koffi, privilege for bpf(2) and
 * perf_event_open(2), and 2 CPUs; when one is missing, conform() throws
 * ERR.CONFORM_UNAVAILABLE (ERR_PERFEMU_CONFORM_UNAVAILABLE) with a one-line reason (the CLI exits 2 with it).
 */
import { ERR } from '../arena/perfemu_error.js';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { resolve } from 'node:path';
import { PerfemuError } from '../errors.js';
import { KERNEL_VERSIONS, type KernelVersion } from '../kernel/behaviour.js';
import { errnoName } from '../kernel/errno.js';
import { EmuSys } from './emu.js';
import { HostSys, hostMapIds, loadOutputProgram, openFdCount, testRunOnCpu } from './host.js';
import { Native } from './native.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import type { Sys } from './sys.js';

export interface ConformOptions {
  /** perfemu's kernel version (default: the modelled version nearest the host's) */
  kernel?: KernelVersion;
  /** a bpffs directory for the pin scenarios (default /sys/fs/bpf when it is a bpffs; null: skip them) */
  bpffs?: string | null;
  /** only scenarios whose name matches */
  only?: RegExp;
  /** called after each scenario (progress) */
  onScenario?: (done: number, total: number, name: string) => void;
}

export interface ConformRow {
  scenario: string;
  area: string;
  status: 'agree' | 'differ' | 'skipped';
  /** why it was skipped */
  reason?: string;
  /** the first observation that differs */
  difference?: { step: number; label: string; host: string; perfemu: string };
  host: [string, string][];
  perfemu: [string, string][];
}

export interface ConformResult {
  host: { release: string; cpus: number; bpffs: string | null };
  kernel: KernelVersion;
  scenarios: number;
  agree: number;
  differ: number;
  skipped: number;
  rows: ConformRow[];
  /** the host resources conform left behind: must be none */
  leaked: { fds: number; maps: number[] };
}

export interface DetectResult {
  host: { release: string; cpus: number };
  best: KernelVersion;
  versions: { kernel: KernelVersion; agree: number; differ: number; differing: string[] }[];
}

const UNAVAILABLE = ERR.CONFORM_UNAVAILABLE;

/** major.minor of a release string, as a number for comparisons (6.18 -> 6018) */
function versionNumber(v: string): number {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : 0;
}

/** the modelled version nearest `rel` (uname -r): the newest not above it, else the oldest */
export function nearestVersion(rel = release()): KernelVersion {
  const n = versionNumber(rel);
  const below = KERNEL_VERSIONS.filter((v) => versionNumber(v) <= n);
  return below.length ? below[below.length - 1]! : KERNEL_VERSIONS[0]!;
}

/** where bpffs is mounted: the mount point holding `dir`, when its type is bpf */
export function bpffsAt(dir: string): boolean {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return false;
  }
  const abs = resolve(dir);
  let best = '';
  let type = '';
  for (const line of mounts.split('\n')) {
    const [, mnt, fstype] = line.split(' ');
    if (!mnt || !fstype) continue;
    const m = mnt.replace(/\\040/g, ' ');
    if ((abs === m || abs.startsWith(m.endsWith('/') ? m : `${m}/`)) && m.length >= best.length) {
      best = m;
      type = fstype;
    }
  }
  return type === 'bpf';
}

/** the number of possible CPUs (nr_cpu_ids), as perf_event_open and the helper see them */
function hostCpus(): number {
  const s = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  return s.split(',').reduce((n, r) => {
    const [a, b] = r.split('-').map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);
}

/**
 * Checks that this host can run the catalogue: a one-line reason when it cannot, else the
 * native handle. Every object it makes is closed before it returns.
 */
export function probeHost(): { native: Native; cpus: number } | string {
  const n = Native.open();
  if (typeof n === 'string') return n;
  let cpus: number;
  try {
    cpus = hostCpus();
  } catch {
    return 'cannot read /sys/devices/system/cpu/possible';
  }
  if (cpus < 2) return `the host has ${cpus} CPU: the per-CPU scenarios need 2`;
  const h = new HostSys(n, cpus, null, 'probe');
  try {
    const map = h.mapCreate({ maxEntries: cpus });
    if (map < 0) {
      if (map === -38) return 'bpf(2) is not available on this kernel (ENOSYS)';
      return `bpf(BPF_MAP_CREATE) of a perf event array failed with ${errnoName(map)}${map === -1 ? ': run as root (CAP_BPF and CAP_PERFMON)' : ''}`;
    }
    const e = h.perfOpen({ cpu: 0 });
    if (e < 0)
      return `perf_event_open of a BPF output event failed with ${errnoName(e)}${e === -13 || e === -1 ? ': run as root, or lower kernel.perf_event_paranoid' : ''}`;
    const prog = loadOutputProgram(n, map, 1);
    if (prog < 0) return `BPF_PROG_LOAD of a raw tracepoint program failed with ${errnoName(prog)}`;
    h.close(prog);
    try {
      testRunOnCpu(n, h.progLoad(map), 1, 0xffff_ffffn, 8);
    } catch (err) {
      return `BPF_PROG_TEST_RUN with BPF_F_TEST_RUN_ON_CPU failed: ${(err as Error).message}`;
    }
    return { native: n, cpus };
  } finally {
    void h.release();
  }
}

/** @internal runs one scenario on one side, releasing everything it made, also when it throws */
export async function runOn(sys: Sys & { release(): Promise<void> }, sc: Scenario): Promise<[string, string][]> {
  const notes: [string, string][] = [];
  try {
    await sc.run(sys, (label, value) => notes.push([label, Array.isArray(value) ? value.join('\n') : String(value)]));
  } catch (err) {
    notes.push(['threw', `${(err as { code?: string }).code ?? (err as Error).name}: ${(err as Error).message}`]);
  } finally {
    await sys.release();
  }
  return notes;
}

function compare(host: [string, string][], emu: [string, string][]): ConformRow['difference'] {
  for (let i = 0; i < Math.max(host.length, emu.length); i++) {
    const h = host[i];
    const e = emu[i];
    if (!h || !e || h[0] !== e[0] || h[1] !== e[1]) {
      return { step: i, label: (h ?? e)![0], host: h ? h[1] : '(nothing)', perfemu: e ? e[1] : '(nothing)' };
    }
  }
  return undefined;
}

function resolveBpffs(opt: string | null | undefined): string | null {
  if (opt === null) return null;
  if (opt !== undefined) {
    if (!bpffsAt(opt)) throw new PerfemuError('ERR_INVALID_ARG_VALUE', `bpffs: ${opt} is not on a bpf filesystem (mount -t bpf bpf ${opt})`);
    return resolve(opt);
  }
  return bpffsAt('/sys/fs/bpf') ? '/sys/fs/bpf' : null;
}

/** runs the host side of every selected scenario once (shared by conform and detect) */
async function hostRuns(n: Native, cpus: number, bpffs: string | null, list: Scenario[], onScenario?: ConformOptions['onScenario']) {
  const fdsBefore = openFdCount();
  const ours = new Set<number>();
  const runs: ([string, string][] | string)[] = [];
  let i = 0;
  for (const sc of list) {
    if (sc.needs === 'bpffs' && bpffs === null) runs.push('no bpffs: /sys/fs/bpf is not a bpf filesystem; pass --bpffs DIR');
    else {
      const h = new HostSys(n, cpus, bpffs, String(i));
      h.onMapId = (id) => ours.add(id);
      runs.push(await runOn(h, sc));
    }
    onScenario?.(++i, list.length, sc.name);
  }
  // maps held by programs go after an RCU grace period and a workqueue: wait for ours, bounded
  const deadline = Date.now() + 3000;
  let live = hostMapIds(n).filter((id) => ours.has(id));
  while (live.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    live = hostMapIds(n).filter((id) => ours.has(id));
  }
  return { runs, leaked: { fds: openFdCount() - fdsBefore, maps: live } };
}

/** the scenarios `only` selects (all without it) */
export function select(only?: RegExp): Scenario[] {
  return only ? SCENARIOS.filter((s) => only.test(s.name)) : SCENARIOS;
}

/** the catalogue on the host and on perfemu at `kernel` */
export async function conform(opts: ConformOptions = {}): Promise<ConformResult> {
  const probe = probeHost();
  if (typeof probe === 'string') throw new PerfemuError(UNAVAILABLE, probe);
  const kernel = opts.kernel ?? nearestVersion();
  if (!KERNEL_VERSIONS.includes(kernel))
    throw new PerfemuError('ERR_INVALID_ARG_VALUE', `kernel must be one of ${KERNEL_VERSIONS.join(', ')}; got '${String(kernel)}'`);
  const bpffs = resolveBpffs(opts.bpffs);
  const list = select(opts.only);
  const { runs, leaked } = await hostRuns(probe.native, probe.cpus, bpffs, list, opts.onScenario);
  const rows: ConformRow[] = [];
  for (let i = 0; i < list.length; i++) {
    const sc = list[i]!;
    const h = runs[i]!;
    if (typeof h === 'string') {
      rows.push({ scenario: sc.name, area: sc.area, status: 'skipped', reason: h, host: [], perfemu: [] });
      continue;
    }
    const e = await runOn(new EmuSys(probe.cpus, kernel), sc);
    const difference = compare(h, e);
    rows.push({ scenario: sc.name, area: sc.area, status: difference ? 'differ' : 'agree', ...(difference ? { difference } : {}), host: h, perfemu: e });
  }
  return {
    host: { release: release(), cpus: probe.cpus, bpffs },
    kernel,
    scenarios: rows.length,
    agree: rows.filter((r) => r.status === 'agree').length,
    differ: rows.filter((r) => r.status === 'differ').length,
    skipped: rows.filter((r) => r.status === 'skipped').length,
    rows,
    leaked,
  };
}

/** which modelled version the host matches best, and where it differs from each */
export async function detect(opts: Omit<ConformOptions, 'kernel'> = {}): Promise<DetectResult> {
  const probe = probeHost();
  if (typeof probe === 'string') throw new PerfemuError(UNAVAILABLE, probe);
  const bpffs = resolveBpffs(opts.bpffs);
  const list = select(opts.only);
  const { runs } = await hostRuns(probe.native, probe.cpus, bpffs, list, opts.onScenario);
  const versions: DetectResult['versions'] = [];
  for (const kernel of KERNEL_VERSIONS) {
    const differing: string[] = [];
    let agree = 0;
    for (let i = 0; i < list.length; i++) {
      const h = runs[i]!;
      if (typeof h === 'string') continue;
      if (compare(h, await runOn(new EmuSys(probe.cpus, kernel), list[i]!))) differing.push(list[i]!.name);
      else agree++;
    }
    versions.push({ kernel, agree, differ: differing.length, differing });
  }
  // most agreeing rows; on a tie the newer version
  const best = versions.reduce((b, v) => (v.agree >= b.agree ? v : b)).kernel;
  return { host: { release: release(), cpus: probe.cpus }, best, versions };
}
