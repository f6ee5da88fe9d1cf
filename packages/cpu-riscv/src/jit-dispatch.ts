/**
 * The dispatcher: a wasm function that calls compiled regions through the code cache's table and
 * chains from one to the next without coming back to JavaScript, since a call from JavaScript into wasm
 * costs more than most regions run (measured: a region ran 9 instructions on average between calls from
 * the run loop on a Linux shell loop and sort, 186 M of 194 M of them for jumps to another page or
 * returns inside one).
 *
 * After a region returns, the dispatcher continues where it left:
 * - a jump inside the page to a position with a region (REENTER): call it;
 * - a jump to another page, or off the end of this one: translate the target through the hart's
 *   instruction TLB (or bare), find the physical page's slot and the region at that offset, and call it;
 * - anything else, or a step that misses (TLB, no slot, no region): return to the run loop. If the
 *   dispatcher has moved to another page, it returns -1 (continue at the pc in jitIo[2..3], entering
 *   compiled code if there is some) or -2 (the same, but execute the first instruction on the
 *   interpreter), since the run loop still holds the first page; a region's RESTART (jit-host.ts) comes
 *   back as it is.
 */
import { TLB_SIZE } from './constants.js';
import { HOST_PARAMS, hostCall, isFence, isHostCall, RESTART } from './jit-host.js';
import {
  HS_IO,
  HS_PC,
  HS_RESV,
  HS_RESV_VAL,
  HS_TLB_RAM,
  HS_TLB_W64,
  SLOT_ENTRIES,
  type JitMemory,
} from './memory.js';
import { Op } from './decode.js';
import { interpFn, type InterpFn } from './jit-interp.js';
import { A, Bytes, moduleBytes, T, W } from './wasm.js';

/** Flag on a region's result: the run loop may enter compiled code at that offset at once. */
export const REENTER = 0x10000;
/**
 * A regionIdx cell (jit-cache.ts): the region's table index in the low bits, and which of its labels
 * to start at above them. A region is entered at every label it has — jump targets in its page, the
 * points its calls return to — so its code is compiled once however many ways lead into it.
 */
export const LABEL_SHIFT = 22;
export const IDX_MASK = (1 << LABEL_SHIFT) - 1;
/**
 * A compiled region's function (jit.ts): runs from its label number `label` in the virtual page (pageLo,
 * pcHi) on the hart whose state area is at `hs`, with `n` of `budget` instructions done; leaves the count in the hart's
 * jitIo[0] and returns the page offset where the run loop continues (4096: the next page), or -1 with
 * the pc in jitIo[2], jitIo[3]. Bit 0 of `mode` is set when data addresses are physical, else dR/dW
 * select the TLB sets; bit 1 when the FPU is on (mstatus.FS), bit 2 when FS is Dirty. The LR reservation
 * is in the hart's area (HS_RESV), where compiled LR and SC update it.
 */
export type PageFn = (
  hs: number,
  label: number,
  n: number,
  budget: number,
  pageLo: number,
  pcHi: number,
  mode: number,
  dR: number,
  dW: number,
) => number;

/**
 * The TLB lookup compiled code and the dispatcher share (memory.ts HS_TLB_W64, HS_TLB_RAM): local `j` =
 * set + ((address >>> 12) & (TLB_SIZE - 1)) for the i32 local `set` and the i64 local `addr`, then the
 * entry's int64 tag pushed.
 */
export function emitTlbTag(c: Bytes, set: number, addr: number, j: number, hs: number): void {
  c.get(set)
    .get(addr)
    .op(W.I32WrapI64)
    .i32(12)
    .op(W.I32ShrU)
    .i32(TLB_SIZE - 1)
    .op(W.I32And)
    .op(W.I32Add)
    .set(j);
  c.get(j).i32(3).op(W.I32Shl).get(hs).op(W.I32Add).mem(W.I64Load, 3, HS_TLB_W64);
}

/** Push the i32 RAM offset of entry `j`'s page (after {@link emitTlbTag}). */
export function emitTlbRam(c: Bytes, j: number, hs: number): void {
  c.get(j).i32(2).op(W.I32Shl).get(hs).op(W.I32Add).mem(W.I32Load, 2, HS_TLB_RAM);
}

/** The AMOs wasm runs (funct5 → the read-modify-write; jit-host.ts isAtomicInWasm); MIN/MAX are the run loop's. */
export const AMO_OPS: Partial<Record<number, A>> = { 0: A.Add, 1: A.Xchg, 4: A.Xor, 8: A.Or, 0xc: A.And };

/**
 * Whether `inst` is an LR, SC or AMO that wasm runs (compiled code and the interpreter in wasm): 32- or
 * 64-bit, all but MIN/MAX (a compare-exchange loop in the run loop); LR with rs2 0 (else reserved).
 */
export function isAtomicInWasm(inst: number): boolean {
  const f3 = (inst >>> 12) & 7;
  if ((inst & 0x7f) !== 0x2f || (f3 !== 2 && f3 !== 3)) return false;
  const f5 = inst >>> 27;
  return f5 === 2 ? ((inst >>> 20) & 31) === 0 : f5 === 3 || AMO_OPS[f5] !== undefined;
}

/** Whether a Generic entry runs in wasm: a CSR instruction (a host call), a FENCE, an LR/SC/AMO. */
export function genericInWasm(inst: number): boolean {
  return isHostCall(inst) || isFence(inst) || isAtomicInWasm(inst);
}

/**
 * SC's store, leaving its result on the stack (i32: 0 stored, 1 failed): it succeeds when the
 * reservation is the RAM offset in local `o` (on shared RAM also only when the word still holds what LR
 * loaded: a compare-exchange, as the reference does with Atomics), and drops the reservation always.
 * `value` pushes the i64 to store; `s` is an i32 scratch local. Compiled code and the interpreter in wasm.
 */
export function emitSc(
  c: Bytes,
  l: { hs: number; o: number; s: number },
  shared: boolean,
  size: 4 | 8,
  value: () => void,
): void {
  const al = size === 4 ? 2 : 3;
  c.get(l.hs).mem(W.I32Load, 2, HS_RESV).get(l.o).op(W.I32Eq).set(l.s);
  c.get(l.hs).i32(-1).mem(W.I32Store, 2, HS_RESV);
  c.get(l.s).op(W.If).byte(T.I32);
  const expected = (): void => {
    c.get(l.hs).mem(W.I64Load, 3, HS_RESV_VAL);
    if (size === 4) c.op(W.I32WrapI64);
  };
  c.get(l.o);
  if (shared) {
    expected();
    value();
    if (size === 4) c.op(W.I32WrapI64);
    c.atomic(A.Cmpxchg + (size === 8 ? 1 : 0), al, 0);
    expected();
    c.op(size === 4 ? W.I32Ne : W.I64Ne);
  } else {
    value();
    c.mem(size === 4 ? W.I64Store32 : W.I64Store, al, 0);
    c.i32(0);
  }
  c.op(W.Else).i32(1).op(W.End);
}

/** Per load and store handler: the wasm access and its size in bytes (compiled code and jit-interp.ts). */
export const LOADS: Readonly<Record<number, readonly [W, number]>> = {
  [Op.Lb]: [W.I64Load8S, 1],
  [Op.Lh]: [W.I64Load16S, 2],
  [Op.Lw]: [W.I64Load32S, 4],
  [Op.Ld]: [W.I64Load, 8],
  [Op.Lbu]: [W.I64Load8U, 1],
  [Op.Lhu]: [W.I64Load16U, 2],
  [Op.Lwu]: [W.I64Load32U, 4],
};
export const STORES: Readonly<Record<number, readonly [W, number]>> = {
  [Op.Sb]: [W.I64Store8, 1],
  [Op.Sh]: [W.I64Store16, 2],
  [Op.Sw]: [W.I64Store32, 4],
  [Op.Sd]: [W.I64Store, 8],
};
/** log2 of an access size: its natural alignment in a wasm memory access. */
export const ALIGN: Readonly<Record<number, number>> = { 1: 0, 2: 1, 4: 2, 8: 3 };

/**
 * Push the i64 RAM offset of the instruction at the i64 local `pc` (bare when the i32 local `iSet` is
 * negative, else through that instruction TLB set; `j` a scratch i32 local), or -1 (above any RAM) when
 * it is not RAM or misses the TLB. The dispatcher and the interpreter in wasm change pages with it.
 */
export function emitFetchOffset(
  c: Bytes,
  iSet: number,
  pc: number,
  j: number,
  hs: number,
  ramBase: number,
): void {
  c.get(iSet).i32(0).op(W.I32LtS).op(W.If).byte(T.I64);
  c.get(pc).i64(ramBase).op(W.I64Sub);
  c.op(W.Else);
  emitTlbTag(c, iSet, pc, j, hs);
  c.get(pc).i64(-4096).op(W.I64And).op(W.I64Eq);
  c.op(W.If).byte(T.I64);
  emitTlbRam(c, j, hs);
  c.op(W.I64ExtendI32U);
  c.get(pc).i64(4095).op(W.I64And).op(W.I64Add);
  c.op(W.Else).i64(-1).op(W.End);
  c.op(W.End);
}

/** The locals {@link emitDataOffset} works with (indices in the emitting function). */
export interface DataLocals {
  /** i32: the hart's area, the mode argument (bit 0: bare), the TLB set, scratch, the result. */
  readonly hs: number;
  readonly mode: number;
  readonly set: number;
  readonly j: number;
  readonly o: number;
  /** i64: the address, scratch. */
  readonly addr: number;
  readonly t: number;
}

/**
 * Local `o` = the RAM offset of a data access of `size` bytes at the i64 local `addr` (physical in bare
 * mode, else through TLB set `set`), and an i32 pushed: nonzero when the access is not a plain aligned
 * RAM access (not RAM, misaligned, a TLB miss), which the caller hands back. Compiled code (jit.ts) and
 * the interpreter in wasm (jit-interp.ts) share it.
 */
export function emitDataOffset(
  c: Bytes,
  l: DataLocals,
  ramBase: number,
  ramSize: number,
  size: number,
): void {
  c.get(l.mode).i32(1).op(W.I32And);
  c.op(W.If).byte(T.I32);
  c.get(l.addr).i64(ramBase).op(W.I64Sub).tee(l.t);
  c.i64(ramSize - size).op(W.I64GtU);
  if (size > 1)
    c.get(l.addr)
      .op(W.I32WrapI64)
      .i32(size - 1)
      .op(W.I32And)
      .op(W.I32Or);
  c.get(l.t).op(W.I32WrapI64).set(l.o);
  c.op(W.Else);
  // j = set + ((lo >>> 12) & (TLB_SIZE - 1)): a hit is a RAM page, and the alignment bits take part.
  emitTlbTag(c, l.set, l.addr, l.j, l.hs);
  c.get(l.addr)
    .i64(-4096 | (size - 1))
    .op(W.I64And)
    .op(W.I64Ne);
  emitTlbRam(c, l.j, l.hs);
  c.get(l.addr).op(W.I32WrapI64).i32(4095).op(W.I32And).op(W.I32Add).set(l.o);
  c.op(W.End);
}

/** Parameters of a region's function. */
export const REGION_PARAMS = 9;

/**
 * Run the region of regionIdx cell `idx` (entered at page offset `off` of the virtual page pageLo, pcHi)
 * and those it chains to; the region arguments as in PageFn, `iSet` the instruction TLB set of the
 * current privilege (-1: bare), `slot` the decode-cache slot of the page.
 */
export type DispatchFn = (
  hs: number,
  idx: number,
  off: number,
  n: number,
  budget: number,
  pageLo: number,
  pcHi: number,
  mode: number,
  dR: number,
  dW: number,
  iSet: number,
  slot: number,
) => number;

const HS = 0;
const IDX = 1;
const OFF = 2;
const N = 3;
const BUDGET = 4;
const PAGELO = 5;
const PCHI = 6;
const MODE = 7;
const DR = 8;
const DW = 9;
const ISET = 10;
const SLOT = 11;
const PARAMS = 12;
const R = 12;
const MOVED = 13;
const J = 14;
const PC = 15;
const O = 16;

/**
 * The dispatcher of a JIT memory whose RAM starts at physical `ramBase`: compiled from
 * {@link dispatcherBytes} here, or from `module` when the host compiled those bytes in the background.
 */
export function buildDispatcher(
  jm: JitMemory,
  table: WebAssembly.Table,
  ramBase: number,
  module?: WebAssembly.Module,
): { dispatch: DispatchFn; host: HostFn; interp: InterpFn; module: WebAssembly.Module } {
  const m = module ?? new WebAssembly.Module(dispatcherBytes(jm, ramBase));
  const inst = new WebAssembly.Instance(m, { m: { m: jm.memory, t: table, h: hostCall } });
  return {
    module: m,
    dispatch: inst.exports.f0 as DispatchFn,
    host: inst.exports.f1 as HostFn,
    interp: inst.exports.f2 as InterpFn,
  };
}

/** jit-host.ts's hostCall as a wasm function (the dispatcher module's f1), for the regions' host table. */
export type HostFn = typeof hostCall;

/** The dispatcher's module bytes (see {@link buildDispatcher}). */
export function dispatcherBytes(jm: JitMemory, ramBase: number): ReturnType<typeof moduleBytes> {
  const c = new Bytes();
  const pagePc = (): void => {
    c.get(PCHI).op(W.I64ExtendI32S).i64(32).op(W.I64Shl).get(PAGELO).op(W.I64ExtendI32U).op(W.I64Or);
  };
  /** hart.pc = page + (i32 local `off`). */
  const storePc = (off: number): void => {
    c.get(HS);
    pagePc();
    c.get(off).op(W.I64ExtendI32U).op(W.I64Add).mem(W.I64Store, 3, HS_PC);
  };
  /** regionIdx[slot * SLOT_ENTRIES + off / 2] */
  const lookup = (): void => {
    c.get(SLOT).i32(SLOT_ENTRIES).op(W.I32Mul).get(OFF).i32(1).op(W.I32ShrU).op(W.I32Add);
    c.i32(2).op(W.I32Shl).mem(W.I32Load, 2, jm.regionIdx);
  };
  const ret = (v: number): void => {
    c.i32(v).op(W.Return);
  };
  c.op(W.Loop).byte(T.Void); // $L
  c.get(HS);
  c.get(IDX).i32(LABEL_SHIFT).op(W.I32ShrU);
  for (const p of [N, BUDGET, PAGELO, PCHI, MODE, DR, DW]) c.get(p);
  c.get(IDX).i32(IDX_MASK).op(W.I32And).op(W.CallIndirect).u(1).u(0).set(R);
  c.get(HS).mem(W.I32Load, 2, HS_IO).set(N);
  c.op(W.Block).byte(T.Void); // $far
  c.op(W.Block).byte(T.Void); // $reenter
  // Negative results (-1: the pc is in the hart) have every bit set: test them first.
  c.get(R).i32(0).op(W.I32LtS).op(W.BrIf).u(1);
  c.get(R).i32(REENTER).op(W.I32And).op(W.BrIf).u(0);
  // Off the end of the page: a jump to the next one.
  c.get(R).i32(4096).op(W.I32Eq).op(W.If).byte(T.Void);
  c.i32(4096).set(OFF);
  storePc(OFF);
  c.op(W.Br).u(2).op(W.End);
  // The run loop executes the instruction at R.
  c.get(MOVED).op(W.If).byte(T.Void);
  c.get(R).set(OFF);
  storePc(OFF);
  ret(-2);
  c.op(W.End);
  c.get(R).op(W.Return);
  c.op(W.End); // $reenter: a jump inside the page
  c.get(R).i32(4095).op(W.I32And).set(OFF);
  lookup();
  c.tee(IDX).op(W.I32Eqz).op(W.If).byte(T.Void);
  c.get(MOVED).op(W.If).byte(T.Void);
  storePc(OFF);
  ret(-1);
  c.op(W.End);
  c.get(R).op(W.Return);
  c.op(W.End);
  c.op(W.Br).u(1);
  c.op(W.End); // $far: the pc is in the hart
  // A host call changed what the code runs under (jit-host.ts): the run loop starts again from the hart.
  c.get(R).i32(RESTART).op(W.I32Eq).op(W.If).byte(T.Void);
  ret(RESTART);
  c.op(W.End);
  c.get(HS).mem(W.I64Load, 3, HS_PC).set(PC);
  // O = the RAM offset of the pc, or all ones (above any RAM) when it is not RAM or misses the TLB.
  emitFetchOffset(c, ISET, PC, J, HS, ramBase);
  c.tee(O).i64(jm.ramSize).op(W.I64GeU).op(W.If).byte(T.Void);
  ret(-1);
  c.op(W.End);
  c.get(O).op(W.I32WrapI64).i32(12).op(W.I32ShrU).i32(2).op(W.I32Shl).mem(W.I32Load, 2, jm.pageSlot);
  c.tee(SLOT).i32(0).op(W.I32LtS).op(W.If).byte(T.Void);
  ret(-1);
  c.op(W.End);
  c.get(PC).op(W.I32WrapI64).i32(4095).op(W.I32And).set(OFF);
  lookup();
  c.tee(IDX).op(W.I32Eqz).op(W.If).byte(T.Void);
  ret(-1);
  c.op(W.End);
  c.get(PC).op(W.I32WrapI64).i32(-4096).op(W.I32And).set(PAGELO);
  c.get(PC).i64(32).op(W.I64ShrU).op(W.I32WrapI64).set(PCHI);
  c.i32(1).set(MOVED);
  c.op(W.Br).u(0);
  c.op(W.End); // $L
  c.op(W.Unreachable);
  // f1: the host call for the regions (moduleBytes, HostSpec): its arguments on to the import.
  const host = new Bytes();
  for (let k = 0; k < HOST_PARAMS; k++) host.get(k);
  host.op(W.Call).u(0);
  const bytes = moduleBytes(
    [
      {
        params: PARAMS,
        locals: [
          [3, T.I32],
          [2, T.I64],
        ],
        code: c,
      },
      { params: HOST_PARAMS, locals: [], code: host },
      // f2: the interpreter (jit-interp.ts), which calls f0 (function 1) and the host (function 0).
      interpFn(jm, ramBase),
    ],
    jm,
    { params: REGION_PARAMS },
    { params: HOST_PARAMS },
  );
  return bytes;
}
