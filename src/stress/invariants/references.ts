/**
 * References balance (fs/file_table.c fget/fput, kernel/bpf/syscall.c bpf_map_inc/bpf_map_put):
 * on a paused kernel, every file's f_count equals its holders (fds and ring mappings of every
 * process, entries holding perf files), every live entry sits in exactly one slot, and every
 * map's refcnt and usercnt equal their holders (map files, pins, programs). After everything is
 * closed, nothing is left.
 */
import {
  EE_PERF_FILE,
  EE_STATE,
  F_COUNT,
  F_KIND,
  F_OBJ,
  F_STATE,
  FILE_KIND_MAP,
  M_MAX_ENTRIES,
  M_REFCNT,
  M_SLOT_BASE,
  M_STATE,
  M_USERCNT,
  P_STATE,
  S_LIVE,
  S_RCU,
  H_CONSOLE_FILE,
  tableCount,
  type TableName,
} from '../../arena/layout.js';
import { entryWord, fileWord, mapWord, progWord, recordWord, ringExtentWord, slotWord } from '../../arena/records.js';
import type { Kctx } from '../../kernel/context.js';
import { prog_maps } from '../../kernel/bpf/core.js';
import { list_pins } from '../../kernel/bpf/inode.js';
import { rcu_pending } from '../../kernel/rcu.js';
import { LIFETIME_CONSOLE, LIFETIME_LEFT, REFERENCE_REASON, reportViolation } from '../../invariants/registry.js';

/**
 * `userHolders[f]`: how many fds and ring mappings of all processes refer to file index f.
 * Reports each distinct mismatch once (`seen` carries over between audits). Returns the count.
 */
export function auditReferences(k: Kctx, userHolders: Int32Array, seen: Set<string>): number {
  const a = k.a;
  const L = a.L;
  let found = 0;
  const report = (reason: number, x: number, got: number, want: number): void => {
    const key = `${reason}:${x}:${got}:${want}`;
    if (seen.has(key)) return;
    seen.add(key);
    found++;
    reportViolation(k, 'references', -1, reason, x, got, want);
  };
  // entries: which slots hold them, and what they hold
  const inSlots = new Int32Array(L.maxEntries);
  for (let m = 0; m < L.maxMaps; m++) {
    const at = mapWord(L, m, 0);
    if (a.load(at + M_STATE) !== S_LIVE) continue;
    const base = a.i32[at + M_SLOT_BASE]!;
    for (let i = 0; i < a.i32[at + M_MAX_ENTRIES]!; i++) {
      const h = a.load(slotWord(base, i));
      if (h !== 0) inSlots[h - 1]!++;
    }
  }
  const held = new Int32Array(L.maxFiles);
  for (let ee = 0; ee < L.maxEntries; ee++) {
    const st = a.load(entryWord(L, ee, EE_STATE));
    if (st === S_LIVE) {
      if (inSlots[ee] === 0) report(REFERENCE_REASON.ENTRY_NOT_IN_SLOT, ee, 0, 1);
      if (inSlots[ee]! > 1) report(REFERENCE_REASON.ENTRY_IN_TWO_SLOTS, ee, inSlots[ee]!, 1);
    }
    // a live entry holds its perf file; a put one too until its callback runs (4.8+)
    if (st === S_LIVE || (st === S_RCU && k.b.putDeferred)) held[a.i32[entryWord(L, ee, EE_PERF_FILE)]!]!++;
  }
  // files
  const mapFiles = new Int32Array(L.maxMaps);
  const consoleFile = a.i32[H_CONSOLE_FILE]!;
  for (let f = 0; f < L.maxFiles; f++) {
    const at = fileWord(L, f, 0);
    if (a.load(at + F_STATE) !== S_LIVE) continue;
    const want = userHolders[f]! + held[f]! + (f === consoleFile ? 1 : 0);
    const got = a.load(at + F_COUNT);
    if (got !== want) report(REFERENCE_REASON.FILE, f, got, want);
    if (a.i32[at + F_KIND] === FILE_KIND_MAP) mapFiles[a.i32[at + F_OBJ]!]!++;
  }
  // maps: files + pins (+ pins whose put waits for a grace period, 5.10) + programs
  const pins = new Int32Array(L.maxMaps);
  for (const p of list_pins(k)) if (p.kind === FILE_KIND_MAP) pins[p.obj]!++;
  for (const cb of rcu_pending(k)) if (cb.kind === 'pin_put_map') pins[cb.arg]!++;
  const progRefs = new Int32Array(L.maxMaps);
  for (let p = 0; p < L.maxProgs; p++) {
    if (a.load(progWord(L, p, P_STATE)) !== S_LIVE) continue; // freed ones put theirs
    for (const m of new Set(prog_maps(k, p))) progRefs[m]!++;
  }
  for (let m = 0; m < L.maxMaps; m++) {
    const at = mapWord(L, m, 0);
    if (a.load(at + M_STATE) !== S_LIVE) continue;
    const refcnt = a.load(at + M_REFCNT);
    const usercnt = a.load(at + M_USERCNT);
    if (refcnt !== mapFiles[m]! + pins[m]! + progRefs[m]!) report(REFERENCE_REASON.MAP_REFCNT, m, refcnt, mapFiles[m]! + pins[m]! + progRefs[m]!);
    if (usercnt !== mapFiles[m]! + pins[m]!) report(REFERENCE_REASON.MAP_USERCNT, m, usercnt, mapFiles[m]! + pins[m]!);
  }
  return found;
}

/** After every process has exited, every pin is gone and an RCU barrier: nothing may be left. */
export function auditNothingLeft(k: Kctx): string[] {
  const a = k.a;
  const L = a.L;
  const left: string[] = [];
  // every record, not only the in-use bitmap's: this audit must not trust the allocator
  const count = (t: TableName, states: number[]): number => {
    let c = 0;
    for (let i = 0; i < tableCount(L, t); i++) if (states.includes(a.load(recordWord(L, t, i, 0)))) c++;
    return c;
  };
  const maps = count('map', [S_LIVE]);
  const events = count('event', [S_LIVE]);
  const entries = count('entry', [S_LIVE, S_RCU]);
  const progs = count('prog', [S_LIVE]);
  const epolls = count('epoll', [S_LIVE]);
  const files = count('file', [S_LIVE]) - 1; // the console stays
  const pins = list_pins(k).length;
  const pending = rcu_pending(k).length;
  let ringPages = 0;
  for (let u = 0; u < L.ringPages; u++) if (a.i32[ringExtentWord(L, u)] !== 0) ringPages++;
  const counts = [maps, events, entries, progs, epolls, files, pins, pending, ringPages];
  const items = LIFETIME_LEFT.map((what, i) => [what, counts[i]!] as const);
  for (const [what, n] of items) {
    if (n > 0) {
      left.push(`${n} ${what}`);
      reportViolation(k, 'lifetime', -1, LIFETIME_LEFT.indexOf(what), n);
    }
  }
  const con = a.load(fileWord(L, a.i32[H_CONSOLE_FILE]!, F_COUNT));
  if (con !== 1) {
    left.push(`console f_count ${con} (want 1)`);
    reportViolation(k, 'lifetime', -1, LIFETIME_CONSOLE, con);
  }
  return left;
}
