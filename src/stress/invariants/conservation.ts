/**
 * Conservation of records (kernel/events/ring_buffer.c, __perf_output_begin: a record is written or counted lost): for every ring, when it is freed (its last unmap plus a
 * grace period, so nobody writes or reads it any more), samples written = samples read +
 * samples left unread, and outputs lost for lack of room = losses reported in LOST records
 * (read or unread) + losses still pending. Checked from the ring-free hook.
 */
import type { KernelHooks } from '../../kernel/context.js';
import { ring_audit } from './ring_audit.js';
import { reportViolation } from '../../invariants/registry.js';
import type { Kctx } from '../../kernel/context.js';

export function conservationHooks(k: Kctx, stats: { ringsChecked: number }): Pick<KernelHooks, 'ringFreed'> {
  return {
    ringFreed({ event, rb }) {
      const r = ring_audit(k, rb);
      stats.ringsChecked++;
      if (!r.ok) {
        reportViolation(
          k,
          'conservation',
          -1,
          event,
          r.outputs,
          r.readSamples + r.unreadSamples,
          r.corrupt ? -1 : r.lostTotal - (r.readLost + r.unreadLost + r.pendingLost),
        );
      }
    },
  };
}
