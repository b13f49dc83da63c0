/**
 * The records a reader finds in a perf ring's data area, as text both sides print the same
 * way: every header field, the raw size, the payload and its padding bytes in hex, and a LOST
 * record's event id as `self` when it is the ring's own event (ids differ between kernels).
 */
const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;

/** `data` the data area, `tail` the reader's offset in it, `len` bytes up to data_head */
export function formatRecords(data: Uint8Array, tail: number, len: number, ownId: bigint): string[] {
  const size = data.length;
  const at = (pos: number, n: number): Uint8Array => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = data[(tail + pos + i) % size]!;
    return out;
  };
  const u32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  const u64 = (b: Uint8Array, o: number): bigint => BigInt(u32(b, o)) | (BigInt(u32(b, o + 4)) << 32n);
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const out: string[] = [];
  let pos = 0;
  while (pos < len) {
    const h = at(pos, 8);
    const type = u32(h, 0);
    const misc = h[4]! | (h[5]! << 8);
    const rsize = h[6]! | (h[7]! << 8);
    if (rsize < 8 || pos + rsize > len) {
      out.push(`corrupt type=${type} size=${rsize} at ${pos} of ${len}`);
      break;
    }
    const body = at(pos + 8, rsize - 8);
    if (type === PERF_RECORD_SAMPLE && rsize >= 12) {
      out.push(`sample misc=${misc} size=${rsize} raw=${u32(body, 0)} ${hex(body.subarray(4))}`);
    } else if (type === PERF_RECORD_LOST && rsize >= 24) {
      const id = u64(body, 0);
      out.push(`lost misc=${misc} size=${rsize} id=${id === ownId ? 'self' : 'other'} lost=${u64(body, 8)}`);
    } else out.push(`type=${type} misc=${misc} size=${rsize} ${hex(body)}`);
    pos += rsize;
  }
  return out;
}
