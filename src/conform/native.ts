/**
 * The host kernel, reached through the FFI package `koffi` (an optional dependency, loaded
 * here lazily and only by `perfemu conform` and the kernel benchmark): bpf(2),
 * perf_event_open(2), mmap/munmap, ioctl, close, dup through libc. Every call returns what the
 * syscall returned, or -errno; nothing throws for an errno. x86_64 and arm64 syscall numbers.
 */
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';

/** the part of koffi's API used here */
type KoffiFn = (...args: unknown[]) => unknown;
interface Koffi {
  load(path: string): { func(name: string, ret: string, params: string[]): KoffiFn };
  errno(): number;
  address(v: unknown): bigint;
  view(ptr: unknown, len: number): ArrayBuffer;
}

const SYSCALLS: Record<string, { bpf: number; perf_event_open: number }> = {
  x64: { bpf: 321, perf_event_open: 298 },
  arm64: { bpf: 280, perf_event_open: 241 },
};

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
/** _IOR('$', 7, __u64): the event's id, as PERF_RECORD_LOST carries it */
export const PERF_EVENT_IOC_ID = 0x80082407;
export const PERF_EVENT_IOC_ENABLE = 0x2400;
export const PERF_EVENT_IOC_DISABLE = 0x2401;

/** The native syscalls; `open()` returns null and a reason when they cannot be had. */
export class Native {
  readonly koffi: Koffi;
  #bpf: KoffiFn;
  #peo: KoffiFn;
  #mmap: KoffiFn;
  #munmap: KoffiFn;
  #close: KoffiFn;
  #dup: KoffiFn;
  #ioctl: KoffiFn;
  #poll: KoffiFn;

  private constructor(koffi: Koffi, nr: { bpf: number; perf_event_open: number }) {
    this.koffi = koffi;
    const libc = koffi.load('libc.so.6');
    const sys4 = libc.func('syscall', 'long', ['long', 'long', 'void *', 'long']);
    const sys6 = libc.func('syscall', 'long', ['long', 'void *', 'long', 'long', 'long', 'long']);
    this.#bpf = (cmd: unknown, attr: unknown, size: unknown) => sys4(nr.bpf, cmd, attr, size);
    this.#peo = (attr: unknown, pid: unknown, cpu: unknown, group: unknown, flags: unknown) => sys6(nr.perf_event_open, attr, pid, cpu, group, flags);
    this.#mmap = libc.func('mmap', 'void *', ['void *', 'size_t', 'int', 'int', 'int', 'int64_t']);
    this.#munmap = libc.func('munmap', 'int', ['void *', 'size_t']);
    this.#close = libc.func('close', 'int', ['int']);
    this.#dup = libc.func('dup', 'int', ['int']);
    this.#ioctl = libc.func('ioctl', 'int', ['int', 'unsigned long', 'void *']);
    this.#poll = libc.func('poll', 'int', ['void *', 'unsigned long', 'int']);
  }

  /** loads koffi and libc; a one-line reason when this host cannot run native scenarios */
  static open(): Native | string {
    if (platform() !== 'linux') return `the host is ${platform()}, not Linux: there is no bpf(2) to compare with`;
    const nr = SYSCALLS[arch()];
    if (!nr) return `the host architecture ${arch()} has no syscall numbers here (x64, arm64)`;
    let koffi: Koffi;
    try {
      koffi = createRequire(import.meta.url)('koffi') as Koffi;
    } catch (err) {
      return `the optional dependency koffi is not installed (${(err as Error).message.split('\n')[0]}); npm install koffi`;
    }
    try {
      return new Native(koffi, nr);
    } catch (err) {
      return `koffi could not load libc.so.6: ${(err as Error).message.split('\n')[0]}`;
    }
  }

  #ret(r: unknown): number {
    const n = Number(r);
    return n < 0 ? -this.koffi.errno() : n;
  }

  bpf(cmd: number, attr: Buffer): number {
    return this.#ret(this.#bpf(cmd, attr, attr.length));
  }

  perfEventOpen(attr: Buffer, pid: number, cpu: number, groupFd: number, flags: number): number {
    return this.#ret(this.#peo(attr, pid, cpu, groupFd, flags));
  }

  /** mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0): the pointer, or -errno */
  mmap(fd: number, len: number): { ptr: unknown; view: Uint8Array } | number {
    const p = this.#mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
    const addr = this.koffi.address(p);
    if (addr === 0xffff_ffff_ffff_ffffn || addr === 0n) return -this.koffi.errno();
    return { ptr: p, view: new Uint8Array(this.koffi.view(p, len)) };
  }

  munmap(ptr: unknown, len: number): number {
    return this.#ret(this.#munmap(ptr, len));
  }

  close(fd: number): number {
    return this.#ret(this.#close(fd));
  }

  dup(fd: number): number {
    return this.#ret(this.#dup(fd));
  }

  ioctl(fd: number, request: number, arg: Buffer | null): number {
    return this.#ret(this.#ioctl(fd, request, arg));
  }

  /** poll(2) of one fd for POLLIN, no wait: its revents, or -errno */
  poll(fd: number): number {
    const p = Buffer.alloc(8);
    p.writeInt32LE(fd, 0);
    p.writeInt16LE(1, 4); // POLLIN
    const r = this.#ret(this.#poll(p, 1, 0));
    return r < 0 ? r : p.readUInt16LE(6);
  }

  /** the address of a buffer, for the u64 pointer fields of bpf_attr */
  addr(b: Buffer): bigint {
    return this.koffi.address(b);
  }
}
