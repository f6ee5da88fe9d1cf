/**
 * Seeded random instruction streams for differential tests against QEMU. A stream is straight-line code
 * (plus short forward branches) over the integer, M, A, F and D extensions; the assembler compresses what
 * it can (-march=rv64gc), so C is covered too. The program starts every register from a random value,
 * runs the stream, then prints every integer and FP register and fflags: our hart and QEMU must print the
 * same. The seed names the program, so any failure replays exactly.
 */

/** mulberry32: small, fast, good enough to pick instructions. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// x26 holds the dump area, x27 the scratch buffer, x25 an address temp: never destinations. x2 (sp) too.
const RESERVED = new Set([0, 2, 25, 26, 27]);
const XREGS = Array.from({ length: 32 }, (_, i) => i).filter((i) => !RESERVED.has(i));
const BUF = 256;

const INT_RRR = ['add', 'sub', 'sll', 'slt', 'sltu', 'xor', 'srl', 'sra', 'or', 'and'];
const INT_RRW = ['addw', 'subw', 'sllw', 'srlw', 'sraw'];
const MUL = [
  'mul',
  'mulh',
  'mulhsu',
  'mulhu',
  'div',
  'divu',
  'rem',
  'remu',
  'mulw',
  'divw',
  'divuw',
  'remw',
  'remuw',
];
const INT_RI = ['addi', 'slti', 'sltiu', 'xori', 'ori', 'andi'];
const SHIFT_I = ['slli', 'srli', 'srai'];
const SHIFT_IW = ['slliw', 'srliw', 'sraiw'];
const LOADS: [string, number][] = [['lb', 1], ['lbu', 1], ['lh', 2], ['lhu', 2], ['lw', 4], ['lwu', 4], ['ld', 8]]; // prettier-ignore
const STORES: [string, number][] = [['sb', 1], ['sh', 2], ['sw', 4], ['sd', 8]]; // prettier-ignore
const AMOS = ['amoswap', 'amoadd', 'amoxor', 'amoand', 'amoor', 'amomin', 'amomax', 'amominu', 'amomaxu'];
const BRANCHES = ['beq', 'bne', 'blt', 'bge', 'bltu', 'bgeu'];
const FP_RRR = ['fadd', 'fsub', 'fmul', 'fdiv'];
const FP_RR = ['fsgnj', 'fsgnjn', 'fsgnjx', 'fmin', 'fmax'];
const FP_R4 = ['fmadd', 'fmsub', 'fnmsub', 'fnmadd'];
const FP_CMP = ['feq', 'flt', 'fle'];
const RM = ['rne', 'rtz', 'rdn', 'rup', 'rmm', 'dyn'];
const CVT_INT = ['w', 'wu', 'l', 'lu'];

/** Interesting FP bit patterns: zeros, ones, infinities, NaNs (quiet and signalling), subnormals, extremes. */
const F64_SPECIAL = [
  0n, 0x8000000000000000n, 0x3ff0000000000000n, 0xbff0000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n,
  0x7ff8000000000000n, 0x7ff4000000000000n, 0x0000000000000001n, 0x000fffffffffffffn, 0x7fefffffffffffffn,
  0x4340000000000000n, 0x43e0000000000000n, 0xc3e0000000000000n, 0x41dfffffffc00000n, 0x3fe0000000000000n,
]; // prettier-ignore
const F32_SPECIAL = [
  0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7fa00000, 0x00000001,
  0x007fffff, 0x7f7fffff, 0x4b000000, 0x4f000000, 0xcf000000, 0x3f000000, 0x4effffff,
]; // prettier-ignore

export interface StreamOptions {
  length: number;
  fp: boolean;
}

function hex64(v: bigint): string {
  return '0x' + BigInt.asUintN(64, v).toString(16);
}

/** A C source (with the stream in top-level asm) for the test harness's build(). */
export function randomProgram(seed: number, o: StreamOptions): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const x = () => `x${pick(XREGS)}`;
  const src = () => `x${int(0, 31)}`; // any register may be read
  const f = () => `f${int(0, 31)}`;
  const rand64 = (): bigint => {
    const hi = BigInt(Math.floor(r() * 2 ** 32));
    const lo = BigInt(Math.floor(r() * 2 ** 32));
    const v = (hi << 32n) | lo;
    // Small and boundary values make carries, overflows and division corner cases likely.
    switch (int(0, 5)) {
      case 0:
        return BigInt(int(-4, 4));
      case 1:
        return pick([0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffn, 0x80000000n, 0x7fffffffn]);
      default:
        return v;
    }
  };
  const lines: string[] = [];
  const emit = (s: string) => lines.push(`  ${s}`);
  // Initial state: integer registers, a filled buffer, FP registers from a mix of specials and randoms.
  for (const i of XREGS) emit(`li x${i}, ${hex64(rand64())}`);
  if (o.fp) {
    emit(`csrwi frm, ${int(0, 4)}`);
    for (let i = 0; i < 32; i++) {
      const single = r() < 0.5;
      let bits: bigint;
      if (single) {
        const s = r() < 0.5 ? pick(F32_SPECIAL) : Math.floor(r() * 2 ** 32);
        bits = 0xffffffff00000000n | BigInt(s >>> 0); // NaN-boxed single
        if (r() < 0.05) bits = BigInt(s >>> 0); // not boxed: must read as the canonical NaN
      } else bits = r() < 0.5 ? pick(F64_SPECIAL) ^ (r() < 0.2 ? 0x8000000000000000n : 0n) : rand64();
      emit(`li x25, ${hex64(bits)}`);
      emit(`fmv.d.x f${i}, x25`);
    }
    emit('csrwi fflags, 0');
  }
  let label = 0;
  for (let n = 0; n < o.length; n++) {
    const k = r();
    if (k < 0.22) emit(`${pick(INT_RRR)} ${x()}, ${src()}, ${src()}`);
    else if (k < 0.3) emit(`${pick(INT_RRW)} ${x()}, ${src()}, ${src()}`);
    else if (k < 0.42) emit(`${pick(MUL)} ${x()}, ${src()}, ${src()}`);
    else if (k < 0.5) emit(`${pick(INT_RI)} ${x()}, ${src()}, ${int(-2048, 2047)}`);
    else if (k < 0.55) emit(`${pick(SHIFT_I)} ${x()}, ${src()}, ${int(0, 63)}`);
    else if (k < 0.58) emit(`${pick(SHIFT_IW)} ${x()}, ${src()}, ${int(0, 31)}`);
    else if (k < 0.6) emit(`addiw ${x()}, ${src()}, ${int(-2048, 2047)}`);
    else if (k < 0.62) emit(`lui ${x()}, ${int(0, 0xfffff)}`);
    else if (k < 0.68) {
      const [op, w] = pick(LOADS);
      emit(`${op} ${x()}, ${int(0, BUF / w - 1) * w}(x27)`);
    } else if (k < 0.73) {
      const [op, w] = pick(STORES);
      emit(`${op} ${src()}, ${int(0, BUF / w - 1) * w}(x27)`);
    } else if (k < 0.77) {
      const d = r() < 0.5;
      emit(`addi x25, x27, ${int(0, BUF / 8 - 1) * 8 + (d ? 0 : int(0, 1) * 4)}`);
      const order = pick(['', '.aq', '.rl', '.aqrl']);
      if (r() < 0.25) {
        // lr/sc: succeeds when nothing intervenes; a pair on another address must fail
        const rd = x();
        emit(`lr.${d ? 'd' : 'w'}${order} ${rd}, (x25)`);
        if (r() < 0.3) emit(`addi x25, x25, 8`);
        emit(`sc.${d ? 'd' : 'w'}${order} ${x()}, ${src()}, (x25)`);
      } else emit(`${pick(AMOS)}.${d ? 'd' : 'w'}${order} ${x()}, ${src()}, (x25)`);
    } else if (k < 0.8) {
      // a short forward branch over one or two instructions
      const l = String(100 + label++);
      emit(`${pick(BRANCHES)} ${src()}, ${src()}, ${l}f`);
      emit(`addi ${x()}, ${src()}, ${int(-100, 100)}`);
      if (r() < 0.5) emit(`xor ${x()}, ${src()}, ${src()}`);
      lines.push(`${l}:`);
    } else if (!o.fp) emit(`${pick(INT_RRR)} ${x()}, ${src()}, ${src()}`);
    else {
      const p = pick(['s', 'd']);
      const q = r();
      if (q < 0.3) emit(`${pick(FP_RRR)}.${p} ${f()}, ${f()}, ${f()}, ${pick(RM)}`);
      else if (q < 0.4) emit(`fsqrt.${p} ${f()}, ${f()}, ${pick(RM)}`);
      else if (q < 0.5) emit(`${pick(FP_RR)}.${p} ${f()}, ${f()}, ${f()}`);
      else if (q < 0.62) emit(`${pick(FP_R4)}.${p} ${f()}, ${f()}, ${f()}, ${f()}, ${pick(RM)}`);
      else if (q < 0.7) emit(`${pick(FP_CMP)}.${p} ${x()}, ${f()}, ${f()}`);
      else if (q < 0.75) emit(`fclass.${p} ${x()}, ${f()}`);
      else if (q < 0.85) emit(`fcvt.${pick(CVT_INT)}.${p} ${x()}, ${f()}, ${pick(RM)}`);
      else if (q < 0.92) {
        // int → double is exact for 32-bit sources, and the assembler takes no rounding mode for it
        const from = pick(CVT_INT);
        const exact = p === 'd' && from.startsWith('w');
        emit(`fcvt.${p}.${from} ${f()}, ${src()}${exact ? '' : `, ${pick(RM)}`}`);
      } else if (q < 0.96)
        emit(p === 's' ? `fcvt.s.d ${f()}, ${f()}, ${pick(RM)}` : `fcvt.d.s ${f()}, ${f()}`);
      else emit(p === 's' ? `fmv.x.w ${x()}, ${f()}` : `fmv.x.d ${x()}, ${f()}`);
    }
  }
  const body = lines.join('\n');
  return `#include "lib.h"
static u64 regs[32], fregs[32], fcsr;
static u64 buf[${BUF / 8}];
extern void run_stream(u64 *dump, u64 *buffer);
__asm__(
  ".text\\n.globl run_stream\\nrun_stream:\\n"
  "  addi sp, sp, -128\\n"
  ${['ra', 's0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 'gp', 'tp']
    .map((reg, i) => `"  sd ${reg}, ${i * 8}(sp)\\n"`)
    .join('\n  ')}
  "  mv x26, a0\\n  mv x27, a1\\n"
${body
  .split('\n')
  .map((l) => `  "${l}\\n"`)
  .join('\n')}
  ${Array.from({ length: 32 }, (_, i) => `"  sd x${i}, ${i * 8}(x26)\\n"`).join('\n  ')}
  ${
    o.fp
      ? `"  addi x25, x26, 256\\n"\n  ${Array.from({ length: 32 }, (_, i) => `"  fsd f${i}, ${i * 8}(x25)\\n"`).join('\n  ')}\n  "  csrr x25, fcsr\\n  sd x25, 512(x26)\\n"`
      : ''
  }
  ${['ra', 's0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 'gp', 'tp']
    .map((reg, i) => `"  ld ${reg}, ${i * 8}(sp)\\n"`)
    .join('\n  ')}
  "  addi sp, sp, 128\\n  ret\\n");

static u64 dump[65];
int main(void) {
  for (int i = 0; i < ${BUF / 8}; i++) buf[i] = 0x0123456789abcdefUL * (u64)(i + 1);
  run_stream(dump, buf);
  for (int i = 0; i < 32; i++) { if (i != 2 && i != 26) { putc_('x'); puthex(i); kv("", dump[i]); } }
  ${o.fp ? 'for (int i = 0; i < 32; i++) { putc_(\'f\'); puthex(i); kv("", dump[32 + i]); } kv("fcsr", dump[64]);' : ''}
  for (int i = 0; i < ${BUF / 8}; i++) kv("m", buf[i]);
  (void)regs; (void)fregs; (void)fcsr;
  return 0;
}
`;
}
