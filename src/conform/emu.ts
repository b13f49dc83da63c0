/**
 * perfemu as a conformance `Sys`: one Kernel and one process per scenario. A perfemu
 * SystemCallError becomes the -errno the host would return; any other throw is the scenario's
 * result (and shows as a difference).
 */
import { E_ID, RB_DATA_HEAD, RB_DATA_OFFSET, RB_DATA_SIZE, RB_DATA_TAIL } from '../arena/layout.js';
import { ringWord } from '../arena/records.js';
import { Kernel } from '../emulator.js';
import { SystemCallError } from '../errors.js';
import type { KernelVersion } from '../kernel/behaviour.js';
import { EBADF, ENOENT } from '../kernel/errno.js';
import { file_obj } from '../kernel/file.js';
import { event_field, event_rb } from '../kernel/perf_event.js';
import { BPFFS_ROOT } from '../kernel/bpf/inode.js';
import type { Process } from '../process/process.js';
import { formatRecords } from './records.js';
import { PAYLOAD, type Child, type MapCreate, type PerfOpen, type Sys } from './sys.js';

function errno(fn: () => number | void): number {
  try {
    return fn() ?? 0;
  } catch (err) {
    if (err instanceof SystemCallError) return err.errno;
    throw err;
  }
}

export class EmuSys implements Sys {
  readonly side = 'perfemu';
  readonly cpus: number;
  readonly kernel: Kernel;
  #p: Process;
  /** perf fd -> [event index, file id] of each mapping */
  #rings = new Map<number, [number, number]>();

  constructor(cpus: number, version: KernelVersion, strict = false) {
    this.cpus = cpus;
    // the arena's slot table holds the catalogue's largest map (100,000 slots); its default
    // (65,536) is a perfemu capacity, not a kernel limit
    this.kernel = Kernel.create({ cpus, version, strict, limits: { maxSlots: 1 << 18 } });
    this.#p = this.kernel.process('conform');
  }

  mapCreate(o: MapCreate): number {
    return errno(() =>
      this.#p.bpf.mapCreate({
        type: o.type ?? 4,
        keySize: o.keySize ?? 4,
        valueSize: o.valueSize ?? 4,
        maxEntries: o.maxEntries ?? this.cpus,
        flags: o.flags ?? 0,
      }),
    );
  }
  update(map: number, key: number, value: number, flags = 0): number {
    return errno(() => this.#p.bpf.mapUpdateElem(map, key, value, flags));
  }
  lookup(map: number, key: number): number {
    return errno(() => this.#p.bpf.mapLookupElem(map, key));
  }
  del(map: number, key: number): number {
    return errno(() => this.#p.bpf.mapDeleteElem(map, key));
  }
  nextKey(map: number, key: number | null): number {
    return errno(() => this.#p.bpf.mapGetNextKey(map, key));
  }
  freeze(map: number): number {
    return errno(() => this.#p.bpf.mapFreeze(map));
  }
  mapId(map: number): number {
    return errno(() => {
      const file = this.#p.fileOf(map);
      const f = this.kernel.inspect().files.find((x) => x.id === file);
      return f && f.kind === 'map' ? f.object : -EBADF;
    });
  }
  nextMapId(start: number): number {
    // BPF_MAP_GET_NEXT_ID walks the id table, which holds the maps whose refcount is not 0
    const ids = this.kernel
      .inspect()
      .maps.filter((m) => m.alive && m.refcnt > 0 && m.id > start)
      .map((m) => m.id);
    return ids.length ? Math.min(...ids) : -ENOENT;
  }
  mapFdById(id: number, openFlags = 0): number {
    return errno(() => this.#p.bpf.mapGetFdById(id, openFlags));
  }
  pin(fd: number, name: string): number {
    return errno(() => this.#p.bpf.objPin(fd, `${BPFFS_ROOT}/${name}`));
  }
  objGet(name: string, flags = 0): number {
    return errno(() => this.#p.bpf.objGet(`${BPFFS_ROOT}/${name}`, flags));
  }
  unlink(name: string): number {
    return errno(() => this.#p.unlink(`${BPFFS_ROOT}/${name}`));
  }
  perfOpen(o: PerfOpen): number {
    return errno(() =>
      this.#p.perfEventOpen({
        cpu: o.cpu,
        pid: o.pid ?? -1,
        type: o.type ?? 1,
        config: o.config ?? 10,
        sampleRaw: o.sampleRaw ?? true,
        disabled: o.disabled ?? false,
        wakeupEvents: o.wakeupEvents ?? 1,
        mmap: false,
        inherit: o.inherit ?? false,
        ...(o.watermark !== undefined ? { watermark: o.watermark } : {}),
      }),
    );
  }
  mmap(fd: number, pages: number): number {
    return errno(() => {
      this.#p.mmap(fd, pages);
      const k = this.kernel.k;
      this.#rings.set(fd, [file_obj(k, this.#p.fileIndex(fd)), this.#p.fileOf(fd)]);
    });
  }
  munmap(fd: number): number {
    const r = this.#rings.get(fd);
    if (!r) throw new Error(`conform: fd ${fd} has no mapping`);
    this.#rings.delete(fd);
    return errno(() => this.#p.munmap({ file: r[1] }));
  }
  ring(fd: number): string[] {
    const r = this.#rings.get(fd);
    if (!r) throw new Error(`conform: fd ${fd} has no mapping`);
    // what user space reads in the mapping: data_head, data_tail, data_offset, data_size
    const k = this.kernel.k;
    const rb = event_rb(k, r[0]);
    if (rb < 0) return [];
    const a = k.a;
    const head = a.load(ringWord(rb, RB_DATA_HEAD));
    const tail = a.i32[ringWord(rb, RB_DATA_TAIL)]!;
    const off = rb * 4 + a.i32[ringWord(rb, RB_DATA_OFFSET)]!;
    const size = a.i32[ringWord(rb, RB_DATA_SIZE)]!;
    const out = formatRecords(a.u8.subarray(off, off + size), size ? (tail >>> 0) % size : 0, (head - tail) >>> 0, BigInt(event_field(k, r[0], E_ID)));
    a.store(ringWord(rb, RB_DATA_TAIL), head);
    return out;
  }
  progLoad(map: number): number {
    return errno(() => this.#p.bpf.progLoad({ maps: [map] }));
  }
  output(cpu: number, prog: number, flags: bigint, size: number): number {
    return this.kernel.cpu(cpu).perfEventOutput({ process: this.#p, fd: prog }, 0, flags, PAYLOAD.subarray(0, size));
  }
  ioctl(fd: number, request: 'enable' | 'disable'): number {
    return errno(() => this.#p.ioctl(fd, request === 'enable' ? 'PERF_EVENT_IOC_ENABLE' : 'PERF_EVENT_IOC_DISABLE'));
  }
  poll(fd: number): number {
    return errno(() => this.#p.poll([fd], 0).find((x) => x.fd === fd)?.revents ?? 0);
  }
  close(fd: number): number {
    return errno(() => this.#p.close(fd));
  }
  dup(fd: number): number {
    return errno(() => this.#p.dup(fd));
  }
  async fork(fds: number[]): Promise<Child> {
    const child = this.#p.fork('child');
    for (const { fd } of child.fds()) if (!fds.includes(fd)) child.close(fd);
    return { exit: async () => void (child.alive && child.exit()) };
  }
  async settle(): Promise<void> {
    this.kernel.rcuBarrier();
  }
  async release(): Promise<void> {
    for (const p of this.kernel.processes()) if (p.alive) p.exit();
    this.kernel.rcuBarrier();
  }
}
