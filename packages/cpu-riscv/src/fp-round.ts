/**
 * Correct rounding for the F and D extensions in all five RISC-V rounding modes, with IEEE 754 exception
 * flags (tininess detected after rounding, as RISC-V requires).
 *
 * JavaScript only rounds to nearest-even, so an operation is computed as a JS double `r` plus an error term
 * `err` such that the exact result is r + err (from error-free transformations: TwoSum, Dekker's
 * TwoProduct, the remainder of a division or square root). Rounding that pair to the target format in the
 * requested mode is done on a grid of powers of two, where every step is exact. When the error term cannot
 * be trusted (a double result near the subnormal range, or an intermediate that would overflow) the
 * operation is redone exactly with BigInt — rare, so off the hot path.
 */

export const NV = 16;
export const DZ = 8;
export const OF = 4;
export const UF = 2;
export const NX = 1;

export const RNE = 0;
export const RTZ = 1;
export const RDN = 2;
export const RUP = 3;
export const RMM = 4;

/** Flags raised since the caller last cleared them (once per instruction). */
export const fx = { flags: 0 };

export const MIN_NORMAL_S = 1.1754943508222875e-38; // 2^-126
export const MAX_S = 3.4028234663852886e38;
const TWO128 = 3.402823669209385e38;
/**
 * Below this a double result may be tiny (its flags need the exact path), or so small that the ulp-sized
 * sign carrier of a quotient or root error would not fit between it and zero.
 */
const SAFE_LOW_D = 2 ** -1000;
/** Stands for an error known only by its sign: far below any ulp this code rounds to, yet nonzero. */
const TINY = Number.MIN_VALUE;

const f64 = new Float64Array(1);
const w = new Int32Array(f64.buffer);

/** 2^n for -1074 <= n <= 1023, built from its bits: no library rounding is involved. */
export function pow2(n: number): number {
  if (n >= -1022) {
    w[0] = 0;
    w[1] = (n + 1023) << 20;
  } else {
    const k = n + 1074; // bit k of the subnormal fraction
    w[0] = k < 32 ? 1 << k : 0;
    w[1] = k < 32 ? 0 : 1 << (k - 32);
  }
  return f64[0];
}

/** floor(log2 |v|) for a finite nonzero double. */
export function ilogb(v: number): number {
  f64[0] = v;
  const e = (w[1] >>> 20) & 0x7ff;
  if (e) return e - 1023;
  const hi = w[1] & 0xfffff;
  return hi ? 63 - Math.clz32(hi) - 1074 : 31 - Math.clz32(w[0]) - 1074;
}

/** Whether the last roundMag discarded anything. */
let inexact = false;

/**
 * Round the magnitude A + E (A >= 0 a double, E a small correction whose sign and ties are exact) to a
 * multiple of g, a power of two no smaller than A's own ulp, so that every step here is exact.
 */
function roundMag(A: number, E: number, g: number, rm: number, neg: boolean): number {
  let lo = Math.floor(A / g) * g;
  let rem = A - lo;
  if (rem === 0 && E < 0) {
    // The exact value lies just below a grid point: it belongs to the interval below.
    lo -= g;
    rem = g;
  }
  inexact = rem !== 0 || E !== 0;
  if (!inexact) return A;
  // rem - g/2 is exact and, when nonzero, larger than |E|: the sign compares the discarded part with a
  // half unit, E breaking the tie.
  const t = rem - g * 0.5 + E;
  let up: boolean;
  switch (rm) {
    case RNE:
      up = t > 0 || (t === 0 && (lo / g) % 2 === 1);
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
      up = t >= 0;
  }
  return up ? lo + g : lo;
}

function overflow(neg: boolean, rm: number, max: number): number {
  fx.flags |= OF | NX;
  const toMax = rm === RTZ || (rm === RDN && !neg) || (rm === RUP && neg);
  const m = toMax ? max : Infinity;
  return neg ? -m : m;
}

/**
 * Round the exact value r + err (r a nonzero finite double, |err| at most half an ulp of r) to single
 * precision in mode rm. Every single-precision operation can provide such a pair exactly, so this is
 * complete: no double rounding, correct subnormals, flags.
 */
export function roundS(r: number, err: number, rm: number): number {
  const neg = r < 0;
  const A = neg ? -r : r;
  const E = neg ? -err : err;
  if (A > TWO128 || (A === TWO128 && E >= 0)) return overflow(neg, rm, MAX_S);
  let k = ilogb(A);
  if (E < 0 && A === pow2(k)) k--; // the exact value is in the binade below
  const m = roundMag(A, E, pow2((k < -126 ? -126 : k) - 23), rm, neg);
  if (!inexact) return r;
  fx.flags |= NX;
  if (m >= TWO128) return overflow(neg, rm, MAX_S);
  // Tiny after rounding: rounded to 24 bits with an unbounded exponent, still below the normal range.
  if (k < -126 && roundMag(A, E, pow2(k - 23), rm, neg) < MIN_NORMAL_S) fx.flags |= UF;
  return neg ? -m : m;
}

/** Round r + err to double precision; r must be finite with |r| >= 2^-1021 unless err is 0. */
export function roundD(r: number, err: number, rm: number): number {
  if (err === 0) return r;
  fx.flags |= NX;
  if (rm === RNE) return r;
  const neg = r < 0;
  const A = neg ? -r : r;
  const E = neg ? -err : err;
  let k = ilogb(A);
  if (E < 0 && A === pow2(k)) k--;
  const m = roundMag(A, E, pow2(k - 52), rm, neg);
  if (m === Infinity) return overflow(neg, rm, Number.MAX_VALUE);
  return neg ? -m : m;
}

/** Exact a + b - s for s = a + b rounded (Knuth's TwoSum; no overflow). */
export function sumErr(a: number, b: number, s: number): number {
  const bb = s - a;
  return a - (s - bb) + (b - bb);
}

/**
 * Exact a * b - p for p = a * b rounded (Dekker's TwoProduct with Veltkamp splitting): valid when
 * |a|, |b| < 2^995 (the split does not overflow) and |p| >= 2^-960 (no partial product underflows).
 */
export function prodErr(a: number, b: number, p: number): number {
  const SPLIT = 134217729; // 2^27 + 1
  const ca = SPLIT * a;
  const ah = ca - (ca - a);
  const al = a - ah;
  const cb = SPLIT * b;
  const bh = cb - (cb - b);
  const bl = b - bh;
  return al * bl - (p - ah * bh - al * bh - ah * bl);
}

const SPLIT_MAX = 2 ** 995;
const PROD_MIN = 2 ** -960;

/** a + b for finite nonzero-result operands; the sum error is always exact. */
export function addRounded(a: number, b: number, rm: number, single: boolean): number {
  const r = a + b;
  if (r === 0) return rm === RDN && !(Object.is(a, 0) && Object.is(b, 0)) ? -0 : r;
  if (single) return roundS(r, sumErr(a, b, r), rm);
  // A sum that lands below 2^-1021 is exact, so only overflow needs the exact path.
  if (!Number.isFinite(r) || Math.abs(r) === Number.MAX_VALUE) return exactOp(OP_ADD, a, b, 0, rm, false);
  return roundD(r, sumErr(a, b, r), rm);
}

/** a * b for finite nonzero operands. */
export function mulRounded(a: number, b: number, rm: number, single: boolean): number {
  const r = a * b;
  // Single operands have 24-bit significands: their product is exact in a double.
  if (single) return roundS(r, 0, rm);
  const A = Math.abs(r);
  if (A < PROD_MIN || A > 1e300 || Math.abs(a) >= SPLIT_MAX || Math.abs(b) >= SPLIT_MAX)
    return exactOp(OP_MUL, a, b, 0, rm, false);
  return roundD(r, prodErr(a, b, r), rm);
}

/** a / b for finite nonzero operands. */
export function divRounded(a: number, b: number, rm: number, single: boolean): number {
  const r = a / b;
  const A = Math.abs(r);
  if (
    !single &&
    (A < SAFE_LOW_D ||
      A >= SPLIT_MAX ||
      Math.abs(b) >= SPLIT_MAX ||
      Math.abs(a) < PROD_MIN ||
      Math.abs(a) > 1e300)
  )
    return exactOp(OP_DIV, a, b, 0, rm, false);
  // The exact remainder a - r*b gives the sign of the quotient's error (a quotient is never a tie).
  const p = r * b;
  const rem = a - p - prodErr(r, b, p);
  const err = rem === 0 ? 0 : rem > 0 === b > 0 ? TINY : -TINY;
  return single ? roundS(r, err, rm) : roundD(r, err, rm);
}

/** sqrt(a) for finite positive a. */
export function sqrtRounded(a: number, rm: number, single: boolean): number {
  if (!single && (a < PROD_MIN || a >= 2 ** 990)) return exactOp(OP_SQRT, a, 0, 0, rm, false);
  const r = Math.sqrt(a);
  const p = r * r;
  const rem = a - p - prodErr(r, r, p);
  const err = rem === 0 ? 0 : rem > 0 ? TINY : -TINY;
  return single ? roundS(r, err, rm) : roundD(r, err, rm);
}

/**
 * Sign of the exact sum of four doubles: Shewchuk's expansion growth turns them into a nonoverlapping
 * expansion (every TwoSum exact), whose largest nonzero component carries the sign of the whole.
 */
function sign4(a: number, b: number, c: number, d: number): number {
  let s = b + a;
  const h0 = sumErr(b, a, s);
  const q1 = s;
  s = c + h0;
  const g0 = sumErr(c, h0, s);
  let q = s;
  s = q + q1;
  const g1 = sumErr(q, q1, s);
  q = s;
  s = d + g0;
  const k0 = sumErr(d, g0, s);
  let r = s;
  s = r + g1;
  const k1 = sumErr(r, g1, s);
  r = s;
  s = r + q;
  const k2 = sumErr(r, q, s);
  r = s;
  const top = r !== 0 ? r : k2 !== 0 ? k2 : k1 !== 0 ? k1 : k0;
  return top > 0 ? 1 : top < 0 ? -1 : 0;
}

/**
 * a * b + c for finite nonzero a, b and finite nonzero c. Single precision: the product is exact in a
 * double, so TwoSum gives the exact result as a pair. Double precision in round-to-nearest: Boldo and
 * Melquiond's emulation (the low parts are added with round-to-odd, then one rounding to nearest), with
 * the inexact flag from the exact sign of the residual. Other modes and extreme exponents take the exact
 * path.
 */
export function fmaRounded(a: number, b: number, c: number, rm: number, single: boolean): number {
  const p = a * b;
  if (single) {
    const s = p + c;
    if (s === 0) return rm === RDN ? -0 : 0;
    return roundS(s, sumErr(p, c, s), rm);
  }
  const P = Math.abs(p);
  if (
    rm !== RNE ||
    P < 2 ** -900 ||
    P > 2 ** 1000 ||
    Math.abs(c) > 2 ** 1000 ||
    Math.abs(a) >= SPLIT_MAX ||
    Math.abs(b) >= SPLIT_MAX
  )
    return exactOp(OP_FMA, a, b, c, rm, false);
  const ul = prodErr(a, b, p);
  const th = c + p;
  const tl = sumErr(c, p, th);
  // v = tl + ul rounded to odd: if inexact and the nearest has an even last bit, take the other neighbour.
  let v = tl + ul;
  const ve = sumErr(tl, ul, v);
  if (ve !== 0) {
    f64[0] = v;
    if ((w[0] & 1) === 0) v = nextToward(v, ve);
  }
  const r = th + v;
  if (r === 0 || Math.abs(r) < 2 ** -900) return exactOp(OP_FMA, a, b, c, rm, false);
  // exact - r = (th - r) + tl + ul
  if (sign4(th, -r, tl, ul) !== 0) fx.flags |= NX;
  return r;
}

/** The neighbour of finite v in the direction of the sign of d. */
function nextToward(v: number, d: number): number {
  f64[0] = v;
  let lo = w[0];
  let hi = w[1];
  const away = v === 0 ? true : v > 0 === d > 0;
  if (v === 0) {
    lo = 1;
    hi = d > 0 ? 0 : 0x80000000 | 0;
  } else if (away) {
    lo = (lo + 1) | 0;
    if (lo === 0) hi++;
  } else {
    if (lo === 0) hi--;
    lo = (lo - 1) | 0;
  }
  w[0] = lo;
  w[1] = hi;
  return f64[0];
}

// ---------------------------------------------------------------- the exact path (BigInt)

export const OP_ADD = 0;
export const OP_MUL = 1;
export const OP_DIV = 2;
export const OP_SQRT = 3;
export const OP_FMA = 4;

/** A finite value (-1)^neg * m * 2^e. */
interface Exact {
  neg: boolean;
  m: bigint;
  e: number;
}

function decompose(v: number): Exact {
  f64[0] = v;
  const hi = w[1];
  const be = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(w[0] >>> 0);
  if (be) m |= 1n << 52n;
  return { neg: hi < 0, m, e: (be || 1) - 1075 };
}

function bitLength(m: bigint): number {
  // toString(16) is the cheapest exact way; this path is rare.
  const s = m.toString(16);
  return (s.length - 1) * 4 + (32 - Math.clz32(parseInt(s[0], 16)));
}

function add(x: Exact, y: Exact): Exact {
  const e = Math.min(x.e, y.e);
  const mx = x.m << BigInt(x.e - e);
  const my = y.m << BigInt(y.e - e);
  const s = (x.neg ? -mx : mx) + (y.neg ? -my : my);
  return { neg: s < 0n, m: s < 0n ? -s : s, e };
}

function isqrt(m: bigint): bigint {
  if (m < 2n) return m;
  let x = 1n << BigInt((bitLength(m) >> 1) + 1);
  for (;;) {
    const y = (x + m / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** Round m >> s in mode rm (the magnitude of a value of sign neg). */
function shiftRound(m: bigint, s: number, rm: number, neg: boolean): { q: bigint; inexact: boolean } {
  if (s <= 0) return { q: m << BigInt(-s), inexact: false };
  const S = BigInt(s);
  let q = m >> S;
  const rem = m - (q << S);
  if (rem === 0n) return { q, inexact: false };
  const half = 1n << (S - 1n);
  const cmp = rem > half ? 1 : rem === half ? 0 : -1;
  let up: boolean;
  switch (rm) {
    case RNE:
      up = cmp > 0 || (cmp === 0 && (q & 1n) === 1n);
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
      up = cmp >= 0;
  }
  if (up) q += 1n;
  return { q, inexact: true };
}

/** Round an exact nonzero value to the target format, with flags. */
function roundExact(x: Exact, rm: number, single: boolean): number {
  const p = single ? 24 : 53;
  const emin = single ? -126 : -1022;
  const emax = single ? 127 : 1023;
  const E = x.e + bitLength(x.m) - 1; // exponent of the leading bit
  const lsb = Math.max(E, emin) - p + 1;
  const { q, inexact } = shiftRound(x.m, lsb - x.e, rm, x.neg);
  if (inexact) fx.flags |= NX;
  if (q !== 0n && lsb + bitLength(q) - 1 > emax)
    return overflow(x.neg, rm, single ? MAX_S : Number.MAX_VALUE);
  if (inexact && E < emin) {
    const u = shiftRound(x.m, E - p + 1 - x.e, rm, x.neg).q;
    if (E + (bitLength(u) > p ? 1 : 0) < emin) fx.flags |= UF;
  }
  // q * 2^lsb is representable (it is the rounded result), so the product is exact.
  const mag = Number(q) * pow2(lsb);
  return x.neg ? -mag : mag;
}

/**
 * op on finite nonzero operands (c may be zero for FMA), computed exactly and rounded once. Used for the
 * double-precision cases the fast paths cannot certify, and by the tests as the reference.
 */
export function exactOp(op: number, a: number, b: number, c: number, rm: number, single: boolean): number {
  const x = decompose(a);
  let r: Exact;
  switch (op) {
    case OP_ADD:
      r = add(x, decompose(b));
      break;
    case OP_MUL:
      r = { neg: x.neg !== b < 0, m: x.m * decompose(b).m, e: x.e + decompose(b).e };
      break;
    case OP_DIV: {
      const y = decompose(b);
      // At least 56 quotient bits, then a sticky bit for the remainder.
      const k = Math.max(0, 56 + bitLength(y.m) - bitLength(x.m));
      const n = x.m << BigInt(k);
      let q = n / y.m;
      let e = x.e - y.e - k;
      if (q * y.m !== n) {
        q = (q << 1n) | 1n;
        e--;
      }
      r = { neg: x.neg !== y.neg, m: q, e };
      break;
    }
    case OP_SQRT: {
      let m = x.m;
      let e = x.e;
      if (e & 1) {
        m <<= 1n;
        e--;
      }
      const k = Math.max(0, Math.ceil((112 - bitLength(m)) / 2));
      m <<= BigInt(2 * k);
      let s = isqrt(m);
      e = e / 2 - k;
      if (s * s !== m) {
        s = (s << 1n) | 1n;
        e--;
      }
      r = { neg: false, m: s, e };
      break;
    }
    default: {
      const y = decompose(b);
      const prod: Exact = { neg: x.neg !== y.neg, m: x.m * y.m, e: x.e + y.e };
      r = c === 0 ? prod : add(prod, decompose(c));
    }
  }
  if (r.m === 0n) return rm === RDN ? -0 : 0; // exact cancellation
  return roundExact(r, rm, single);
}
