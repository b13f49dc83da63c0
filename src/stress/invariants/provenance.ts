/**
 * Demux provenance (BPF_F_CURRENT_CPU selects the slot of the CPU that runs the program): every
 * record read from the ring of an event bound to CPU c was written by CPU c, is whole (its
 * check holds), and arrives after the previous one of that ring (sequence numbers increase).
 */
import type { Kctx } from '../../kernel/context.js';
import { report_violation } from '../../kernel/violation.js';
import { verifyRecord } from '../../record.js';

/** per-consumer state: the next sequence number expected per ring */
export class ProvenanceChecker {
  #next = new Map<number, number>();
  bad = 0;
  verified = 0;

  /** checks one record of the ring `ring` (any key unique per ring) of an event bound to `cpu` */
  check(k: Kctx, ring: number, cpu: number, data: Uint8Array): boolean {
    const r = verifyRecord(data);
    let why = 0; // 1 torn, 2 misrouted, 3 out of order
    if (!r.ok) why = 1;
    else if (r.cpu !== cpu) why = 2;
    else if (r.seq < (this.#next.get(ring) ?? 0)) why = 3;
    if (why) {
      this.bad++;
      report_violation(k, 'provenance', cpu, why, ring, r.ok ? r.cpu : (r.cpu ?? -1), r.ok ? r.seq : (r.seq ?? -1));
      return false;
    }
    if (r.ok) this.#next.set(ring, r.seq + 1);
    this.verified++;
    return true;
  }

  /** a ring that could not be walked at all (a header of size 0 or an unknown type) */
  corrupt(k: Kctx, ring: number, cpu: number): void {
    this.bad++;
    report_violation(k, 'provenance', cpu, 4, ring);
  }

  forget(ring: number): void {
    this.#next.delete(ring);
  }
}

export const PROVENANCE_REASONS: Record<number, string> = {
  1: 'torn record (check failed)', 2: "record of another CPU in this CPU's ring", 3: 'record out of order', 4: 'corrupt ring header',
};
