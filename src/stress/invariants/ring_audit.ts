/**
 * The conservation audit of one ring (an invariant's tool, not kernel code): counts the
 * records left unread and compares what was written with what was read, unread and pending.
 */
import {
  PERF_RECORD_SAMPLE,
  RB_BACKWARD,
  RB_DATA_HEAD,
  RB_DATA_SIZE,
  RB_DATA_TAIL,
  RB_LOST,
  RB_LOST_TOTAL,
  RB_OUTPUTS,
  RB_OVERWRITE,
  RB_READ_LOST,
  RB_READ_SAMPLES,
} from '../../arena/layout.js';
import { ringWord } from '../../arena/records.js';
import { parses } from '../../consumer/ring_reader.js';
import type { Kctx } from '../../kernel/context.js';
import { dataWord } from '../../kernel/ring_buffer.js';

export interface RingAudit {
  outputs: number;
  lostTotal: number;
  readSamples: number;
  readLost: number;
  unreadSamples: number;
  unreadLost: number;
  pendingLost: number;
  /** a record that cannot be parsed in the unread region */
  corrupt: boolean;
  /** samples written = read + unread, and losses = reported (read or unread) + pending */
  ok: boolean;
  /** an overwrite ring: records are overwritten unread, so conservation does not apply */
  overwrite?: boolean;
}

/**
 * The conservation check of one ring, for a ring nobody writes or reads any more (detached and
 * a grace period passed): walks the unread region without consuming it.
 */
export function ring_audit(k: Kctx, rb: number): RingAudit {
  const i32 = k.a.i32;
  const dsize = i32[ringWord(rb, RB_DATA_SIZE)]!;
  // a write_backward ring's unread records run from data_head up to data_tail
  const backward = i32[ringWord(rb, RB_BACKWARD)] !== 0;
  const head = backward ? i32[ringWord(rb, RB_DATA_TAIL)]! : i32[ringWord(rb, RB_DATA_HEAD)]!;
  let tail = backward ? i32[ringWord(rb, RB_DATA_HEAD)]! : i32[ringWord(rb, RB_DATA_TAIL)]!;
  if (i32[ringWord(rb, RB_OVERWRITE)] !== 0) tail = head; // nothing is "unread" in an overwrite ring
  let unreadSamples = 0;
  let unreadLost = 0;
  let corrupt = false;
  for (let guard = 0; dsize > 0 && tail !== head; guard++) {
    const w = dataWord(rb, dsize, tail);
    const size = i32[w + 1]! >>> 16;
    if (!parses(i32[w]!, size, tail, head) || guard > dsize / 8) {
      corrupt = true;
      break;
    }
    if (i32[w] === PERF_RECORD_SAMPLE) unreadSamples++;
    else unreadLost += i32[dataWord(rb, dsize, tail + 16)]!; // PERF_RECORD_LOST
    tail = (tail + size) | 0;
  }
  const a = {
    outputs: i32[ringWord(rb, RB_OUTPUTS)]!,
    lostTotal: i32[ringWord(rb, RB_LOST_TOTAL)]!,
    readSamples: i32[ringWord(rb, RB_READ_SAMPLES)]!,
    readLost: i32[ringWord(rb, RB_READ_LOST)]!,
    unreadSamples,
    unreadLost,
    pendingLost: i32[ringWord(rb, RB_LOST)]!,
    corrupt,
  };
  if (i32[ringWord(rb, RB_OVERWRITE)] !== 0) return { ...a, ok: true, overwrite: true };
  return {
    ...a,
    ok: !corrupt && a.outputs === a.readSamples + unreadSamples && a.lostTotal === a.readLost + unreadLost + a.pendingLost,
  };
}
