/**
 * Demux provenance (BPF_F_CURRENT_CPU selects the slot of the CPU that runs the program): every
 * record read from the ring of an event bound to CPU c was written by CPU c, is whole (its
 * check holds), and arrives after the previous one of that ring (sequence numbers increase).
 */
import type { Kctx } from '../../kernel/context.js';
import { PROVENANCE_REASON, reportViolation } from '../../invariants/registry.js';
import { verifyRecord } from '../../record.js';

/** per-consumer state: the next sequence number expected per ring */
export class ProvenanceChecker {
  #next = new Map<number, number>();
  bad = 0;
  verified = 0;

  /** checks one record of the ring `ring` (any key unique per ring) of an event bound to `cpu` */
  check(k: Kctx, ring: number, cpu: number, data: Uint8Array): boolean {
    const r = verifyRecord(data);
    let why = 0;
    if (!r.ok) why = PROVENANCE_REASON.TORN;
    else if (r.cpu !== cpu) why = PROVENANCE_REASON.MISROUTED;
    else if (r.seq < (this.#next.get(ring) ?? 0)) why = PROVENANCE_REASON.OUT_OF_ORDER;
    if (why) {
      this.bad++;
      reportViolation(k, 'provenance', cpu, why, ring, r.ok ? r.cpu : (r.cpu ?? -1), r.ok ? r.seq : (r.seq ?? -1));
      return false;
    }
    if (r.ok) this.#next.set(ring, r.seq + 1);
    this.verified++;
    return true;
  }

  /** a ring that could not be walked at all (a header of size 0 or an unknown type) */
  corrupt(k: Kctx, ring: number, cpu: number): void {
    this.bad++;
    reportViolation(k, 'provenance', cpu, PROVENANCE_REASON.CORRUPT_RING, ring);
  }

  forget(ring: number): void {
    this.#next.delete(ring);
  }
}
