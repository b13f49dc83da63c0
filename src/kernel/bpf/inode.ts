/**
 * kernel/bpf/inode.c: bpffs pins. A pin holds refcnt + usercnt on its map (or a reference on
 * its program) and creates no file; BPF_OBJ_GET creates a new file each time (a new frontend,
 * so a new owner identity for the release purge).
 *
 * Paths: the bpffs mount is /sys/fs/bpf and has no subdirectories here (no mkdir is modelled):
 * a pin's parent must be /sys/fs/bpf itself. A parent elsewhere under it does not exist
 * (ENOENT); a parent outside it is not bpffs (EPERM). BPF_OBJ_GET of a path that is not a pin
 * is ENOENT (no other filesystem is modelled).
 */
import { FILE_KIND_MAP, FILE_KIND_PROG, PIN_PATH_MAX, PN_KIND, PN_OBJ, PN_PATH, PN_PATH_LEN, PN_STATE, S_LIVE } from '../../arena/layout.js';
import { pinWord } from '../../arena/records.js';
import { BPF_F_RDONLY, BPF_F_WRONLY } from '../behaviour.js';
import type { Kctx } from '../context.js';
import { EBADF, EEXIST, EINVAL, EMFILE, ENAMETOOLONG, ENOENT, ENOMEM, EPERM } from '../errno.js';
import { alloc_file, file_kind, file_live, file_obj } from '../file.js';
import { RCU_CB, call_rcu, rcu_register } from '../rcu.js';
import { FMODE_READ, FMODE_WRITE } from '../../arena/layout.js';
import { bpf_prog_inc, bpf_prog_put } from './core.js';
import { type Caller, bpf_entry_check, bpf_map_inc, bpf_map_new_file, bpf_map_put_with_uref } from './syscall.js';

export const BPFFS_ROOT = '/sys/fs/bpf';
const enc = new TextEncoder();
const dec = new TextDecoder();

function pin_path(k: Kctx, pin: number): string {
  const len = k.a.i32[pinWord(k.a.L, pin, PN_PATH_LEN)]!;
  const at = pinWord(k.a.L, pin, PN_PATH) * 4;
  return dec.decode(k.a.u8.slice(at, at + len));
}

/**
 * Under the arena lock: finds the pin at `path` and runs `then(pin, kind, obj)` while it cannot
 * go away. Returns its kind and object, or null when there is no such pin.
 */
function with_pin(k: Kctx, path: string, then: (pin: number, kind: number, obj: number) => void): { kind: number; obj: number } | null {
  k.a.lock();
  try {
    const pin = lookup(k, path);
    if (pin < 0) return null;
    const kind = k.a.i32[pinWord(k.a.L, pin, PN_KIND)]!;
    const obj = k.a.i32[pinWord(k.a.L, pin, PN_OBJ)]!;
    then(pin, kind, obj);
    return { kind, obj };
  } finally {
    k.a.unlock();
  }
}

/** the pin at `path`, or -1. Caller holds the arena lock. */
function lookup(k: Kctx, path: string): number {
  for (let p = 0; p < k.a.L.maxPins; p++) {
    if (k.a.i32[pinWord(k.a.L, p, PN_STATE)] === S_LIVE && pin_path(k, p) === path) return p;
  }
  return -1;
}

function parent_check(path: string): number {
  const bytes = enc.encode(path);
  if (bytes.length > PIN_PATH_MAX) return -ENAMETOOLONG;
  const slash = path.lastIndexOf('/');
  const dir = slash <= 0 ? '/' : path.slice(0, slash);
  if (slash === path.length - 1) return -EINVAL; // no name
  if (dir === BPFFS_ROOT) return 0;
  if (dir.startsWith(`${BPFFS_ROOT}/`)) return -ENOENT;
  return -EPERM; // dir->i_op != &bpf_dir_iops
}

/** BPF_OBJ_PIN: `f` is the file behind the fd (-1 if not open). */
export function bpf_obj_pin(k: Kctx, f: number, path: string, flags: number, caller: Caller): number {
  let err = bpf_entry_check(k, caller);
  if (err) return err;
  if (flags & ~k.b.objPinFlags) return -EINVAL;
  // bpf_fd_probe_obj: 4.x returns bpf_prog_get's error for a non-map fd (EBADF for a closed
  // one); 5.10+ returns EINVAL for anything that is neither a map nor a program.
  const bad = k.b.fileModes ? -EINVAL : -EBADF;
  if (f < 0 || !file_live(k, f)) return bad;
  const kind = file_kind(k, f);
  if (kind !== FILE_KIND_MAP && kind !== FILE_KIND_PROG) return -EINVAL;
  err = parent_check(path);
  if (err) return err;
  // The pin's reference is taken before the pin is visible: once published, another thread may
  // unlink it and drop that reference at once.
  const obj = file_obj(k, f);
  if (kind === FILE_KIND_MAP) bpf_map_inc(k, obj, true);
  else bpf_prog_inc(k, obj);
  const a = k.a;
  let ret = 0;
  a.lock();
  try {
    if (lookup(k, path) >= 0) ret = -EEXIST;
    else {
      const pin = a.allocRecord('pin', S_LIVE);
      if (pin < 0) ret = -ENOMEM;
      else {
        const bytes = enc.encode(path);
        a.u8.set(bytes, pinWord(k.a.L, pin, PN_PATH) * 4);
        a.i32[pinWord(k.a.L, pin, PN_PATH_LEN)] = bytes.length;
        a.i32[pinWord(k.a.L, pin, PN_KIND)] = kind;
        a.i32[pinWord(k.a.L, pin, PN_OBJ)] = obj;
      }
    }
  } finally {
    a.unlock();
  }
  if (ret < 0) {
    if (kind === FILE_KIND_MAP) bpf_map_put_with_uref(k, obj);
    else bpf_prog_put(k, obj);
  }
  return ret;
}

/** BPF_OBJ_GET: a new file for the pinned object, or -errno */
export function bpf_obj_get(k: Kctx, path: string, flags: number, caller: Caller): number {
  const err = bpf_entry_check(k, caller);
  if (err) return err;
  if (flags & ~k.b.objGetFlags) return -EINVAL;
  if (flags & BPF_F_RDONLY && flags & BPF_F_WRONLY) return -EINVAL; // bpf_get_file_flag
  // take the reference while the pin cannot go away under us
  const found = with_pin(k, path, (_pin, kind, obj) => {
    if (kind === FILE_KIND_MAP) bpf_map_inc(k, obj, true);
    else bpf_prog_inc(k, obj);
  });
  if (!found) return -ENOENT;
  const { kind, obj } = found;
  if (kind === FILE_KIND_PROG) {
    // bpf_obj_get_user (kernel/bpf/inode.c) hands a BPF_TYPE_PROG to bpf_prog_new_fd whatever
    // the access flags: only a link rejects f_flags != O_RDWR. A program fd is always O_RDWR.
    const pf = alloc_file(k, FILE_KIND_PROG, obj, FMODE_READ | FMODE_WRITE);
    if (pf < 0) bpf_prog_put(k, obj);
    return pf < 0 ? -EMFILE : pf;
  }
  const mode = flags & BPF_F_RDONLY ? FMODE_READ : flags & BPF_F_WRONLY ? FMODE_WRITE : FMODE_READ | FMODE_WRITE;
  const f = bpf_map_new_file(k, obj, mode);
  if (f < 0) {
    bpf_map_put_with_uref(k, obj);
    return -EMFILE;
  }
  return f;
}

/** unlink(2) of a pin: the inode's reference goes (from an RCU callback in 5.10) */
export function bpf_unlink(k: Kctx, path: string): number {
  const found = with_pin(k, path, (pin) => k.a.freeRecord('pin', pin));
  if (!found) return -ENOENT;
  const { kind, obj } = found;
  if (k.b.unlinkDeferred) call_rcu(k, kind === FILE_KIND_MAP ? RCU_CB.PIN_PUT_MAP : RCU_CB.PIN_PUT_PROG, obj);
  else if (kind === FILE_KIND_MAP) bpf_map_put_with_uref(k, obj);
  else bpf_prog_put(k, obj);
  return 0;
}

rcu_register(RCU_CB.PIN_PUT_MAP, (k, map) => bpf_map_put_with_uref(k, map));
rcu_register(RCU_CB.PIN_PUT_PROG, (k, prog) => bpf_prog_put(k, prog));

export function list_pins(k: Kctx): { path: string; kind: number; obj: number }[] {
  const out: { path: string; kind: number; obj: number }[] = [];
  k.a.lock();
  try {
    k.a.forEachInUse('pin', (p) => {
      if (k.a.i32[pinWord(k.a.L, p, PN_STATE)] === S_LIVE) {
        out.push({ path: pin_path(k, p), kind: k.a.i32[pinWord(k.a.L, p, PN_KIND)]!, obj: k.a.i32[pinWord(k.a.L, p, PN_OBJ)]! });
      }
    });
  } finally {
    k.a.unlock();
  }
  return out;
}
