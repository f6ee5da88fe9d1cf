/**
 * The F and D extensions. Values are computed with JavaScript doubles, which round to nearest-even; the
 * other rounding modes start from that result and the exact sign of its rounding error (error-free
 * transformations: TwoSum, Dekker's TwoProduct), stepping one ulp where the mode demands. Results that are
 * NaN are RISC-V's canonical NaN; single values are NaN-boxed in the 64-bit registers.
 */
import * as C from './constants.js';
import type { Hart } from './hart.js';

const NV = 16;
const DZ = 8;
const OF = 4;
const UF = 2;
const NX = 1;

const f64 = new Float64Array(1);
const i64 = new Int32Array(f64.buffer);
const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

const CANON_S = 0x7fc00000;
const CANON_D_HI = 0x7ff80000;
const MIN_NORMAL_D = 2.2250738585072014e-308;
const MIN_NORMAL_S = 1.1754943508222875e-38;
const MAX_S = 3.4028234663852886e38;
const TWO32 = 0x1_0000_0000;

let flags = 0;

const bitsToS = (b: number): number => ((i32[0] = b), f32[0]);
const sToBits = (v: number): number => ((f32[0] = v), i32[0]);
const dToLo = (v: number): number => ((f64[0] = v), i64[0]);
const dHi = (): number => i64[1];
const bitsToD = (lo: number, hi: number): number => ((i64[0] = lo), (i64[1] = hi), f64[0]);

const isSnanS = (b: number): boolean =>
  (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0 && !(b & 0x400000);
const isSnanD = (lo: number, hi: number): boolean =>
  (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) !== 0 || lo !== 0) && !(hi & 0x80000);

/** Single operand bits of register r (an improperly boxed value reads as the canonical NaN). */
function sBits(h: Hart, r: number): number {
  return h.fi[2 * r + 1] === -1 ? h.fi[2 * r] : CANON_S;
}

function writeS(h: Hart, r: number, bits: number): void {
  h.fi[2 * r] = bits;
  h.fi[2 * r + 1] = -1;
  h.mstatus |= C.MSTATUS_FS;
}

function writeSVal(h: Hart, r: number, v: number): void {
  writeS(h, r, v !== v ? CANON_S : sToBits(v));
}

function writeD(h: Hart, r: number, v: number): void {
  if (v !== v) {
    h.fi[2 * r] = 0;
    h.fi[2 * r + 1] = CANON_D_HI;
  } else {
    h.fi[2 * r] = dToLo(v);
    h.fi[2 * r + 1] = dHi();
  }
  h.mstatus |= C.MSTATUS_FS;
}

function nextUp(v: number, single: boolean): number {
  if (single) {
    if (v === Infinity) return v;
    if (v === 0) return bitsToS(1);
    const b = sToBits(v);
    return bitsToS(v > 0 ? b + 1 : b - 1);
  }
  if (v === Infinity || v !== v) return v;
  if (v === 0) return Number.MIN_VALUE;
  const lo = dToLo(v);
  let hi = dHi();
  const nlo = v > 0 ? (lo + 1) | 0 : (lo - 1) | 0;
  if (v > 0 && nlo === 0) hi++;
  if (v < 0 && lo === 0) hi--;
  return bitsToD(nlo, hi);
}

const nextDown = (v: number, single: boolean): number => -nextUp(-v, single);

/** ulp of |v| (for RMM tie detection). */
function ulp(v: number, single: boolean): number {
  const a = Math.abs(v);
  return nextUp(a, single) - a;
}

/** Adjust a round-to-nearest-even result `r` to rounding mode `rm` given the sign of (exact - r). */
function round(r: number, err: number, rm: number, single: boolean): number {
  if (err !== 0) flags |= NX;
  if (err === 0 || rm === 0) return r;
  switch (rm) {
    case 1: // RTZ
      if (r > 0 && err < 0) return nextDown(r, single);
      if (r < 0 && err > 0) return nextUp(r, single);
      return r;
    case 2: // RDN
      return err < 0 ? nextDown(r, single) : r;
    case 3: // RUP
      return err > 0 ? nextUp(r, single) : r;
    default: {
      // RMM differs from RNE only on exact ties, which RNE may have resolved towards zero.
      if (Math.abs(err) * 2 === ulp(r, single) && Math.sign(err) === Math.sign(r))
        return r > 0 ? nextUp(r, single) : nextDown(r, single);
      return r;
    }
  }
}

/** Finish a result: overflow and underflow flags, directed-rounding overflow to the largest finite value. */
function finish(r: number, err: number, rm: number, single: boolean, finiteInputs: boolean): number {
  if (r !== r) return r;
  const max = single ? MAX_S : Number.MAX_VALUE;
  if (!Number.isFinite(r) && finiteInputs) {
    flags |= OF | NX;
    if (rm === 1 || (rm === 2 && r > 0) || (rm === 3 && r < 0)) return r > 0 ? max : -max;
    return r;
  }
  const res = round(r, err, rm, single);
  if (err !== 0 && Math.abs(res) < (single ? MIN_NORMAL_S : MIN_NORMAL_D)) flags |= UF;
  if (!Number.isFinite(res) && finiteInputs) flags |= OF;
  return res;
}

/** Exact error of a + b = s (TwoSum). */
function sumErr(a: number, b: number, s: number): number {
  const bb = s - a;
  return a - (s - bb) + (b - bb);
}

/** Exact a*b - p as a double (Dekker's TwoProduct; valid while no intermediate overflows). */
function prodErr(a: number, b: number, p: number): number {
  const SPLIT = 134217729;
  const ca = SPLIT * a;
  const ah = ca - (ca - a);
  const al = a - ah;
  const cb = SPLIT * b;
  const bh = cb - (cb - b);
  const bl = b - bh;
  return al * bl - (p - ah * bh - al * bh - ah * bl);
}

/** Compute op on doubles a, b (c for FMA) in precision `single` and mode `rm`; flags accumulate. */
function arith(op: number, a: number, b: number, c: number, rm: number, single: boolean): number {
  const fin = Number.isFinite(a) && Number.isFinite(b) && Number.isFinite(c);
  let r: number;
  let err = 0;
  switch (op) {
    case 0: // add
      r = a + b;
      if (r !== r && a === a && b === b) flags |= NV;
      else if (Number.isFinite(r)) err = sumErr(a, b, r);
      break;
    case 1: // mul
      r = a * b;
      if (r !== r && a === a && b === b) flags |= NV;
      else if (Number.isFinite(r) && r !== 0) err = prodErr(a, b, r);
      else if (r === 0 && a !== 0 && b !== 0)
        err = a * b > 0 || a > 0 === b > 0 ? Number.MIN_VALUE : -Number.MIN_VALUE;
      break;
    case 2: // div
      r = a / b;
      if (r !== r && a === a && b === b) flags |= NV;
      else if (b === 0 && a === a && a !== 0 && Number.isFinite(a)) flags |= DZ;
      else if (Number.isFinite(r) && Number.isFinite(a) && b !== 0) {
        // sign of a/b - r equals sign of (a - r*b) / b
        const p = r * b;
        const rem = a - p - prodErr(r, b, p);
        err = rem === 0 ? 0 : rem > 0 === b > 0 ? 1 : -1;
        if (err !== 0) err *= Number.MIN_VALUE;
      }
      break;
    case 3: // sqrt
      r = Math.sqrt(a);
      if (r !== r && a === a) flags |= NV;
      else if (Number.isFinite(r) && r > 0) {
        const p = r * r;
        const rem = a - p - prodErr(r, r, p);
        err = rem === 0 ? 0 : rem > 0 ? Number.MIN_VALUE : -Number.MIN_VALUE;
      }
      break;
    default: {
      // fused multiply-add: a*b + c with one rounding (exact product, then a compensated sum)
      const p = a * b;
      if (p !== p && a === a && b === b) flags |= NV;
      const s = p + c;
      if (s !== s && p === p && c === c) flags |= NV;
      if (!Number.isFinite(p) || !Number.isFinite(s)) {
        r = s;
        break;
      }
      const tail = sumErr(p, c, s) + prodErr(a, b, p);
      r = s + tail;
      err = s - r + tail;
    }
  }
  if (single && r === r) {
    const f = Math.fround(r);
    // The error against the single result: the double's own error breaks exact ties.
    const e = f !== r ? r - f : err;
    r = f;
    err = e;
  }
  return finish(r, err, rm, single, fin);
}

/** Round a double to an integer in mode rm; sets NX when it changes. */
function roundInt(v: number, rm: number): number {
  let r: number;
  switch (rm) {
    case 1:
      r = Math.trunc(v);
      break;
    case 2:
      r = Math.floor(v);
      break;
    case 3:
      r = Math.ceil(v);
      break;
    case 4:
      r = v < 0 ? -Math.round(-v) : Math.round(v);
      if (Math.abs(v) % 1 === 0.5) r = v < 0 ? Math.floor(v) : Math.ceil(v);
      break;
    default: {
      r = Math.round(v);
      if (Math.abs(v % 1) === 0.5 && r % 2 !== 0) r -= 1; // ties to even
    }
  }
  if (r !== v) flags |= NX;
  return r;
}

/** float → integer register with RISC-V saturation; writes x[rd]. */
function toInt(h: Hart, rd: number, v: number, rm: number, kind: number): void {
  // kind: 0 w, 1 wu, 2 l, 3 lu
  const lo = [-2147483648, 0, -9223372036854775808, 0][kind];
  const hiLimit = [2147483648, 4294967296, 9223372036854775808, 18446744073709551616][kind];
  let r: number;
  let lowW: number;
  let highW: number;
  if (v !== v) {
    flags |= NV;
    r = hiLimit; // NaN converts to the largest value
  } else {
    const saved = flags;
    r = roundInt(v, rm);
    if (r < lo || r >= hiLimit) {
      flags = saved | NV;
      r = r < lo ? lo : hiLimit;
    }
  }
  if (r >= hiLimit) {
    // Saturated high: 2^31-1, 2^32-1, 2^63-1, 2^64-1
    if (kind === 0) [lowW, highW] = [0x7fffffff, 0];
    else if (kind === 1) [lowW, highW] = [-1, -1];
    else if (kind === 2) [lowW, highW] = [-1, 0x7fffffff];
    else [lowW, highW] = [-1, -1];
  } else if (kind <= 1) {
    lowW = r | 0;
    highW = lowW >> 31;
  } else {
    // 64-bit two's complement of an integer-valued double.
    const neg = r < 0;
    const m = Math.abs(r);
    let hi = Math.floor(m / TWO32);
    let l = m - hi * TWO32;
    if (neg) {
      l = TWO32 - l;
      hi = ~hi + (l === TWO32 ? 1 : 0);
      if (l === TWO32) l = 0;
    }
    lowW = l | 0;
    highW = hi | 0;
  }
  if (rd) {
    h.x[2 * rd] = lowW;
    h.x[2 * rd + 1] = highW;
  }
}

/** Integer register (as 64-bit signed/unsigned, or 32-bit) → exactly-rounded double/single in mode rm. */
function fromInt(h: Hart, r1: number, kind: number, rm: number, single: boolean): number {
  const lo = h.x[2 * r1];
  const hi = h.x[2 * r1 + 1];
  let v: number;
  let err = 0;
  if (kind === 0) v = lo;
  else if (kind === 1) v = lo >>> 0;
  else {
    const big = kind === 2 ? hi * TWO32 : (hi >>> 0) * TWO32;
    v = big + (lo >>> 0);
    err = sumErr(big, lo >>> 0, v);
  }
  if (single) {
    const f = Math.fround(v);
    const e = f !== v ? v - f : err;
    return finish(f, e, rm, true, true);
  }
  return finish(v, err, rm, false, true);
}

function classify(v: number, bitsNegative: boolean, snan: boolean, subnormal: boolean): number {
  if (v !== v) return snan ? 1 << 8 : 1 << 9;
  if (v === -Infinity) return 1 << 0;
  if (v === Infinity) return 1 << 7;
  if (v === 0) return bitsNegative ? 1 << 3 : 1 << 4;
  if (subnormal) return v < 0 ? 1 << 2 : 1 << 5;
  return v < 0 ? 1 << 1 : 1 << 6;
}

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
    } else h.store(lo, hi, size, h.fi[2 * r2], h.fi[2 * r2 + 1]);
    return;
  }
  let rm = (inst >>> 12) & 7;
  if (rm === 7) rm = h.frm;
  const fmt = (inst >>> 25) & 3; // 0 single, 1 double
  if (fmt > 1) return h.illegal(inst);
  const single = fmt === 0;
  const val = (r: number): number => (single ? bitsToS(sBits(h, r)) : bitsToD(h.fi[2 * r], h.fi[2 * r + 1]));
  const snan = (r: number): boolean =>
    single ? isSnanS(sBits(h, r)) : isSnanD(h.fi[2 * r], h.fi[2 * r + 1]);
  const put = (v: number): void => (single ? writeSVal(h, rd, v) : writeD(h, rd, v));
  const needRm = (): boolean => rm <= 4;
  flags = 0;
  if (opc !== 0x53) {
    // FMADD, FMSUB, FNMSUB, FNMADD
    if (!needRm()) return h.illegal(inst);
    const r3 = inst >>> 27;
    if (snan(r1) || snan(r2) || snan(r3)) flags |= NV;
    let a = val(r1);
    const b = val(r2);
    let c = val(r3);
    if ((a === 0 && !Number.isFinite(b) && b === b) || (b === 0 && !Number.isFinite(a) && a === a))
      flags |= NV;
    if (opc === 0x47 || opc === 0x4f) c = -c;
    if (opc === 0x4b || opc === 0x4f) a = -a;
    put(arith(4, a, b, c, rm, single));
    h.fflags |= flags;
    return;
  }
  const f5 = inst >>> 27;
  switch (f5) {
    case 0x00:
    case 0x01:
    case 0x02:
    case 0x03: {
      if (!needRm()) return h.illegal(inst);
      if (snan(r1) || snan(r2)) flags |= NV;
      const a = val(r1);
      const b = val(r2);
      put(
        f5 === 0
          ? arith(0, a, b, 0, rm, single)
          : f5 === 1
            ? arith(0, a, -b, 0, rm, single)
            : arith(f5 === 2 ? 1 : 2, a, b, 0, rm, single),
      );
      break;
    }
    case 0x0b:
      if (r2 !== 0 || !needRm()) return h.illegal(inst);
      if (snan(r1)) flags |= NV;
      put(arith(3, val(r1), 0, 0, rm, single));
      break;
    case 0x04: {
      // FSGNJ, FSGNJN, FSGNJX
      const f3 = (inst >>> 12) & 7;
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
      // FMIN, FMAX
      const f3 = (inst >>> 12) & 7;
      if (f3 > 1) return h.illegal(inst);
      if (snan(r1) || snan(r2)) flags |= NV;
      const a = val(r1);
      const b = val(r2);
      let r: number;
      if (a !== a && b !== b) r = NaN;
      else if (a !== a) r = b;
      else if (b !== b) r = a;
      else if (a === 0 && b === 0) {
        const an = Object.is(a, -0);
        const bn = Object.is(b, -0);
        r = f3 === 0 ? (an || bn ? -0 : 0) : an && bn ? -0 : 0;
      } else r = f3 === 0 ? Math.min(a, b) : Math.max(a, b);
      put(r);
      break;
    }
    case 0x08: {
      // FCVT.S.D / FCVT.D.S
      if (!needRm()) return h.illegal(inst);
      if (single && r2 === 1) {
        if (isSnanD(h.fi[2 * r1], h.fi[2 * r1 + 1])) flags |= NV;
        const d = bitsToD(h.fi[2 * r1], h.fi[2 * r1 + 1]);
        if (d !== d) writeS(h, rd, CANON_S);
        else {
          const f = Math.fround(d);
          writeSVal(h, rd, finish(f, f !== d ? d - f : 0, rm, true, Number.isFinite(d)));
        }
      } else if (!single && r2 === 0) {
        if (isSnanS(sBits(h, r1))) flags |= NV;
        writeD(h, rd, bitsToS(sBits(h, r1)));
      } else return h.illegal(inst);
      break;
    }
    case 0x14: {
      // FEQ, FLT, FLE
      const f3 = (inst >>> 12) & 7;
      if (f3 > 2) return h.illegal(inst);
      const a = val(r1);
      const b = val(r2);
      // FLT and FLE signal on any NaN; FEQ only on a signalling one.
      if ((a !== a || b !== b) && (f3 !== 2 || snan(r1) || snan(r2))) flags |= NV;
      const r = f3 === 2 ? a === b : f3 === 1 ? a < b : a <= b;
      if (rd) {
        x[2 * rd] = r ? 1 : 0;
        x[2 * rd + 1] = 0;
      }
      break;
    }
    case 0x18: {
      // FCVT.W[U]/L[U].fmt
      if (!needRm() || r2 > 3) return h.illegal(inst);
      if (snan(r1)) flags |= NV;
      toInt(h, rd, val(r1), rm, r2);
      break;
    }
    case 0x1a: {
      // FCVT.fmt.W[U]/L[U]
      if (!needRm() || r2 > 3) return h.illegal(inst);
      put(fromInt(h, r1, r2, rm, single));
      break;
    }
    case 0x1c: {
      const f3 = (inst >>> 12) & 7;
      if (r2 !== 0) return h.illegal(inst);
      if (f3 === 0) {
        // FMV.X.W / FMV.X.D: raw bits
        if (rd) {
          x[2 * rd] = h.fi[2 * r1];
          x[2 * rd + 1] = single ? h.fi[2 * r1] >> 31 : h.fi[2 * r1 + 1];
        }
        return;
      }
      if (f3 === 1) {
        // FCLASS
        let c: number;
        if (single) {
          const b = sBits(h, r1);
          c = classify(bitsToS(b), b < 0, isSnanS(b), (b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0);
        } else {
          const lo = h.fi[2 * r1];
          const hi = h.fi[2 * r1 + 1];
          c = classify(
            bitsToD(lo, hi),
            hi < 0,
            isSnanD(lo, hi),
            (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) !== 0 || lo !== 0),
          );
        }
        if (rd) {
          x[2 * rd] = c;
          x[2 * rd + 1] = 0;
        }
        return;
      }
      return h.illegal(inst);
    }
    case 0x1e: {
      // FMV.W.X / FMV.D.X
      if (r2 !== 0 || ((inst >>> 12) & 7) !== 0) return h.illegal(inst);
      if (single) writeS(h, rd, x[2 * r1]);
      else {
        h.fi[2 * rd] = x[2 * r1];
        h.fi[2 * rd + 1] = x[2 * r1 + 1];
        h.mstatus |= C.MSTATUS_FS;
      }
      return;
    }
    default:
      return h.illegal(inst);
  }
  h.fflags |= flags;
  if (flags) h.mstatus |= C.MSTATUS_FS;
}
