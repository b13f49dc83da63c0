/**
 * The release purge (commit 3b1efb196eee; kernel/bpf/arraymap.c, perf_event_fd_array_release): when a map file's last reference
 * goes, the entries it added are gone (unless BPF_F_PRESERVE_ELEMS), and it removes no entry
 * of another map file that it loaded and checked itself. The kernel's load-then-exchange can
 * still remove another frontend's entry put in between: that window is counted by the kernel
 * (foreign entries purged), not reported as a violation. 4.7 has no purge: there, an entry
 * outliving its map file is the leak the commit fixed, reported as a leaked event when asked.
 */
import { EE_GEN, S_LIVE } from '../../arena/layout.js';
import { entryWord } from '../../arena/records.js';
import { BPF_F_PRESERVE_ELEMS } from '../../kernel/behaviour.js';
import type { Kctx, KernelHooks } from '../../kernel/context.js';
import { entry_event, entry_map_file, entry_owner, map_flags, map_max_entries, map_state, slot_word } from '../../kernel/bpf/map.js';
import { file_live, file_serial } from '../../kernel/file.js';
import { reportViolation } from '../../invariants/registry.js';

export function releaseHooks(k: Kctx, leakCheck = false): Pick<KernelHooks, 'purged' | 'released'> {
  const purges = k.b.releasePurges;
  return {
    purged({ map, index, loaded, removed, file }) {
      // the purge chose this slot because it found its own entry there; if what it removed is
      // the entry it checked, that entry must be its own
      if (removed === loaded && entry_owner(k, removed) !== file_serial(k, file)) {
        reportViolation(k, 'release-foreign', -1, map, index, entry_owner(k, removed), file_serial(k, file));
      }
    },
    released({ map, file }) {
      if (map_flags(k, map) & BPF_F_PRESERVE_ELEMS || (!purges && !leakCheck)) return;
      const owner = file_serial(k, file);
      for (let i = 0; i < map_max_entries(k, map); i++) {
        const h = k.a.load(slot_word(k, map, i));
        if (h === 0 || entry_owner(k, h - 1) !== owner) continue;
        // 4.8+: the purge left it; 4.7: the file is gone and its entry keeps the event (the leak)
        if (purges) reportViolation(k, 'release-left', -1, map, i, owner);
        else reportViolation(k, 'leaked-event', -1, map, i, owner, entry_event(k, h - 1));
      }
    },
  };
}

/**
 * Audit of a paused kernel: an entry in a slot whose map file is gone (entries in no slot are
 * the references audit's business). 4.8+: a release left
 * it ('release-left'); 4.7 with `leakCheck`: the leak ('leaked-event').
 */
export function auditRelease(k: Kctx, leakCheck: boolean, seen: Set<string>): number {
  if (!k.b.releasePurges && !leakCheck) return 0;
  const a = k.a;
  let found = 0;
  for (let m = 0; m < a.L.maxMaps; m++) {
    if (map_state(k, m) !== S_LIVE || map_flags(k, m) & BPF_F_PRESERVE_ELEMS) continue;
    for (let i = 0; i < map_max_entries(k, m); i++) {
      const h = a.load(slot_word(k, m, i));
      if (h === 0) continue;
      const ee = h - 1;
      const f = entry_map_file(k, ee);
      if (file_live(k, f) && file_serial(k, f) === entry_owner(k, ee)) continue;
      const key = `${ee}:${a.load(entryWord(a.L, ee, EE_GEN))}`;
      if (seen.has(key)) continue; // reported at an earlier audit
      seen.add(key);
      found++;
      reportViolation(k, k.b.releasePurges ? 'release-left' : 'leaked-event', -1, m, i, entry_owner(k, ee), entry_event(k, ee));
    }
  }
  return found;
}
