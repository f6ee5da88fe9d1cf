/**
 * The F and D extensions: decoding, NaN-boxing, NaN rules, compares, conversions and fflags. Arithmetic is
 * correctly rounded in every rounding mode by fp-round.ts. Results that are NaN are RISC-V's canonical NaN;
 * single values are NaN-boxed in the 64-bit registers and an improperly boxed operand reads as the
 * canonical NaN.
 */
import * as C from './constants.js';
import type { Hart } from './hart.js';
import {
  DZ,
  NV,
  NX,
  RDN,
  RNE,
  RTZ,
  RUP,
  addRounded,
  divRounded,
  fmaRounded,
  fx,
  mulRounded,
  roundD,
  roundS,
  sqrtRounded,
  sumErr,
} from './fp-round.js';

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

const CANON_S = 0x7fc00000;
const CANON_D_HI = 0x7ff80000;
const TWO32 = 0x1_0000_0000;

const bitsToS = (b: number): number => ((i32[0] = b), f32[0]);
const sToBits = (v: number): number => ((f32[0] = v), i32[0]);

const isNanS = (b: number): boolean => (b & 0x7fffffff) > 0x7f800000;
const isSnanS = (b: number): boolean => isNanS(b) && !(b & 0x400000);
const isSnanD = (lo: number, hi: number): boolean =>
  (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) !== 0 || lo !== 0) && !(hi & 0x80000);

/** Single operand bits of register r (an improperly boxed value reads as the canonical NaN). */
function sBits(h: Hart, r: number): number {
  return h.fi[2 * r + 1] === -1 ? h.fi[2 * r] : CANON_S;
}

/** Operand value of register r as a double (a single converts exactly). */
function val(h: Hart, r: number, single: boolean): number {
  return single ? bitsToS(sBits(h, r)) : h.f[r];
}

function snan(h: Hart, r: number, single: boolean): boolean {
  return single ? isSnanS(sBits(h, r)) : isSnanD(h.fi[2 * r], h.fi[2 * r + 1]);
}

function writeS(h: Hart, r: number, bits: number): void {
  h.fi[2 * r] = bits;
  h.fi[2 * r + 1] = -1;
  h.mstatus |= C.MSTATUS_FS;
}

/** Write a result value (exactly representable in the format; NaN means the canonical NaN). */
function put(h: Hart, r: number, v: number, single: boolean): void {
  if (single) writeS(h, r, v !== v ? CANON_S : sToBits(v));
  else {
    if (v !== v) {
      h.fi[2 * r] = 0;
      h.fi[2 * r + 1] = CANON_D_HI;
    } else h.f[r] = v;
    h.mstatus |= C.MSTATUS_FS;
  }
}

/** Exact zero sum of two zeros or of opposite values: +0, or -0 when both are -0 or rounding down. */
function zeroSum(a: number, b: number, rm: number): number {
  const r = a + b;
  return r === 0 && rm === RDN && !(Object.is(a, 0) && Object.is(b, 0)) ? -0 : r;
}

/** a + b for non-NaN operands. */
function fadd(a: number, b: number, rm: number, single: boolean): number {
  if (a === 0 || b === 0) return a === 0 && b === 0 ? zeroSum(a, b, rm) : a === 0 ? b : a;
  const r = a + b;
  if (r !== r) fx.flags |= NV; // inf - inf
  if (r !== r || !Number.isFinite(a) || !Number.isFinite(b)) return r;
  return addRounded(a, b, rm, single);
}

function fmul(a: number, b: number, rm: number, single: boolean): number {
  const r = a * b;
  if (r !== r) fx.flags |= NV; // 0 * inf
  if (r !== r || a === 0 || b === 0 || !Number.isFinite(a) || !Number.isFinite(b)) return r;
  return mulRounded(a, b, rm, single);
}

function fdiv(a: number, b: number, rm: number, single: boolean): number {
  const r = a / b;
  if (r !== r)
    fx.flags |= NV; // 0/0, inf/inf
  else if (b === 0 && Number.isFinite(a)) fx.flags |= DZ;
  if (r !== r || a === 0 || b === 0 || !Number.isFinite(a) || !Number.isFinite(b)) return r;
  return divRounded(a, b, rm, single);
}

function fsqrt(a: number, rm: number, single: boolean): number {
  if (a < 0) {
    fx.flags |= NV;
    return NaN;
  }
  if (a === 0 || a === Infinity) return a;
  return sqrtRounded(a, rm, single);
}

/** a * b + c for non-NaN operands (the caller has negated them for FMSUB/FNMADD/FNMSUB). */
function fma(a: number, b: number, c: number, rm: number, single: boolean): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(c)) {
    if ((a === 0 && !Number.isFinite(b)) || (b === 0 && !Number.isFinite(a))) {
      fx.flags |= NV; // 0 * inf
      return NaN;
    }
    if (!Number.isFinite(a) || !Number.isFinite(b)) {
      const p = a * b;
      if (!Number.isFinite(c) && c !== p) {
        fx.flags |= NV; // inf - inf
        return NaN;
      }
      return p;
    }
    return c; // finite product plus an infinity
  }
  if (a === 0 || b === 0) return c === 0 ? zeroSum(a * b, c, rm) : c;
  if (c === 0) return mulRounded(a, b, rm, single);
  return fmaRounded(a, b, c, rm, single);
}

/** Round a finite double to an integer value in mode rm; sets NX when it changes. */
function roundInt(v: number, rm: number): number {
  const neg = v < 0;
  const A = neg ? -v : v;
  if (A >= 4503599627370496) return v; // 2^52: already an integer
  const lo = Math.floor(A);
  const d = A - lo;
  if (d === 0) return v;
  fx.flags |= NX;
  let up: boolean;
  switch (rm) {
    case RNE:
      up = d > 0.5 || (d === 0.5 && lo % 2 === 1);
      break;
    case RTZ:
      up = false;
      break;
    case RDN:
      up = neg;
      break;
    case RUP:
      up = !neg;
      break;
    default:
      up = d >= 0.5;
  }
  const m = up ? lo + 1 : lo;
  return neg ? -m : m;
}

/** Limits of FCVT.W/WU/L/LU (kind 0..3): the smallest and one past the largest result. */
const INT_LO = [-2147483648, 0, -9223372036854775808, 0];
const INT_END = [2147483648, 4294967296, 9223372036854775808, 18446744073709551616];

/** float -> integer register with RISC-V saturation (NaN gives the largest value); writes x[rd]. */
function toInt(h: Hart, rd: number, v: number, rm: number, kind: number): void {
  let lo: number;
  let hi: number;
  let r = 0;
  let sat = 0; // -1 low, 1 high
  if (v !== v) sat = 1;
  else {
    const saved = fx.flags;
    r = roundInt(v, rm);
    if (r < INT_LO[kind]) sat = -1;
    else if (r >= INT_END[kind]) sat = 1;
    // An out-of-range conversion raises only NV, not NX.
    if (sat) fx.flags = saved;
  }
  if (sat) {
    fx.flags |= NV;
    if (sat < 0) [lo, hi] = kind === 0 ? [-0x80000000, -1] : kind === 2 ? [0, -0x80000000] : [0, 0];
    else if (kind === 0) [lo, hi] = [0x7fffffff, 0];
    else if (kind === 2) [lo, hi] = [-1, 0x7fffffff];
    else [lo, hi] = [-1, -1]; // WU's 32-bit all-ones is sign-extended, LU's is 2^64-1
  } else if (kind <= 1) {
    lo = r | 0; // WU results are sign-extended from bit 31 too
    hi = lo >> 31;
  } else {
    // 64-bit two's complement of an integer-valued double.
    const m = Math.abs(r);
    hi = Math.floor(m / TWO32);
    lo = m - hi * TWO32;
    if (r < 0) {
      // negate: ~x + 1 over the pair
      lo = -lo;
      hi = lo === 0 ? -hi : ~hi;
    }
    lo |= 0;
    hi |= 0;
  }
  if (rd) {
    h.x[2 * rd] = lo;
    h.x[2 * rd + 1] = hi;
  }
}

/** Integer register (kind 0 W, 1 WU, 2 L, 3 LU) -> correctly rounded double/single in mode rm. */
function fromInt(h: Hart, r1: number, kind: number, rm: number, single: boolean): number {
  const lo = h.x[2 * r1];
  const hi = h.x[2 * r1 + 1];
  let v: number;
  let err = 0;
  if (kind === 0) v = lo;
  else if (kind === 1) v = lo >>> 0;
  else {
    const big = (kind === 2 ? hi : hi >>> 0) * TWO32;
    v = big + (lo >>> 0);
    err = sumErr(big, lo >>> 0, v);
  }
  if (v === 0) return 0;
  return single ? roundS(v, err, rm) : roundD(v, err, rm);
}

function classify(v: number, neg: boolean, snanBit: boolean, subnormal: boolean): number {
  if (v !== v) return snanBit ? 1 << 8 : 1 << 9;
  if (v === -Infinity) return 1 << 0;
  if (v === Infinity) return 1 << 7;
  if (v === 0) return neg ? 1 << 3 : 1 << 4;
  if (subnormal) return neg ? 1 << 2 : 1 << 5;
  return neg ? 1 << 1 : 1 << 6;
}

/** Execute an F/D instruction (LOAD-FP, STORE-FP, the FMA group, OP-FP). */
export function executeFp(h: Hart, inst: number): void {
  if (!(h.mstatus & C.MSTATUS_FS)) return h.illegal(inst);
  const opc = inst & 0x7f;
  const rd = (inst >>> 7) & 31;
  const r1 = (inst >>> 15) & 31;
  const r2 = (inst >>> 20) & 31;
  const x = h.x;
  if (opc === 0x07 || opc === 0x27) {
    const f3 = (inst >>> 12) & 7;
    if (f3 !== 2 && f3 !== 3) return h.illegal(inst);
    const imm = opc === 0x07 ? inst >> 20 : ((inst >> 25) << 5) | ((inst >>> 7) & 31);
    const alo = x[2 * r1];
    const lo = (alo + imm) | 0;
    const hi = (x[2 * r1 + 1] + (imm >> 31) + ((alo >>> 0) + (imm >>> 0) > 0xffffffff ? 1 : 0)) | 0;
    const size = f3 === 2 ? 4 : 8;
    if (opc === 0x07) {
      if (!h.load(lo, hi, size)) return;
      if (size === 4) writeS(h, rd, h.tmp[0]);
      else {
        h.fi[2 * rd] = h.tmp[0];
        h.fi[2 * rd + 1] = h.tmp[1];
        h.mstatus |= C.MSTATUS_FS;
      }
    } else h.store(lo, hi, size, h.fi[2 * r2], h.fi[2 * r2 + 1]); // FSW stores the raw low word
    return;
  }
  const fmt = (inst >>> 25) & 3; // 0 single, 1 double (H and Q are not implemented)
  if (fmt > 1) return h.illegal(inst);
  const single = fmt === 0;
  const f3 = (inst >>> 12) & 7;
  // The rounding mode, for the instructions that have one: 5 and 6 are reserved, and so is a dynamic
  // mode when frm holds one of them.
  const rm = f3 === 7 ? h.frm : f3;
  fx.flags = 0;
  if (opc !== 0x53) {
    // FMADD, FMSUB, FNMSUB, FNMADD: +-(a*b) +- c with one rounding
    if (rm > 4) return h.illegal(inst);
    const r3 = inst >>> 27;
    let a = val(h, r1, single);
    const b = val(h, r2, single);
    let c = val(h, r3, single);
    let r: number;
    if (a !== a || b !== b || c !== c) {
      if (snan(h, r1, single) || snan(h, r2, single) || snan(h, r3, single)) fx.flags |= NV;
      // 0 * inf is invalid even when the addend is a quiet NaN.
      if (
        (a === 0 && (b === Infinity || b === -Infinity)) ||
        (b === 0 && (a === Infinity || a === -Infinity))
      )
        fx.flags |= NV;
      r = NaN;
    } else {
      if (opc === 0x47 || opc === 0x4f) c = -c;
      if (opc === 0x4b || opc === 0x4f) a = -a;
      r = fma(a, b, c, rm, single);
    }
    put(h, rd, r, single);
    h.fflags |= fx.flags;
    return;
  }
  const f5 = inst >>> 27;
  switch (f5) {
    case 0x00:
    case 0x01:
    case 0x02:
    case 0x03: {
      // FADD, FSUB, FMUL, FDIV
      if (rm > 4) return h.illegal(inst);
      const a = val(h, r1, single);
      const b = val(h, r2, single);
      let r: number;
      if (a !== a || b !== b) {
        if (snan(h, r1, single) || snan(h, r2, single)) fx.flags |= NV;
        r = NaN;
      } else if (f5 === 0) r = fadd(a, b, rm, single);
      else if (f5 === 1) r = fadd(a, -b, rm, single);
      else if (f5 === 2) r = fmul(a, b, rm, single);
      else r = fdiv(a, b, rm, single);
      put(h, rd, r, single);
      break;
    }
    case 0x0b: {
      // FSQRT
      if (r2 !== 0 || rm > 4) return h.illegal(inst);
      const a = val(h, r1, single);
      if (a !== a && snan(h, r1, single)) fx.flags |= NV;
      put(h, rd, a !== a ? NaN : fsqrt(a, rm, single), single);
      break;
    }
    case 0x04: {
      // FSGNJ, FSGNJN, FSGNJX: bit operations, no flags, NaN payloads kept
      if (f3 > 2) return h.illegal(inst);
      if (single) {
        const a = sBits(h, r1);
        const b = sBits(h, r2);
        const sign = f3 === 0 ? b & 0x80000000 : f3 === 1 ? ~b & 0x80000000 : (a ^ b) & 0x80000000;
        writeS(h, rd, (a & 0x7fffffff) | sign);
      } else {
        const ahi = h.fi[2 * r1 + 1];
        const bhi = h.fi[2 * r2 + 1];
        const sign = f3 === 0 ? bhi & 0x80000000 : f3 === 1 ? ~bhi & 0x80000000 : (ahi ^ bhi) & 0x80000000;
        h.fi[2 * rd] = h.fi[2 * r1];
        h.fi[2 * rd + 1] = (ahi & 0x7fffffff) | sign;
        h.mstatus |= C.MSTATUS_FS;
      }
      return;
    }
    case 0x05: {
      // FMIN, FMAX (IEEE 754-2019 minimumNumber/maximumNumber: a NaN loses to a number; -0 < +0)
      if (f3 > 1) return h.illegal(inst);
      if (snan(h, r1, single) || snan(h, r2, single)) fx.flags |= NV;
      const a = val(h, r1, single);
      const b = val(h, r2, single);
      let r: number;
      if (a !== a) r = b;
      else if (b !== b) r = a;
      else if (a === 0 && b === 0) {
        const an = Object.is(a, -0);
        const bn = Object.is(b, -0);
        r = (f3 === 0 ? an || bn : an && bn) ? -0 : 0;
      } else r = f3 === 0 ? Math.min(a, b) : Math.max(a, b);
      put(h, rd, r, single);
      break;
    }
    case 0x08: {
      // FCVT.S.D / FCVT.D.S
      if (rm > 4) return h.illegal(inst);
      if (single && r2 === 1) {
        if (isSnanD(h.fi[2 * r1], h.fi[2 * r1 + 1])) fx.flags |= NV;
        const d = h.f[r1];
        put(h, rd, d !== d || d === 0 || !Number.isFinite(d) ? d : roundS(d, 0, rm), true);
      } else if (!single && r2 === 0) {
        const b = sBits(h, r1);
        if (isSnanS(b)) fx.flags |= NV;
        put(h, rd, bitsToS(b), false); // exact
      } else return h.illegal(inst);
      break;
    }
    case 0x14: {
      // FLE, FLT, FEQ
      if (f3 > 2) return h.illegal(inst);
      const a = val(h, r1, single);
      const b = val(h, r2, single);
      // FLT and FLE are signalling compares: any NaN is invalid. FEQ is quiet: only a signalling NaN.
      if ((a !== a || b !== b) && (f3 !== 2 || snan(h, r1, single) || snan(h, r2, single))) fx.flags |= NV;
      const r = f3 === 2 ? a === b : f3 === 1 ? a < b : a <= b;
      if (rd) {
        x[2 * rd] = r ? 1 : 0;
        x[2 * rd + 1] = 0;
      }
      break;
    }
    case 0x18:
      // FCVT.W[U]/L[U].fmt
      if (rm > 4 || r2 > 3) return h.illegal(inst);
      toInt(h, rd, val(h, r1, single), rm, r2);
      break;
    case 0x1a:
      // FCVT.fmt.W[U]/L[U]
      if (rm > 4 || r2 > 3) return h.illegal(inst);
      put(h, rd, fromInt(h, r1, r2, rm, single), single);
      break;
    case 0x1c: {
      if (r2 !== 0) return h.illegal(inst);
      if (f3 === 0) {
        // FMV.X.W / FMV.X.D: raw bits (FMV.X.W sign-extends the low word, boxed or not)
        if (rd) {
          x[2 * rd] = h.fi[2 * r1];
          x[2 * rd + 1] = single ? h.fi[2 * r1] >> 31 : h.fi[2 * r1 + 1];
        }
        return;
      }
      if (f3 !== 1) return h.illegal(inst);
      // FCLASS
      let c: number;
      if (single) {
        const b = sBits(h, r1);
        c = classify(bitsToS(b), b < 0, isSnanS(b), (b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0);
      } else {
        const lo = h.fi[2 * r1];
        const hi = h.fi[2 * r1 + 1];
        const sub = (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) !== 0 || lo !== 0);
        c = classify(h.f[r1], hi < 0, isSnanD(lo, hi), sub);
      }
      if (rd) {
        x[2 * rd] = c;
        x[2 * rd + 1] = 0;
      }
      return;
    }
    case 0x1e:
      // FMV.W.X / FMV.D.X
      if (r2 !== 0 || f3 !== 0) return h.illegal(inst);
      if (single) writeS(h, rd, x[2 * r1]);
      else {
        h.fi[2 * rd] = x[2 * r1];
        h.fi[2 * rd + 1] = x[2 * r1 + 1];
        h.mstatus |= C.MSTATUS_FS;
      }
      return;
    default:
      return h.illegal(inst);
  }
  if (fx.flags) {
    h.fflags |= fx.flags;
    h.mstatus |= C.MSTATUS_FS;
  }
}
