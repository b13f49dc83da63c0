/**
 * The conformance catalogue: short scenarios written once against `Sys` and run on the host
 * kernel and on perfemu. Each records what user space observes with `note(label, value)`;
 * two runs agree when their notes are equal. Scenarios are ordered shortest first within an
 * area, so the first differing one is the shortest that shows a difference.
 */
import { errnoName } from '../kernel/errno.js';
import type { Sys } from './sys.js';

export type Note = (label: string, value: number | string | string[]) => void;

export interface Scenario {
  name: string;
  area: 'map' | 'perf' | 'helper' | 'ring' | 'purge' | 'ids' | 'modes';
  /** what it needs of the host beyond bpf(2): a bpffs directory, or 2 CPUs */
  needs?: 'bpffs';
  run(s: Sys, note: Note): Promise<void> | void;
}

const BPF_ANY = 0;
const BPF_NOEXIST = 1;
const BPF_EXIST = 2;
const BPF_F_RDONLY = 1 << 3;
const BPF_F_WRONLY = 1 << 4;
const BPF_F_PRESERVE_ELEMS = 1 << 11;
const BPF_F_MMAPABLE = 1 << 10;
const BPF_F_RDONLY_PROG = 1 << 7;
const BPF_F_CURRENT_CPU = 0xffff_ffffn;
const PERF_COUNT_SW_CPU_CLOCK = 0;
const PERF_COUNT_SW_DUMMY = 9;

/** an fd or an errno name */
export const fdOr = (v: number): string => (v >= 0 ? 'fd' : errnoName(v));
/** 0 / a value or an errno name */
export const ret = (v: number): string => (v >= 0 ? String(v) : errnoName(v));

interface Setup {
  map: number;
  events: number[];
  prog: number;
}

/** a perf event array of one slot per CPU, a mapped BPF output event per CPU at key = CPU, a program */
function setup(s: Sys, note: Note, o: { flags?: number; pages?: number; fill?: boolean } = {}): Setup {
  const map = s.mapCreate({ maxEntries: s.cpus, flags: o.flags ?? 0 });
  if (map < 0) throw new Error(`setup: BPF_MAP_CREATE failed: ${errnoName(map)}`);
  const events: number[] = [];
  for (let c = 0; c < s.cpus; c++) {
    const e = s.perfOpen({ cpu: c });
    if (e < 0) throw new Error(`setup: perf_event_open(cpu ${c}) failed: ${errnoName(e)}`);
    const m = s.mmap(e, o.pages ?? 1);
    if (m < 0) throw new Error(`setup: mmap failed: ${errnoName(m)}`);
    events.push(e);
    if (o.fill !== false) note(`update key ${c}`, ret(s.update(map, c, e)));
  }
  const prog = s.progLoad(map);
  if (prog < 0) throw new Error(`setup: BPF_PROG_LOAD failed: ${errnoName(prog)}`);
  return { map, events, prog };
}

/** every CPU outputs `size` bytes with BPF_F_CURRENT_CPU */
function outputAll(s: Sys, note: Note, prog: number, label: string, size = 8): void {
  for (let c = 0; c < s.cpus; c++) note(`${label}: output on CPU ${c}`, ret(s.output(c, prog, BPF_F_CURRENT_CPU, size)));
}

const mapCreate = (name: string, o: Parameters<Sys['mapCreate']>[0]): Scenario => ({
  name,
  area: 'map',
  run: (s, note) => note('BPF_MAP_CREATE', fdOr(s.mapCreate(o))),
});

export const SCENARIOS: Scenario[] = [
  // --- BPF_MAP_CREATE's ladder for a perf event array (array_map_alloc_check, fd_array_map_alloc_check)
  mapCreate('create: key 4, value 4', {}),
  mapCreate('create: key_size 8', { keySize: 8 }),
  mapCreate('create: value_size 8', { valueSize: 8 }),
  mapCreate('create: key_size 0', { keySize: 0 }),
  mapCreate('create: max_entries 0', { maxEntries: 0 }),
  mapCreate('create: BPF_F_RDONLY|BPF_F_WRONLY', { flags: BPF_F_RDONLY | BPF_F_WRONLY }),
  mapCreate('create: BPF_F_MMAPABLE', { flags: BPF_F_MMAPABLE }),
  mapCreate('create: BPF_F_PRESERVE_ELEMS', { flags: BPF_F_PRESERVE_ELEMS }),
  mapCreate('create: BPF_F_RDONLY_PROG', { flags: BPF_F_RDONLY_PROG }),
  mapCreate('create: unknown flag bit 30', { flags: 1 << 30 }),
  mapCreate('create: max_entries 100000', { maxEntries: 100_000 }),
  mapCreate('create: max_entries 0xffffffff (array size overflows)', { maxEntries: 0xffff_ffff }),

  // --- element operations
  {
    name: 'update: errno ladder',
    area: 'map',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: 2 });
      const e = s.perfOpen({ cpu: 0 });
      note('update key 0', ret(s.update(map, 0, e)));
      note('update key 2 (max_entries 2)', ret(s.update(map, 2, e)));
      note('update value: bad fd', ret(s.update(map, 0, 9999)));
      note('update value: the map fd', ret(s.update(map, 0, map)));
      note('update flags BPF_NOEXIST', ret(s.update(map, 1, e, BPF_NOEXIST)));
      note('update flags BPF_EXIST', ret(s.update(map, 0, e, BPF_EXIST)));
      note('update flags 3', ret(s.update(map, 0, e, 3)));
      note('update flags BPF_F_LOCK', ret(s.update(map, 0, e, 4)));
      note('update on the perf fd', ret(s.update(e, 0, e)));
      note('update on a bad fd', ret(s.update(9999, 0, e)));
      note('update flags BPF_ANY again (replace)', ret(s.update(map, 0, e, BPF_ANY)));
    },
  },
  {
    name: 'update: events that are not BPF output',
    area: 'map',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: 2 });
      const clock = s.perfOpen({ cpu: 0, config: PERF_COUNT_SW_CPU_CLOCK });
      note('perf_event_open cpu_clock', fdOr(clock));
      note('update with cpu_clock', ret(s.update(map, 0, clock)));
      const dummy = s.perfOpen({ cpu: 0, config: PERF_COUNT_SW_DUMMY });
      note('perf_event_open dummy', fdOr(dummy));
      note('update with dummy', ret(s.update(map, 1, dummy)));
      const noraw = s.perfOpen({ cpu: 0, sampleRaw: false });
      note('update with bpf_output without PERF_SAMPLE_RAW', ret(s.update(map, 1, noraw)));
    },
  },
  {
    name: 'update: a per-task event (pid 0, cpu -1)',
    area: 'map',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: 2 });
      const e = s.perfOpen({ cpu: -1, pid: 0 });
      note('perf_event_open pid 0 cpu -1', fdOr(e));
      if (e >= 0) note('update', ret(s.update(map, 0, e)));
    },
  },
  {
    name: 'lookup, delete, get_next_key',
    area: 'map',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: 3 });
      const e = s.perfOpen({ cpu: 0 });
      note('lookup empty key 0', ret(s.lookup(map, 0)));
      note('update key 1', ret(s.update(map, 1, e)));
      note('lookup key 1', ret(s.lookup(map, 1)));
      note('lookup key 3 (out of range)', ret(s.lookup(map, 3)));
      note('delete key 0 (empty)', ret(s.del(map, 0)));
      note('delete key 3 (out of range)', ret(s.del(map, 3)));
      note('delete key 1', ret(s.del(map, 1)));
      note('delete key 1 again', ret(s.del(map, 1)));
      note('get_next_key NULL', ret(s.nextKey(map, null)));
      note('get_next_key 0', ret(s.nextKey(map, 0)));
      note('get_next_key 1', ret(s.nextKey(map, 1)));
      note('get_next_key 2 (last)', ret(s.nextKey(map, 2)));
      note('get_next_key 7 (out of range)', ret(s.nextKey(map, 7)));
      note('delete on the perf fd', ret(s.del(e, 0)));
      note('get_next_key on a bad fd', ret(s.nextKey(9999, 0)));
    },
  },
  {
    name: 'freeze',
    area: 'modes',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: 2 });
      const e = s.perfOpen({ cpu: 0 });
      note('update before freeze', ret(s.update(map, 0, e)));
      note('freeze', ret(s.freeze(map)));
      note('freeze again', ret(s.freeze(map)));
      note('update after freeze', ret(s.update(map, 1, e)));
      note('delete after freeze', ret(s.del(map, 0)));
      note('lookup after freeze', ret(s.lookup(map, 0)));
      note('get_next_key after freeze', ret(s.nextKey(map, 0)));
      note('freeze the perf fd', ret(s.freeze(e)));
      const prog = s.progLoad(map);
      const m = s.mmap(e, 1);
      note('mmap', ret(m));
      note('output on CPU 0 into the frozen map', ret(s.output(0, prog, BPF_F_CURRENT_CPU, 8)));
      note('ring', s.ring(e));
    },
  },
  {
    name: 'BPF_F_RDONLY and BPF_F_WRONLY maps',
    area: 'modes',
    run(s, note) {
      const e = s.perfOpen({ cpu: 0 });
      const ro = s.mapCreate({ maxEntries: 2, flags: BPF_F_RDONLY });
      note('create RDONLY', fdOr(ro));
      note('RDONLY: update', ret(s.update(ro, 0, e)));
      note('RDONLY: delete', ret(s.del(ro, 0)));
      note('RDONLY: lookup', ret(s.lookup(ro, 0)));
      note('RDONLY: get_next_key', ret(s.nextKey(ro, 0)));
      const wo = s.mapCreate({ maxEntries: 2, flags: BPF_F_WRONLY });
      note('create WRONLY', fdOr(wo));
      note('WRONLY: update', ret(s.update(wo, 0, e)));
      note('WRONLY: lookup', ret(s.lookup(wo, 0)));
      note('WRONLY: get_next_key', ret(s.nextKey(wo, 0)));
      note('WRONLY: delete', ret(s.del(wo, 0)));
    },
  },

  // --- perf_event_open and mmap
  {
    name: 'perf_event_open: errno ladder',
    area: 'perf',
    run(s, note) {
      note('cpu 0', fdOr(s.perfOpen({ cpu: 0 })));
      note('cpu = nr CPUs', fdOr(s.perfOpen({ cpu: s.cpus })));
      note('cpu -1, pid -1', fdOr(s.perfOpen({ cpu: -1, pid: -1 })));
      note('type 1000', fdOr(s.perfOpen({ cpu: 0, type: 1000 })));
      note('software config 1000', fdOr(s.perfOpen({ cpu: 0, config: 1000 })));
      note('disabled', fdOr(s.perfOpen({ cpu: 0, disabled: true })));
    },
  },
  {
    name: 'mmap: page counts',
    area: 'perf',
    run(s, note) {
      for (const pages of [0, 1, 2, 3, 4]) {
        const e = s.perfOpen({ cpu: 0 });
        note(`mmap 1+${pages} pages`, ret(s.mmap(e, pages)));
      }
      const e = s.perfOpen({ cpu: 0 });
      note('mmap 1+1 pages', ret(s.mmap(e, 1)));
    },
  },

  {
    name: 'mmap: twice, resized, after munmap',
    area: 'perf',
    run(s, note) {
      const e = s.perfOpen({ cpu: 0 });
      note('mmap 1+2 pages', ret(s.mmap(e, 2)));
      note('munmap', ret(s.munmap(e)));
      note('mmap 1+4 pages after munmap', ret(s.mmap(e, 4)));
      const d = s.dup(e);
      note('mmap the dup with 1+1 pages while 1+4 are mapped', ret(s.mmap(d, 1)));
    },
  },
  {
    name: 'mmap, close, dup: fds that are not perf events',
    area: 'perf',
    run(s, note) {
      const map = s.mapCreate({});
      note('mmap a map fd', ret(s.mmap(map, 1)));
      note('mmap a bad fd', ret(s.mmap(9999, 1)));
      const prog = s.progLoad(map);
      note('mmap a prog fd', ret(s.mmap(prog, 1)));
      note('close a bad fd', ret(s.close(9999)));
      note('dup a bad fd', fdOr(s.dup(9999)));
      const e = s.perfOpen({ cpu: 0 });
      note('close a perf fd', ret(s.close(e)));
      note('update with the closed perf fd', ret(s.update(map, 0, e)));
      note('close it again', ret(s.close(e)));
    },
  },
  {
    name: 'perf_event_open: inherit on a CPU-wide event',
    area: 'perf',
    run(s, note) {
      note('inherit, pid -1, cpu 0', fdOr(s.perfOpen({ cpu: 0, inherit: true })));
      note('pid 0, cpu 0', fdOr(s.perfOpen({ cpu: 0, pid: 0 })));
    },
  },
  {
    name: 'ioctl: disable and enable',
    area: 'helper',
    run(s, note) {
      const x = setup(s, note);
      note('PERF_EVENT_IOC_DISABLE CPU 0', ret(s.ioctl(x.events[0]!, 'disable')));
      outputAll(s, note, x.prog, 'CPU 0 disabled');
      note('PERF_EVENT_IOC_ENABLE CPU 0', ret(s.ioctl(x.events[0]!, 'enable')));
      outputAll(s, note, x.prog, 'enabled');
      note('ioctl on the map fd', ret(s.ioctl(x.map, 'enable')));
      note('ring of CPU 0', s.ring(x.events[0]!));
    },
  },
  {
    name: 'poll: wakeup_events 1, 3 and a watermark',
    area: 'ring',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: s.cpus });
      const prog = s.progLoad(map);
      const bare = s.perfOpen({ cpu: 0 });
      note('poll an unmapped event', ret(s.poll(bare)));
      for (const o of [{ wakeupEvents: 1 }, { wakeupEvents: 3 }, { watermark: 200 }]) {
        const e = s.perfOpen({ cpu: 0, ...o });
        const tag = JSON.stringify(o);
        note(`${tag}: mmap`, ret(s.mmap(e, 1)));
        note(`${tag}: update`, ret(s.update(map, 0, e)));
        note(`${tag}: poll before`, ret(s.poll(e)));
        for (let i = 0; i < 4; i++) {
          note(`${tag}: output ${i}`, ret(s.output(0, prog, BPF_F_CURRENT_CPU, 40)));
          note(`${tag}: poll`, ret(s.poll(e)));
        }
        note(`${tag}: poll again`, ret(s.poll(e)));
        s.ring(e);
      }
    },
  },
  {
    name: 'helper: one event in two slots, and in two maps',
    area: 'helper',
    run(s, note) {
      const x = setup(s, note);
      note('update key 1 with the event of CPU 0', ret(s.update(x.map, 1, x.events[0]!)));
      note('CPU 0, index 1', ret(s.output(0, x.prog, 1n, 8)));
      note('CPU 1, index 1', ret(s.output(1, x.prog, 1n, 8)));
      const other = s.mapCreate({ maxEntries: s.cpus });
      const prog2 = s.progLoad(other);
      note('map B: update key 0 with the same event', ret(s.update(other, 0, x.events[0]!)));
      note('close map A', ret(s.close(x.map)));
      note('map A prog, CPU 0', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
      note('map B prog, CPU 0', ret(s.output(0, prog2, BPF_F_CURRENT_CPU, 8)));
      note('ring of CPU 0', s.ring(x.events[0]!));
    },
  },
  {
    name: 'helper: delete then update again',
    area: 'helper',
    run(s, note) {
      const x = setup(s, note);
      note('delete key 0', ret(s.del(x.map, 0)));
      note('output on CPU 0', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
      note('update key 0', ret(s.update(x.map, 0, x.events[0]!)));
      note('output on CPU 0 again', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
      const fresh = s.perfOpen({ cpu: 0 });
      note('mmap a fresh event', ret(s.mmap(fresh, 1)));
      note('replace key 0 with it', ret(s.update(x.map, 0, fresh)));
      note('output on CPU 0 (fresh)', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 9)));
      note('ring of the old event', s.ring(x.events[0]!));
      note('ring of the fresh event', s.ring(fresh));
    },
  },
  {
    name: 'map: max_entries 1 and keys past it',
    area: 'map',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: 1 });
      const e = s.perfOpen({ cpu: 1 });
      note('update key 0 with the event of CPU 1', ret(s.update(map, 0, e)));
      note('get_next_key NULL', ret(s.nextKey(map, null)));
      note('get_next_key 0', ret(s.nextKey(map, 0)));
      note('get_next_key 0xffffffff', ret(s.nextKey(map, 0xffff_ffff)));
      note('update key 0xffffffff', ret(s.update(map, 0xffff_ffff, e)));
      note('delete key 0xffffffff', ret(s.del(map, 0xffff_ffff)));
      const prog = s.progLoad(map);
      note('CPU 1, BPF_F_CURRENT_CPU (index 1 >= max_entries)', ret(s.output(1, prog, BPF_F_CURRENT_CPU, 8)));
      note('CPU 1, index 0', ret(s.output(1, prog, 0n, 8)));
      note('CPU 0, BPF_F_CURRENT_CPU', ret(s.output(0, prog, BPF_F_CURRENT_CPU, 8)));
    },
  },

  // --- bpf_perf_event_output's ladder (kernel/trace/bpf_trace.c __bpf_perf_event_output)
  {
    name: 'helper: BPF_F_CURRENT_CPU on every CPU',
    area: 'helper',
    run(s, note) {
      const { events } = ((): Setup => {
        const x = setup(s, note);
        outputAll(s, note, x.prog, 'filled', 8);
        return x;
      })();
      events.forEach((e, c) => note(`ring of CPU ${c}`, s.ring(e)));
    },
  },
  {
    name: 'helper: empty slot',
    area: 'helper',
    run(s, note) {
      const x = setup(s, note, { fill: false });
      note('update key 0 only', ret(s.update(x.map, 0, x.events[0]!)));
      outputAll(s, note, x.prog, 'one slot');
      note('ring of CPU 1', s.ring(x.events[1]!));
    },
  },
  {
    name: 'helper: index flags',
    area: 'helper',
    run(s, note) {
      const x = setup(s, note);
      note('CPU 0, index 0', ret(s.output(0, x.prog, 0n, 8)));
      note('CPU 0, index 1 (an event of CPU 1)', ret(s.output(0, x.prog, 1n, 8)));
      note('CPU 1, index 0 (an event of CPU 0)', ret(s.output(1, x.prog, 0n, 8)));
      note('CPU 0, index = max_entries', ret(s.output(0, x.prog, BigInt(s.cpus), 8)));
      note('CPU 0, index 0xfffffffe', ret(s.output(0, x.prog, 0xffff_fffen, 8)));
      note('CPU 0, flags bit 32', ret(s.output(0, x.prog, 1n << 32n, 8)));
      note('CPU 0, flags bit 63 | CURRENT_CPU', ret(s.output(0, x.prog, (1n << 63n) | BPF_F_CURRENT_CPU, 8)));
      note('CPU 0, BPF_F_CTXLEN_MASK bits', ret(s.output(0, x.prog, (8n << 32n) | BPF_F_CURRENT_CPU, 8)));
      note('ring of CPU 0', s.ring(x.events[0]!));
    },
  },
  {
    name: 'helper: a slot holding a cpu_clock event',
    area: 'helper',
    run(s, note) {
      const x = setup(s, note, { fill: false });
      const clock = s.perfOpen({ cpu: 0, config: PERF_COUNT_SW_CPU_CLOCK });
      note('update key 0 with cpu_clock', ret(s.update(x.map, 0, clock)));
      note('output on CPU 0', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
    },
  },
  {
    name: 'helper: event without a ring, disabled, unmapped',
    area: 'helper',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: s.cpus });
      const prog = s.progLoad(map);
      const bare = s.perfOpen({ cpu: 0 });
      note('update key 0 with an unmapped event', ret(s.update(map, 0, bare)));
      note('output, no ring', ret(s.output(0, prog, BPF_F_CURRENT_CPU, 8)));
      const off = s.perfOpen({ cpu: 0, disabled: true });
      note('mmap disabled', ret(s.mmap(off, 1)));
      note('update key 0 with a disabled event', ret(s.update(map, 0, off)));
      note('output, disabled', ret(s.output(0, prog, BPF_F_CURRENT_CPU, 8)));
      note('ring of the disabled event', s.ring(off));
      const zero = s.perfOpen({ cpu: 0 });
      note('mmap 1+0 pages', ret(s.mmap(zero, 0)));
      note('update key 0 with a data-less ring', ret(s.update(map, 0, zero)));
      note('output, no data pages', ret(s.output(0, prog, BPF_F_CURRENT_CPU, 8)));
      const m = s.perfOpen({ cpu: 0 });
      note('mmap', ret(s.mmap(m, 1)));
      note('update key 0', ret(s.update(map, 0, m)));
      note('output', ret(s.output(0, prog, BPF_F_CURRENT_CPU, 8)));
      note('munmap', ret(s.munmap(m)));
      note('output after munmap', ret(s.output(0, prog, BPF_F_CURRENT_CPU, 8)));
    },
  },
  {
    name: 'helper: no PERF_SAMPLE_RAW',
    area: 'helper',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: s.cpus });
      const prog = s.progLoad(map);
      const e = s.perfOpen({ cpu: 0, sampleRaw: false });
      note('mmap', ret(s.mmap(e, 1)));
      note('update', ret(s.update(map, 0, e)));
      note('output', ret(s.output(0, prog, BPF_F_CURRENT_CPU, 24)));
      note('ring', s.ring(e));
    },
  },

  // --- the ring: format, padding, wrap, ENOSPC and PERF_RECORD_LOST
  {
    name: 'ring: record sizes 0..24 and padding',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note);
      for (const size of [0, 1, 3, 4, 5, 7, 8, 12, 13, 16, 24]) note(`size ${size}`, ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, size)));
      note('ring of CPU 0', s.ring(x.events[0]!));
    },
  },
  {
    name: 'ring: 256-byte records',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note);
      for (const size of [255, 256]) note(`size ${size}`, ret(s.output(1, x.prog, BPF_F_CURRENT_CPU, size)));
      note('ring of CPU 1', s.ring(x.events[1]!));
    },
  },
  {
    name: 'ring: full (ENOSPC), then PERF_RECORD_LOST',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note);
      const res: string[] = [];
      for (let i = 0; i < 20; i++) res.push(ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 252)));
      note('20 outputs of 252 B into one page', res.join(' '));
      const first = s.ring(x.events[0]!);
      note('records read', first.length);
      note('last record', first.slice(-1));
      note('output after the read', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 4)));
      note('ring after the read', s.ring(x.events[0]!));
      note('output again', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 4)));
      note('ring again', s.ring(x.events[0]!));
    },
  },
  {
    name: 'ring: wrap with stale padding',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note);
      const sizes = [100, 33, 250, 7, 61, 128, 1, 200];
      const res: string[] = [];
      let last: string[] = [];
      for (let i = 0; i < 60; i++) {
        res.push(ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, sizes[i % sizes.length]!)));
        if (i % 5 === 4) last = s.ring(x.events[0]!);
        if (i % 15 === 14) note(`ring at output ${i}`, last);
      }
      note('helper returns', res.join(' '));
    },
  },
  {
    name: 'ring: two pages, records across the end',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note, { pages: 2 });
      for (let round = 0; round < 4; round++) {
        const res: string[] = [];
        for (let i = 0; i < 12; i++) res.push(ret(s.output(1, x.prog, BPF_F_CURRENT_CPU, 150 + round * 20 + i)));
        note(`round ${round}: helper returns`, res.join(' '));
        note(`round ${round}: ring`, s.ring(x.events[1]!));
      }
    },
  },
  {
    name: 'ring: exactly full (the ring is never filled completely)',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note);
      const res: string[] = [];
      for (let i = 0; i < 17; i++) res.push(ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 244)));
      note('17 records of 256 B into 4096 B', res.join(' '));
      note('records read', s.ring(x.events[0]!).length);
      note('one more', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 244)));
      note(
        'ring',
        s.ring(x.events[0]!).map((r) => r.slice(0, 40)),
      );
    },
  },
  {
    name: 'ring: pending losses go with the ring on munmap',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note);
      for (let i = 0; i < 20; i++) s.output(0, x.prog, BPF_F_CURRENT_CPU, 252);
      note('munmap the full ring', ret(s.munmap(x.events[0]!)));
      note('output, no ring', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
      note('mmap again', ret(s.mmap(x.events[0]!, 1)));
      note('output into the new ring', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
      note('ring', s.ring(x.events[0]!));
    },
  },
  {
    name: 'poll: a full ring, losses, and the read that frees it',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note);
      const e = x.events[0]!;
      note('poll before', ret(s.poll(e)));
      const res: string[] = [];
      for (let i = 0; i < 18; i++) res.push(`${ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 252))}/${ret(s.poll(e))}`);
      note('output/poll x18', res.join(' '));
      note('records read', s.ring(e).length);
      note('poll after the read', ret(s.poll(e)));
      note('output (writes the LOST record first)', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 4)));
      note('poll', ret(s.poll(e)));
      note('ring', s.ring(e));
      note('munmap', ret(s.munmap(e)));
      note('poll without the ring', ret(s.poll(e)));
    },
  },
  {
    name: 'ring: loss count across several failures',
    area: 'ring',
    run(s, note) {
      const x = setup(s, note);
      const res: string[] = [];
      for (let i = 0; i < 40; i++) res.push(ret(s.output(1, x.prog, BPF_F_CURRENT_CPU, 200)));
      note('helper returns', res.join(' '));
      note('ring', s.ring(x.events[1]!).length);
      for (let i = 0; i < 3; i++) note(`after read, output ${i}`, ret(s.output(1, x.prog, BPF_F_CURRENT_CPU, 16)));
      note('ring after', s.ring(x.events[1]!));
    },
  },
  {
    name: 'ring: wakeup_events 0 and 4 (same bytes)',
    area: 'ring',
    run(s, note) {
      const map = s.mapCreate({ maxEntries: s.cpus });
      const prog = s.progLoad(map);
      for (const w of [0, 4]) {
        const e = s.perfOpen({ cpu: 0, wakeupEvents: w });
        note(`mmap (wakeup_events ${w})`, ret(s.mmap(e, 1)));
        note('update', ret(s.update(map, 0, e)));
        for (let i = 0; i < 5; i++) {
          note(`output ${i}`, ret(s.output(0, prog, BPF_F_CURRENT_CPU, 10 + i)));
          note(`poll ${i}`, ret(s.poll(e)));
        }
        note('ring', s.ring(e));
      }
    },
  },

  // --- the release purge (commit 3b1efb196eee) through several frontends
  {
    name: 'purge: close the only map fd',
    area: 'purge',
    run(s, note) {
      const x = setup(s, note);
      outputAll(s, note, x.prog, 'before');
      note('close map fd', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'after');
    },
  },
  {
    name: 'purge: dup keeps the file',
    area: 'purge',
    run(s, note) {
      const x = setup(s, note);
      const d = s.dup(x.map);
      note('close map fd (dup open)', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'dup open');
      note('close the dup', ret(s.close(d)));
      outputAll(s, note, x.prog, 'dup closed');
    },
  },
  {
    name: 'purge: BPF_F_PRESERVE_ELEMS',
    area: 'purge',
    run(s, note) {
      const x = setup(s, note, { flags: BPF_F_PRESERVE_ELEMS });
      note('close map fd', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'after close');
      note('ring of CPU 0', s.ring(x.events[0]!));
    },
  },
  {
    name: 'purge: closing the perf fd keeps the entry',
    area: 'purge',
    run(s, note) {
      const x = setup(s, note);
      for (const e of x.events) note('close perf fd', ret(s.close(e)));
      outputAll(s, note, x.prog, 'perf fds closed');
      note('ring of CPU 1 (still mapped)', s.ring(x.events[1]!));
      note('delete key 1', ret(s.del(x.map, 1)));
      outputAll(s, note, x.prog, 'key 1 deleted');
    },
  },
  {
    name: 'purge: entries put by another frontend survive',
    area: 'purge',
    needs: 'bpffs',
    run(s, note) {
      const x = setup(s, note, { fill: false });
      note('pin', ret(s.pin(x.map, 'm')));
      const g = s.objGet('m');
      note('BPF_OBJ_GET', fdOr(g));
      note('update key 0 via fd A', ret(s.update(x.map, 0, x.events[0]!)));
      note('update key 1 via fd B', ret(s.update(g, 1, x.events[1]!)));
      note('close fd B', ret(s.close(g)));
      outputAll(s, note, x.prog, 'B closed');
      note('unlink', ret(s.unlink('m')));
      outputAll(s, note, x.prog, 'unlinked');
      note('close fd A', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'A closed');
    },
  },
  {
    name: 'purge: a replaced entry belongs to its new frontend',
    area: 'purge',
    needs: 'bpffs',
    run(s, note) {
      const x = setup(s, note);
      note('pin', ret(s.pin(x.map, 'm')));
      const g = s.objGet('m');
      note('replace key 0 via fd B', ret(s.update(g, 0, x.events[0]!)));
      note('close fd A', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'A closed');
      note('close fd B', ret(s.close(g)));
      outputAll(s, note, x.prog, 'B closed');
      note('unlink', ret(s.unlink('m')));
    },
  },
  {
    name: 'purge: the pin does not keep the entries of a closed fd',
    area: 'purge',
    needs: 'bpffs',
    run(s, note) {
      const x = setup(s, note);
      note('pin', ret(s.pin(x.map, 'events')));
      note('close map fd (pinned)', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'pinned, fd closed');
      const g = s.objGet('events');
      note('BPF_OBJ_GET', fdOr(g));
      note('get_next_key', ret(s.nextKey(g, null)));
      note('update key 0 again', ret(s.update(g, 0, x.events[0]!)));
      note('output on CPU 0', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
      note('unlink', ret(s.unlink('events')));
      note('output on CPU 0 (unlinked, fd open)', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
      note('close', ret(s.close(g)));
      note('output on CPU 0 (closed)', ret(s.output(0, x.prog, BPF_F_CURRENT_CPU, 8)));
    },
  },
  {
    name: 'purge: a forked child holds the map file',
    area: 'purge',
    async run(s, note) {
      const x = setup(s, note);
      const child = await s.fork([x.map]);
      note('close map fd in the parent', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'child alive');
      await child.exit();
      outputAll(s, note, x.prog, 'child exited');
    },
  },
  {
    name: 'purge: RDONLY frontend from BPF_OBJ_GET',
    area: 'purge',
    needs: 'bpffs',
    run(s, note) {
      const x = setup(s, note);
      note('pin', ret(s.pin(x.map, 'ro')));
      const ro = s.objGet('ro', BPF_F_RDONLY);
      note('BPF_OBJ_GET RDONLY', fdOr(ro));
      note('RDONLY: update', ret(s.update(ro, 0, x.events[0]!)));
      note('RDONLY: delete', ret(s.del(ro, 0)));
      note('RDONLY: get_next_key', ret(s.nextKey(ro, 0)));
      note('close RDONLY fd', ret(s.close(ro)));
      outputAll(s, note, x.prog, 'RDONLY closed');
      const wo = s.objGet('ro', BPF_F_WRONLY);
      note('BPF_OBJ_GET WRONLY', fdOr(wo));
      note('WRONLY: lookup', ret(s.lookup(wo, 0)));
      note('WRONLY: replace key 1', ret(s.update(wo, 1, x.events[1]!)));
      note('close WRONLY fd', ret(s.close(wo)));
      outputAll(s, note, x.prog, 'WRONLY closed');
      note('BPF_OBJ_GET flags RDONLY|WRONLY', fdOr(s.objGet('ro', BPF_F_RDONLY | BPF_F_WRONLY)));
      note('BPF_OBJ_GET flags 1', fdOr(s.objGet('ro', 1)));
      note('unlink', ret(s.unlink('ro')));
    },
  },
  {
    name: 'purge: a GET_FD_BY_ID frontend purges its own entries',
    area: 'purge',
    run(s, note) {
      const x = setup(s, note, { fill: false });
      const id = s.mapId(x.map);
      const g = s.mapFdById(id);
      note('GET_FD_BY_ID', fdOr(g));
      note('update key 0 via fd A', ret(s.update(x.map, 0, x.events[0]!)));
      note('update key 1 via the id fd', ret(s.update(g, 1, x.events[1]!)));
      note('close the id fd', ret(s.close(g)));
      outputAll(s, note, x.prog, 'id fd closed');
    },
  },
  {
    name: 'purge: a forked child updates, then exits',
    area: 'purge',
    async run(s, note) {
      const x = setup(s, note, { fill: false });
      // the child's copy of the fd is the same file: its exit drops one reference, not the last
      const child = await s.fork([x.map]);
      note('update key 0', ret(s.update(x.map, 0, x.events[0]!)));
      await child.exit();
      outputAll(s, note, x.prog, 'child exited, parent holds the file');
      note('close in the parent', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'last reference closed');
    },
  },
  {
    name: 'purge: closing an fd of another map leaves this one',
    area: 'purge',
    run(s, note) {
      const x = setup(s, note);
      const other = s.mapCreate({ maxEntries: s.cpus });
      note('other map: update key 0 with the same event', ret(s.update(other, 0, x.events[0]!)));
      note('close the other map', ret(s.close(other)));
      outputAll(s, note, x.prog, 'other closed');
    },
  },
  {
    name: 'purge: a pinned program outlives its fds',
    area: 'purge',
    needs: 'bpffs',
    async run(s, note) {
      const x = setup(s, note);
      const id = s.mapId(x.map);
      note('pin the program', ret(s.pin(x.prog, 'prog')));
      note('close the prog fd', ret(s.close(x.prog)));
      const p = s.objGet('prog');
      note('BPF_OBJ_GET the program', fdOr(p));
      outputAll(s, note, p, 'through the pinned program');
      note('close the map fd', ret(s.close(x.map)));
      outputAll(s, note, p, 'map fd closed');
      note('close the program fd', ret(s.close(p)));
      note('GET_FD_BY_ID (the pinned program holds the map)', s.mapFdById(id) >= 0 ? 'fd' : 'gone');
      note('unlink the program', ret(s.unlink('prog')));
      await s.settle(id);
      note('GET_FD_BY_ID after unlink', fdOr(s.mapFdById(id)));
    },
  },
  {
    name: 'pin: errno ladder',
    area: 'purge',
    needs: 'bpffs',
    run(s, note) {
      const map = s.mapCreate({});
      const e = s.perfOpen({ cpu: 0 });
      note('pin map', ret(s.pin(map, 'p')));
      note('pin again at the same path', ret(s.pin(map, 'p')));
      note('pin a perf fd', ret(s.pin(e, 'q')));
      note('pin a bad fd', ret(s.pin(9999, 'q')));
      note('BPF_OBJ_GET a missing path', fdOr(s.objGet('missing')));
      note('unlink', ret(s.unlink('p')));
      note('unlink again', ret(s.unlink('p')));
      note('pin in a missing directory', ret(s.pin(map, 'nodir/x')));
      note('pin with a 300-byte name', ret(s.pin(map, 'n'.repeat(300))));
    },
  },

  // --- ids: BPF_MAP_GET_NEXT_ID and BPF_MAP_GET_FD_BY_ID after frees
  {
    name: 'ids: a map freed by its last close',
    area: 'ids',
    async run(s, note) {
      const map = s.mapCreate({});
      const id = s.mapId(map);
      note('map id', id > 0 ? 'id' : ret(id));
      note('GET_NEXT_ID(id - 1) is the map', s.nextMapId(id - 1) === id ? 'yes' : 'no');
      const byId = s.mapFdById(id);
      note('GET_FD_BY_ID', fdOr(byId));
      note('close fd by id', ret(s.close(byId)));
      note('close map fd', ret(s.close(map)));
      await s.settle(id);
      note('GET_FD_BY_ID after free', fdOr(s.mapFdById(id)));
      note('GET_NEXT_ID(id - 1) after free is the map', s.nextMapId(id - 1) === id ? 'yes' : 'no');
    },
  },
  {
    name: 'ids: a program keeps the map',
    area: 'ids',
    async run(s, note) {
      const x = setup(s, note);
      const id = s.mapId(x.map);
      note('close map fd', ret(s.close(x.map)));
      outputAll(s, note, x.prog, 'purged');
      const g = s.mapFdById(id);
      note('GET_FD_BY_ID (the program holds the map)', fdOr(g));
      note('update key 1 via the new fd', ret(s.update(g, 1, x.events[1]!)));
      outputAll(s, note, x.prog, 'refilled');
      note('close the new fd', ret(s.close(g)));
      outputAll(s, note, x.prog, 'closed again');
      note('close prog', ret(s.close(x.prog)));
      await s.settle(id);
      note('GET_FD_BY_ID after the program is freed', fdOr(s.mapFdById(id)));
    },
  },
  {
    name: 'ids: GET_FD_BY_ID flags',
    area: 'ids',
    run(s, note) {
      const map = s.mapCreate({});
      const id = s.mapId(map);
      const e = s.perfOpen({ cpu: 0 });
      const ro = s.mapFdById(id, BPF_F_RDONLY);
      note('GET_FD_BY_ID RDONLY', fdOr(ro));
      note('RDONLY: update', ret(s.update(ro, 0, e)));
      note('GET_FD_BY_ID RDONLY|WRONLY', fdOr(s.mapFdById(id, BPF_F_RDONLY | BPF_F_WRONLY)));
      note('GET_FD_BY_ID flags 1', fdOr(s.mapFdById(id, 1)));
      note('freeze through the RDONLY fd', ret(s.freeze(ro)));
      const wo = s.mapFdById(id, BPF_F_WRONLY);
      note('GET_FD_BY_ID WRONLY', fdOr(wo));
      note('freeze through the WRONLY fd', ret(s.freeze(wo)));
      note('update through the WRONLY fd after freeze', ret(s.update(wo, 0, e)));
      note('GET_FD_BY_ID id 0', fdOr(s.mapFdById(0)));
    },
  },
];
