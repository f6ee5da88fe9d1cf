/**
 * The fast rounding paths of fp-round.ts (error-free transformations on JS doubles) against its exact
 * BigInt path, over seeded random operands biased towards the hard cases: ties, results near the
 * subnormal and overflow thresholds, cancellation, single precision through double. A disagreement prints
 * the operands, mode and seed.
 */
import { describe, expect, it } from 'vitest';
import {
  OP_ADD,
  OP_DIV,
  OP_FMA,
  OP_MUL,
  OP_SQRT,
  addRounded,
  divRounded,
  exactOp,
  fmaRounded,
  fx,
  mulRounded,
  sqrtRounded,
} from '../src/fp-round.js';

const SEED = Number(process.env.VDESK_FP_SEED ?? 0x5eed);
const N = process.env.VDESK_LONG ? 400_000 : 25_000;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const f32 = new Float32Array(1);
const s32 = new Uint32Array(f32.buffer);

function bits(v: number, single: boolean): string {
  if (single) {
    f32[0] = v;
    return s32[0].toString(16);
  }
  f64[0] = v;
  return u32[1].toString(16) + ':' + u32[0].toString(16);
}

/** A random finite nonzero operand: random bits, a power of two plus a few ulps, or a value near 1. */
function operand(r: () => number, single: boolean): number {
  const kind = Math.floor(r() * 4);
  let v: number;
  if (single) {
    const e =
      kind === 0 ? Math.floor(r() * 254) : kind === 1 ? Math.floor(r() * 24) : 100 + Math.floor(r() * 54);
    const frac =
      kind === 2
        ? Math.floor(r() * 8)
        : kind === 3
          ? 0x7fffff - Math.floor(r() * 8)
          : Math.floor(r() * 0x800000);
    s32[0] = ((r() < 0.5 ? 1 : 0) << 31) | (e << 23) | frac;
    v = f32[0];
  } else {
    const e =
      kind === 0 ? Math.floor(r() * 2046) : kind === 1 ? Math.floor(r() * 60) : 900 + Math.floor(r() * 250);
    const hi = kind === 2 ? 0 : Math.floor(r() * 0x100000);
    const lo =
      kind === 2
        ? Math.floor(r() * 8)
        : kind === 3
          ? 0xffffffff - Math.floor(r() * 8)
          : Math.floor(r() * 0x1_0000_0000);
    u32[1] = ((r() < 0.5 ? 1 : 0) << 31) | (e << 20) | hi;
    u32[0] = lo;
    v = f64[0];
  }
  return v === 0 || !Number.isFinite(v) ? 1 : v;
}

type Fast = (a: number, b: number, c: number, rm: number, single: boolean) => number;
const OPS: [string, number, Fast][] = [
  ['add', OP_ADD, (a, b, _c, rm, s) => addRounded(a, b, rm, s)],
  ['mul', OP_MUL, (a, b, _c, rm, s) => mulRounded(a, b, rm, s)],
  ['div', OP_DIV, (a, b, _c, rm, s) => divRounded(a, b, rm, s)],
  ['sqrt', OP_SQRT, (a, _b, _c, rm, s) => sqrtRounded(Math.abs(a), rm, s)],
  ['fma', OP_FMA, (a, b, c, rm, s) => fmaRounded(a, b, c, rm, s)],
];

describe('fp-round fast paths equal the exact path', () => {
  for (const single of [false, true]) {
    for (const [name, op, fast] of OPS) {
      it(`${single ? 'single' : 'double'} ${name}`, () => {
        const r = rng(SEED ^ (op * 7919) ^ (single ? 0x1000 : 0));
        for (let i = 0; i < N; i++) {
          let a = operand(r, single);
          let b = operand(r, single);
          let c = operand(r, single);
          // Make near-cancellation and exact ties common.
          if (r() < 0.25) b = op === OP_ADD ? -a * (1 + (r() - 0.5) * 2 ** -20) : b;
          if (op === OP_FMA && r() < 0.3) c = -a * b * (1 + (r() - 0.5) * 2 ** -30);
          if (single) {
            b = Math.fround(b);
            c = Math.fround(c);
          }
          if (op === OP_SQRT) a = Math.abs(a);
          if (b === 0 || c === 0 || !Number.isFinite(c)) continue;
          const rm = Math.floor(r() * 5);
          fx.flags = 0;
          const got = fast(a, b, c, rm, single);
          const gotFlags = fx.flags;
          fx.flags = 0;
          const want = exactOp(op, a, op === OP_SQRT ? 0 : b, c, rm, single);
          const wantFlags = fx.flags;
          if (bits(got, single) !== bits(want, single) || gotFlags !== wantFlags) {
            expect(
              `${name} a=${a} b=${b} c=${c} rm=${rm} seed=${SEED}: ${bits(got, single)}/${gotFlags}`,
            ).toBe(`${name} a=${a} b=${b} c=${c} rm=${rm} seed=${SEED}: ${bits(want, single)}/${wantFlags}`);
          }
        }
      });
    }
  }
});
