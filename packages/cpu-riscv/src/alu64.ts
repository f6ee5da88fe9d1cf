/**
 * 64-bit integer arithmetic on (lo, hi) pairs of int32, for the operations that are not one or two lines
 * inline: multiplication (with the high halves of 128-bit products) and division. Results go to the
 * module-level `out` array so nothing is allocated per instruction.
 */

/** out[0] = low word, out[1] = high word of the last result. */
export const out = new Int32Array(2);

/** Full unsigned 32x32 -> 64 product of a and b (as uint32), into out. */
export function mulu32(a: number, b: number): void {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  // Sum the middle terms with the carry out of the low word, all below 2^53.
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  out[0] = ((mid & 0xffff) << 16) | (p00 & 0xffff);
  out[1] = p11 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 0x10000);
}

/** Low 64 bits of a * b. */
export function mul64(alo: number, ahi: number, blo: number, bhi: number): void {
  mulu32(alo, blo);
  out[1] = (out[1] + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
}

const w = new Float64Array(8);

/** High 64 bits of the unsigned 128-bit product a * b. */
export function mulhu64(alo: number, ahi: number, blo: number, bhi: number): void {
  // Schoolbook on 32-bit limbs; each partial product is split into words with mulu32.
  mulu32(alo, blo);
  const r0hi = out[1] >>> 0;
  mulu32(alo, bhi);
  const m1lo = out[0] >>> 0;
  const m1hi = out[1] >>> 0;
  mulu32(ahi, blo);
  const m2lo = out[0] >>> 0;
  const m2hi = out[1] >>> 0;
  mulu32(ahi, bhi);
  const h0 = out[0] >>> 0;
  const h1 = out[1] >>> 0;
  const c1 = r0hi + m1lo + m2lo; // word 1 of the product, plus carry
  w[0] = h0 + m1hi + m2hi + Math.floor(c1 / 0x1_0000_0000); // word 2 plus carry
  out[0] = w[0] >>> 0;
  out[1] = (h1 + Math.floor(w[0] / 0x1_0000_0000)) | 0;
}

/** High 64 bits of the signed x signed product. */
export function mulh64(alo: number, ahi: number, blo: number, bhi: number): void {
  mulhu64(alo, ahi, blo, bhi);
  let lo = out[0];
  let hi = out[1];
  // Two's complement correction: subtract b (resp. a) from the high half when a (resp. b) is negative.
  if (ahi < 0) {
    const nlo = (lo - blo) | 0;
    hi = (hi - bhi - (lo >>> 0 < blo >>> 0 ? 1 : 0)) | 0;
    lo = nlo;
  }
  if (bhi < 0) {
    const nlo = (lo - alo) | 0;
    hi = (hi - ahi - (lo >>> 0 < alo >>> 0 ? 1 : 0)) | 0;
    lo = nlo;
  }
  out[0] = lo;
  out[1] = hi;
}

/** High 64 bits of signed a x unsigned b. */
export function mulhsu64(alo: number, ahi: number, blo: number, bhi: number): void {
  mulhu64(alo, ahi, blo, bhi);
  if (ahi < 0) {
    const lo = out[0];
    out[0] = (lo - blo) | 0;
    out[1] = (out[1] - bhi - (lo >>> 0 < blo >>> 0 ? 1 : 0)) | 0;
  }
}

const MASK64 = (1n << 64n) - 1n;

function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function fromBig(v: bigint): void {
  v &= MASK64;
  out[0] = Number(v & 0xffffffffn) | 0;
  out[1] = Number(v >> 32n) | 0;
}

/** True when the pair is a sign-extended 32-bit value. */
const is32 = (lo: number, hi: number): boolean => hi === lo >> 31;

/**
 * 64-bit division and remainder with RISC-V's rules (x/0 = -1 or all ones, x%0 = x, overflow gives the
 * dividend). Operands that fit in 32 bits take a number fast path; others fall back to BigInt, which is
 * rare enough (64-bit divisions in the kernel are mostly by small constants on 32-bit values) not to
 * matter for speed.
 */
export function div64(
  alo: number,
  ahi: number,
  blo: number,
  bhi: number,
  signed: boolean,
  rem: boolean,
): void {
  if ((blo | bhi) === 0) {
    if (rem) {
      out[0] = alo;
      out[1] = ahi;
    } else out[0] = out[1] = -1;
    return;
  }
  if (signed && is32(alo, ahi) && is32(blo, bhi)) {
    const q = rem ? alo % blo : Math.trunc(alo / blo);
    // q lies in [-2^31, 2^31]; 2^31 (from -2^31 / -1) is positive in 64 bits.
    out[0] = q | 0;
    out[1] = q < 0 ? -1 : 0;
    return;
  }
  if (!signed && ahi === 0 && bhi === 0) {
    const a = alo >>> 0;
    const b = blo >>> 0;
    const q = rem ? a % b : Math.floor(a / b);
    out[0] = q | 0;
    out[1] = 0;
    return;
  }
  let a = toBig(alo, ahi);
  let b = toBig(blo, bhi);
  if (signed) {
    a = BigInt.asIntN(64, a);
    b = BigInt.asIntN(64, b);
    if (a === -(1n << 63n) && b === -1n) {
      fromBig(rem ? 0n : a);
      return;
    }
  }
  fromBig(rem ? a % b : a / b);
}

/** 32-bit division (DIVW and friends): result sign-extended into out. */
export function div32(a: number, b: number, signed: boolean, rem: boolean): void {
  let r: number;
  if (b === 0) r = rem ? a : -1;
  else if (signed) {
    if (a === -0x8000_0000 && b === -1) r = rem ? 0 : a;
    else r = rem ? a % b : Math.trunc(a / b);
  } else {
    const ua = a >>> 0;
    const ub = b >>> 0;
    r = rem ? ua % ub : Math.floor(ua / ub);
  }
  out[0] = r | 0;
  out[1] = out[0] >> 31;
}
