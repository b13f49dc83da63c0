/**
 * The one BPF program conform loads into the host kernel, assembled by hand (no compiler): a
 * BPF_PROG_TYPE_RAW_TRACEPOINT program whose context, as BPF_PROG_TEST_RUN passes it, is
 * u64 args[3] = { flags, size, unused }. It fills PAYLOAD_MAX bytes of stack with PAYLOAD, then
 * calls bpf_perf_event_output(ctx, map, flags, stack, size) `count` times (a loop the verifier
 * unrolls: `count` is a constant) and returns the last helper return value.
 */
import { PAYLOAD, PAYLOAD_MAX } from './sys.js';

export const BPF_PROG_TYPE_RAW_TRACEPOINT = 17;
const BPF_PSEUDO_MAP_FD = 1;
const BPF_FUNC_perf_event_output = 25;
/** the size check fails: the program returns this instead of calling the helper */
export const SIZE_REJECTED = -4095;

function insn(code: number, dst: number, src: number, off: number, imm: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = code;
  b[1] = ((src & 0xf) << 4) | (dst & 0xf);
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm | 0, 4);
  return b;
}
const MOV64_REG = (dst: number, src: number): Buffer => insn(0xbf, dst, src, 0, 0);
const MOV64_IMM = (dst: number, imm: number): Buffer => insn(0xb7, dst, 0, 0, imm);
const ADD64_IMM = (dst: number, imm: number): Buffer => insn(0x07, dst, 0, 0, imm);
const LDX_DW = (dst: number, src: number, off: number): Buffer => insn(0x79, dst, src, off, 0);
const STX_DW = (dst: number, src: number, off: number): Buffer => insn(0x7b, dst, src, off, 0);
const LD_IMM64 = (dst: number, src: number, lo: number, hi: number): Buffer[] => [insn(0x18, dst, src, 0, lo), insn(0, 0, 0, 0, hi)];
const JGT_IMM = (dst: number, imm: number, off: number): Buffer => insn(0x25, dst, 0, off, imm);
const JSGT_IMM = (dst: number, imm: number, off: number): Buffer => insn(0x65, dst, 0, off, imm);
const CALL = (fn: number): Buffer => insn(0x85, 0, 0, 0, fn);
const EXIT = insn(0x95, 0, 0, 0, 0);

/** the program's instructions for `mapFd`, outputting `count` (1..100000) times per run */
export function outputProgram(mapFd: number, count = 1): Buffer {
  const p: Buffer[] = [MOV64_REG(6, 1)]; // r6 = ctx
  for (let w = 0; w < PAYLOAD_MAX / 8; w++) {
    const lo = PAYLOAD[w * 8]! | (PAYLOAD[w * 8 + 1]! << 8) | (PAYLOAD[w * 8 + 2]! << 16) | (PAYLOAD[w * 8 + 3]! << 24);
    const hi = PAYLOAD[w * 8 + 4]! | (PAYLOAD[w * 8 + 5]! << 8) | (PAYLOAD[w * 8 + 6]! << 16) | (PAYLOAD[w * 8 + 7]! << 24);
    p.push(...LD_IMM64(7, 0, lo, hi), STX_DW(10, 7, -PAYLOAD_MAX + w * 8));
  }
  p.push(LDX_DW(9, 6, 0)); // r9 = flags
  p.push(LDX_DW(7, 6, 8)); // r7 = size
  p.push(JGT_IMM(7, PAYLOAD_MAX, 0)); // patched below: size > PAYLOAD_MAX -> reject
  const sizeCheck = p.length - 1;
  p.push(MOV64_IMM(8, count)); // r8 = count
  const loop = p.length;
  p.push(
    MOV64_REG(1, 6),
    ...LD_IMM64(2, BPF_PSEUDO_MAP_FD, mapFd, 0),
    MOV64_REG(3, 9),
    MOV64_REG(4, 10),
    ADD64_IMM(4, -PAYLOAD_MAX),
    MOV64_REG(5, 7),
    CALL(BPF_FUNC_perf_event_output),
  );
  p.push(ADD64_IMM(8, -1));
  p.push(JSGT_IMM(8, 0, loop - (p.length + 1)));
  p.push(EXIT);
  const reject = p.length;
  p.push(MOV64_IMM(0, SIZE_REJECTED), EXIT);
  p[sizeCheck] = JGT_IMM(7, PAYLOAD_MAX, reject - (sizeCheck + 1));
  return Buffer.concat(p);
}
