/**
 * The host kernel as a conformance `Sys`: real bpf(2), perf_event_open(2) and mmap through
 * koffi (native.ts). It remembers every fd, mapping, pin and child it makes, and `release()`
 * undoes all of them, also after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_PROG_TYPE_RAW_TRACEPOINT, outputProgram } from './bpf_asm.js';
import type { Native } from './native.js';
import { PERF_EVENT_IOC_DISABLE, PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_ID } from './native.js';
import { formatRecords } from './records.js';
import type { Child, MapCreate, PerfOpen, Sys } from './sys.js';

const PAGE = 4096;
export const BPF_MAP_CREATE = 0;
export const BPF_MAP_LOOKUP_ELEM = 1;
export const BPF_MAP_UPDATE_ELEM = 2;
export const BPF_MAP_DELETE_ELEM = 3;
export const BPF_MAP_GET_NEXT_KEY = 4;
export const BPF_PROG_LOAD = 5;
export const BPF_OBJ_PIN = 6;
export const BPF_OBJ_GET = 7;
export const BPF_PROG_TEST_RUN = 10;
export const BPF_MAP_GET_NEXT_ID = 12;
export const BPF_MAP_GET_FD_BY_ID = 14;
export const BPF_OBJ_GET_INFO_BY_FD = 15;
export const BPF_MAP_FREEZE = 22;
const BPF_F_TEST_RUN_ON_CPU = 1;
const PERF_FLAG_FD_CLOEXEC = 8;
const PERF_SAMPLE_RAW = 1n << 10n;
const ATTR = 128;

/** the ids of every live map (BPF_MAP_GET_NEXT_ID from 0) */
export function hostMapIds(n: Native): number[] {
  const ids: number[] = [];
  let id = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const a = Buffer.alloc(16);
    a.writeUInt32LE(id, 0);
    if (n.bpf(BPF_MAP_GET_NEXT_ID, a) < 0) break;
    id = a.readUInt32LE(4);
    ids.push(id);
  }
  return ids;
}

/**
 * The number of this process's open fds on bpf maps, programs and perf events (not every fd:
 * Node opens some of its own, e.g. the pipe that watches for SIGCHLD after a first spawn).
 */
export function openFdCount(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (/^anon_inode:(bpf-|\[perf_event\])/.test(readlinkSync(`/proc/self/fd/${fd}`))) n++;
    } catch {
      // the fd readdir itself used, closed by now
    }
  }
  return n;
}

interface Mapping {
  ptr: unknown;
  view: Uint8Array;
  len: number;
  id: bigint;
}

export class HostSys implements Sys {
  readonly side = 'host';
  readonly cpus: number;
  #n: Native;
  #prefix: string | null;
  #fds = new Set<number>();
  #maps = new Map<number, Mapping>();
  #pins = new Set<string>();
  #children = new Set<ChildProcess>();
  /** told the id of every map this Sys opens an fd of (for the leak check) */
  onMapId: ((id: number) => void) | undefined;
  /** buffers the kernel holds pointers into while a call runs */
  #keep: Buffer[] = [];

  /** `bpffs`: the directory pins go in (null: scenarios that pin are skipped) */
  constructor(n: Native, cpus: number, bpffs: string | null, tag: string) {
    this.#n = n;
    this.cpus = cpus;
    this.#prefix = bpffs === null ? null : join(bpffs, `perfemu-conform-${process.pid}-${tag}-`);
  }

  #fd(r: number): number {
    if (r >= 0) this.#fds.add(r);
    return r;
  }

  #mapFd(r: number): number {
    this.#fd(r);
    if (r >= 0 && this.onMapId) {
      const id = this.mapId(r);
      if (id > 0) this.onMapId(id);
    }
    return r;
  }

  #ptr(b: Buffer): bigint {
    this.#keep.push(b);
    return this.#n.addr(b);
  }

  #u32(v: number): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(v >>> 0, 0);
    return b;
  }

  mapCreate(o: MapCreate): number {
    const a = Buffer.alloc(ATTR);
    a.writeUInt32LE(o.type ?? 4, 0);
    a.writeUInt32LE(o.keySize ?? 4, 4);
    a.writeUInt32LE(o.valueSize ?? 4, 8);
    a.writeUInt32LE(o.maxEntries ?? this.cpus, 12);
    a.writeUInt32LE(o.flags ?? 0, 16);
    return this.#mapFd(this.#n.bpf(BPF_MAP_CREATE, a));
  }

  #elem(cmd: number, map: number, key: Buffer | null, value: Buffer | null, flags: number): number {
    const a = Buffer.alloc(32);
    a.writeUInt32LE(map >>> 0, 0);
    if (key) a.writeBigUInt64LE(this.#ptr(key), 8);
    if (value) a.writeBigUInt64LE(this.#ptr(value), 16);
    a.writeBigUInt64LE(BigInt(flags), 24);
    const r = this.#n.bpf(cmd, a);
    this.#keep = [];
    return r;
  }

  update(map: number, key: number, value: number, flags = 0): number {
    return this.#elem(BPF_MAP_UPDATE_ELEM, map, this.#u32(key), this.#u32(value), flags);
  }

  lookup(map: number, key: number): number {
    const v = this.#u32(0);
    const r = this.#elem(BPF_MAP_LOOKUP_ELEM, map, this.#u32(key), v, 0);
    return r < 0 ? r : v.readUInt32LE(0);
  }

  del(map: number, key: number): number {
    return this.#elem(BPF_MAP_DELETE_ELEM, map, this.#u32(key), null, 0);
  }

  nextKey(map: number, key: number | null): number {
    const next = this.#u32(0xdead);
    const r = this.#elem(BPF_MAP_GET_NEXT_KEY, map, key === null ? null : this.#u32(key), next, 0);
    return r < 0 ? r : next.readUInt32LE(0);
  }

  freeze(map: number): number {
    return this.#n.bpf(BPF_MAP_FREEZE, this.#u32(map));
  }

  mapId(map: number): number {
    const info = Buffer.alloc(88);
    const a = Buffer.alloc(16);
    a.writeUInt32LE(map >>> 0, 0);
    a.writeUInt32LE(info.length, 4);
    a.writeBigUInt64LE(this.#ptr(info), 8);
    const r = this.#n.bpf(BPF_OBJ_GET_INFO_BY_FD, a);
    this.#keep = [];
    return r < 0 ? r : info.readUInt32LE(4);
  }

  nextMapId(start: number): number {
    const a = Buffer.alloc(16);
    a.writeUInt32LE(start >>> 0, 0);
    const r = this.#n.bpf(BPF_MAP_GET_NEXT_ID, a);
    return r < 0 ? r : a.readUInt32LE(4);
  }

  mapFdById(id: number, openFlags = 0): number {
    const a = Buffer.alloc(16);
    a.writeUInt32LE(id >>> 0, 0);
    a.writeUInt32LE(openFlags >>> 0, 8);
    return this.#mapFd(this.#n.bpf(BPF_MAP_GET_FD_BY_ID, a));
  }

  #path(name: string): string {
    if (this.#prefix === null) throw new Error('no bpffs: this scenario should have been skipped');
    return this.#prefix + name;
  }

  pin(fd: number, name: string): number {
    const path = Buffer.from(`${this.#path(name)}\0`);
    const a = Buffer.alloc(24);
    a.writeBigUInt64LE(this.#ptr(path), 0);
    a.writeUInt32LE(fd >>> 0, 8);
    const r = this.#n.bpf(BPF_OBJ_PIN, a);
    this.#keep = [];
    if (r === 0) this.#pins.add(name);
    return r;
  }

  objGet(name: string, flags = 0): number {
    const path = Buffer.from(`${this.#path(name)}\0`);
    const a = Buffer.alloc(24);
    a.writeBigUInt64LE(this.#ptr(path), 0);
    a.writeUInt32LE(flags >>> 0, 12);
    const r = this.#n.bpf(BPF_OBJ_GET, a);
    this.#keep = [];
    return this.#fd(r);
  }

  unlink(name: string): number {
    try {
      // fs.unlinkSync is unlink(2): bpffs frees the pin's reference on the object
      unlinkSync(this.#path(name));
      this.#pins.delete(name);
      return 0;
    } catch (err) {
      return -((err as NodeJS.ErrnoException).errno !== undefined ? Math.abs((err as NodeJS.ErrnoException).errno!) : 5);
    }
  }

  perfOpen(o: PerfOpen): number {
    const a = Buffer.alloc(ATTR);
    a.writeUInt32LE(o.type ?? 1, 0); // PERF_TYPE_SOFTWARE
    a.writeUInt32LE(ATTR, 4);
    a.writeBigUInt64LE(BigInt(o.config ?? 10), 8); // PERF_COUNT_SW_BPF_OUTPUT
    a.writeBigUInt64LE(1n, 16); // sample_period
    a.writeBigUInt64LE(o.sampleRaw === false ? 0n : PERF_SAMPLE_RAW, 24);
    // flags: disabled (bit 0), inherit (bit 1), watermark (bit 14)
    a.writeBigUInt64LE((o.disabled ? 1n : 0n) | (o.inherit ? 2n : 0n) | (o.watermark !== undefined ? 1n << 14n : 0n), 40);
    a.writeUInt32LE(o.watermark ?? o.wakeupEvents ?? 1, 48); // wakeup_events / wakeup_watermark
    return this.#fd(this.#n.perfEventOpen(a, o.pid ?? -1, o.cpu, -1, PERF_FLAG_FD_CLOEXEC));
  }

  mmap(fd: number, pages: number): number {
    const len = (1 + pages) * PAGE;
    const m = this.#n.mmap(fd, len);
    if (typeof m === 'number') return m;
    const idb = Buffer.alloc(8);
    const r = this.#n.ioctl(fd, PERF_EVENT_IOC_ID, idb);
    this.#maps.set(fd, { ...m, len, id: r === 0 ? idb.readBigUInt64LE(0) : -1n });
    return 0;
  }

  munmap(fd: number): number {
    const m = this.#maps.get(fd);
    if (!m) throw new Error(`conform: fd ${fd} has no mapping`);
    this.#maps.delete(fd);
    return this.#n.munmap(m.ptr, m.len);
  }

  ring(fd: number): string[] {
    const m = this.#maps.get(fd);
    if (!m) throw new Error(`conform: fd ${fd} has no mapping`);
    const dv = new DataView(m.view.buffer, m.view.byteOffset, m.view.byteLength);
    const head = dv.getBigUint64(1024, true);
    const tail = dv.getBigUint64(1032, true);
    const off = Number(dv.getBigUint64(1040, true));
    const size = Number(dv.getBigUint64(1048, true));
    const out = formatRecords(m.view.subarray(off, off + size), Number(tail % BigInt(size || 1)), Number(head - tail), m.id);
    dv.setBigUint64(1032, head, true);
    return out;
  }

  progLoad(map: number): number {
    return this.#fd(loadOutputProgram(this.#n, map, 1));
  }

  output(cpu: number, prog: number, flags: bigint, size: number): number {
    return testRunOnCpu(this.#n, prog, cpu, flags, size);
  }

  ioctl(fd: number, request: 'enable' | 'disable'): number {
    return this.#n.ioctl(fd, request === 'enable' ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, null);
  }

  poll(fd: number): number {
    return this.#n.poll(fd);
  }

  close(fd: number): number {
    const r = this.#n.close(fd);
    if (r === 0) this.#fds.delete(fd);
    return r;
  }

  dup(fd: number): number {
    return this.#fd(this.#n.dup(fd));
  }

  async fork(fds: number[]): Promise<Child> {
    // a child that inherits exactly these fds (at 3, 4, ...) and waits for its stdin to close
    const child = spawn(process.execPath, ['-e', 'process.stdin.resume(); process.stdin.on("end", () => process.exit(0))'], {
      stdio: ['pipe', 'ignore', 'ignore', ...fds],
    });
    this.#children.add(child);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return {
      exit: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const done = new Promise<void>((resolve) => child.once('close', () => resolve()));
        child.stdin!.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await done;
        clearTimeout(timer);
        this.#children.delete(child);
      },
    };
  }

  async settle(mapId?: number): Promise<void> {
    // the host frees a map after an RCU grace period and a workqueue: poll for its id, bounded
    if (mapId === undefined) return;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const fd = this.mapFdById(mapId);
      if (fd < 0) return;
      this.close(fd);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** closes, unmaps, unlinks and reaps everything this Sys made */
  async release(): Promise<void> {
    for (const c of this.#children) {
      c.kill('SIGKILL');
      await new Promise<void>((r) => (c.stdin?.destroyed && (c.exitCode !== null || c.signalCode !== null) ? r() : c.once('close', () => r())));
    }
    this.#children.clear();
    for (const fd of [...this.#maps.keys()]) this.munmap(fd);
    for (const name of [...this.#pins]) this.unlink(name);
    for (const fd of [...this.#fds].reverse()) this.close(fd);
  }
}

/** BPF_PROG_LOAD of the output program; the verifier log goes to the error on failure */
export function loadOutputProgram(n: Native, map: number, count: number): number {
  const insns = outputProgram(map, count);
  const license = Buffer.from('GPL\0');
  const a = Buffer.alloc(ATTR);
  a.writeUInt32LE(BPF_PROG_TYPE_RAW_TRACEPOINT, 0);
  a.writeUInt32LE(insns.length / 8, 4);
  a.writeBigUInt64LE(n.addr(insns), 8);
  a.writeBigUInt64LE(n.addr(license), 16);
  const r = n.bpf(BPF_PROG_LOAD, a);
  insns.fill(0, 0, 0); // keep the buffers alive past the call
  license.fill(0, 0, 0);
  return r;
}

/** BPF_PROG_TEST_RUN with BPF_F_TEST_RUN_ON_CPU: the program's return value (the helper's) */
export function testRunOnCpu(n: Native, prog: number, cpu: number, flags: bigint, size: number): number {
  const ctx = Buffer.alloc(24);
  ctx.writeBigUInt64LE(flags, 0);
  ctx.writeBigUInt64LE(BigInt(size), 8);
  const a = Buffer.alloc(80);
  a.writeUInt32LE(prog >>> 0, 0);
  a.writeUInt32LE(ctx.length, 40);
  a.writeBigUInt64LE(n.addr(ctx), 48);
  a.writeUInt32LE(BPF_F_TEST_RUN_ON_CPU, 64);
  a.writeUInt32LE(cpu, 68);
  const r = n.bpf(BPF_PROG_TEST_RUN, a);
  ctx.fill(0, 0, 0);
  if (r < 0) throw new Error(`BPF_PROG_TEST_RUN on CPU ${cpu} failed: errno ${-r}`);
  return a.readInt32LE(4);
}
