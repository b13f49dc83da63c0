/**
 * `perfemu story`: the commit's own story, scripted against the library API, on each kernel
 * version: an app creates a perf event array, pins it, puts one perf event per CPU in it
 * through its own fd, then exits. Before the fix (4.7) the pinned map keeps the app's events
 * alive; from 4.8 the app's map file release purges them; 5.10+ can opt out with
 * BPF_F_PRESERVE_ELEMS.
 */
import { table } from '../format.js';
import { command } from './command.js';
import { BPF_F_CURRENT_CPU, BPF_F_PRESERVE_ELEMS, KERNEL_VERSIONS, Kernel, type KernelVersion } from '../index.js';

export interface StoryResult {
  kernel: KernelVersion;
  preserveElems: boolean;
  cpus: number;
  /** slots still occupied after the app exited */
  slotsAfterExit: number;
  /** the app's perf events still alive after the exit and a grace period */
  eventsAliveAfterGracePeriod: number;
  /** what a program's output returns after the exit, per CPU */
  outputAfterExit: number[];
  /** events still alive after the pin is removed too */
  eventsAliveAfterUnlink: number;
  violations: number;
}

export function runStory(version: KernelVersion, cpus: number, preserveElems: boolean): StoryResult {
  const kernel = Kernel.create({ cpus, version });
  const app = kernel.process('app');
  const map = app.bpf.mapCreate({
    type: 'perf_event_array',
    keySize: 4,
    valueSize: 4,
    maxEntries: cpus,
    flags: preserveElems ? BPF_F_PRESERVE_ELEMS : 0,
  });
  app.bpf.objPin(map, '/sys/fs/bpf/events');
  for (let cpu = 0; cpu < cpus; cpu++) app.bpf.mapUpdateElem(map, cpu, app.perfEventOpen({ cpu }));
  // a tracer that loaded a program using the pinned map (it holds the map, not the events)
  const tracer = kernel.process('tracer');
  const prog = tracer.bpf.progLoad({ maps: [tracer.bpf.objGet('/sys/fs/bpf/events')] });
  app.exit();
  const afterExit = kernel.inspect();
  kernel.rcuBarrier();
  const alive = () => kernel.inspect().perfEvents.filter((e) => e.alive).length;
  const eventsAliveAfterGracePeriod = alive();
  const outputAfterExit = Array.from({ length: cpus }, (_, c) =>
    kernel.cpu(c).perfEventOutput({ process: tracer, fd: prog }, 0, BPF_F_CURRENT_CPU, Uint8Array.of(c, 0, 0, 0)),
  );
  tracer.exit();
  kernel.process('admin').unlink('/sys/fs/bpf/events');
  kernel.rcuBarrier();
  return {
    kernel: version,
    preserveElems,
    cpus,
    slotsAfterExit: afterExit.maps[0]!.slots.filter(Boolean).length,
    eventsAliveAfterGracePeriod,
    outputAfterExit,
    eventsAliveAfterUnlink: alive(),
    violations: kernel.violations().length,
  };
}

export function storyRows(cpus: number): StoryResult[] {
  const out: StoryResult[] = [];
  for (const v of KERNEL_VERSIONS) {
    out.push(runStory(v, cpus, false));
    if (v === '5.10' || v === '6.18') out.push(runStory(v, cpus, true));
  }
  return out;
}

export function formatStory(rows: StoryResult[]): string {
  const head = ['kernel', 'slots held after app exit', 'app events alive', 'output after exit', 'alive after unlink'];
  const body = rows.map((r) => [
    r.kernel + (r.preserveElems ? ' +PRESERVE_ELEMS' : ''),
    `${r.slotsAfterExit}/${r.cpus}`,
    `${r.eventsAliveAfterGracePeriod}/${r.cpus}${r.eventsAliveAfterGracePeriod && !r.preserveElems ? '  (leak)' : ''}`,
    [...new Set(r.outputAfterExit)].map(errText).join(','),
    String(r.eventsAliveAfterUnlink),
  ]);
  return table([head, ...body]);
}

function errText(ret: number): string {
  return ret === 0 ? '0' : (({ [-2]: '-ENOENT', [-28]: '-ENOSPC' } as Record<number, string>)[ret] ?? String(ret));
}

export const story = command({
  name: 'story',
  summary: "the commit's pinned-map story (app pins a map, fills it, exits) on every kernel version",
  options: {
    cpus: { type: 'int', arg: 'N', min: 1, max: 64, default: 4, help: 'simulated CPUs' },
    json: { type: 'flag', help: 'print one JSON document instead of the table' },
  },
  run(o) {
    const rows = storyRows(o.cpus);
    if (o.json) console.log(JSON.stringify({ command: 'story', cpus: o.cpus, results: rows }, null, 2));
    else {
      console.log(`An app creates a perf event array, pins it at /sys/fs/bpf/events, puts one BPF output`);
      console.log(`event per CPU in it through its own fd, and exits; a tracer's program still uses the map.\n`);
      console.log(formatStory(rows));
      console.log(`\n4.7 keeps the exited app's events alive through the pinned map (the leak fixed by`);
      console.log(`3b1efb196eee); 4.8+ purges the entries the app's map file added when it is released.`);
    }
    return rows.some((r) => r.violations > 0) ? 1 : 0;
  },
});
