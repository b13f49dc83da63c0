/**
 * The payload perfemu's CPU programs write, so a reader can prove where each record came from
 * and that it is whole (ringbuf.js's sequence-and-guard idea):
 *
 *   u32 cpu | u32 seq | u32 len | u32 check | body (len - 16 bytes)
 *
 * `seq` counts the writing CPU's output attempts (so the gaps a reader sees are the attempts
 * that did not land: losses, or errors the writer counted). The body is a pattern derived from
 * (cpu, seq), so a record torn between two writes cannot pass; `check` hashes the header words
 * and the body. Little-endian, as the ring is.
 */
import { invalidArgType, validateInt } from './errors.js';

export const RECORD_HEADER_BYTES = 16;
export const RECORD_MIN_BYTES = RECORD_HEADER_BYTES;

const FNV_PRIME = 16777619;
const FNV_BASIS = 0x811c9dc5 | 0;

function bodyWord(cpu: number, seq: number, j: number): number {
  return (Math.imul(seq, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b) ^ cpu) | 0;
}

/**
 * Writes a record of `len` bytes (>= 16) into `words` (a Uint32Array of at least ceil(len/4)
 * words); returns the check value. Bytes past `len` in the last word are don't-care.
 */
export function encodeRecord(words: Uint32Array, cpu: number, seq: number, len: number): number {
  if (!(words instanceof Uint32Array)) throw invalidArgType('words', 'a Uint32Array', words);
  const n = (len + 3) >>> 2;
  let h = FNV_BASIS;
  words[0] = cpu;
  words[1] = seq;
  words[2] = len;
  h = Math.imul(h ^ cpu, FNV_PRIME);
  h = Math.imul(h ^ seq, FNV_PRIME);
  h = Math.imul(h ^ len, FNV_PRIME);
  const full = len >>> 2; // whole words of the payload; a partial last word is hashed by its bytes
  for (let j = 4; j < n; j++) {
    const w = bodyWord(cpu, seq, j);
    words[j] = w;
    h = Math.imul(h ^ (j < full ? w : w & ((1 << ((len & 3) * 8)) - 1)), FNV_PRIME);
  }
  words[3] = h;
  return h >>> 0;
}

/**
 * A payload buffer of at least `bytes` bytes placed where a sample's raw data lands in a ring: 4
 * bytes past an 8-byte boundary (records start 8-byte aligned, and the 8-byte header and the u32
 * size come first). Why: V8 copies into shared memory a word at a time only when the source and
 * the destination agree modulo 8, and byte by byte otherwise; for 64 B the helper's copy took
 * 21-23 ns from such a buffer against 33-35 ns from an 8-byte aligned one (a one-off loop).
 * `words` views the same bytes (encodeRecord writes through it).
 */
export function sampleAlignedPayload(bytes: number): { bytes: Uint8Array; words: Uint32Array } {
  const n = (validateInt('bytes', bytes, 0, 1 << 30) + 3) >>> 2;
  const buf = new ArrayBuffer(8 + n * 4); // V8 aligns an ArrayBuffer's bytes to at least 8
  return { bytes: new Uint8Array(buf, 4, n * 4), words: new Uint32Array(buf, 4, n) };
}

export type RecordCheck = { ok: true; cpu: number; seq: number; len: number } | { ok: false; reason: string; cpu?: number; seq?: number };

/** Verifies a record read back (`data` may be longer than `len`: the kernel pads samples). */
export function verifyRecord(data: Uint8Array): RecordCheck {
  if (!(data instanceof Uint8Array)) throw invalidArgType('data', 'a Uint8Array', data);
  if (data.length < RECORD_HEADER_BYTES) return { ok: false, reason: `short record: ${data.length} bytes` };
  const aligned = data.byteOffset % 4 === 0 ? data : data.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.length >>> 2);
  const cpu = words[0]!;
  const seq = words[1]!;
  const len = words[2]!;
  if (len < RECORD_HEADER_BYTES || len > data.length) return { ok: false, reason: `bad length ${len} in a ${data.length}-byte sample`, cpu, seq };
  let h = FNV_BASIS;
  h = Math.imul(h ^ cpu, FNV_PRIME);
  h = Math.imul(h ^ seq, FNV_PRIME);
  h = Math.imul(h ^ len, FNV_PRIME);
  const n = (len + 3) >>> 2;
  const full = len >>> 2;
  const tailMask = (1 << ((len & 3) * 8)) - 1;
  for (let j = 4; j < n; j++) {
    const expect = bodyWord(cpu, seq, j) >>> 0;
    const got = j < full ? words[j]! : tailBytes(aligned, j * 4, len);
    if (j < full ? got !== expect : got !== (expect & tailMask) >>> 0) {
      return { ok: false, reason: `torn body at word ${j}`, cpu, seq };
    }
    h = Math.imul(h ^ (j < full ? expect : expect & tailMask), FNV_PRIME);
  }
  if (words[3]! !== h >>> 0) return { ok: false, reason: 'check mismatch', cpu, seq };
  return { ok: true, cpu, seq, len };
}

function tailBytes(u8: Uint8Array, at: number, len: number): number {
  let v = 0;
  for (let b = 0; at + b < len; b++) v |= u8[at + b]! << (8 * b);
  return v >>> 0;
}
