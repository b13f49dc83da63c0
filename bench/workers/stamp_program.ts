/** A CPU program for the wake-up bench: outputs its publication time, then waits `gapMs`. */
import type { ProgramContext } from '../../src/cpus.js';

export default function stamp(ctx: ProgramContext): void {
  const { records, gapMs } = ctx.args as { records: number; gapMs: number };
  const buf = new Float64Array(2);
  const bytes = new Uint8Array(buf.buffer);
  for (let i = 0; i < records && !ctx.stopped(); i++) {
    buf[0] = performance.timeOrigin + performance.now();
    ctx.output(0xffffffff, bytes);
    ctx.sleep(gapMs);
  }
}
