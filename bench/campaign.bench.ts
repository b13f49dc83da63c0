/**
 * `node dist/bench/campaign.bench.js [--seeds A..B] [--rounds N]`: schedules per second of a
 * campaign over a pool of workers against the explorer run seed after seed in one thread, over
 * the same seeds of the purge window (random scheduler, the campaign's default budget). Windows
 * alternate (single, campaign, single, ...) so a change in the machine's load hits both; the
 * load average is printed beside every window because on a shared machine it decides the ratio.
 */
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { runCampaign } from '../src/campaign/run.js';
import type { CampaignSpec } from '../src/campaign/result.js';
import { parseRange } from '../src/campaign/shard.js';
import { count } from '../src/format.js';

const { values } = parseArgs({
  options: { seeds: { type: 'string', default: '1..1000' }, rounds: { type: 'string', default: '3' }, workers: { type: 'string' } },
});
const seeds = parseRange(values.seeds, 0x7fffffff);
if (!seeds) throw new Error('--seeds A..B');
const rounds = Number(values.rounds);
const workers = values.workers ? Number(values.workers) : availableParallelism();
const spec: CampaignSpec = {
  command: 'explore',
  options: { scenario: 'purge-window', scheduler: 'random', bound: 2, budget: 1000, kernel: '6.18', strict: false, inject: null, subtrees: null },
};

interface Window {
  schedules: number;
  ms: number;
  /** CPU time of the whole process (every thread), ms */
  cpuMs: number;
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * The explorer seed after seed in a fresh thread: as cold as a new `perfemu explore` process
 * (the campaign's workers are fresh too, so both pay their JIT warm-up).
 */
function single(): Promise<Window> {
  const url = new URL('../src/explore/explore.js', import.meta.url).href;
  const scnUrl = new URL('../src/explore/scenarios.js', import.meta.url).href;
  const code = `
    const { parentPort, workerData: d } = require('node:worker_threads');
    (async () => {
      const { explore } = await import(${JSON.stringify(url)});
      const { scenarioByName } = await import(${JSON.stringify(scnUrl)});
      const scn = scenarioByName('purge-window');
      let schedules = 0;
      for (let s = d.first; s <= d.last; s++) {
        schedules += explore(scn, { scheduler: 'random', seed: s, bound: 2, maxSchedules: 1000, maxMs: Number.MAX_SAFE_INTEGER, kernel: '6.18', strict: false }).schedules;
      }
      parentPort.postMessage(schedules);
    })();`;
  const c0 = cpuMs();
  const t0 = performance.now();
  const w = new Worker(code, { eval: true, workerData: seeds });
  return new Promise((resolve, reject) => {
    w.once('message', (schedules: number) => {
      resolve({ schedules, ms: performance.now() - t0, cpuMs: cpuMs() - c0 });
      void w.terminate();
    });
    w.once('error', reject);
  });
}

async function campaign(): Promise<Window> {
  const c0 = cpuMs();
  const t0 = performance.now();
  const r = await runCampaign(spec, { seeds, shard: { index: 0, count: 1 }, workers });
  return { schedules: r.counts.schedules ?? 0, ms: performance.now() - t0, cpuMs: cpuMs() - c0 };
}

const la = () => loadavg()[0]!.toFixed(1);
const ratios: number[] = [];
console.log(`seeds ${values.seeds}, ${workers} workers, ${availableParallelism()} cores`);
for (let i = 0; i < rounds; i++) {
  const l0 = la();
  const a = await single();
  const l1 = la();
  const b = await campaign();
  const ra = (a.schedules * 1000) / a.ms;
  const rb = (b.schedules * 1000) / b.ms;
  ratios.push(rb / ra);
  // cores actually obtained: CPU time over wall time (2.0 = both cores of a 2-core machine)
  console.log(
    `round ${i + 1}: single ${count(ra)} schedules/s (${(a.ms / 1000).toFixed(1)} s, ${(a.cpuMs / a.ms).toFixed(2)} cores, load ${l0})  ` +
      `campaign ${count(rb)} schedules/s (${(b.ms / 1000).toFixed(1)} s, ${(b.cpuMs / b.ms).toFixed(2)} cores, load ${l1})  ratio ${(rb / ra).toFixed(2)}`,
  );
}
ratios.sort((x, y) => x - y);
console.log(`median ratio ${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)} (min ${ratios[0]!.toFixed(2)}, max ${ratios.at(-1)!.toFixed(2)})`);
