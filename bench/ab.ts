/**
 * `node dist/bench/ab.js A B`: compares two builds of perfemu (their `dist` folders, e.g. of two
 * worktrees) in one process, rounds alternating, on the two paths a change most often slows:
 * the output helper (one thread, 64 B records, inside a CPU's read-side section as the CPU loop
 * holds one, the ring drained every 64) and the release purge of a map file owning 4096 slots.
 * Both builds see the same machine load, so the median of the per-round ratios B/A is steadier
 * than either build's own figure; the same build on both sides gives about 1.00. A ratio, never
 * a verdict: the JIT may decide differently in another process, so run it two or three times.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { timedPurge } from './purge.js';
import { median } from './stats.js';

const USAGE = `node dist/bench/ab.js A B [--rounds N]
  A, B      the dist folders of two builds (each holds src/emulator.js), e.g. ../old/dist dist
  --rounds  timed rounds per path, 1..1000 (default 60; 20 untimed rounds come first)
Prints, per path, each build's median and the median of the per-round ratios B/A (below 1: B is faster).`;

const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string' }, help: { type: 'boolean', default: false } } });
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const fail = (msg: string): never => {
  console.error(`ab: ${msg}\n${USAGE}`);
  process.exit(2);
};
if (positionals.length !== 2) fail(`give two dist folders; got ${positionals.length}`);
const dirs = positionals.map((d) => resolve(d));
for (const d of dirs) if (!existsSync(join(d, 'src/emulator.js'))) fail(`${d} is not a built dist folder (no src/emulator.js)`);
const rounds = values.rounds === undefined ? 60 : Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1000) fail(`--rounds must be an integer from 1 to 1000; got '${values.rounds}'`);
const WARM = 20;

/** the two paths of one build, each returning its cost for one round */
async function paths(dir: string): Promise<{ output: () => number; purge: () => number }> {
  const { Kernel } = await import(join(dir, 'src/emulator.js'));
  const { bpf_perf_event_output } = await import(join(dir, 'src/kernel/bpf_trace.js'));
  const { rcu_read_lock, rcu_read_unlock } = await import(join(dir, 'src/kernel/rcu.js'));
  const kernel = Kernel.create({ cpus: 1, limits: { maxEntries: 1 << 13, rcuQueue: 1 << 14, ringPages: 300 } });
  const k = kernel.k;
  const app = kernel.process('ab');
  const m = app.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries: 1 });
  app.bpf.progLoad({ maps: [m] });
  const fd = app.perfEventOpen({ cpu: 0, pages: 64, wakeupEvents: 0, watermark: 16384 });
  app.bpf.mapUpdateElem(m, 0, fd);
  const data = new Uint8Array(64).fill(7);
  const noop = (): void => undefined;
  const N = 64 * 1024;
  return {
    /** ns per output */
    output() {
      const t0 = performance.now();
      for (let i = 0; i < N; i += 64) {
        rcu_read_lock(k, 0);
        for (let j = 0; j < 64; j++) bpf_perf_event_output(k, 0, 0, 0, 0xffffffff, 0, data, 64);
        rcu_read_unlock(k, 0);
        app.consumeRingRaw(fd, noop);
      }
      return ((performance.now() - t0) * 1e6) / N;
    },
    /** µs for the release purge of 4096 owned slots (the pin keeps the map) */
    purge: () => timedPurge(kernel, app, 4096, '/sys/fs/bpf/ab'),
  };
}

const [a, b] = [await paths(dirs[0]!), await paths(dirs[1]!)];
console.log(`ab: A = ${dirs[0]}\n    B = ${dirs[1]}\n    ${rounds} rounds per path (after ${WARM} untimed)`);
for (const [name, unit] of [
  ['output', 'ns per output'],
  ['purge', 'µs per 4096-slot purge'],
] as const) {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let r = 0; r < WARM + rounds; r++) {
    const x = a[name]();
    const y = b[name]();
    if (r >= WARM) {
      ta.push(x);
      tb.push(y);
    }
  }
  const ratio = median(ta.map((x, i) => tb[i]! / x));
  console.log(`${name.padEnd(6)}  A ${median(ta).toFixed(1)}  B ${median(tb).toFixed(1)} ${unit}  B/A ${ratio.toFixed(3)}`);
}
