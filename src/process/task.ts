/**
 * What the syscall layers of a process (bpf_syscalls.ts, rings.ts) need of it: its name and
 * credentials, the kernel while it lives, and its fd table. Process implements it; the layers
 * depend on this, not on Process, so the modules do not import each other back.
 */
import type { Kctx } from '../kernel/context.js';

export interface Task {
  readonly name: string;
  readonly pid: number;
  /** CAP_SYS_ADMIN / CAP_BPF (the kernel's Caller) */
  readonly privileged: boolean;
  /** the kernel, or ESRCH once the process has exited */
  live(syscall: string): Kctx;
  /** the file behind an fd, or -1 (a non-number fd is ERR_INVALID_ARG_TYPE naming `name`) */
  fileIndex(fd: number, name?: string): number;
  /** installs a file at the lowest free fd (the caller's reference moves to the fd) */
  install(f: number, syscall: string): number;
}
