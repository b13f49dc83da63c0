/**
 * BPF programs, reduced to what this map's story needs (kernel/bpf/core.c, syscall.c): a
 * program holds one reference (refcnt, not usercnt) on each distinct map it uses, and drops
 * them one grace period after its own last reference goes. That is how a map can outlive every
 * fd and pin of it (kernel/bpf/syscall.c, bpf_prog_put; kernel/bpf/inode.c, bpf_any_put).
 */
import { H_NEXT_PROG_ID, P_ID, P_MAPS, P_NMAPS, P_REFCNT, P_STATE, S_DEAD, S_LIVE } from '../../arena/layout.js';
import { progWord } from '../../arena/records.js';
import type { Kctx } from '../context.js';
import { RCU_CB, call_rcu } from '../rcu.js';
import { report_violation } from '../violation.js';

/** the map the program refers to as its `n`-th map (the ld_imm64 map reference) */
export function prog_map(k: Kctx, prog: number, n: number): number {
  return k.a.i32[progWord(k.a.L, prog, P_MAPS + n)]!;
}
export function prog_nmaps(k: Kctx, prog: number): number {
  return k.a.i32[progWord(k.a.L, prog, P_NMAPS)]!;
}
export function prog_maps(k: Kctx, prog: number): number[] {
  const out: number[] = [];
  for (let n = 0; n < prog_nmaps(k, prog); n++) out.push(prog_map(k, prog, n));
  return out;
}
export function prog_id(k: Kctx, prog: number): number {
  return k.a.i32[progWord(k.a.L, prog, P_ID)]!;
}
export function prog_refcnt(k: Kctx, prog: number): number {
  return k.a.load(progWord(k.a.L, prog, P_REFCNT));
}

/**
 * bpf_prog_alloc: a program record, not yet loaded (no maps, no id), or -1 when the table is
 * full. BPF_PROG_LOAD allocates it before the verifier runs (kernel/bpf/syscall.c), so a full
 * table is ENOMEM before any map fd is looked at.
 */
export function bpf_prog_alloc(k: Kctx): number {
  const prog = k.a.allocRecordLocked('prog', S_LIVE);
  if (prog >= 0) k.a.store(progWord(k.a.L, prog, P_REFCNT), 1);
  return prog;
}

/**
 * The verified program's map references (`maps[n]` is reference n's map index, at most
 * PROG_MAX_REFS, duplicates allowed; the caller holds one reference per distinct map) and its
 * id (bpf_prog_alloc_id: only a program that passed the verifier takes one).
 */
export function bpf_prog_loaded(k: Kctx, prog: number, maps: number[]): void {
  const a = k.a;
  a.i32[progWord(k.a.L, prog, P_NMAPS)] = maps.length;
  maps.forEach((m, n) => {
    a.i32[progWord(k.a.L, prog, P_MAPS + n)] = m;
  });
  a.i32[progWord(k.a.L, prog, P_ID)] = a.add(H_NEXT_PROG_ID, 1) + 1;
}

/** a program the verifier refused: nobody else ever saw it, so the record goes at once */
export function bpf_prog_free_refused(k: Kctx, prog: number): void {
  k.a.freeRecord('prog', prog);
}

export function bpf_prog_inc(k: Kctx, prog: number): void {
  k.a.add(progWord(k.a.L, prog, P_REFCNT), 1);
}

/** bpf_prog_put: the last reference frees the program after a grace period */
export function bpf_prog_put(k: Kctx, prog: number): void {
  const before = k.a.add(progWord(k.a.L, prog, P_REFCNT), -1);
  if (before === 1) call_rcu(k, RCU_CB.PROG_FREE, prog);
  else if (before < 1) report_violation(k, 'refcount-underflow', -1, 3 /* prog */, prog, before);
}

/**
 * bpf_prog_free's part here: the record goes, and the distinct maps it used are returned for
 * free_used_maps to put. The map puts are syscall.ts's (bpf_map_put), which registers the RCU
 * callback (__bpf_prog_put_rcu, kernel/bpf/syscall.c), so this file does not import it back.
 */
export function bpf_prog_free(k: Kctx, prog: number): Set<number> {
  const maps = new Set(prog_maps(k, prog));
  k.a.store(progWord(k.a.L, prog, P_STATE), S_DEAD);
  return maps;
}
