/**
 * One timed release purge: a map file owning every slot of a `maxEntries` map is closed while a
 * pin keeps the map, so its release purges them all. The control bench and `bench/ab.ts` (which
 * passes another build's kernel and process: only their public methods are used) share it.
 */
import type { Kernel, KernelOptions } from '../src/emulator.js';
import type { Process } from '../src/process/process.js';

/** the control bench's arena: room for a 4096-slot purge's entries and call_rcu records, and the rings */
export const CONTROL_LIMITS: NonNullable<KernelOptions['limits']> = { maxEntries: 1 << 15, rcuQueue: 1 << 16, ringPages: 1024 };

/** µs of the close that purges `maxEntries` owned slots; the kernel is left as it was */
export function timedPurge(kernel: Pick<Kernel, 'rcuBarrier'>, p: Process, maxEntries: number, pin: string): number {
  const F = p.bpf.mapCreate({ type: 'perf_event_array', keySize: 4, valueSize: 4, maxEntries });
  p.bpf.objPin(F, pin);
  const ev = p.perfEventOpen({ cpu: 0, mmap: false });
  for (let i = 0; i < maxEntries; i++) p.bpf.mapUpdateElem(F, i, ev);
  const t0 = performance.now();
  p.close(F); // the release purge of every slot (the pin keeps the map)
  const us = (performance.now() - t0) * 1000;
  p.unlink(pin);
  p.close(ev);
  kernel.rcuBarrier();
  return us;
}
